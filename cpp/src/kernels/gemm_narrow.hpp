// The narrow row loops: products whose C has a few vectors per row (the small layers of a
// small network, an output layer of a few classes; gemm_policy.hpp, is_narrow). Packing op(A)
// would cost as much as such a product and a 24/32-wide panel would be partly padding, so
// these loops read op(A) and B in place: RB rows of C at a time keep RB x NV accumulators in
// registers (independent FMA chains), loading each row of B once for all of them; the last
// vector of a row is masked. Each element is the same FMA chain over each KC block, combined
// with C as in the micro-kernel, so the bits equal those of the other paths.
// rows_wide (gemm_rows.hpp) reuses narrow_block for one row at a time.
#pragma once

#include "chainrule/kernels/gemm.hpp"
#include "chainrule/kernels/thread_pool.hpp"
#include "chainrule/tensor.hpp"
#include "gemm_common.hpp"
#include "gemm_lanes.hpp"
#include "gemm_pack.hpp"
#include "gemm_policy.hpp"
#include "gemm_workspace.hpp"

namespace chainrule::kernels {
namespace {

#if defined(__GNUC__)
#define CHAINRULE_NARROW_INLINE inline __attribute__((always_inline))
#else
#define CHAINRULE_NARROW_INLINE inline
#endif

// A row of C's NV vectors (the last masked to `tail` lanes) = alpha * acc + beta * C, as the
// micro-kernel combines a KC block's sums with C; beta == 0 never reads C (it may hold NaN).
template <class V, int NV, class T>
CHAINRULE_NARROW_INLINE void store_narrow_row(T* c, const typename V::reg* acc, typename V::reg va,
                                              T beta, int tail) {
  constexpr int W = V::width;
  const typename V::reg vb = V::broadcast(beta);
#pragma GCC unroll 16
  for (int v = 0; v < NV; ++v) {
    const int count = v == NV - 1 ? tail : W;
    const typename V::reg out = beta == T(0)
                                    ? V::mul(va, acc[v])
                                    : V::fmadd(vb, V::load_n(c + v * W, count), V::mul(va, acc[v]));
    V::store_n(c + v * W, out, count);
  }
}

// One row of one or two vectors (NN/TN, op(A) row i, or a row of ones when Ones): the depth
// blocks [0, G KC) with G whole KC blocks (2, 3 or 4), their FMA chains side by side. Alone,
// such a row's NV chains wait on the FMA's latency at every depth step (784 x 10 float32:
// some 4 cycles a step). Each block's chain is the one it would be alone, and the blocks are
// combined with C in depth order after, so the bits are those of one block at a time.
//   op(A) (1, G KC) row i, B (G KC, n) -> C (1, n) row i = alpha op(A) B + beta C
template <class K, class T, int NV, int G, bool Ones>
__attribute__((noinline)) void narrow_row_blocks(Index i, Index n, T alpha, const T* A, Index rsa,
                                                 Index csa, const T* B, Index rsb, T beta, T* C,
                                                 Index ldc) {
  using V = typename K::Vec;
  constexpr int W = V::width;
  const int tail = static_cast<int>(n) - (NV - 1) * W;  // valid lanes of the last vector
  const T one = T(1);
  const T* a = Ones ? &one : A + i * rsa;  // a row of ones: one value, read with step 0
  const Index a_step = Ones ? 0 : csa;
  typename V::reg acc[G][NV];
#pragma GCC unroll 16
  for (int g = 0; g < G; ++g)
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) acc[g][v] = V::zero();
  for (Index q = 0; q < K::KC; ++q) {
#pragma GCC unroll 16
    for (int g = 0; g < G; ++g) {
      const Index p = g * K::KC + q;
      const T* b = B + p * rsb;
      const typename V::reg ap = V::broadcast(a[p * a_step]);
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v)
        acc[g][v] =
            V::fmadd(ap, v == NV - 1 ? V::load_n(b + v * W, tail) : V::load(b + v * W), acc[g][v]);
    }
  }
  const typename V::reg va = V::broadcast(alpha);
#pragma GCC unroll 16
  for (int g = 0; g < G; ++g)
    store_narrow_row<V, NV>(C + i * ldc, acc[g], va, g == 0 ? beta : T(1), tail);
}

// One block of RB rows, NN/TN (csb == 1; rows i >= a_rows of op(A) are ones):
//   op(A) (RB, k) rows i0.., B (k, n) -> C (RB, n) rows i0..
//   C[i0:i0+RB, 0:n] = alpha * op(A)[i0:i0+RB, :] @ B (k, n) + beta * C
// NV vectors per row of C (the last masked to n), RB x NV accumulators; Ones: the block holds
// rows of ones (i0 + RB > a_rows).
template <class K, class T, int NV, int RB, bool Ones>
inline void narrow_block_impl(Index i0, Index n, Index k, T alpha, const T* A, Index rsa, Index csa,
                              const T* B, Index rsb, T beta, T* C, Index ldc, Index a_rows) {
  using V = typename K::Vec;
  constexpr int W = V::width;
  const int tail = static_cast<int>(n) - (NV - 1) * W;  // valid lanes of the last vector
  const typename V::reg va = V::broadcast(alpha);
  // op(A)[i0 + r, p] = a_row[r][p * a_step[r]]: a row of ones reads one value with step 0,
  // so the depth loop has no branch (without rows of ones, plain indexing: no table to keep)
  const T one = T(1);
  const T* a_row[RB];
  Index a_step[RB];
  if constexpr (Ones)
    for (int r = 0; r < RB; ++r) {
      const bool real = i0 + r < a_rows;
      a_row[r] = real ? A + (i0 + r) * rsa : &one;
      a_step[r] = real ? csa : 0;
    }
  const auto a_at = [&](int r, Index p) -> T {
    if constexpr (Ones)
      return a_row[r][p * a_step[r]];
    else
      return A[(i0 + r) * rsa + p * csa];
  };
  Index pc = 0;
  if constexpr (RB == 1 && NV <= 2) {
    // whole KC blocks side by side, 4, 3 or 2 at a time (the last block runs below); the
    // branch is marked rare, so that the calls do not cost small products (a one-row predict
    // of a small network) a stack frame
    if (__builtin_expect(k >= 2 * K::KC, 0))
      for (Index group; (group = imin(4, (k - pc) / K::KC)) >= 2; pc += group * K::KC) {
        const T b0 = pc == 0 ? beta : T(1);
        const T* Ap = A + pc * csa;
        const T* Bp = B + pc * rsb;
        if (group == 4)
          narrow_row_blocks<K, T, NV, 4, Ones>(i0, n, alpha, Ap, rsa, csa, Bp, rsb, b0, C, ldc);
        else if (group == 3)
          narrow_row_blocks<K, T, NV, 3, Ones>(i0, n, alpha, Ap, rsa, csa, Bp, rsb, b0, C, ldc);
        else
          narrow_row_blocks<K, T, NV, 2, Ones>(i0, n, alpha, Ap, rsa, csa, Bp, rsb, b0, C, ldc);
      }
  }
  for (; pc < k; pc += K::KC) {
    const T beta_pc = pc == 0 ? beta : T(1);
    const Index p_end = imin(pc + K::KC, k);
    typename V::reg acc[RB][NV];
#pragma GCC unroll 16
    for (int r = 0; r < RB; ++r)
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();
    for (Index p = pc; p < p_end; ++p) {
      const T* b = B + p * rsb;
      if constexpr (NV > 4) {  // RB x NV accumulators leave no room for NV loads of B
        typename V::reg a[RB];
#pragma GCC unroll 16
        for (int r = 0; r < RB; ++r) a[r] = V::broadcast(a_at(r, p));
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) {
          typename V::reg bv = v == NV - 1 ? V::load_n(b + v * W, tail) : V::load(b + v * W);
          asm("" : "+v"(bv));  // one load into a register, not one folded into each FMA
#pragma GCC unroll 16
          for (int r = 0; r < RB; ++r) acc[r][v] = V::fmadd(a[r], bv, acc[r][v]);
        }
        continue;
      }
      typename V::reg bv[NV];
#pragma GCC unroll 16
      for (int v = 0; v < NV - 1; ++v) bv[v] = V::load(b + v * W);
      bv[NV - 1] = V::load_n(b + (NV - 1) * W, tail);
#pragma GCC unroll 16
      for (int r = 0; r < RB; ++r) {
        const typename V::reg a = V::broadcast(a_at(r, p));
#pragma GCC unroll 16
        for (int v = 0; v < NV; ++v) acc[r][v] = V::fmadd(a, bv[v], acc[r][v]);
      }
    }
#pragma GCC unroll 16
    for (int r = 0; r < RB; ++r)
      store_narrow_row<V, NV>(C + (i0 + r) * ldc, acc[r], va, beta_pc, tail);
  }
}

// Dispatches to the loop with or without rows of ones in the block.
template <class K, class T, int NV, int RB>
inline void narrow_block(Index i0, Index n, Index k, T alpha, const T* A, Index rsa, Index csa,
                         const T* B, Index rsb, T beta, T* C, Index ldc, Index a_rows) {
  if (i0 + RB <= a_rows)
    narrow_block_impl<K, T, NV, RB, false>(i0, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc,
                                           a_rows);
  else
    narrow_block_impl<K, T, NV, RB, true>(i0, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc,
                                          a_rows);
}

// The last rows (fewer than a block): all of them in one block of R rows, so their FMA chains
// interleave (one row alone waits on its chain: a whole FMA latency per depth step, which
// dominates a dW product of a few rows).
//   op(A) (rows, k) rows i.., B (k, n) -> C (rows, n) rows i..
template <class K, class T, int NV, int R>
inline void narrow_tail(Index rows, Index i, Index n, Index k, T alpha, const T* A, Index rsa,
                        Index csa, const T* B, Index rsb, T beta, T* C, Index ldc, Index a_rows) {
  if constexpr (R >= 1) {
    if (rows == R)
      narrow_block<K, T, NV, R>(i, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, a_rows);
    else
      narrow_tail<K, T, NV, R - 1>(rows, i, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, a_rows);
  }
}

// Rows [r0, r1) of the narrow product in blocks of RB (then one block of the rest), with the
// epilogue on groups of finished rows (kEpilogueGroup elements, still in L1).
//   op(A) (r1 - r0, k) rows r0.., B (k, n) -> C (r1 - r0, n) rows r0..
template <class K, class T, int NV>
void narrow_rows(Index r0, Index r1, Index n, Index k, T alpha, const T* A, Index rsa, Index csa,
                 const T* B, Index rsb, T beta, T* C, Index ldc, const Epilogue<T>& ep,
                 Index a_rows) {
  // 8 accumulators for 1-2 vectors, 12-16 for 3-4, 15-24 for 5-8 (and one register per row
  // for its broadcast value)
  constexpr int RB = NV <= 2 ? 8 / NV : NV <= 4 ? 4 : 3;
  Index done = r0, i = r0;
  while (i < r1) {
    if (i + RB <= r1) {
      narrow_block<K, T, NV, RB>(i, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, a_rows);
      i += RB;
    } else {
      narrow_tail<K, T, NV, RB - 1>(r1 - i, i, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc,
                                    a_rows);
      i = r1;
    }
    if (ep && (i == r1 || (i - done) * n >= kEpilogueGroup)) {
      ep(done, 0, i - done, n, C + done * ldc, ldc);
      done = i;
    }
  }
}

// Rows [0, m) by rows(r0, r1): on the calling thread for fewer than kNarrowThreadedFmas vector
// FMAs, else in chunks over the threads, about 4 a thread, each a multiple of 48 rows (of every
// RB: 8, 4 and 3, and of a row vector: 16, 8 or 4), so that every chunk but the last is whole
// blocks of rows (each row is summed by one thread, so the split never changes a bit).
template <class Rows>
void narrow_split(Index m, Index fmas, const Rows& rows) {
  const int threads = fmas < kNarrowThreadedFmas ? 1 : get_num_threads();
  if (threads == 1) {
    rows(0, m);
    return;
  }
  const Index chunk = ceil_div(ceil_div(m, threads * 4), 48) * 48;
  parallel_for(ceil_div(m, chunk), [&](Index t) { rows(t * chunk, imin(m, (t + 1) * chunk)); });
}

// A product of n <= W / 2 columns (gemm_policy.hpp, lanes_fit), op(B) (k, n) row-major (NT's B
// already transposed): whole row vectors by the lanes loops (gemm_lanes.hpp), the last rows
// (and rows of ones) by the narrow loops. Out of line, so that the narrow loops' calls (a
// one-row predict) stay as short as they were.
//   op(A) (m, k), B (k, n) -> C (m, n)
template <class K, class T, int N = 1>
__attribute__((noinline)) void gemm_lanes(Index m, Index n, Index k, T alpha, const T* A, Index rsa,
                                          Index csa, const T* B, Index rsb, T beta, T* C, Index ldc,
                                          const Epilogue<T>& ep, Index a_rows) {
  if constexpr (N <= K::Vec::width / 2) {
    if (n != N) {
      gemm_lanes<K, T, N + 1>(m, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, ep, a_rows);
      return;
    }
    narrow_split(m, lanes_fmas<K>(rsa != 1, m, n, k), [&](Index r0, Index r1) {
      lanes_rows<K, T, N>(r0, r1, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, ep, a_rows,
                          [&](Index i, Index end) {
                            narrow_rows<K, T, 1>(i, end, n, k, alpha, A, rsa, csa, B, rsb, beta, C,
                                                 ldc, ep, a_rows);
                          });
    });
  }
}

// The narrow product: op(A) (m, k), op(B) (k, n) -> C (m, n). NN/TN directly; NT
// (C = op(A) @ B.T with B stored (n, k)) on a copy of B transposed to (k, n), which for a
// narrow C is small next to the product. Rows are split over threads in blocks when there is
// enough work (narrow_split). C of a few columns puts its rows in the lanes (gemm_lanes).
template <class K, class T>
void gemm_narrow(Index m, Index n, Index k, T alpha, const T* A, Index rsa, Index csa, const T* B,
                 Index rsb, Index csb, T beta, T* C, Index ldc, const Epilogue<T>& ep,
                 Index a_rows) {
  if (csb != 1) {  // NT: op(B)[p, j] = B[j * csb + p] (rsb == 1): transpose into (k, n)
    T* Bt = thread_buffer<T>(0, k * n);
    constexpr Index W = K::Vec::width;
    for (Index j = 0; j < n; j += W)
      transpose_rows<typename K::Vec>(static_cast<int>(imin(W, n - j)), k, B + j * csb, csb, Bt + j,
                                      n);
    B = Bt;
    rsb = n;
  }
  if (lanes_fit<K>(rsa != 1, m, n)) {
    gemm_lanes<K, T>(m, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, ep, a_rows);
    return;
  }
  const auto rows = [&](Index r0, Index r1) {
    constexpr Index W = K::Vec::width;
    if (n <= W)
      narrow_rows<K, T, 1>(r0, r1, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, ep, a_rows);
    else if (n <= 2 * W)
      narrow_rows<K, T, 2>(r0, r1, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, ep, a_rows);
    else if (n <= 3 * W)
      narrow_rows<K, T, 3>(r0, r1, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, ep, a_rows);
    else if (!kNarrowWide<K> || n <= 4 * W)
      narrow_rows<K, T, 4>(r0, r1, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, ep, a_rows);
    else if constexpr (!kNarrowWide<K>)
      return;
    else if (n <= 5 * W)
      narrow_rows<K, T, 5>(r0, r1, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, ep, a_rows);
    else if (n <= 6 * W)
      narrow_rows<K, T, 6>(r0, r1, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, ep, a_rows);
    else if (n <= 7 * W)
      narrow_rows<K, T, 7>(r0, r1, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, ep, a_rows);
    else
      narrow_rows<K, T, 8>(r0, r1, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, ep, a_rows);
  };
  narrow_split(m, narrow_fmas<K>(m, n, k), rows);
}

}  // namespace
}  // namespace chainrule::kernels
