// GEMM entry points: dispatch to the ISA chosen at import (kernels/cpu.hpp), or the portable,
// cache-blocked loops below, whose inner loops run over contiguous memory with no loop-carried
// dependence so the compiler vectorises them for the build's base ISA. The portable loops are
// also the fallback on machines without AVX2.
#include "chainrule/kernels/gemm.hpp"

#include <algorithm>

#include "chainrule/kernels/cpu.hpp"
#include "gemm_isa.hpp"

namespace chainrule::kernels {
namespace {

constexpr Index kBlockK = 256;  // rows of B kept hot in L2 per pass
constexpr Index kBlockN = 512;  // columns of C / B per pass

// C (m, n) *= beta (beta == 0 writes zeros, so NaN garbage in C does not propagate).
template <class T>
void scale_c(Index m, Index n, T beta, T* C, Index ldc) {
  if (beta == T(1)) return;
  for (Index i = 0; i < m; ++i) {
    T* c = C + i * ldc;
    if (beta == T(0)) {
      std::fill(c, c + n, T(0));
    } else {
      for (Index j = 0; j < n; ++j) c[j] *= beta;
    }
  }
}

// C (m, n) = alpha * A (m, k) @ B (k, n) + beta * C
template <class T>
void portable_gemm_nn(Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B,
                       Index ldb, T beta, T* C, Index ldc) {
  scale_c(m, n, beta, C, ldc);
  for (Index j0 = 0; j0 < n; j0 += kBlockN) {
    const Index nb = std::min(kBlockN, n - j0);
    for (Index p0 = 0; p0 < k; p0 += kBlockK) {
      const Index kb = std::min(kBlockK, k - p0);
      for (Index i = 0; i < m; ++i) {
        T* c = C + i * ldc + j0;
        const T* a = A + i * lda + p0;
        for (Index p = 0; p < kb; ++p) {
          const T ap = alpha * a[p];
          const T* b = B + (p0 + p) * ldb + j0;
          for (Index j = 0; j < nb; ++j) c[j] += ap * b[j];  // C[i, :] += A[i, p] * B[p, :]
        }
      }
    }
  }
}

// C (m, n) = alpha * A(k, m).T @ B (k, n) + beta * C
template <class T>
void portable_gemm_tn(Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B,
                       Index ldb, T beta, T* C, Index ldc) {
  scale_c(m, n, beta, C, ldc);
  for (Index j0 = 0; j0 < n; j0 += kBlockN) {
    const Index nb = std::min(kBlockN, n - j0);
    for (Index p = 0; p < k; ++p) {
      const T* a = A + p * lda;
      const T* b = B + p * ldb + j0;
      for (Index i = 0; i < m; ++i) {
        const T ap = alpha * a[i];
        T* c = C + i * ldc + j0;
        for (Index j = 0; j < nb; ++j) c[j] += ap * b[j];  // C[i, :] += A[p, i] * B[p, :]
      }
    }
  }
}

// C (m, n) = alpha * A (m, k) @ B(n, k).T + beta * C: dot products of rows, with
// independent partial sums so the additions pipeline.
template <class T>
void portable_gemm_nt(Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B,
                       Index ldb, T beta, T* C, Index ldc) {
  for (Index i = 0; i < m; ++i) {
    const T* a = A + i * lda;
    T* c = C + i * ldc;
    for (Index j = 0; j < n; ++j) {
      const T* b = B + j * ldb;
      T s[8] = {0, 0, 0, 0, 0, 0, 0, 0};
      Index p = 0;
      for (; p + 8 <= k; p += 8)
        for (int u = 0; u < 8; ++u) s[u] += a[p + u] * b[p + u];
      T acc = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
      for (; p < k; ++p) acc += a[p] * b[p];
      c[j] = alpha * acc + (beta == T(0) ? T(0) : beta * c[j]);  // C[i, j] = A[i, :] . B[j, :]
    }
  }
}

}  // namespace

// Dispatch: the ISA kernels where this CPU and build have them, else the portable loops.
#ifdef CHAINRULE_X86_KERNELS
#define CHAINRULE_DISPATCH(OP, op)                                                  \
  switch (active_level()) {                                                       \
    case KernelLevel::avx512:                                                     \
      return gemm_avx512(GemmOp::OP, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc); \
    case KernelLevel::avx2:                                                       \
      return gemm_avx2(GemmOp::OP, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);   \
    default:                                                                      \
      return portable_gemm_##op(m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);    \
  }
#else
#define CHAINRULE_DISPATCH(OP, op) \
  return portable_gemm_##op(m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
#endif

template <class T>
void gemm_nn(Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B, Index ldb,
             T beta, T* C, Index ldc) {
  CHAINRULE_DISPATCH(NN, nn)
}
template <class T>
void gemm_tn(Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B, Index ldb,
             T beta, T* C, Index ldc) {
  CHAINRULE_DISPATCH(TN, tn)
}
template <class T>
void gemm_nt(Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B, Index ldb,
             T beta, T* C, Index ldc) {
  CHAINRULE_DISPATCH(NT, nt)
}

template void gemm_nn<float>(Index, Index, Index, float, const float*, Index, const float*, Index,
                             float, float*, Index);
template void gemm_nn<double>(Index, Index, Index, double, const double*, Index, const double*,
                              Index, double, double*, Index);
template void gemm_tn<float>(Index, Index, Index, float, const float*, Index, const float*, Index,
                             float, float*, Index);
template void gemm_tn<double>(Index, Index, Index, double, const double*, Index, const double*,
                              Index, double, double*, Index);
template void gemm_nt<float>(Index, Index, Index, float, const float*, Index, const float*, Index,
                             float, float*, Index);
template void gemm_nt<double>(Index, Index, Index, double, const double*, Index, const double*,
                              Index, double, double*, Index);

}  // namespace chainrule::kernels
