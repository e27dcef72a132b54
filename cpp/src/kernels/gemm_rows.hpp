// The row loops: NN/TN products too small to repay packing, or with a few rows (gemm_policy.hpp,
// use_unpacked). They read op(A) and B in place and stream B row by row, each row of C at a
// time: with a few rows (a one-sample predict) the accumulators stay in registers (rows_wide,
// on narrow_block), otherwise a row of them in memory (gemm_rows_range), whose inner loop over
// contiguous columns the compiler vectorises for this file's ISA. Rounding as everywhere: an FMA
// chain over each KC block of the depth, then C = alpha acc + beta C, so the bits equal the
// packed path's.
#pragma once

#include "chainrule/kernels/gemm.hpp"
#include "chainrule/kernels/thread_pool.hpp"
#include "chainrule/tensor.hpp"
#include "gemm_common.hpp"
#include "gemm_narrow.hpp"
#include "gemm_policy.hpp"
#include "gemm_workspace.hpp"

namespace chainrule::kernels {
namespace {

// Columns [j0, j1) of every row, with a row of accumulators in memory (acc, j1 - j0 values):
//   op(A) (m, k), B (k, n) -> C (m, j0:j1)   (NN/TN: csb == 1; rows i >= a_rows of op(A) are
//   ones)
//   acc[j0:j1] = sum_p op(A)[i, p] * B[p, j0:j1], then C[i, j0:j1] = alpha acc + beta C
// The epilogue runs on groups of finished rows (kEpilogueGroup elements, still in L1).
template <class K, class T>
void gemm_rows_range(Index m, Index j0, Index j1, Index k, T alpha, const T* A, Index rsa,
                     Index csa, const T* B, Index rsb, T beta, T* C, Index ldc, T* acc,
                     const Epilogue<T>& ep, Index a_rows) {
  const Index n = j1 - j0;
  Index done = 0;  // rows before this one have had the epilogue
  for (Index i = 0; i < m; ++i) {
    T* c = C + i * ldc + j0;
    const bool ones = i >= a_rows;
    const auto a_at = [=](Index p) { return ones ? T(1) : A[i * rsa + p * csa]; };
    if (k == 0) {  // C = beta C
      for (Index j = 0; j < n; ++j) c[j] = beta == T(0) ? T(0) : beta * c[j];
    }
    for (Index pc = 0; pc < k; pc += K::KC) {
      const T beta_pc = pc == 0 ? beta : T(1);
      // With nothing to keep from C, C's row is the accumulator (one pass fewer).
      T* acc_row = beta_pc == T(0) ? c : acc;
      for (Index j = 0; j < n; ++j) acc_row[j] = T(0);
      const Index p_end = imin(pc + K::KC, k);
      Index p = pc;
      // four depth steps per pass over acc: the same FMA chain, in the same order, with a
      // quarter of the loads and stores of acc
      for (; p + 4 <= p_end; p += 4) {
        const T a0 = a_at(p), a1 = a_at(p + 1), a2 = a_at(p + 2), a3 = a_at(p + 3);
        const T* b0 = B + p * rsb + j0;
        const T* b1 = b0 + rsb;
        const T* b2 = b1 + rsb;
        const T* b3 = b2 + rsb;
        for (Index j = 0; j < n; ++j)
          acc_row[j] =
              fma1(a3, b3[j], fma1(a2, b2[j], fma1(a1, b1[j], fma1(a0, b0[j], acc_row[j]))));
      }
      for (; p < p_end; ++p) {
        const T a = a_at(p);
        const T* b = B + p * rsb + j0;
        for (Index j = 0; j < n; ++j) acc_row[j] = fma1(a, b[j], acc_row[j]);
      }
      if (beta_pc == T(0)) {
        if (alpha != T(1))
          for (Index j = 0; j < n; ++j) c[j] = alpha * c[j];
      } else {
        for (Index j = 0; j < n; ++j) c[j] = fma1(beta_pc, c[j], alpha * acc[j]);
      }
    }
    if (ep && (i + 1 == m || (i + 1 - done) * n >= kEpilogueGroup)) {
      ep(done, j0, i + 1 - done, n, C + done * ldc + j0, ldc);
      done = i + 1;
    }
  }
}

// One row's chunk of w <= 8 vectors: op(A) (1, k) row i, B (k, w) -> C (1, w), as one
// narrow_block of the fewest vectors that hold w.
template <class K, class T, int NV>
inline void wide_chunk(Index i, Index w, Index k, T alpha, const T* A, Index rsa, Index csa,
                       const T* B, Index rsb, T beta, T* C, Index ldc, Index a_rows) {
  constexpr int W = K::Vec::width;
  if constexpr (NV > 1) {
    if (w <= (NV - 1) * W) {
      wide_chunk<K, T, NV - 1>(i, w, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, a_rows);
      return;
    }
  }
  narrow_block<K, T, NV, 1>(i, w, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, a_rows);
}

// Rows 0..m-1 (m <= kFewRows, say a one-sample predict), columns [j0, j1):
//   op(A) (m, k), B (k, n) -> C (m, j0:j1)
// each row in chunks of up to eight vectors whose accumulators stay in registers over the whole
// depth (eight independent FMA chains, one load of B per FMA, no accumulator traffic), then the
// epilogue on the range. The same chains as gemm_rows_range, so the same bits.
template <class K, class T>
void rows_wide(Index m, Index j0, Index j1, Index k, T alpha, const T* A, Index rsa, Index csa,
               const T* B, Index rsb, T beta, T* C, Index ldc, const Epilogue<T>& ep,
               Index a_rows) {
  constexpr Index kChunk = 8 * K::Vec::width;
  for (Index i = 0; i < m; ++i)
    for (Index j = j0; j < j1; j += kChunk)
      wide_chunk<K, T, 8>(i, imin(kChunk, j1 - j), k, alpha, A, rsa, csa, B + j, rsb, beta, C + j,
                          ldc, a_rows);
  if (ep) ep(0, j0, m, j1 - j0, C + j0, ldc);
}

// The row loops: op(A) (m, k), B (k, n) -> C (m, n) (NN/TN, or any op with k = 0: C = beta C),
// split over column ranges (64-byte aligned) when there is enough work (kRowsThreadedWork): a
// one-sample predict streams every weight once, so both cores' caches and bandwidth count.
template <class K, class T>
void gemm_rows(Index m, Index n, Index k, T alpha, const T* A, Index rsa, Index csa, const T* B,
               Index rsb, T beta, T* C, Index ldc, const Epilogue<T>& ep, Index a_rows) {
  constexpr Index kAlign = 64 / sizeof(T);
  const int threads = get_num_threads();
  const Index chunks = imin(threads, n / (4 * kAlign));
  const bool wide = rows_in_registers(m, k);  // rows_wide, else gemm_rows_range
  if (threads == 1 || chunks < 2 || m * n * k < kRowsThreadedWork) {
    if (wide)
      rows_wide<K>(m, 0, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, ep, a_rows);
    else
      gemm_rows_range<K>(m, 0, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc,
                         thread_buffer<T>(1, n), ep, a_rows);
    return;
  }
  const Index width = ceil_div(ceil_div(n, chunks), kAlign) * kAlign;
  const WorkerScratch<T> acc(1, threads, wide ? 0 : width);
  parallel_for(
      ceil_div(n, width),
      [&](Index t) {
        const Index j0 = t * width, j1 = imin(n, (t + 1) * width);
        if (wide)
          rows_wide<K>(m, j0, j1, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, ep, a_rows);
        else
          gemm_rows_range<K>(m, j0, j1, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, acc.get(), ep,
                             a_rows);
      },
      /*pinned=*/true);
}

}  // namespace
}  // namespace chainrule::kernels
