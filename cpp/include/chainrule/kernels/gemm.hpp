// GEMM kernels: the three products of backpropagation, with explicit leading dimensions.
// Row-major throughout. These are the portable dense loops; a faster implementation can
// replace the definitions in src/kernels/gemm.cpp without touching any caller.
#pragma once

#include "chainrule/tensor.hpp"

namespace chainrule::kernels {

/// NN: C (m, n) = alpha * A (m, k) @ B (k, n) + beta * C.       Forward: Z = H_prev @ W.
template <class T>
void gemm_nn(Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B, Index ldb,
             T beta, T* C, Index ldc);

/// TN: C (m, n) = alpha * A(k, m).T @ B (k, n) + beta * C.      Backward: dW = H_prev.T @ dZ / m.
template <class T>
void gemm_tn(Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B, Index ldb,
             T beta, T* C, Index ldc);

/// NT: C (m, n) = alpha * A (m, k) @ B(n, k).T + beta * C.      Backward: dH_prev = dZ @ W.T.
template <class T>
void gemm_nt(Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B, Index ldb,
             T beta, T* C, Index ldc);

}  // namespace chainrule::kernels
