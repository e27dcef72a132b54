// A persistent pool of std::threads (no OpenMP: libgomp hangs after fork in Python processes).
// The calling thread takes part in the work. The pool is re-created lazily in a forked child.
#pragma once

#include <cstddef>

namespace chainrule::kernels {

/// Threads used by the kernels (default: the CPUs this process may run on).
int get_num_threads();
/// Sets the thread count (>= 1); throws ValueError otherwise.
void set_num_threads(int n);

/// 0 on any thread outside the pool, 1..n-1 on the pool's workers.
int worker_index();

/// Runs fn(ctx, t) for t in [0, n_tasks) on the pool and returns when all are done. Tasks are
/// claimed dynamically; callers must make each task's result independent of which thread runs
/// it. A call made while the pool is busy (another thread, or from inside a task) runs inline.
void parallel_for(std::ptrdiff_t n_tasks, void (*fn)(void*, std::ptrdiff_t), void* ctx);

/// parallel_for with a lambda, without type-erasure allocations.
template <class F>
void parallel_for(std::ptrdiff_t n_tasks, F&& f) {
  parallel_for(
      n_tasks, [](void* ctx, std::ptrdiff_t t) { (*static_cast<F*>(ctx))(t); },
      static_cast<void*>(&f));
}

}  // namespace chainrule::kernels
