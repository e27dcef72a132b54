// The three GEMM ops of the kernel tests (test_kernels.cpp, test_gemm_paths.cpp), a product's
// shape, and one call for any op.
#pragma once

#include "chainrule/kernels/gemm.hpp"
#include "chainrule/tensor.hpp"

namespace chainrule_test {

using chainrule::Index;

enum class Op { NN, TN, NT };

inline const char* op_name(Op op) { return op == Op::NN ? "nn" : op == Op::TN ? "tn" : "nt"; }

struct Shape {
  Index m, n, k;
};

/// C (m, n) = alpha op(A) op(B) + beta C by kernels::gemm_nn, gemm_tn or gemm_nt: A is (m, k),
/// or (k, m) for TN; B is (k, n), or (n, k) for NT.
template <class T>
void gemm(Op op, Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B, Index ldb,
          T beta, T* C, Index ldc, const chainrule::kernels::Epilogue<T>& ep = {}) {
  namespace kn = chainrule::kernels;
  if (op == Op::NN)
    kn::gemm_nn<T>(m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, ep);
  else if (op == Op::TN)
    kn::gemm_tn<T>(m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, ep);
  else
    kn::gemm_nt<T>(m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, ep);
}

}  // namespace chainrule_test
