// Runs every kernel of metal/qmatmul.metal in the emulator (emu.h) over every width, group size
// and scale dtype, ragged shapes and odd buffer offsets, against a float64 reference that packs,
// decodes and multiplies on its own (nothing shared with native/include/mlxk_affine.h).
// Prints one line per failed check and "N checks, F failures"; exit status 1 on any failure.
// Built by test/metal/metal.test.ts: g++ -I test/metal/shim -DMLXK_METAL_SOURCE='"…/qmatmul.metal"'.
#include "emu.h"

#include MLXK_METAL_SOURCE

namespace {

std::mt19937_64 rng(12345);

double uniform(double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(rng); }

// ---- reference encodings (scale dtypes) and bit packing

enum Dtype { BF16 = 0, F16 = 1, F32 = 2 };
const char* kDtypeName[] = {"bf16", "f16", "f32"};
int dtype_bytes(Dtype d) { return d == F32 ? 4 : 2; }

void encode(Dtype d, double v, uint8_t* out) {
  float f = (float)v;
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if (d == F32) {
    for (int i = 0; i < 4; ++i) out[i] = (uint8_t)(u >> (8 * i));
  } else if (d == BF16) {
    uint32_t r = (u + 0x7fff + ((u >> 16) & 1)) >> 16;  // round to nearest even
    out[0] = (uint8_t)r, out[1] = (uint8_t)(r >> 8);
  } else {
    _Float16 h = (_Float16)f;
    uint16_t b;
    std::memcpy(&b, &h, 2);
    out[0] = (uint8_t)b, out[1] = (uint8_t)(b >> 8);
  }
}

double decode(Dtype d, const uint8_t* p) {
  if (d == F32) {
    uint32_t u = p[0] | (p[1] << 8) | (p[2] << 16) | ((uint32_t)p[3] << 24);
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  uint32_t h = p[0] | (p[1] << 8);
  if (d == BF16) {
    uint32_t u = h << 16;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
  double v = e == 0 ? std::ldexp(m, -24) : std::ldexp(1024 + m, e - 25);
  return sign ? -v : v;
}

// Value i of a row is bits [i*B, i*B+B) of the row's bytes, least significant bit first.
void put_bits(std::vector<uint8_t>& row, size_t i, int bits, uint32_t q) {
  for (int b = 0; b < bits; ++b) {
    size_t bit = i * bits + b;
    if (q >> b & 1) row[bit / 8] |= (uint8_t)(1u << (bit % 8));
  }
}

// ---- one quantized matrix (n rows of k values), possibly several experts stacked

struct Matrix {
  int bits, gs, n, k, experts;
  Dtype dt;
  std::vector<uint32_t> q;          // [experts][n][k]
  std::vector<uint8_t> w, s, b;     // packed, with `offset` bytes of padding in front
  size_t offset;
  double scale(int e, int r, int g) const { return decode(dt, &s[offset + ((size_t)(e * n + r) * (k / gs) + g) * dtype_bytes(dt)]); }
  double bias(int e, int r, int g) const { return decode(dt, &b[offset + ((size_t)(e * n + r) * (k / gs) + g) * dtype_bytes(dt)]); }
  double value(int e, int r, int c) const { return scale(e, r, c / gs) * q[((size_t)e * n + r) * k + c] + bias(e, r, c / gs); }
};

Matrix make_matrix(int bits, int gs, Dtype dt, int n, int k, int experts, size_t offset) {
  Matrix M{bits, gs, n, k, experts, dt, {}, {}, {}, {}, offset};
  const size_t row_bytes = (size_t)k * bits / 8, groups = (size_t)k / gs, sb = dtype_bytes(dt);
  M.q.resize((size_t)experts * n * k);
  M.w.assign(offset + experts * n * row_bytes, 0);
  M.s.assign(offset + experts * n * groups * sb, 0);
  M.b.assign(offset + experts * n * groups * sb, 0);
  for (int e = 0; e < experts; ++e)
    for (int r = 0; r < n; ++r) {
      std::vector<uint8_t> row(row_bytes, 0);
      for (int c = 0; c < k; ++c) {
        uint32_t v = (uint32_t)(rng() % (1u << bits));
        M.q[((size_t)e * n + r) * k + c] = v;
        put_bits(row, c, bits, v);
      }
      std::memcpy(&M.w[offset + (e * n + r) * row_bytes], row.data(), row_bytes);
      for (size_t g = 0; g < groups; ++g) {
        size_t at = offset + ((e * n + r) * groups + g) * sb;
        encode(dt, uniform(-0.05, 0.05), &M.s[at]);  // negative scales occur in MLX checkpoints
        encode(dt, uniform(-0.5, 0.5), &M.b[at]);
      }
    }
  return M;
}

int checks = 0, failures = 0;

// Relative to Σ|x·w|, the scale of float rounding in a length-k dot product.
void compare(const std::string& what, const std::vector<float>& y, const std::vector<double>& ref, const std::vector<double>& mag) {
  ++checks;
  double worst = 0;
  size_t at = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    double e = std::fabs(y[i] - ref[i]) / std::max(mag[i], 1e-30);
    if (!(e <= worst)) worst = e, at = i;
  }
  if (!(worst <= 2e-5)) {
    ++failures;
    std::printf("FAIL %s: relative error %.3g at output %zu (got %.8g, want %.8g)\n", what.c_str(), worst, at, y[at], ref[at]);
  }
}

template <int B>
void check_width(int gs, Dtype dt, bool quick) {
  const int n = 37, k = 384, experts = 3, pairs = 5;
  const std::string tag = "b" + std::to_string(B) + " g" + std::to_string(gs) + " " + kDtypeName[dt];
  for (int m : quick ? std::vector<int>{45} : std::vector<int>{3, 45}) {
    Matrix W = make_matrix(B, gs, dt, n, k, experts, 1 + 2 * (m % 3));  // odd byte offsets
    std::vector<float> x((size_t)m * k);
    for (float& v : x) v = (float)uniform(-1, 1);
    QArgs a{(uint)m, (uint)n, (uint)k, (uint)gs, (uint)dt, (ulong)(n * W.k * B / 8), (ulong)(n * (k / gs) * dtype_bytes(dt))};
    const uchar *w = W.w.data() + W.offset, *s = W.s.data() + W.offset, *b = W.b.data() + W.offset;
    // expert 0 alone for the dense kernels
    std::vector<double> ref((size_t)m * n), mag((size_t)m * n);
    for (int i = 0; i < m; ++i)
      for (int r = 0; r < n; ++r)
        for (int c = 0; c < k; ++c) {
          double p = x[(size_t)i * k + c] * W.value(0, r, c);
          ref[(size_t)i * n + r] += p, mag[(size_t)i * n + r] += std::fabs(p);
        }
    std::vector<float> y((size_t)m * n, NAN);
    emu::launch({(uint)(n + 7) / 8, (uint)m, 1}, {32, 2, 1}, [&](const emu::Ids& t) { qgemv<B>(w, s, b, x.data(), y.data(), a, uint2{t.tg.x, t.tg.y}, t.simd, t.lane); });
    compare("qgemv " + tag + " m" + std::to_string(m), y, ref, mag);
    y.assign((size_t)m * n, NAN);
    emu::launch({(uint)(n + 31) / 32, (uint)(m + 31) / 32, 1}, {16, 16, 1}, [&](const emu::Ids& t) { qgemm<B>(w, s, b, x.data(), y.data(), a, uint2{t.tg.x, t.tg.y}, uint2{t.tid.x, t.tid.y}); });
    compare("qgemm " + tag + " m" + std::to_string(m), y, ref, mag);
    // MoE: (row, expert) pairs over the stacked experts
    std::vector<int> rows(pairs), exps(pairs);
    for (int p = 0; p < pairs; ++p) rows[p] = (int)(rng() % m), exps[p] = (int)(rng() % experts);
    std::vector<double> gref((size_t)pairs * n), gmag((size_t)pairs * n);
    for (int p = 0; p < pairs; ++p)
      for (int r = 0; r < n; ++r)
        for (int c = 0; c < k; ++c) {
          double v = x[(size_t)rows[p] * k + c] * W.value(exps[p], r, c);
          gref[(size_t)p * n + r] += v, gmag[(size_t)p * n + r] += std::fabs(v);
        }
    std::vector<float> gy((size_t)pairs * n, NAN);
    emu::launch({(uint)(n + 7) / 8, 1, (uint)pairs}, {32, 2, 1}, [&](const emu::Ids& t) {
      qgemv_gather<B>(w, s, b, x.data(), gy.data(), a, rows.data(), exps.data(), uint3{t.tg.x, t.tg.y, t.tg.z}, t.simd, t.lane);
    });
    compare("qgemv_gather " + tag + " m" + std::to_string(m), gy, gref, gmag);
  }
}

template <int B>
void check_all(bool quick) {
  for (int gs : quick ? std::vector<int>{32, 128} : std::vector<int>{32, 64, 128})
    for (Dtype dt : quick ? std::vector<Dtype>{BF16, F32} : std::vector<Dtype>{BF16, F16, F32}) check_width<B>(gs, dt, quick);
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::string(argv[1]) == "--quick";
  try {
    check_all<2>(quick);
    check_all<3>(quick);
    if (!quick) check_all<4>(false), check_all<5>(false);
    check_all<6>(quick);
    if (!quick) check_all<8>(false);
  } catch (const std::exception& e) {
    std::printf("ERROR %s\n", e.what());
    ++failures;
  }
  std::printf("%d checks, %d failures\n", checks, failures);
  return failures ? 1 : 0;
}
