// Force-included (g++ -include) into the AVX-512 kernel files by tools/check-kernels.sh avx512 on a
// CPU without AVX-512: SIMDe (Debian libsimde-dev, MIT) maps each _mm512_* intrinsic to portable
// code, so the kernels run unchanged, only slower, and can be checked against the scalar set.
// The AVX2 intrinsics stay native (the file is compiled with -mavx2 -mfma -mf16c).
#pragma once
#include <immintrin.h>
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>

#include <cmath>
#include <cstdint>
#include <cstring>

// What SIMDe 0.7.4 lacks or leaves unaliased, lane by lane. Masked loads and stores touch only
// their lanes' bytes, as the hardware's do (the kernels mask loads at the ends of rows).
namespace mlxk_emu {
static inline simde__m512 maskz_loadu_ps(uint16_t k, const void* p) {
  simde__m512_private r; std::memset(&r, 0, sizeof r);
  for (int i = 0; i < 16; ++i) if (k >> i & 1) std::memcpy(&r.f32[i], (const char*)p + 4 * i, 4);
  return simde__m512_from_private(r);
}
static inline simde__m512 mask_loadu_ps(simde__m512 src, uint16_t k, const void* p) {
  simde__m512_private r = simde__m512_to_private(src);
  for (int i = 0; i < 16; ++i) if (k >> i & 1) std::memcpy(&r.f32[i], (const char*)p + 4 * i, 4);
  return simde__m512_from_private(r);
}
static inline void mask_storeu_ps(void* p, uint16_t k, simde__m512 v) {
  simde__m512_private r = simde__m512_to_private(v);
  for (int i = 0; i < 16; ++i) if (k >> i & 1) std::memcpy((char*)p + 4 * i, &r.f32[i], 4);
}
static inline simde__m512i maskz_loadu_epi8(uint64_t k, const void* p) {
  simde__m512i_private r; std::memset(&r, 0, sizeof r);
  for (int i = 0; i < 64; ++i) if (k >> i & 1) std::memcpy(&r.i8[i], (const char*)p + i, 1);
  return simde__m512i_from_private(r);
}
static inline __m256i maskz_loadu_epi16(uint16_t k, const void* p) {
  int16_t r[16] = {};
  for (int i = 0; i < 16; ++i) if (k >> i & 1) std::memcpy(&r[i], (const char*)p + 2 * i, 2);
  return _mm256_loadu_si256((const __m256i*)r);
}
static inline simde__m512 cvtepi32_ps(simde__m512i a) {
  simde__m512i_private x = simde__m512i_to_private(a); simde__m512_private r;
  for (int i = 0; i < 16; ++i) r.f32[i] = (float)x.i32[i];
  return simde__m512_from_private(r);
}
static inline simde__m512i cvtps_epi32(simde__m512 a) {
  simde__m512_private x = simde__m512_to_private(a); simde__m512i_private r;
  for (int i = 0; i < 16; ++i) r.i32[i] = (int32_t)std::nearbyint(x.f32[i]);
  return simde__m512i_from_private(r);
}
static inline simde__m512 cvtph_ps(__m256i h) {
  simde__m512_private r;
  _mm256_storeu_ps(&r.f32[0], _mm256_cvtph_ps(_mm256_castsi256_si128(h)));
  _mm256_storeu_ps(&r.f32[8], _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1)));
  return simde__m512_from_private(r);
}
static inline simde__m512i cvtepu16_epi32(__m256i a) {
  uint16_t x[16]; _mm256_storeu_si256((__m256i*)x, a); simde__m512i_private r;
  for (int i = 0; i < 16; ++i) r.i32[i] = x[i];
  return simde__m512i_from_private(r);
}
static inline float reduce_max_ps(simde__m512 v) {
  simde__m512_private p = simde__m512_to_private(v); float m = p.f32[0];
  for (int i = 1; i < 16; ++i) m = p.f32[i] > m ? p.f32[i] : m;
  return m;
}
static inline float reduce_add_ps(simde__m512 v) {
  simde__m512_private p = simde__m512_to_private(v); float s = 0;
  for (int i = 0; i < 16; ++i) s += p.f32[i];
  return s;
}
static inline long long reduce_add_epi64(simde__m512i v) {
  simde__m512i_private p = simde__m512i_to_private(v); long long s = 0;
  for (int i = 0; i < 8; ++i) s += p.i64[i];
  return s;
}
}  // namespace mlxk_emu
#define _mm512_reduce_add_epi64(...) mlxk_emu::reduce_add_epi64(__VA_ARGS__)
#define _mm512_reduce_add_ps(...) mlxk_emu::reduce_add_ps(__VA_ARGS__)
#define _mm512_maskz_loadu_ps(...) mlxk_emu::maskz_loadu_ps(__VA_ARGS__)
#define _mm512_mask_loadu_ps(...) mlxk_emu::mask_loadu_ps(__VA_ARGS__)
#define _mm512_mask_storeu_ps(...) mlxk_emu::mask_storeu_ps(__VA_ARGS__)
#define _mm512_maskz_loadu_epi8(...) mlxk_emu::maskz_loadu_epi8(__VA_ARGS__)
#define _mm256_maskz_loadu_epi16(...) mlxk_emu::maskz_loadu_epi16(__VA_ARGS__)
#define _mm512_cvtepi32_ps(...) mlxk_emu::cvtepi32_ps(__VA_ARGS__)
#define _mm512_cvtps_epi32(...) mlxk_emu::cvtps_epi32(__VA_ARGS__)
#define _mm512_cvtph_ps(...) mlxk_emu::cvtph_ps(__VA_ARGS__)
#define _mm512_cvtepu16_epi32(...) mlxk_emu::cvtepu16_epi32(__VA_ARGS__)
#define _mm512_reduce_max_ps(...) mlxk_emu::reduce_max_ps(__VA_ARGS__)
#define _mm512_shuffle_f32x4(...) simde_mm512_shuffle_f32x4(__VA_ARGS__)
