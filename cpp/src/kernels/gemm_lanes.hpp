// The lanes loops: narrow products whose C has only a few columns (a regression or two-class
// output layer: its forward product and its dW), with C's rows in the vector lanes. The narrow
// loops (gemm_narrow.hpp) hold a row of C in a vector, so a C of one column kept one lane in
// sixteen busy; here a vector holds one column of W consecutive rows of C, and a depth step is
// n FMAs of a column of op(A) (W rows) by a broadcast value of B. In TN a column of op(A) is a
// row of A, read in place; in NN and NT, where A's rows run along the depth, W x W register
// transposes of A's blocks into a small tile on the stack give it. Each element is still one
// FMA chain in depth order over each KC block, combined with C as the micro-kernel combines
// it, so the bits equal those of the other paths (gemm_common.hpp).
// gemm_policy.hpp (lanes_fit) says which products take these loops.
#pragma once

#include "chainrule/kernels/gemm.hpp"
#include "chainrule/tensor.hpp"
#include "gemm_common.hpp"
#include "gemm_pack.hpp"

namespace chainrule::kernels {
namespace {

// Row vectors per block for N columns: N x RV accumulators (eight independent FMA chains, which
// hide the FMA's latency, for N up to 4), N broadcasts and one column of op(A) in registers.
template <int N>
constexpr int kLanesRowVectors = N == 1   ? 8
                                 : N == 2 ? 4
                                 : N <= 4 ? 2
                                          : 1;

// depth FMA steps of RV x N accumulators: acc[r][j] += op(A)[rows r, p0 + q] B[p0 + q, j], q in
// order, with op(A)[i0 + r W + l, p0 + q] = a[q a_step + r r_step + l]
template <class V, class T, int N, int RV>
inline __attribute__((always_inline)) void lanes_steps(int depth, const T* a, Index a_step,
                                                       Index r_step, const T* B, Index rsb,
                                                       typename V::reg (&acc)[RV][N]) {
  for (int q = 0; q < depth; ++q) {
    const T* b = B + q * rsb;
    typename V::reg bj[N];
#pragma GCC unroll 16
    for (int j = 0; j < N; ++j) bj[j] = V::broadcast(b[j]);
#pragma GCC unroll 16
    for (int r = 0; r < RV; ++r) {
      const typename V::reg col = V::load(a + q * a_step + r * r_step);
#pragma GCC unroll 16
      for (int j = 0; j < N; ++j) acc[r][j] = V::fmadd(col, bj[j], acc[r][j]);
    }
  }
}

// tile[(r W + q) W + l] = op(A)[i0 + r W + l, p0 + q] for r < RV, q < depth (<= W): RV blocks
// of W rows of A (NN/NT: op(A)[i, p] = A[i rsa + p]) transposed. Out of line: inlined, its
// registers pushed the accumulators of the loop around it out to the stack.
template <class V, class T, int RV>
__attribute__((noinline)) void lanes_transpose(int depth, const T* A, Index rsa, T* tile) {
  constexpr int W = V::width;
  for (int r = 0; r < RV; ++r)
    transpose_rows<V>(W, depth, A + r * W * rsa, rsa, tile + r * W * W, W);
}

// RV vectors of W rows from row i0, all below a_rows (no rows of ones), N columns:
//   op(A) (RV W, k) rows i0.., B (k, N) -> C (RV W, N) rows i0..
//   C[i0 : i0 + RV W, 0 : N] = alpha * op(A)[i0 : i0 + RV W, :] @ B + beta * C
// acc[r][j] holds column j of rows i0 + r W .. i0 + r W + W - 1. InPlace (TN, rsa == 1):
// op(A)[i, p] = A[p csa + i], its columns are rows of A, read in place; otherwise (NN/NT) each
// depth chunk of W is transposed into a tile first, and the accumulators wait in memory
// meanwhile.
template <class K, class T, int N, int RV, bool InPlace>
void lanes_block(Index i0, Index k, T alpha, const T* A, Index rsa, Index csa, const T* B,
                 Index rsb, T beta, T* C, Index ldc) {
  using V = typename K::Vec;
  constexpr int W = V::width;
  alignas(64) T tile[InPlace ? 1 : RV * W * W];
  const typename V::reg va = V::broadcast(alpha);
  for (Index pc = 0; pc < k; pc += K::KC) {
    const Index p_end = imin(pc + K::KC, k);
    typename V::reg acc[RV][N];
#pragma GCC unroll 16
    for (int r = 0; r < RV; ++r)
#pragma GCC unroll 16
      for (int j = 0; j < N; ++j) acc[r][j] = V::zero();
    if constexpr (InPlace) {
      lanes_steps<V, T, N, RV>(static_cast<int>(p_end - pc), A + pc * csa + i0, csa, W,
                               B + pc * rsb, rsb, acc);
    } else {
      for (Index p0 = pc; p0 < p_end; p0 += W) {
        const int depth = static_cast<int>(imin(W, p_end - p0));
        lanes_transpose<V, T, RV>(depth, A + i0 * rsa + p0, rsa, tile);
        lanes_steps<V, T, N, RV>(depth, tile, W, W * W, B + p0 * rsb, rsb, acc);
      }
    }
    // C = alpha acc + beta C, as store_narrow_row (beta == 0 never reads C)
    const T beta_pc = pc == 0 ? beta : T(1);
    const typename V::reg vb = V::broadcast(beta_pc);
#pragma GCC unroll 16
    for (int r = 0; r < RV; ++r) {
      T* c = C + (i0 + r * W) * ldc;
      if (N == 1 && ldc == 1) {  // the column is contiguous
        const typename V::reg scaled = V::mul(va, acc[r][0]);
        V::store(c, beta_pc == T(0) ? scaled : V::fmadd(vb, V::load(c), scaled));
        continue;
      }
#pragma GCC unroll 16
      for (int j = 0; j < N; ++j) {
        alignas(64) T scaled[W];
        V::store(scaled, V::mul(va, acc[r][j]));
        for (int l = 0; l < W; ++l) {
          T& out = c[l * ldc + j];
          out = beta_pc == T(0) ? scaled[l] : fma1(beta_pc, out, scaled[l]);
        }
      }
    }
  }
}

// Rows [r0, r1) of a product of N columns: blocks of whole row vectors below a_rows by the
// lanes loops, then the rest (fewer than W rows, or rows of ones) by `rest`, which the caller
// gives (the narrow loops); the epilogue on groups of finished rows, as there.
//   op(A) (r1 - r0, k) rows r0.., B (k, N) -> C (r1 - r0, N) rows r0..
template <class K, class T, int N, class Rest>
void lanes_rows(Index r0, Index r1, Index k, T alpha, const T* A, Index rsa, Index csa, const T* B,
                Index rsb, T beta, T* C, Index ldc, const Epilogue<T>& ep, Index a_rows,
                Rest&& rest) {
  constexpr int W = K::Vec::width;
  constexpr int RV = kLanesRowVectors<N>;
  const Index end = imin(r1, imax(a_rows, r0));  // rows of ones go to `rest`
  Index done = r0, i = r0;
  const bool in_place = rsa == 1;
  while (i + W <= end) {
    const bool whole = i + RV * W <= end;  // RV row vectors, else one
    if (in_place) {
      if (whole)
        lanes_block<K, T, N, RV, true>(i, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc);
      else
        lanes_block<K, T, N, 1, true>(i, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc);
    } else if constexpr (HasTranspose<typename K::Vec>::value) {
      if (whole)
        lanes_block<K, T, N, RV, false>(i, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc);
      else
        lanes_block<K, T, N, 1, false>(i, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc);
    } else {
      break;  // no register transposes (AVX2; lanes_fit keeps NN/NT off this path): `rest`
    }
    i += (whole ? RV : 1) * W;
    if (ep && (i - done) * N >= kEpilogueGroup) {
      ep(done, 0, i - done, N, C + done * ldc, ldc);
      done = i;
    }
  }
  if (ep && i > done) ep(done, 0, i - done, N, C + done * ldc, ldc);
  if (i < r1) rest(i, r1);
}

}  // namespace
}  // namespace chainrule::kernels
