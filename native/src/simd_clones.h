// Plain loops written for the vectorizer get AVX-512 and AVX2 clones on x86-64 Linux GCC
// (the main addon target is compiled for baseline x86-64 only); the loader picks one.
#pragma once

#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define MLXK_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MLXK_SIMD_CLONES
#endif
