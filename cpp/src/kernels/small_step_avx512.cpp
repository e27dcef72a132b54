// The small-step kernels for AVX-512 (this file's flags, see CMakeLists.txt): a row tile is
// one zmm register (simd_avx512.hpp).
#include "simd_avx512.hpp"
#include "small_step_body.hpp"
#include "small_step_isa.hpp"

namespace chainrule::kernels {
namespace {

// 8 outputs a pass, and 2 rows of dW or 2 row tiles: 16 zmm accumulators of the 32 registers
using Step32 = SmallStepVector<avx512::Zmm32, 8, 2, 2>;
using Step64 = SmallStepVector<avx512::Zmm64, 8, 2, 2>;

}  // namespace

SmallStepKernels<float> small_step_avx512_f32() { return small_step_table<Step32>(); }
SmallStepKernels<double> small_step_avx512_f64() { return small_step_table<Step64>(); }

}  // namespace chainrule::kernels
