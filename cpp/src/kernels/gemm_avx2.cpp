// AVX2 + FMA GEMM: the micro-kernels' tile and block sizes over the 256-bit vector types of
// simd_avx2.hpp; the
// paths themselves are the shared headers (gemm_dispatch.hpp), compiled here with -mavx2 -mfma
// (this file only). Reached through the dispatch in gemm.cpp.
// fp32 micro-kernel 6x16, fp64 6x8: 12 ymm accumulators of the 16 registers, leaving room for
// the row of B and the broadcasts. NC sizes the packed B block to 512 KB, as for AVX-512 (see
// gemm_avx512.cpp).
#include "gemm_dispatch.hpp"
#include "gemm_isa.hpp"
#include "micro_kernel.hpp"
#include "simd_avx2.hpp"

namespace chainrule::kernels {
namespace {

using avx2::Ymm32;
using avx2::Ymm64;

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
