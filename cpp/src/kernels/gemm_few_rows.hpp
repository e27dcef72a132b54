// The few-row path of predict (shape_policy.hpp, use_few_rows_path): A (m, k) with a few rows
// (a one-sample predict), B (k, n) a layer's weights, large enough that reading B is the cost:
//   C (m, n) = A @ B, then the epilogue on each finished chunk of columns
// The work is tiles of one KC block of the depth by one chunk of eight vectors of columns.
// Thread t always takes the same chunks (a contiguous run of them), so each core reads the
// same slice of B on every call; `reverse` visits the thread's tiles in the opposite order
// (the caller alternates it between calls), so the tiles read last in one call, the ones still
// in that core's L2, are read first in the next, before the rest of the slice evicts them.
// Each tile is the FMA chain the row loops make over that KC block (wide_chunk, beta 0); a
// chunk's blocks are then combined in depth order (C = acc_0, then C = C + acc_b: the row
// loops' C = 1 * C + 1 * acc_b in one rounding), so C has gemm_nn's bits (alpha 1, beta 0)
// whatever the thread count and the order.
#pragma once

#include "chainrule/kernels/gemm.hpp"
#include "chainrule/kernels/thread_pool.hpp"
#include "chainrule/tensor.hpp"
#include "gemm_common.hpp"
#include "gemm_policy.hpp"
#include "gemm_rows.hpp"
#include "gemm_workspace.hpp"

namespace chainrule::kernels {
namespace {

// Chunks [c0, c1) of kChunk columns, every row (part: blocks x m x kChunk scratch):
//   A (m, k), B (k, n) -> C (m, c0 * kChunk : c1 * kChunk)
template <class K, class T>
void few_rows_chunks(Index c0, Index c1, Index m, Index n, Index k, const T* A, Index lda,
                     const T* B, Index ldb, T* C, Index ldc, const Epilogue<T>& ep, bool reverse,
                     T* part) {
  constexpr Index kChunk = 8 * K::Vec::width;
  const Index blocks = ceil_div(k, K::KC);
  for (Index s = 0; s < c1 - c0; ++s) {
    const Index c = reverse ? c1 - 1 - s : c0 + s;
    const Index j0 = c * kChunk, w = imin(kChunk, n - j0);
    for (Index q = 0; q < blocks; ++q) {
      const Index b = reverse ? blocks - 1 - q : q;
      const Index p0 = b * K::KC, kb = imin(K::KC, k - p0);
      // part[b] (m, w) = A[:, p0:p0+kb] @ B[p0:p0+kb, j0:j0+w]
      T* pb = part + b * m * kChunk;
      for (Index i = 0; i < m; ++i)
        wide_chunk<K, T, 8>(i, w, kb, T(1), A + p0, lda, 1, B + p0 * ldb + j0, ldb, T(0), pb,
                            kChunk, m);
    }
    // C[:, j0:j0+w] = ((part[0] + part[1]) + part[2]) + ... (depth order)
    for (Index i = 0; i < m; ++i) {
      T* __restrict c_row = C + i * ldc + j0;
      const T* p = part + i * kChunk;
      for (Index j = 0; j < w; ++j) c_row[j] = p[j];
      for (Index b = 1; b < blocks; ++b) {
        const T* pb = p + b * m * kChunk;
        for (Index j = 0; j < w; ++j) c_row[j] = c_row[j] + pb[j];
      }
    }
    if (ep) ep(0, j0, m, w, C + j0, ldc);
  }
}

// A (m, k), B (k, n) -> C (m, n), then ep: the chunks split over the threads in contiguous
// runs (pinned: run t on thread t, the same columns on every call) when there is enough work.
template <class K, class T>
void gemm_few_rows(Index m, Index n, Index k, const T* A, Index lda, const T* B, Index ldb, T* C,
                   Index ldc, const Epilogue<T>& ep, bool reverse) {
  constexpr Index kChunk = 8 * K::Vec::width;
  if (m <= 0 || n <= 0) return;
  if (k == 0) {  // C = 0
    for (Index i = 0; i < m; ++i)
      for (Index j = 0; j < n; ++j) C[i * ldc + j] = T(0);
    if (ep) ep(0, 0, m, n, C, ldc);
    return;
  }
  const Index chunks = ceil_div(n, kChunk);
  const Index threads = m * n * k < kRowsThreadedWork ? 1 : imin(get_num_threads(), chunks);
  const Index per_thread = ceil_div(chunks, threads);
  const WorkerScratch<T> part(1, static_cast<int>(threads), ceil_div(k, K::KC) * m * kChunk);
  auto run = [&](Index t) {
    few_rows_chunks<K>(t * per_thread, imin(chunks, (t + 1) * per_thread), m, n, k, A, lda, B, ldb,
                       C, ldc, ep, reverse, part.get());
  };
  if (threads == 1)
    run(0);
  else
    parallel_for(ceil_div(chunks, per_thread), run, /*pinned=*/true);
}

}  // namespace
}  // namespace chainrule::kernels
