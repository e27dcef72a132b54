// Shape policy: which special path a call of a given shape takes. Each decision is one
// self-contained function next to the reason for it; the paths themselves compare nothing and
// compute. (The GEMM's own thresholds live in gemm_policy.hpp.)
#pragma once

#include "chainrule/tensor.hpp"

namespace chainrule::kernels {
namespace {

// ---- Few-row predict (a one-sample predict, a handful of rows) -----------------------------

/// Rows up to which a layer's forward product takes the few-row path (gemm_nn_few_rows).
constexpr Index kFewRowsMaxRows = 4;

/// Bytes of weights (B, k x n) from which it does: below, B stays in L1/L2 whichever way the
/// loops read it, and the narrow and row loops are as fast.
constexpr Index kFewRowsMinBytes = Index(128) * 1024;

/// Whether the forward product A (m, k) @ B (k, n) of a layer, with elements of elem_size
/// bytes, takes the few-row path: each thread reads the same columns of B on every call, in
/// an order that alternates between calls, so that a slice of B read last is read first
/// next time, while still in that core's cache. The result is the same either way.
inline bool use_few_rows_path(Index m, Index n, Index k, Index elem_size) {
  return m >= 1 && m <= kFewRowsMaxRows && n * k * elem_size >= kFewRowsMinBytes;
}

}  // namespace
}  // namespace chainrule::kernels
