// What the kernel tests (test_kernels.cpp, test_gemm_paths.cpp) share: the three GEMM ops, a
// product's shape, one call for any op, random operands, and the loop over kernel levels.
#pragma once

#include <cstdio>
#include <vector>

#include "chainrule/kernels/cpu.hpp"
#include "chainrule/kernels/gemm.hpp"
#include "chainrule/tensor.hpp"
#include "test_util.hpp"

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

/// Random operands of a product, uniform in [-1, 1), unpadded: A holds op(A) (m, k) as stored,
/// (m, k) or (k, m) for TN, with lda its row length; B holds op(B) (k, n), (k, n) or (n, k)
/// for NT.
template <class T>
struct Operands {
  std::vector<T> A, B;
  Index lda, ldb;
  /// A from op(A)'s row r on: the A of a product of rows [r, ..)
  const T* A_rows(Op op, Index r) const { return A.data() + (op == Op::TN ? r : r * lda); }
};

template <class T>
Operands<T> random_operands(Op op, Shape sh, Rng& rng) {
  Operands<T> o{std::vector<T>(static_cast<std::size_t>(sh.m * sh.k)),
                std::vector<T>(static_cast<std::size_t>(sh.k * sh.n)), op == Op::TN ? sh.m : sh.k,
                op == Op::NT ? sh.k : sh.n};
  rng.fill_uniform(o.A.data(), sh.m * sh.k, -1.0, 1.0);
  rng.fill_uniform(o.B.data(), sh.k * sh.n, -1.0, 1.0);
  return o;
}

/// run() at every kernel level this CPU supports, each forced in turn.
template <class F>
void for_each_kernel_level(F&& run) {
  namespace kn = chainrule::kernels;
  for (auto level : kn::supported_levels()) {
    kn::set_kernel_level(kn::level_name(level));
    std::printf("kernel level %s\n", kn::level_name(level));
    run();
  }
}

}  // namespace chainrule_test
