// Scratch memory of the GEMM paths: grow-only, 64-byte aligned buffers, one set per thread and
// element type, so that a product of a size seen before allocates nothing (DESIGN: no
// allocation inside the per-step loop), and per-worker slices of one caller's buffer, so that a
// pool worker's first task never allocates either.
#pragma once

#include "chainrule/kernels/thread_pool.hpp"
#include "chainrule/tensor.hpp"
#include "gemm_common.hpp"

namespace chainrule::kernels {
namespace {

// A grow-only 64-byte aligned scratch buffer, one per thread and element type.
template <class T>
struct PackBuffer {
  T* data = nullptr;
  Index capacity = 0;
  T* get(Index n) {
    if (n > capacity) {
      aligned_free(data);
      data = nullptr;
      data = static_cast<T*>(aligned_allocate(static_cast<std::size_t>(n) * sizeof(T)));
      capacity = n;
    }
    return data;
  }
  ~PackBuffer() { aligned_free(data); }
};

// Slots: 0 packed B (or the narrow NT path's transposed B), 1 packed A (or the row loops'
// accumulators), 2 the epilogue's scratch panels, 3 a worker's own buffer when it is not
// covered by its caller's (WorkerScratch).
template <class T>
T* thread_buffer(int which, Index n) {
  thread_local PackBuffer<T> buffers[4];
  return buffers[which].get(n);
}

// Per-worker scratch carved from one buffer of the calling thread, so that every allocation
// happens in the caller before the tasks start (a worker's first task never allocates).
// Each slice is rounded up to 16 elements, so that slices never share a cache line.
template <class T>
struct WorkerScratch {
  T* base;
  Index stride;
  int workers;
  WorkerScratch(int slot, int n_workers, Index per_worker)
      : base(thread_buffer<T>(slot, n_workers * ((per_worker + 15) / 16 * 16))),
        stride((per_worker + 15) / 16 * 16),
        workers(n_workers) {}
  // A worker index past the count (the thread count changed meanwhile) gets a buffer of its own.
  T* get() const {
    const int w = worker_index();
    return w < workers ? base + w * stride : thread_buffer<T>(3, stride);
  }
};

}  // namespace
}  // namespace chainrule::kernels
