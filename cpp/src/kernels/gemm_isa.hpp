// The entry points each ISA's GEMM source file defines (gemm_avx512.cpp, gemm_avx2.cpp), as
// gemm.cpp's dispatch sees them. op codes: NN, TN (A stored (k, m)), NT (B stored (n, k)).
// Declarations only: the definitions come from gemm_dispatch.hpp, compiled in each ISA file.
#pragma once

#include "chainrule/kernels/gemm.hpp"
#include "chainrule/tensor.hpp"

namespace chainrule::kernels {

enum class GemmOp { NN, TN, NT };

/// C (m, n) = alpha * op(A) @ op(B) + beta * C with the given ISA's kernels, then the
/// epilogue on each finished block; rows a_rows..m-1 of op(A) are ones (a_rows = m: none).
#define CHAINRULE_DECLARE_ISA_GEMM(isa)                                                            \
  void gemm_##isa(GemmOp op, Index m, Index n, Index k, float alpha, const float* A, Index lda,    \
                  const float* B, Index ldb, float beta, float* C, Index ldc,                      \
                  const Epilogue<float>& ep, Index a_rows);                                        \
  void gemm_##isa(GemmOp op, Index m, Index n, Index k, double alpha, const double* A, Index lda,  \
                  const double* B, Index ldb, double beta, double* C, Index ldc,                   \
                  const Epilogue<double>& ep, Index a_rows);                                       \
  /* the few-row path of predict (gemm_few_rows.hpp): C (m, n) = A (m, k) @ B (k, n), then ep */   \
  void gemm_few_rows_##isa(Index m, Index n, Index k, const float* A, Index lda, const float* B,   \
                           Index ldb, float* C, Index ldc, const Epilogue<float>& ep,              \
                           bool reverse);                                                          \
  void gemm_few_rows_##isa(Index m, Index n, Index k, const double* A, Index lda, const double* B, \
                           Index ldb, double* C, Index ldc, const Epilogue<double>& ep,            \
                           bool reverse);

CHAINRULE_DECLARE_ISA_GEMM(avx512)
CHAINRULE_DECLARE_ISA_GEMM(avx2)

}  // namespace chainrule::kernels
