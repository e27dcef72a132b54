// GEMM kernels: the three products of backpropagation, with explicit leading dimensions.
// Row-major throughout. Each takes an optional epilogue: work done on every finished block
// of C while it is still in cache (bias + activation after the forward product, the
// activation's derivative after dH_prev, the SGD update after dW).
#pragma once

#include "chainrule/tensor.hpp"

namespace chainrule::kernels {

/// Work on a finished block of C: rows [i0, i0 + rows), columns [j0, j0 + cols), whose values
/// are at `block` (row r, column c at block[r * ld + c]). Blocks never overlap and may run on
/// different threads at once; every element of C is in exactly one block. `fn` must not throw.
template <class T>
struct Epilogue {
  using Fn = void (*)(const void* ctx, Index i0, Index j0, Index rows, Index cols, T* block,
                      Index ld);
  Fn fn = nullptr;
  const void* ctx = nullptr;
  /// True when C itself is not needed afterwards (only what fn does with it): the kernel may
  /// then hand fn a block in scratch memory instead of writing C (beta must be 0).
  bool c_unused = false;
  /// Optional: called with a block's position (block nullptr, ld 0) before the product computes
  /// it, so that fn's own operands (say W of an SGD update) can be fetched into cache while the
  /// block is computed; only a hint, it must not change memory.
  Fn prefetch = nullptr;

  explicit operator bool() const { return fn != nullptr; }
  void operator()(Index i0, Index j0, Index rows, Index cols, T* block, Index ld) const {
    fn(ctx, i0, j0, rows, cols, block, ld);
  }
  void hint(Index i0, Index j0, Index rows, Index cols) const {
    if (prefetch != nullptr) prefetch(ctx, i0, j0, rows, cols, nullptr, 0);
  }
};

/// NN: C (m, n) = alpha * A (m, k) @ B (k, n) + beta * C.       Forward: Z = H_prev @ W.
template <class T>
void gemm_nn(Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B, Index ldb,
             T beta, T* C, Index ldc, const Epilogue<T>& ep = {});

/// TN: C (m, n) = alpha * A(k, m).T @ B (k, n) + beta * C.      Backward: dW = H_prev.T @ dZ / m.
template <class T>
void gemm_tn(Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B, Index ldb,
             T beta, T* C, Index ldc, const Epilogue<T>& ep = {});

/// TN with a row of ones under A.T, so that the column sums of B come out of the same pass:
/// C (m + 1, n) = alpha * [A(k, m).T; 1 (1, k)] @ B (k, n), i.e. rows 0..m-1 as gemm_tn with
/// beta = 0 and row m = alpha * sum over rows of B.   Backward: [dW; db] = [H_prev 1].T @ dZ / m.
template <class T>
void gemm_tn_sum(Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B, Index ldb,
                 T* C, Index ldc, const Epilogue<T>& ep = {});

/// NT: C (m, n) = alpha * A (m, k) @ B(n, k).T + beta * C.      Backward: dH_prev = dZ @ W.T.
template <class T>
void gemm_nt(Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B, Index ldb,
             T beta, T* C, Index ldc, const Epilogue<T>& ep = {});

/// Whether a layer's forward product A (m, k) @ B (k, n) takes the few-row path below: a few
/// rows (a one-sample predict) against weights too large to stay in L1 (the decision is
/// use_few_rows_path in src/kernels/shape_policy.hpp).
template <class T>
bool use_few_rows(Index m, Index n, Index k);

/// The few-row path: C (m, n) = A (m, k) @ B (k, n), then the epilogue on each finished chunk of
/// columns; C has the bits of gemm_nn with alpha 1 and beta 0, for any thread count. Each
/// thread computes the same columns on every call (its slice of B stays in its core's cache
/// when it fits); `reverse` visits each thread's part in the opposite order, and a caller that
/// flips it on every call reads first what the call before read last (still cached).
template <class T>
void gemm_nn_few_rows(Index m, Index n, Index k, const T* A, Index lda, const T* B, Index ldb, T* C,
                      Index ldc, const Epilogue<T>& ep = {}, bool reverse = false);

}  // namespace chainrule::kernels
