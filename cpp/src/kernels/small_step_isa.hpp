// The small-step kernel tables each ISA file defines (small_step_avx2.cpp,
// small_step_avx512.cpp), as small_step.cpp's dispatch sees them.
#pragma once

#include "chainrule/kernels/small_step.hpp"

namespace chainrule::kernels {

SmallStepKernels<float> small_step_avx2_f32();
SmallStepKernels<double> small_step_avx2_f64();
SmallStepKernels<float> small_step_avx512_f32();
SmallStepKernels<double> small_step_avx512_f64();

}  // namespace chainrule::kernels
