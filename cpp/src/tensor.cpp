#include "chainrule/tensor.hpp"

#include <atomic>
#include <cstdlib>
#include <new>

namespace chainrule {
namespace {
std::atomic<std::size_t> g_allocations{0};
}

void* aligned_allocate(std::size_t bytes) {
  const std::size_t rounded = (bytes + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, rounded == 0 ? 64 : rounded);
  if (p == nullptr) throw std::bad_alloc();
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return p;
}

void aligned_free(void* p) noexcept { std::free(p); }

std::size_t aligned_allocation_count() noexcept {
  return g_allocations.load(std::memory_order_relaxed);
}

}  // namespace chainrule
