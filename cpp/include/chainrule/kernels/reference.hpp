// Naive triple-loop GEMMs: the oracle that every optimised kernel is tested against.
#pragma once

#include "chainrule/tensor.hpp"

namespace chainrule::kernels::reference {

// C (m, n) = alpha * op(A) @ op(B) + beta * C, summed in long double in the textbook order.
template <class T>
void gemm(bool trans_a, bool trans_b, Index m, Index n, Index k, T alpha, const T* A, Index lda,
          const T* B, Index ldb, T beta, T* C, Index ldc) {
  for (Index i = 0; i < m; ++i) {
    for (Index j = 0; j < n; ++j) {
      long double acc = 0;
      for (Index p = 0; p < k; ++p) {
        const T a = trans_a ? A[p * lda + i] : A[i * lda + p];
        const T b = trans_b ? B[j * ldb + p] : B[p * ldb + j];
        acc += static_cast<long double>(a) * b;
      }
      const T prev = beta == T(0) ? T(0) : beta * C[i * ldc + j];
      C[i * ldc + j] = static_cast<T>(alpha * acc + prev);
    }
  }
}

}  // namespace chainrule::kernels::reference
