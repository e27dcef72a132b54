// Dispatch of the small-step kernels to the active ISA, and the step's runtime switch.
#include "chainrule/kernels/small_step.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "chainrule/error.hpp"
#include "chainrule/kernels/cpu.hpp"
#include "small_step_isa.hpp"

namespace chainrule::kernels {
namespace {

std::atomic<bool>& enabled_slot() {
  static std::atomic<bool> slot{[] {  // (a bad value raises at every use until it is fixed)
    const char* env = std::getenv("CHAINRULE_SMALL_STEP");
    if (env == nullptr || *env == '\0' || std::strcmp(env, "1") == 0) return true;
    if (std::strcmp(env, "0") == 0) return false;
    throw ValueError(std::string("CHAINRULE_SMALL_STEP must be 0 (off) or 1 (on), got '") + env +
                     "'");
  }()};
  return slot;
}

}  // namespace

bool small_step_enabled() { return enabled_slot().load(); }
void set_small_step_enabled(bool enabled) { enabled_slot().store(enabled); }

template <>
SmallStepKernels<float> small_step_kernels<float>() {
#if defined(CHAINRULE_X86_KERNELS)
  switch (active_level()) {
    case KernelLevel::avx512:
      return small_step_avx512_f32();
    case KernelLevel::avx2:
      return small_step_avx2_f32();
    default:
      break;
  }
#endif
  return {};
}

template <>
SmallStepKernels<double> small_step_kernels<double>() {
#if defined(CHAINRULE_X86_KERNELS)
  switch (active_level()) {
    case KernelLevel::avx512:
      return small_step_avx512_f64();
    case KernelLevel::avx2:
      return small_step_avx2_f64();
    default:
      break;
  }
#endif
  return {};
}

}  // namespace chainrule::kernels
