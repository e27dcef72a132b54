// AVX-512 GEMM: the 512-bit vector types (with the register transposes the packing uses) and
// the micro-kernels' tile and block sizes; the paths themselves are the shared headers
// (gemm_dispatch.hpp), compiled here with -mavx512f -mavx512dq -mavx2 -mfma (this file only).
// Reached through the dispatch in gemm.cpp.
// fp32 micro-kernel 12x32, fp64 8x24: 24 zmm accumulators of the 32 registers leave room for
// the broadcasts and the loads of B; these tiles measured faster than 14x32 / 14x16 and the
// others tried (the measurements are in this file's git log).
// fp32 packs 512 deep (KP, two rounding blocks KC: the bits are those of KC-deep blocks) and
// keeps each 12-row panel of A (24 KB) in L1 while the 32-wide panels of B stream from L2
// (kStreamB, as BLIS does on Zen 4): half as many passes over C as 256-deep blocks, and a dW
// product of a batch up to 512 rows is one depth block, so its fused SGD update never writes
// dW. NC then keeps the packed B block (KP x NC, 512 KB) in L2 with room for the A panels and
// C's lines; measured against KP 256 and NC 384 / 512 / 1024 at W3's shapes (the git log).
// fp64 keeps the earlier order: its NC keeps the packed B block (KC x NC) in L2 next to the A
// block: a much larger NC lets the B stream evict A from L2, which slowed large square
// products markedly.
#include <immintrin.h>

#include "gemm_dispatch.hpp"
#include "gemm_isa.hpp"
#include "micro_kernel.hpp"

// GCC 12's unmasked shuffle intrinsics start from _mm512_undefined_*(), which it then reports
// as used uninitialized when they are inlined (fixed in later GCC); the values are all defined.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace chainrule::kernels {
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
  static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
  // the first count (1..width) lanes; the others read as 0 and are not written
  static __mmask16 mask(int count) { return static_cast<__mmask16>((1u << count) - 1u); }
  static reg load_n(const T* p, int count) { return _mm512_maskz_loadu_ps(mask(count), p); }
  static void store_n(T* p, reg v, int count) { _mm512_mask_storeu_ps(p, mask(count), v); }
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
  static reg mul(reg a, reg b) { return _mm512_mul_pd(a, b); }
  static __mmask8 mask(int count) { return static_cast<__mmask8>((1u << count) - 1u); }
  static reg load_n(const T* p, int count) { return _mm512_maskz_loadu_pd(mask(count), p); }
  static void store_n(T* p, reg v, int count) { _mm512_mask_storeu_pd(p, mask(count), v); }
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

// Ap (kc, 12), Bp (kc, 32) -> C tile (12, 32); blocks: KC deep (rounding), KP deep (packing),
// MC rows, NC columns; kStreamB: the loop order of the packed product (gemm_packed.hpp)
struct gemm_avx512_f32_12x32 : MicroKernel<Zmm32, 12, 2> {
  static constexpr Index KC = 256, KP = 512, MC = 12 * 14, NC = 256;
  static constexpr bool kStreamB = true;
};
// Ap (kc, 8), Bp (kc, 24) -> C tile (8, 24)
struct gemm_avx512_f64_8x24 : MicroKernel<Zmm64, 8, 3> {
  static constexpr Index KC = 256, KP = KC, MC = 8 * 21, NC = 480;
  static constexpr bool kStreamB = false;
};

}  // namespace

CHAINRULE_DEFINE_ISA_GEMM(avx512, gemm_avx512_f32_12x32, gemm_avx512_f64_8x24)

}  // namespace chainrule::kernels
