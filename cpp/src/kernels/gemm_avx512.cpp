// AVX-512 GEMM: the micro-kernels' tile and block sizes over the 512-bit vector types of
// simd_avx512.hpp; the paths themselves are the shared headers
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
// fp64 takes the same order at the rounding depth (KP = KC = 256): its 8-row panel of A (16 KB)
// stays in L1 while the 24-wide panels of B stream from L2. In the other order a panel of B,
// 256 x 24 doubles, is 48 KB, the whole L1 of the cores measured, so it did not stay there.
// NC keeps the packed B block (KC x NC, 480 KB) in L2 as fp32's does; twice that measured the
// same on a 2 MB L2, four times that slower.
#include "gemm_dispatch.hpp"
#include "gemm_isa.hpp"
#include "micro_kernel.hpp"
#include "simd_avx512.hpp"

namespace chainrule::kernels {
namespace {

using avx512::Zmm32;
using avx512::Zmm64;

// Ap (kc, 12), Bp (kc, 32) -> C tile (12, 32); blocks: KC deep (rounding), KP deep (packing),
// MC rows, NC columns; kStreamB: the loop order of the packed product (gemm_packed.hpp)
struct gemm_avx512_f32_12x32 : MicroKernel<Zmm32, 12, 2> {
  static constexpr Index KC = 256, KP = 512, MC = 12 * 14, NC = 256;
  static constexpr bool kStreamB = true;
};
// Ap (kc, 8), Bp (kc, 24) -> C tile (8, 24)
struct gemm_avx512_f64_8x24 : MicroKernel<Zmm64, 8, 3> {
  static constexpr Index KC = 256, KP = KC, MC = 8 * 21, NC = 240;
  static constexpr bool kStreamB = true;
};

}  // namespace

CHAINRULE_DEFINE_ISA_GEMM(avx512, gemm_avx512_f32_12x32, gemm_avx512_f64_8x24)

}  // namespace chainrule::kernels
