// The small-step kernels for AVX2 + FMA (this file's flags, see CMakeLists.txt): a row tile
// is two ymm registers (simd_avx2.hpp's Pair), so that the lanes (and the bits) are AVX-512's.
#include "simd_avx2.hpp"
#include "small_step_body.hpp"
#include "small_step_isa.hpp"

namespace chainrule::kernels {
namespace {

// 4 outputs a pass, 1 row of dW or row tile: 8 ymm accumulators of the 16 registers
using Step32 = SmallStepVector<avx2::Pair<avx2::Ymm32>, 4, 1, 1>;
using Step64 = SmallStepVector<avx2::Pair<avx2::Ymm64>, 4, 1, 1>;

}  // namespace

SmallStepKernels<float> small_step_avx2_f32() { return small_step_table<Step32>(); }
SmallStepKernels<double> small_step_avx2_f64() { return small_step_table<Step64>(); }

}  // namespace chainrule::kernels
