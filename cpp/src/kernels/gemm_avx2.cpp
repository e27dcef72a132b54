// AVX2 + FMA GEMM: the 256-bit vector types and the micro-kernels' tile and block sizes; the
// paths themselves are the shared headers (gemm_dispatch.hpp), compiled here with -mavx2 -mfma
// (this file only). Reached through the dispatch in gemm.cpp.
// fp32 micro-kernel 6x16, fp64 6x8: 12 ymm accumulators of the 16 registers, leaving room for
// the row of B and the broadcasts. NC sizes the packed B block to 512 KB, as for AVX-512 (see
// gemm_avx512.cpp).
#include <immintrin.h>

#include "gemm_dispatch.hpp"
#include "gemm_isa.hpp"
#include "micro_kernel.hpp"

namespace chainrule::kernels {
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
  static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
  // the first count (1..width) lanes; the others read as 0 and are not written
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
  static reg mul(reg a, reg b) { return _mm256_mul_pd(a, b); }
  static __m256i mask(int count) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(count), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static reg load_n(const T* p, int count) { return _mm256_maskload_pd(p, mask(count)); }
  static void store_n(T* p, reg v, int count) { _mm256_maskstore_pd(p, mask(count), v); }
};

// Ap (kc, 6), Bp (kc, 16) -> C tile (6, 16); blocks: KC deep, MC rows, NC columns
struct gemm_avx2_f32_6x16 : MicroKernel<Ymm32, 6, 2> {
  static constexpr Index KC = 256, KP = KC, MC = 6 * 24, NC = 512;
  static constexpr bool kStreamB = false;
};
// Ap (kc, 6), Bp (kc, 8) -> C tile (6, 8)
struct gemm_avx2_f64_6x8 : MicroKernel<Ymm64, 6, 2> {
  static constexpr Index KC = 256, KP = KC, MC = 6 * 24, NC = 256;
  static constexpr bool kStreamB = false;
};

}  // namespace

CHAINRULE_DEFINE_ISA_GEMM(avx2, gemm_avx2_f32_6x16, gemm_avx2_f64_6x8)

}  // namespace chainrule::kernels
