// The small-step kernels for AVX2 + FMA (this file's flags, see CMakeLists.txt): a row tile
// is two ymm registers, so that the lanes (and the bits) are AVX-512's.
#include <immintrin.h>

#include "small_step_body.hpp"
#include "small_step_isa.hpp"

namespace chainrule::kernels {
namespace {

struct Ymm2x64 {
  using T = double;
  struct reg {
    __m256d lo, hi;
  };
  static constexpr Index lanes = 8;
  static constexpr Index block = 4;  // 8 ymm accumulators of 16
  static reg zero() { return {_mm256_setzero_pd(), _mm256_setzero_pd()}; }
  static reg load(const T* p) { return {_mm256_loadu_pd(p), _mm256_loadu_pd(p + 4)}; }
  static void store(T* p, reg v) {
    _mm256_storeu_pd(p, v.lo);
    _mm256_storeu_pd(p + 4, v.hi);
  }
  static reg broadcast(T x) { return {_mm256_set1_pd(x), _mm256_set1_pd(x)}; }
  static reg fma(reg a, reg b, reg c) {
    return {_mm256_fmadd_pd(a.lo, b.lo, c.lo), _mm256_fmadd_pd(a.hi, b.hi, c.hi)};
  }
  static reg add(reg a, reg b) { return {_mm256_add_pd(a.lo, b.lo), _mm256_add_pd(a.hi, b.hi)}; }
  static reg mul(reg a, reg b) { return {_mm256_mul_pd(a.lo, b.lo), _mm256_mul_pd(a.hi, b.hi)}; }
  // the first count (0..4) lanes of a half; the others read as 0 and are not written
  static __m256i mask(Index count) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(count), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static reg load_n(const T* p, Index count) {
    return {_mm256_maskload_pd(p, mask(count)), _mm256_maskload_pd(p + 4, mask(count - 4))};
  }
  static void store_n(T* p, reg v, Index count) {
    _mm256_maskstore_pd(p, mask(count), v.lo);
    _mm256_maskstore_pd(p + 4, mask(count - 4), v.hi);
  }
};

struct Ymm2x32 {
  using T = float;
  struct reg {
    __m256 lo, hi;
  };
  static constexpr Index lanes = 16;
  static constexpr Index block = 4;  // 8 ymm accumulators of 16
  static reg zero() { return {_mm256_setzero_ps(), _mm256_setzero_ps()}; }
  static reg load(const T* p) { return {_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)}; }
  static void store(T* p, reg v) {
    _mm256_storeu_ps(p, v.lo);
    _mm256_storeu_ps(p + 8, v.hi);
  }
  static reg broadcast(T x) { return {_mm256_set1_ps(x), _mm256_set1_ps(x)}; }
  static reg fma(reg a, reg b, reg c) {
    return {_mm256_fmadd_ps(a.lo, b.lo, c.lo), _mm256_fmadd_ps(a.hi, b.hi, c.hi)};
  }
  static reg add(reg a, reg b) { return {_mm256_add_ps(a.lo, b.lo), _mm256_add_ps(a.hi, b.hi)}; }
  static reg mul(reg a, reg b) { return {_mm256_mul_ps(a.lo, b.lo), _mm256_mul_ps(a.hi, b.hi)}; }
  // the first count (0..8) lanes of a half (a count < 0 reads none)
  static __m256i mask(Index count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static reg load_n(const T* p, Index count) {
    return {_mm256_maskload_ps(p, mask(count)), _mm256_maskload_ps(p + 8, mask(count - 8))};
  }
  static void store_n(T* p, reg v, Index count) {
    _mm256_maskstore_ps(p, mask(count), v.lo);
    _mm256_maskstore_ps(p + 8, mask(count - 8), v.hi);
  }
};

}  // namespace

SmallStepKernels<float> small_step_avx2_f32() { return small_step_table<Ymm2x32>(); }
SmallStepKernels<double> small_step_avx2_f64() { return small_step_table<Ymm2x64>(); }

}  // namespace chainrule::kernels
