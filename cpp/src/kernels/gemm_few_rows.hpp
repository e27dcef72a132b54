// The few-row path of predict (shape_policy.hpp, use_few_rows_path): A (m, k) with a few rows
// (a one-sample predict), B (k, n) a layer's weights, large enough that reading B is the cost:
//   C (m, n) = A @ B, then the epilogue on C
// The work is tiles of one KC block of the depth by one chunk of columns (16 vectors with
// AVX-512: a whole row of a layer up to 256 float32 wide, so a tile reads one contiguous stream).
// The tiles split over the threads in contiguous runs of the depth-major order (block 0's
// chunks, then block 1's, ...), so a thread reads whole rows of B where it can (a part of each
// row, the rest skipped, streams from L2 at about two thirds of the rate: docs/performance.md,
// W4), and thread t always takes the same run, so each core reads the same slice of B on every
// call; `reverse` visits the thread's tiles in the opposite order (the caller alternates it
// between calls), so the tiles read last in one call, the ones still in that core's L2, are
// read first in the next.
// Each tile is the FMA chain the row loops make over that KC block (wide_chunk, beta 0) into
// its block's partial sums; once all are done the blocks are combined in depth order
// (C = acc_0, then C = C + acc_b: the row loops' C = 1 * C + 1 * acc_b in one rounding), so C
// has gemm_nn's bits (alpha 1, beta 0) whatever the thread count and the order.
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

// Vectors per chunk: 16 accumulators, a broadcast and a vector of B need 32 vector registers
// (AVX-512); 8 with AVX2's 16.
template <class K>
constexpr int kFewRowsVectors = sizeof(typename K::Vec::reg) == 64 ? 16 : 8;

// Tiles [t0, t1) of the (blocks x chunks) grid in depth-major order (tile = b * chunks + c),
// every row, each into its own slice of the shared partial sums (part: blocks x m x ldp):
//   part[b][:, chunk c] = A[:, KC block b] @ B[KC block b, chunk c]
template <class K, class T>
void few_rows_tiles(Index t0, Index t1, Index chunks, Index m, Index n, Index k, const T* A,
                    Index lda, const T* B, Index ldb, T* part, Index ldp, bool reverse) {
  constexpr Index kChunk = kFewRowsVectors<K> * K::Vec::width;
  for (Index s = 0; s < t1 - t0; ++s) {
    const Index tile = reverse ? t1 - 1 - s : t0 + s;
    const Index b = tile / chunks, j0 = tile % chunks * kChunk;
    const Index p0 = b * K::KC, kb = imin(K::KC, k - p0), w = imin(kChunk, n - j0);
    T* pb = part + b * m * ldp + j0;
    for (Index i = 0; i < m; ++i)
      wide_chunk<K, T, kFewRowsVectors<K>>(i, w, kb, T(1), A + p0, lda, 1, B + p0 * ldb + j0, ldb,
                                           T(0), pb, ldp, m);
  }
}

// The first tile of thread t's run: the runs split the depth-major tile order where the bytes
// of B read before the split are nearest to t / threads of the whole.
inline Index few_rows_split(Index t, Index threads, Index chunks, Index n, Index k, Index kc,
                            Index chunk) {
  if (t == 0) return 0;
  const Index tiles = ceil_div(k, kc) * chunks;
  if (t >= threads) return tiles;
  const Index target = t * k * n;  // x threads: compared with before * threads
  Index before = 0, best = 0, best_gap = -1;
  for (Index tile = 0; tile <= tiles; ++tile) {
    const Index gap =
        before * threads > target ? before * threads - target : target - before * threads;
    if (best_gap < 0 || gap < best_gap) best_gap = gap, best = tile;
    if (tile == tiles) break;
    const Index b = tile / chunks, c = tile % chunks;
    before += imin(kc, k - b * kc) * imin(chunk, n - c * chunk);
  }
  return best;
}

// A (m, k), B (k, n) -> C (m, n), then ep. The tiles split over the threads in contiguous
// runs of the depth-major order (pinned: the same run on the same thread on every call);
// C[:, j] = ((part[0] + part[1]) + part[2]) + ... in depth order once every tile is done, by
// the caller, which takes the last run: its later blocks hold more tiles (the depth's last,
// short block adds some), so fewer partial sums come from another core's cache (measured
// ~0.3-0.6 us less per one-row predict of W4's network when the two cores sit on two dies).
template <class K, class T>
void gemm_few_rows(Index m, Index n, Index k, const T* A, Index lda, const T* B, Index ldb, T* C,
                   Index ldc, const Epilogue<T>& ep, bool reverse) {
  constexpr Index kChunk = kFewRowsVectors<K> * K::Vec::width;
  if (m <= 0 || n <= 0) return;
  if (k == 0) {  // C = 0
    for (Index i = 0; i < m; ++i)
      for (Index j = 0; j < n; ++j) C[i * ldc + j] = T(0);
    if (ep) ep(0, 0, m, n, C, ldc);
    return;
  }
  const Index chunks = ceil_div(n, kChunk), blocks = ceil_div(k, K::KC);
  const Index tiles = blocks * chunks;
  const Index threads = m * n * k < kRowsThreadedWork ? 1 : imin(get_num_threads(), tiles);
  const Index ldp = chunks * kChunk;
  T* part = thread_buffer<T>(2, blocks * m * ldp);
  auto run = [&](Index t) {
    const Index r = threads - 1 - t;  // thread 0, the caller, takes the last run
    few_rows_tiles<K>(few_rows_split(r, threads, chunks, n, k, K::KC, kChunk),
                      few_rows_split(r + 1, threads, chunks, n, k, K::KC, kChunk), chunks, m, n, k,
                      A, lda, B, ldb, part, ldp, reverse);
  };
  if (threads == 1)
    run(0);
  else
    parallel_for(threads, run, /*pinned=*/true);
  // C = ((part[0] + part[1]) + part[2]) + ... (depth order)
  for (Index i = 0; i < m; ++i) {
    T* __restrict c_row = C + i * ldc;
    const T* p = part + i * ldp;
    for (Index j = 0; j < n; ++j) c_row[j] = p[j];
    for (Index b = 1; b < blocks; ++b) {
      const T* pb = p + b * m * ldp;
      for (Index j = 0; j < n; ++j) c_row[j] = c_row[j] + pb[j];
    }
  }
  if (ep) ep(0, 0, m, n, C, ldc);
}

}  // namespace
}  // namespace chainrule::kernels
