#include "chainrule/kernels/cpu.hpp"

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>

#include "chainrule/error.hpp"

namespace chainrule::kernels {
namespace {

bool cpu_has(KernelLevel level) {
#if defined(CHAINRULE_X86_KERNELS) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  switch (level) {
    case KernelLevel::portable:
      return true;
    case KernelLevel::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case KernelLevel::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }
  return false;
#else
  return level == KernelLevel::portable;
#endif
}

KernelLevel parse(const std::string& name) {
  if (name == "portable") return KernelLevel::portable;
  if (name == "avx2") return KernelLevel::avx2;
  if (name == "avx512") return KernelLevel::avx512;
  throw ValueError("unknown kernel level '" + name + "'; valid: portable, avx2, avx512");
}

KernelLevel initial_level() {
  if (const char* env = std::getenv("CHAINRULE_KERNEL"); env != nullptr && *env != '\0') {
    const KernelLevel want = parse(env);  // an unknown name is an error, not a silent fallback
    if (cpu_has(want)) return want;
  }
  return best_supported_level();
}

std::atomic<int>& level_slot() {
  static std::atomic<int> slot{static_cast<int>(initial_level())};
  return slot;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("model name", 0) == 0) {
      const auto colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown CPU";
}

}  // namespace

const char* level_name(KernelLevel level) {
  switch (level) {
    case KernelLevel::avx512:
      return "avx512";
    case KernelLevel::avx2:
      return "avx2";
    default:
      return "portable";
  }
}

KernelLevel best_supported_level() {
  if (cpu_has(KernelLevel::avx512)) return KernelLevel::avx512;
  if (cpu_has(KernelLevel::avx2)) return KernelLevel::avx2;
  return KernelLevel::portable;
}

std::vector<KernelLevel> supported_levels() {
  std::vector<KernelLevel> levels;
  for (auto l : {KernelLevel::portable, KernelLevel::avx2, KernelLevel::avx512})
    if (cpu_has(l)) levels.push_back(l);
  return levels;
}

KernelLevel active_level() { return static_cast<KernelLevel>(level_slot().load()); }

void set_kernel_level(const std::string& name) {
  const KernelLevel want = parse(name);
  if (!cpu_has(want))
    throw ValueError("kernel level '" + name + "' is not supported by this CPU or build");
  level_slot().store(static_cast<int>(want));
}

std::string cpu_description() {
  std::string levels;
  for (auto l : supported_levels())
    levels += std::string(levels.empty() ? "" : ", ") + level_name(l);
  return cpu_model() + "; kernels supported: " + levels + "; active: " + level_name(active_level());
}

}  // namespace chainrule::kernels
