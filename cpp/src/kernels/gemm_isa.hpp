// The entry points each ISA's GEMM source file defines, and the shape rule that picks the
// unpacked path. op codes: NN, TN (A stored (k, m)), NT (B stored (n, k)).
#pragma once

#include "chainrule/kernels/gemm.hpp"
#include "chainrule/tensor.hpp"

namespace chainrule::kernels {

enum class GemmOp { NN, TN, NT };

/// C (m, n) = alpha * op(A) @ op(B) + beta * C with the given ISA's kernels, then the
/// epilogue on each finished block; rows a_rows..m-1 of op(A) are ones (a_rows = m: none).
#define CHAINRULE_DECLARE_ISA_GEMM(isa)                                                         \
  void gemm_##isa(GemmOp op, Index m, Index n, Index k, float alpha, const float* A, Index lda, \
                  const float* B, Index ldb, float beta, float* C, Index ldc,                   \
                  const Epilogue<float>& ep, Index a_rows);                                     \
  void gemm_##isa(GemmOp op, Index m, Index n, Index k, double alpha, const double* A,          \
                  Index lda, const double* B, Index ldb, double beta, double* C, Index ldc,     \
                  const Epilogue<double>& ep, Index a_rows);

CHAINRULE_DECLARE_ISA_GEMM(avx512)
CHAINRULE_DECLARE_ISA_GEMM(avx2)

/// Products this small (or this skinny) skip packing: its cost would not be repaid.
inline bool use_unpacked(GemmOp op, Index m, Index n, Index k) {
  if (op == GemmOp::NT) return m * n * k <= 32 * 32 * 32;  // dot products, unvectorised
  return m <= 4 || m * n * k <= 32 * 32 * 32;
}

// Strides of op(A) and op(B) for each op, then the narrow row loops, the dot loops, the row
// loops or the packed driver.
#define CHAINRULE_ISA_GEMM_BODY(K)                                                         \
  {                                                                                        \
    const Index rsa = op == GemmOp::TN ? 1 : lda, csa = op == GemmOp::TN ? lda : 1;       \
    const Index rsb = op == GemmOp::NT ? 1 : ldb, csb = op == GemmOp::NT ? ldb : 1;       \
    if (k > 0 && is_narrow<K>(op != GemmOp::TN, m, n, k))                                   \
      gemm_narrow<K>(m, n, k, alpha, A, rsa, csa, B, rsb, csb, beta, C, ldc, ep, a_rows);  \
    else if (op == GemmOp::NT && k > 0 && use_unpacked(op, m, n, k))                       \
      gemm_dots<K>(m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, ep);                      \
    else if (k == 0 || use_unpacked(op, m, n, k))                                          \
      gemm_rows<K>(m, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, ep, a_rows);         \
    else                                                                                   \
      gemm_packed<K>(m, n, k, alpha, A, rsa, csa, B, rsb, csb, beta, C, ldc, ep, a_rows);  \
  }

#define CHAINRULE_DEFINE_ISA_GEMM(isa, K32, K64)                                              \
  void gemm_##isa(GemmOp op, Index m, Index n, Index k, float alpha, const float* A,          \
                  Index lda, const float* B, Index ldb, float beta, float* C, Index ldc,      \
                  const Epilogue<float>& ep, Index a_rows)                                    \
      CHAINRULE_ISA_GEMM_BODY(K32)                                                          \
  void gemm_##isa(GemmOp op, Index m, Index n, Index k, double alpha, const double* A,        \
                  Index lda, const double* B, Index ldb, double beta, double* C, Index ldc,   \
                  const Epilogue<double>& ep, Index a_rows)                                   \
      CHAINRULE_ISA_GEMM_BODY(K64)

}  // namespace chainrule::kernels
