// The AVX-512 vector types, one register each (float: 16 lanes, double: 8), with the
// operations the kernels compiled for AVX-512 use: gemm_avx512.cpp (the micro-kernels, the
// register transposes of the packing) and small_step_avx512.cpp. Include only from files
// compiled with -mavx512f -mavx512dq -mavx2 -mfma (CMakeLists.txt).
#pragma once

#include <immintrin.h>

#include "chainrule/tensor.hpp"

// GCC 12's unmasked shuffle intrinsics start from _mm512_undefined_*(), which it then reports
// as used uninitialized when they are inlined (fixed in later GCC); the values are all defined.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace chainrule::kernels::avx512 {
// internal to each file that includes it: no definition compiled with these flags can stand in
// for another file's at link time
namespace {

struct Zmm32 {
  using T = float;
  using reg = __m512;
  static constexpr int width = 16;
  static reg zero() { return _mm512_setzero_ps(); }
  static reg load(const T* p) { return _mm512_loadu_ps(p); }
  static void store(T* p, reg v) { _mm512_storeu_ps(p, v); }
  static reg broadcast(T x) { return _mm512_set1_ps(x); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  // the first count (1..width) lanes; the others read as 0 and are not written
  static __mmask16 mask(int count) { return static_cast<__mmask16>((1u << count) - 1u); }
  static reg load_n(const T* p, int count) { return _mm512_maskz_loadu_ps(mask(count), p); }
  static void store_n(T* p, reg v, int count) { _mm512_mask_storeu_ps(p, mask(count), v); }
  // acc[0..8) -> lanes 0..7: [sum(acc[0]), ..., sum(acc[7])] (lanes 8..15 unspecified), each
  // pairwise as a scalar loop would add them: lanes k + (k + 8), k + (k + 4), k + (k + 2),
  // then k + (k + 1)
  static reg lane_sums8(const reg* acc) {
    reg b[4], c[2];
    for (int q = 0; q < 4; ++q)  // [acc[2q] lanes k + (k + 8), acc[2q + 1] lanes k + (k + 8)]
      b[q] = _mm512_add_ps(_mm512_shuffle_f32x4(acc[2 * q], acc[2 * q + 1], 0x44),
                           _mm512_shuffle_f32x4(acc[2 * q], acc[2 * q + 1], 0xee));
    // 128-bit quarter u of c[q]: accumulator 4q + u, its lanes k + (k + 4), k < 4
    for (int q = 0; q < 2; ++q)
      c[q] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * q], b[2 * q + 1], 0x88),
                           _mm512_shuffle_f32x4(b[2 * q], b[2 * q + 1], 0xdd));
    // quarter u: lanes k + (k + 2), k < 2, of accumulator u, then of accumulator 4 + u
    const __m512d c0 = _mm512_castps_pd(c[0]), c1 = _mm512_castps_pd(c[1]);
    const reg d = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(c0, c1)),
                                _mm512_castpd_ps(_mm512_unpackhi_pd(c0, c1)));
    // lanes 4u and 4u + 2: the sums of accumulators u and 4 + u; then in order
    const reg e = _mm512_add_ps(d, _mm512_permute_ps(d, 0xb1));
    return _mm512_permutexvar_ps(
        _mm512_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14, 0, 0, 0, 0, 0, 0, 0, 0), e);
  }
  // dst[q * ld_dst + i] = src[i * ld_src + q] for i < rows (1..16), q < 16: a 16 x 16 transpose
  // in registers (three rounds of shuffles), for packing panels whose source rows run along the
  // depth; rows past `rows` read as zero and are not stored
  static void transpose_block(int rows, const T* src, Index ld_src, T* dst, Index ld_dst) {
    reg r[16], t[16], u[16], v[16];
    for (int i = 0; i < 16; ++i) r[i] = i < rows ? load(src + i * ld_src) : zero();
    for (int i = 0; i < 8; ++i) {
      t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; ++i) {
      const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
      const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
      u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
      u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
      u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
      u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 4; ++j) {
        v[8 * i + j] = _mm512_shuffle_f32x4(u[8 * i + j], u[8 * i + 4 + j], 0x88);
        v[8 * i + 4 + j] = _mm512_shuffle_f32x4(u[8 * i + j], u[8 * i + 4 + j], 0xdd);
      }
    for (int j = 0; j < 8; ++j) {
      store_n(dst + j * ld_dst, _mm512_shuffle_f32x4(v[j], v[8 + j], 0x88), rows);
      store_n(dst + (8 + j) * ld_dst, _mm512_shuffle_f32x4(v[j], v[8 + j], 0xdd), rows);
    }
  }
};

struct Zmm64 {
  using T = double;
  using reg = __m512d;
  static constexpr int width = 8;
  static reg zero() { return _mm512_setzero_pd(); }
  static reg load(const T* p) { return _mm512_loadu_pd(p); }
  static void store(T* p, reg v) { _mm512_storeu_pd(p, v); }
  static reg broadcast(T x) { return _mm512_set1_pd(x); }
  static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_pd(a, b, c); }
  static reg add(reg a, reg b) { return _mm512_add_pd(a, b); }
  static reg mul(reg a, reg b) { return _mm512_mul_pd(a, b); }
  static __mmask8 mask(int count) { return static_cast<__mmask8>((1u << count) - 1u); }
  static reg load_n(const T* p, int count) { return _mm512_maskz_loadu_pd(mask(count), p); }
  static void store_n(T* p, reg v, int count) { _mm512_mask_storeu_pd(p, mask(count), v); }
  // acc[0..8) -> their lane sums, [sum(acc[0]), ..., sum(acc[7])], each pairwise as a scalar
  // loop would add them: lanes k + (k + 4), then k + (k + 2), then k + (k + 1)
  static reg lane_sums8(const reg* acc) {
    reg b[4], c[2];
    for (int q = 0; q < 4; ++q)  // [halves of acc[2q] added, halves of acc[2q + 1] added]
      b[q] = _mm512_add_pd(_mm512_shuffle_f64x2(acc[2 * q], acc[2 * q + 1], 0x44),
                           _mm512_shuffle_f64x2(acc[2 * q], acc[2 * q + 1], 0xee));
    for (int q = 0; q < 2; ++q)  // pairs k, k + 2 of four accumulators: lanes 2u, 2u + 1 of acc u
      c[q] = _mm512_add_pd(_mm512_shuffle_f64x2(b[2 * q], b[2 * q + 1], 0x88),
                           _mm512_shuffle_f64x2(b[2 * q], b[2 * q + 1], 0xdd));
    // lanes k, k + 1: [s0, s4, s1, s5, s2, s6, s3, s7], then in order
    const reg d = _mm512_add_pd(_mm512_unpacklo_pd(c[0], c[1]), _mm512_unpackhi_pd(c[0], c[1]));
    return _mm512_permutexvar_pd(_mm512_setr_epi64(0, 2, 4, 6, 1, 3, 5, 7), d);
  }
  // as Zmm32::transpose_block, 8 x 8
  static void transpose_block(int rows, const T* src, Index ld_src, T* dst, Index ld_dst) {
    reg r[8], t[8], u[8];
    for (int i = 0; i < 8; ++i) r[i] = i < rows ? load(src + i * ld_src) : zero();
    for (int i = 0; i < 4; ++i) {
      t[2 * i] = _mm512_unpacklo_pd(r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm512_unpackhi_pd(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) {
        u[4 * i + j] = _mm512_shuffle_f64x2(t[4 * i + j], t[4 * i + 2 + j], 0x88);
        u[4 * i + 2 + j] = _mm512_shuffle_f64x2(t[4 * i + j], t[4 * i + 2 + j], 0xdd);
      }
    for (int j = 0; j < 4; ++j) {
      store_n(dst + j * ld_dst, _mm512_shuffle_f64x2(u[j], u[4 + j], 0x88), rows);
      store_n(dst + (4 + j) * ld_dst, _mm512_shuffle_f64x2(u[j], u[4 + j], 0xdd), rows);
    }
  }
};

}  // namespace
}  // namespace chainrule::kernels::avx512
