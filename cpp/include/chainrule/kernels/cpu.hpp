// Runtime CPU dispatch: which kernel family runs, chosen once (at first use) from what the
// CPU supports, or forced with set_kernel_level() / the CHAINRULE_KERNEL environment variable
// ("portable", "avx2", "avx512").
#pragma once

#include <string>
#include <vector>

namespace chainrule::kernels {

enum class KernelLevel { portable = 0, avx2 = 1, avx512 = 2 };

/// "portable", "avx2" or "avx512".
const char* level_name(KernelLevel level);
/// The best level this CPU and this build support.
KernelLevel best_supported_level();
/// Every level this CPU and build support, lowest first.
std::vector<KernelLevel> supported_levels();
/// The level the kernels use now.
KernelLevel active_level();
/// Forces a level by name; throws ValueError when unknown or unsupported here.
void set_kernel_level(const std::string& name);
/// CPU model, supported and active levels, as one line.
std::string cpu_description();

}  // namespace chainrule::kernels
