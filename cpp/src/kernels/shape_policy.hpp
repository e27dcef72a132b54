// Shape policies: which kernel path a call takes, decided from its shapes and features in
// one place. Each decision is a self-contained function of plain facts (no Network, no
// layers), next to the reason for it, so the policy can be read, tested and tuned on its own;
// the paths themselves compare nothing and compute. (The GEMM's own thresholds live in
// gemm_policy.hpp.)
#pragma once

#include <cstddef>
#include <vector>

#include "chainrule/kernels/small_step.hpp"
#include "chainrule/tensor.hpp"

namespace chainrule::kernels {

// ---- the fused small-network training step (kernels/small_step.hpp) ------------------------

/// What the trainer knows about a fit when it picks its training step.
struct SmallStepCase {
  std::vector<Index> widths;       ///< n0, n1, ..., nL
  Index rows = 0;                  ///< the largest training batch
  Index elem_bytes = 8;            ///< sizeof(T)
  bool vector_isa = false;         ///< AVX2 or AVX-512 kernels active (the step's kernels use FMA)
  bool dense_elementwise = false;  ///< every layer Dense, no penalties, element-wise activations
  bool plain_step = false;         ///< one process, no sample weights, no gradient clipping
  bool enabled = true;             ///< the runtime switch (small_step_enabled())
};

/// Widest layer the fused step takes: past it the GEMMs' blocking pays for their set-up.
constexpr Index kSmallStepMaxWidth = 128;
/// Bytes the fused step may touch per step (weights, gradients, and Z, H, dZ of every layer
/// for the whole batch): within a core's L2 on any x86-64 of the last decade, and in L1 for
/// the tiniest networks.
constexpr std::size_t kSmallStepBudget = 192 * 1024;

/// Whether a training step runs as one fused small-network step (every layer's forward and
/// backward on the whole batch, rows in SIMD lanes) instead of the general per-layer GEMMs.
inline bool use_small_step(const SmallStepCase& c) {
  if (!c.enabled || !c.vector_isa || !c.dense_elementwise || !c.plain_step) return false;
  if (c.widths.size() < 2 || c.rows < 1) return false;
  const Index lanes = 64 / c.elem_bytes;                            // rows per SIMD tile
  const Index mp = (c.rows + lanes - 1) / lanes * lanes;            // rows, padded
  std::size_t values = static_cast<std::size_t>(mp * c.widths[0]);  // X transposed
  Index widest = 0;
  for (std::size_t l = 1; l < c.widths.size(); ++l) {
    const Index n_in = c.widths[l - 1], n_out = c.widths[l];
    if (n_out > kSmallStepMaxWidth || n_in > kSmallStepMaxWidth) return false;
    widest = n_out > widest ? n_out : widest;
    values += static_cast<std::size_t>(2 * (n_in + 1) * n_out);  // [W; b] and [dW; db]
    values += static_cast<std::size_t>(3 * mp * n_out);          // Z, H, dZ
  }
  values += static_cast<std::size_t>(mp * widest);  // dH scratch
  return values * static_cast<std::size_t>(c.elem_bytes) <= kSmallStepBudget;
}

/// Multiply-adds of a fused step (forward, dW and dH_prev over the padded rows) below which its
/// two parts stay on one thread: a hand-off to the pool and the join cost about 0.2 us with
/// both vCPUs on one die (up to 1 us on two), more than half of such a step (measured: 2-15-1
/// sigmoid on 16 rows, 2.9k, ran 0.84x as fast on two threads, and 4-8-1 relu on 64, 9.4k,
/// 0.79x; 2-15-1 on 100 rows, 19k, 1.31x). Above it the first steps' timing decides
/// (training/timed_choice.hpp): the break-even depends on the activations' costs.
constexpr Index kSmallStepConcurrentWork = 4 * 1024;

/// Whether a fused step's two parts may run on two threads (else one after the other, with the
/// same bits): `work` is small_step_work(widths, padded rows).
inline bool small_step_concurrent(Index threads, Index tiles, Index work) {
  return threads >= 2 && small_step_split(tiles) < tiles && work >= kSmallStepConcurrentWork;
}

/// Bytes of parameters from which a fused step on two threads splits its update too: each
/// thread adds its part of every tensor's two sums and updates that part (training/
/// small_step.hpp). Below, the calling thread adds the sums and runs the update, as another
/// hand-off between the threads costs more than the split saves. Measured on two vCPUs on two
/// dies (Zen 4, 32-row batches, the fit's time per step, split against not): 2-10-8-5-1
/// float64 (1.3 KB, 100 rows, SGD) 11% slower; 4-16-16-1 float64 (3 KB) and 8-32-32-1 float32
/// (5.5 KB) even within the noise; 8-48-48-1 float32 (11 KB, Adam) 12% faster, 8-40-40-1
/// float64 (16 KB, Adam) 18% faster, 8-64-64-1 float32 (19 KB, W1m's, Adam) 16% faster.
constexpr Index kSmallStepSplitUpdateBytes = 8 * 1024;

inline bool small_step_split_update(Index param_bytes) {
  return param_bytes >= kSmallStepSplitUpdateBytes;
}

/// The multiply-adds of one fused step on mp padded rows: forward, [dW; db] and dH_prev.
inline Index small_step_work(const std::vector<Index>& widths, Index mp) {
  Index per_row = 0;
  for (std::size_t l = 1; l < widths.size(); ++l) per_row += 3 * (widths[l - 1] + 1) * widths[l];
  return per_row * mp;
}

/// Within the fused step, a layer's [dW; db] product: vectors across the outputs, each sum over
/// the rows in order (true), or vectors across the rows with lane-wise partial sums (false).
/// Across the outputs wastes the vector's unused lanes and the pass that puts dZ row-major;
/// across the rows pays a reduction of the lanes per output. The first wins from two full
/// vectors of outputs on.
inline bool small_step_grads_by_rows(Index n_out, Index lanes) { return n_out >= 2 * lanes; }

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

}  // namespace chainrule::kernels
