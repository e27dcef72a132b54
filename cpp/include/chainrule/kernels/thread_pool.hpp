// A persistent pool of std::threads (no OpenMP: libgomp hangs after fork in Python processes).
// The calling thread takes part in the work. The pool is re-created lazily in a forked child.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>

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
/// `pinned` runs task t on thread t mod n instead (the caller is thread 0), so repeated calls
/// over the same data keep each part in the same core's cache. Either way the caller never
/// waits for a worker that has not started: it runs the tasks still unclaimed when its own are
/// done (a pinned task then runs on the caller), so a worker that is asleep or not scheduled
/// slows a call to one thread's speed, never more.
void parallel_for(std::ptrdiff_t n_tasks, void (*fn)(void*, std::ptrdiff_t), void* ctx,
                  bool pinned = false);

/// How the pool's jobs ran, counted since the process started: jobs that had workers, the
/// workers' parts in them, and the parts the caller ran itself because that worker had not
/// started a few microseconds after the caller's own part (asleep, not scheduled, or its core
/// busy with another program). Many parts run by the caller mean the calls ran at about one
/// thread's speed.
struct PoolStats {
  std::uint64_t jobs = 0;
  std::uint64_t worker_parts = 0;
  std::uint64_t parts_run_by_caller = 0;
};
PoolStats pool_stats();

namespace testing {
/// While held, the pool's workers join no job, as when the system does not schedule them (the
/// caller then runs every task). For tests only.
void hold_workers(bool held);
}  // namespace testing

/// parallel_for with a lambda, without type-erasure allocations.
template <class F>
void parallel_for(std::ptrdiff_t n_tasks, F&& f, bool pinned = false) {
  using Fn = std::remove_reference_t<F>;
  parallel_for(
      n_tasks, [](void* ctx, std::ptrdiff_t t) { (*static_cast<Fn*>(ctx))(t); },
      static_cast<void*>(&f), pinned);
}

/// f(begin, end) over [0, n) in chunks of at least `grain` elements, in parallel when n is
/// large enough to repay waking the pool. For element-wise work, whose results do not depend
/// on the split.
template <class F>
void parallel_ranges(std::ptrdiff_t n, std::ptrdiff_t grain, F&& f) {
  const std::ptrdiff_t threads = get_num_threads();
  if (threads == 1 || n < 2 * grain) {
    f(std::ptrdiff_t(0), n);
    return;
  }
  std::ptrdiff_t chunks = n / grain < 4 * threads ? n / grain : 4 * threads;
  const std::ptrdiff_t width = (n + chunks - 1) / chunks;
  chunks = (n + width - 1) / width;
  parallel_for(chunks, [&](std::ptrdiff_t c) {
    const std::ptrdiff_t begin = c * width, end = begin + width < n ? begin + width : n;
    f(begin, end);
  });
}

}  // namespace chainrule::kernels
