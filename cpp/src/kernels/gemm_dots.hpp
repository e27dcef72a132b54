// The dot-product loops: NT products too small to repay packing (gemm_policy.hpp,
// use_unpacked). Each element of C is a dot product of a row of A and a row of B, both
// contiguous, so no operand needs a copy; eight rows of A at a time give eight independent
// FMA chains, which hide the FMA latency. Compiled for each ISA like the other paths, and
// rounded as the micro-kernel rounds: a sequential FMA chain over each KC block of the depth,
// then C = alpha acc + beta C, so an element has the same bits as on the packed path.
#pragma once

#include "chainrule/kernels/gemm.hpp"
#include "chainrule/tensor.hpp"
#include "gemm_common.hpp"

namespace chainrule::kernels {
namespace {

// A (m, k), B (n, k) -> C (m, n):
//   C[i, j] = alpha * sum_p A[i, p] B[j, p] + beta * C[i, j]
// The epilogue runs on groups of finished rows (kEpilogueGroup elements, still in L1).
template <class K, class T>
void gemm_dots(Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B, Index ldb,
               T beta, T* C, Index ldc, const Epilogue<T>& ep) {
  constexpr Index U = 8;  // rows at a time: eight independent FMA chains hide the latency
  Index done = 0;         // rows before this one have had the epilogue
  for (Index i0 = 0; i0 < m; i0 += U) {
    const Index u_end = imin(U, m - i0);
    for (Index j = 0; j < n; ++j) {
      const T* b = B + j * ldb;
      T c[U];
      for (Index u = 0; u < u_end; ++u) c[u] = C[(i0 + u) * ldc + j];
      for (Index pc = 0; pc < k; pc += K::KC) {
        const T beta_pc = pc == 0 ? beta : T(1);
        T acc[U] = {};
        const Index p_end = imin(pc + K::KC, k);
        if (u_end == U) {
          for (Index p = pc; p < p_end; ++p)
#pragma GCC unroll 8
            for (Index u = 0; u < U; ++u) acc[u] = fma1(A[(i0 + u) * lda + p], b[p], acc[u]);
        } else {
          for (Index p = pc; p < p_end; ++p)
            for (Index u = 0; u < u_end; ++u) acc[u] = fma1(A[(i0 + u) * lda + p], b[p], acc[u]);
        }
        for (Index u = 0; u < u_end; ++u)
          c[u] = beta_pc == T(0) ? alpha * acc[u] : fma1(beta_pc, c[u], alpha * acc[u]);
      }
      for (Index u = 0; u < u_end; ++u) C[(i0 + u) * ldc + j] = c[u];
    }
    const Index rows = i0 + u_end - done;
    if (ep && (i0 + u_end == m || rows * n >= kEpilogueGroup)) {
      ep(done, 0, rows, n, C + done * ldc, ldc);
      done += rows;
    }
  }
}

}  // namespace
}  // namespace chainrule::kernels
