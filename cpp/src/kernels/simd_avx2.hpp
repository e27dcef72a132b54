// The AVX2 + FMA vector types, one register each (float: 8 lanes, double: 4), with the
// operations the kernels compiled for AVX2 use, and Pair<Y>, two of them as one 64-byte vector
// (the lanes of an AVX-512 register): gemm_avx2.cpp (the micro-kernels) and
// small_step_avx2.cpp. Include only from files compiled with -mavx2 -mfma (CMakeLists.txt).
#pragma once

#include <immintrin.h>

#include "chainrule/tensor.hpp"

namespace chainrule::kernels::avx2 {
// internal to each file that includes it: no definition compiled with these flags can stand in
// for another file's at link time
namespace {

struct Ymm32 {
  using T = float;
  using reg = __m256;
  static constexpr int width = 8;
  static reg zero() { return _mm256_setzero_ps(); }
  static reg load(const T* p) { return _mm256_loadu_ps(p); }
  static void store(T* p, reg v) { _mm256_storeu_ps(p, v); }
  static reg broadcast(T x) { return _mm256_set1_ps(x); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  // the first count lanes (none for count <= 0, all from width on); the others read as 0 and
  // are not written
  static __m256i mask(int count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static reg load_n(const T* p, int count) { return _mm256_maskload_ps(p, mask(count)); }
  static void store_n(T* p, reg v, int count) { _mm256_maskstore_ps(p, mask(count), v); }
};

struct Ymm64 {
  using T = double;
  using reg = __m256d;
  static constexpr int width = 4;
  static reg zero() { return _mm256_setzero_pd(); }
  static reg load(const T* p) { return _mm256_loadu_pd(p); }
  static void store(T* p, reg v) { _mm256_storeu_pd(p, v); }
  static reg broadcast(T x) { return _mm256_set1_pd(x); }
  static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_pd(a, b, c); }
  static reg add(reg a, reg b) { return _mm256_add_pd(a, b); }
  static reg mul(reg a, reg b) { return _mm256_mul_pd(a, b); }
  static __m256i mask(int count) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(count), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static reg load_n(const T* p, int count) { return _mm256_maskload_pd(p, mask(count)); }
  static void store_n(T* p, reg v, int count) { _mm256_maskstore_pd(p, mask(count), v); }
};

/// Two registers of Y as one vector of 2 * Y::width lanes, element-wise operations on both
/// halves: kernels written over 64-byte vectors run on AVX2 with AVX-512's lanes (and bits).
template <class Y>
struct Pair {
  using T = typename Y::T;
  struct reg {
    typename Y::reg lo, hi;
  };
  static constexpr int width = 2 * Y::width;
  static reg zero() { return {Y::zero(), Y::zero()}; }
  static reg load(const T* p) { return {Y::load(p), Y::load(p + Y::width)}; }
  static void store(T* p, reg v) {
    Y::store(p, v.lo);
    Y::store(p + Y::width, v.hi);
  }
  static reg broadcast(T x) { return {Y::broadcast(x), Y::broadcast(x)}; }
  static reg fmadd(reg a, reg b, reg c) {
    return {Y::fmadd(a.lo, b.lo, c.lo), Y::fmadd(a.hi, b.hi, c.hi)};
  }
  static reg add(reg a, reg b) { return {Y::add(a.lo, b.lo), Y::add(a.hi, b.hi)}; }
  static reg mul(reg a, reg b) { return {Y::mul(a.lo, b.lo), Y::mul(a.hi, b.hi)}; }
  // the first count (0..width) lanes; the others read as 0 and are not written
  static reg load_n(const T* p, int count) {
    return {Y::load_n(p, count), Y::load_n(p + Y::width, count - Y::width)};
  }
  static void store_n(T* p, reg v, int count) {
    Y::store_n(p, v.lo, count);
    Y::store_n(p + Y::width, v.hi, count - Y::width);
  }
};

}  // namespace
}  // namespace chainrule::kernels::avx2
