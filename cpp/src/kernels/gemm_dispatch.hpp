// The body of an ISA's GEMM entry point: the strides of op(A) and op(B) for the op, then the
// path gemm_policy.hpp chooses. An ISA source file includes this header and micro_kernel.hpp,
// defines its vector types and micro-kernels, and instantiates its entry points with
// CHAINRULE_DEFINE_ISA_GEMM; all of it is then compiled with that file's flags.
#pragma once

#include "chainrule/kernels/gemm.hpp"
#include "chainrule/tensor.hpp"
#include "gemm_dots.hpp"
#include "gemm_few_rows.hpp"
#include "gemm_isa.hpp"
#include "gemm_narrow.hpp"
#include "gemm_packed.hpp"
#include "gemm_policy.hpp"
#include "gemm_rows.hpp"

namespace chainrule::kernels {
namespace {

// op(A) (m, k), op(B) (k, n) -> C (m, n) with micro-kernel K (and its vector type and blocking).
template <class K, class T>
void gemm_isa(GemmOp op, Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B,
              Index ldb, T beta, T* C, Index ldc, const Epilogue<T>& ep, Index a_rows) {
  // op(A)(i, p) = A[i * rsa + p * csa], op(B)(p, j) = B[p * rsb + j * csb]
  const Index rsa = op == GemmOp::TN ? 1 : lda, csa = op == GemmOp::TN ? lda : 1;
  const Index rsb = op == GemmOp::NT ? 1 : ldb, csb = op == GemmOp::NT ? ldb : 1;
  switch (choose_path<K>(op, m, n, k)) {
    case GemmPath::narrow:
      gemm_narrow<K>(m, n, k, alpha, A, rsa, csa, B, rsb, csb, beta, C, ldc, ep, a_rows);
      return;
    case GemmPath::dots:
      gemm_dots<K>(m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, ep);
      return;
    case GemmPath::rows:
      gemm_rows<K>(m, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, ep, a_rows);
      return;
    case GemmPath::packed:
      gemm_packed<K>(m, n, k, alpha, A, rsa, csa, B, rsb, csb, beta, C, ldc, ep, a_rows);
      return;
  }
}

}  // namespace

// Defines gemm_<isa> and gemm_few_rows_<isa> (declared in gemm_isa.hpp) for float with
// micro-kernel K32 and for double with K64.
#define CHAINRULE_DEFINE_ISA_GEMM(isa, K32, K64)                                                   \
  void gemm_##isa(GemmOp op, Index m, Index n, Index k, float alpha, const float* A, Index lda,    \
                  const float* B, Index ldb, float beta, float* C, Index ldc,                      \
                  const Epilogue<float>& ep, Index a_rows) {                                       \
    gemm_isa<K32>(op, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, ep, a_rows);                   \
  }                                                                                                \
  void gemm_##isa(GemmOp op, Index m, Index n, Index k, double alpha, const double* A, Index lda,  \
                  const double* B, Index ldb, double beta, double* C, Index ldc,                   \
                  const Epilogue<double>& ep, Index a_rows) {                                      \
    gemm_isa<K64>(op, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, ep, a_rows);                   \
  }                                                                                                \
  void gemm_few_rows_##isa(Index m, Index n, Index k, const float* A, Index lda, const float* B,   \
                           Index ldb, float* C, Index ldc, const Epilogue<float>& ep,              \
                           bool reverse) {                                                         \
    gemm_few_rows<K32>(m, n, k, A, lda, B, ldb, C, ldc, ep, reverse);                              \
  }                                                                                                \
  void gemm_few_rows_##isa(Index m, Index n, Index k, const double* A, Index lda, const double* B, \
                           Index ldb, double* C, Index ldc, const Epilogue<double>& ep,            \
                           bool reverse) {                                                         \
    gemm_few_rows<K64>(m, n, k, A, lda, B, ldb, C, ldc, ep, reverse);                              \
  }

}  // namespace chainrule::kernels
