// The small-step kernels for AVX-512 (this file's flags, see CMakeLists.txt): a row tile is
// one zmm register.
#include <immintrin.h>

#include "small_step_body.hpp"
#include "small_step_isa.hpp"

namespace chainrule::kernels {
namespace {

struct Zmm64 {
  using T = double;
  using reg = __m512d;
  static constexpr Index lanes = 8;
  static constexpr Index block = 8;  // 8 zmm accumulators of 32
  static reg zero() { return _mm512_setzero_pd(); }
  static reg load(const T* p) { return _mm512_loadu_pd(p); }
  static void store(T* p, reg v) { _mm512_storeu_pd(p, v); }
  static reg broadcast(T x) { return _mm512_set1_pd(x); }
  static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_pd(a, b, c); }
  static reg add(reg a, reg b) { return _mm512_add_pd(a, b); }
  static reg mul(reg a, reg b) { return _mm512_mul_pd(a, b); }
  // the first count (1..8) lanes; the others read as 0 and are not written
  static __mmask8 mask(Index count) { return static_cast<__mmask8>((1u << count) - 1u); }
  static reg load_n(const T* p, Index count) { return _mm512_maskz_loadu_pd(mask(count), p); }
  static void store_n(T* p, reg v, Index count) { _mm512_mask_storeu_pd(p, mask(count), v); }
};

struct Zmm32 {
  using T = float;
  using reg = __m512;
  static constexpr Index lanes = 16;
  static constexpr Index block = 8;  // 8 zmm accumulators of 32
  static reg zero() { return _mm512_setzero_ps(); }
  static reg load(const T* p) { return _mm512_loadu_ps(p); }
  static void store(T* p, reg v) { _mm512_storeu_ps(p, v); }
  static reg broadcast(T x) { return _mm512_set1_ps(x); }
  static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  static __mmask16 mask(Index count) { return static_cast<__mmask16>((1u << count) - 1u); }
  static reg load_n(const T* p, Index count) { return _mm512_maskz_loadu_ps(mask(count), p); }
  static void store_n(T* p, reg v, Index count) { _mm512_mask_storeu_ps(p, mask(count), v); }
};

}  // namespace

SmallStepKernels<float> small_step_avx512_f32() { return small_step_table<Zmm32>(); }
SmallStepKernels<double> small_step_avx512_f64() { return small_step_table<Zmm64>(); }

}  // namespace chainrule::kernels
