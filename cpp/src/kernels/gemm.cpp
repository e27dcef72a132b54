// GEMM entry points: dispatch to the ISA chosen at import (kernels/cpu.hpp), or the portable,
// cache-blocked loops below, whose inner loops run over contiguous memory with no loop-carried
// dependence so the compiler vectorises them for the build's base ISA. The portable loops are
// also the fallback on machines without AVX2.
#include "chainrule/kernels/gemm.hpp"

#include <algorithm>

#include "chainrule/kernels/cpu.hpp"
#include "gemm_isa.hpp"
#include "shape_policy.hpp"

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

// C (m, n) = alpha * A(k, m).T @ B (k, n) + beta * C, where rows a_rows..m-1 of A.T are ones
template <class T>
void portable_gemm_tn(Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B,
                      Index ldb, T beta, T* C, Index ldc, Index a_rows) {
  scale_c(m, n, beta, C, ldc);
  for (Index j0 = 0; j0 < n; j0 += kBlockN) {
    const Index nb = std::min(kBlockN, n - j0);
    for (Index p = 0; p < k; ++p) {
      const T* a = A + p * lda;
      const T* b = B + p * ldb + j0;
      for (Index i = 0; i < m; ++i) {
        const T ap = i < a_rows ? alpha * a[i] : alpha;
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

// The portable loops finish all of C before the epilogue runs, on C as one block.
template <class T>
void whole_epilogue(Index m, Index n, T* C, Index ldc, const Epilogue<T>& ep) {
  if (ep && m > 0 && n > 0) ep(0, 0, m, n, C, ldc);
}

template <class T>
void gemm_any(GemmOp op, Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B,
              Index ldb, T beta, T* C, Index ldc, const Epilogue<T>& ep, Index a_rows) {
#ifdef CHAINRULE_X86_KERNELS
  switch (active_level()) {
    case KernelLevel::avx512:
      return gemm_avx512(op, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, ep, a_rows);
    case KernelLevel::avx2:
      return gemm_avx2(op, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, ep, a_rows);
    default:
      break;
  }
#endif
  switch (op) {
    case GemmOp::NN:
      portable_gemm_nn(m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
      break;
    case GemmOp::TN:
      portable_gemm_tn(m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, a_rows);
      break;
    case GemmOp::NT:
      portable_gemm_nt(m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
      break;
  }
  whole_epilogue(m, n, C, ldc, ep);
}

}  // namespace

template <class T>
void gemm_nn(Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B, Index ldb,
             T beta, T* C, Index ldc, const Epilogue<T>& ep) {
  gemm_any(GemmOp::NN, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, ep, m);
}
template <class T>
void gemm_tn(Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B, Index ldb,
             T beta, T* C, Index ldc, const Epilogue<T>& ep) {
  gemm_any(GemmOp::TN, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, ep, m);
}
template <class T>
void gemm_tn_sum(Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B, Index ldb,
                 T* C, Index ldc, const Epilogue<T>& ep) {
  gemm_any(GemmOp::TN, m + 1, n, k, alpha, A, lda, B, ldb, T(0), C, ldc, ep, m);
}
template <class T>
void gemm_nt(Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B, Index ldb,
             T beta, T* C, Index ldc, const Epilogue<T>& ep) {
  gemm_any(GemmOp::NT, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc, ep, m);
}

template <class T>
bool use_few_rows(Index m, Index n, Index k) {
  return use_few_rows_path(m, n, k, static_cast<Index>(sizeof(T)));
}

template <class T>
void gemm_nn_few_rows(Index m, Index n, Index k, const T* A, Index lda, const T* B, Index ldb, T* C,
                      Index ldc, const Epilogue<T>& ep, bool reverse) {
#ifdef CHAINRULE_X86_KERNELS
  switch (active_level()) {
    case KernelLevel::avx512:
      return gemm_few_rows_avx512(m, n, k, A, lda, B, ldb, C, ldc, ep, reverse);
    case KernelLevel::avx2:
      return gemm_few_rows_avx2(m, n, k, A, lda, B, ldb, C, ldc, ep, reverse);
    default:
      break;
  }
#endif
  (void)reverse;  // the portable loops: the general product (the same bits as gemm_nn)
  gemm_any(GemmOp::NN, m, n, k, T(1), A, lda, B, ldb, T(0), C, ldc, ep, m);
}

#define CHAINRULE_INSTANTIATE_GEMM(T)                                                              \
  template void gemm_nn<T>(Index, Index, Index, T, const T*, Index, const T*, Index, T, T*, Index, \
                           const Epilogue<T>&);                                                    \
  template void gemm_tn<T>(Index, Index, Index, T, const T*, Index, const T*, Index, T, T*, Index, \
                           const Epilogue<T>&);                                                    \
  template void gemm_tn_sum<T>(Index, Index, Index, T, const T*, Index, const T*, Index, T*,       \
                               Index, const Epilogue<T>&);                                         \
  template void gemm_nt<T>(Index, Index, Index, T, const T*, Index, const T*, Index, T, T*, Index, \
                           const Epilogue<T>&);                                                    \
  template bool use_few_rows<T>(Index, Index, Index);                                              \
  template void gemm_nn_few_rows<T>(Index, Index, Index, const T*, Index, const T*, Index, T*,     \
                                    Index, const Epilogue<T>&, bool);
CHAINRULE_INSTANTIATE_GEMM(float)
CHAINRULE_INSTANTIATE_GEMM(double)

}  // namespace chainrule::kernels
