// The kernels of the fused small-network training step (training/small_step.hpp): a layer's
// forward product, its gradient product and its backpropagated product on a whole batch held
// transposed, features by rows ("feature-major": value (feature f, row r) at f * mp + r, mp =
// the rows padded to a multiple of small_step_lanes), so that a batch's rows fill the SIMD
// lanes however narrow the layer. Compiled per ISA (small_step_avx2.cpp, small_step_avx512.cpp)
// and picked with the GEMM's dispatch level (kernels/cpu.hpp).
#pragma once

#include "chainrule/tensor.hpp"

namespace chainrule::kernels {

/// Rows per tile: one 64-byte vector of T (8 doubles, 16 floats), on every ISA, so that the
/// lane-wise partial sums of the gradient products (and their bits) are the same everywhere.
template <class T>
constexpr Index small_step_lanes = 64 / static_cast<Index>(sizeof(T));

/// Row tiles of a fused step's batch in its first part (the rest are the second): the larger
/// half from two tiles on, all of them below. The sums over rows of dW and db add each part's
/// rows on their own and then the two sums (weight_grads' `split`), so the bits depend on the
/// batch's rows only, not on the threads that run the parts (training/small_step.hpp).
inline Index small_step_split(Index tiles) { return tiles >= 2 ? (tiles + 1) / 2 : tiles; }

/// The three products and a transpose, for one ISA. Shapes in the feature-major layout above.
template <class T>
struct SmallStepKernels {
  /// [W; b] (n_in + 1, n_out), HT_prev (n_in, mp) -> ZT (n_out, mp): Z = H_prev @ W + b,
  /// each sum over i in order (FMA), then + b.
  void (*affine)(Index n_in, Index n_out, Index mp, const T* Wb, const T* HT, T* ZT) = nullptr;
  /// HT_prev (n_in, mp), dZT (n_out, mp) -> [dW; db] (n_in + 1, n_out) = scale [H_prev 1].T @ dZ.
  /// Each sum over rows runs in small_step_lanes lane-wise partial sums (lane k adds rows
  /// k, k + lanes, ... in order), then adds the lanes pairwise (k + lanes/2, ..., k + 1).
  /// With split < mp (a multiple of the lanes) the batch's two parts, rows [0, split) and
  /// [split, mp), are summed so each on its own and the two sums added, then scaled: the bits
  /// of the two parts run apart (training/small_step.hpp). Padding rows of dZT must be 0.
  void (*weight_grads)(Index n_in, Index n_out, Index mp, Index split, T scale, const T* HT,
                       const T* dZT, T* dWb) = nullptr;
  /// The same product for layers at least small_step_lanes wide, with dZ (m, n_out) row-major:
  /// vectors across the outputs, each sum over the rows 0..m-1 in order (FMA), as a plain loop
  /// over rows would add them; with split < m, over rows [0, split) and [split, m) apart, the
  /// two sums added, then scaled.
  void (*weight_grads_rows)(Index n_in, Index n_out, Index m, Index mp, Index split, T scale,
                            const T* HT, const T* dZ, T* dWb) = nullptr;
  /// W (n_in, n_out), dZT (n_out, mp) -> dHT_prev (n_in, mp): dH_prev = dZ @ W.T, each sum
  /// over j in order (FMA).
  void (*backprop)(Index n_in, Index n_out, Index mp, const T* W, const T* dZT, T* dHT) = nullptr;
  /// AT (n, mp) -> A (mp, n) = AT.T, row-major, the padding rows included: dZ for
  /// weight_grads_rows.
  void (*untranspose)(Index n, Index mp, const T* AT, T* A) = nullptr;

  explicit operator bool() const { return affine != nullptr; }
};

/// The kernels of the active dispatch level; empty (false) on the portable level, which has
/// no fast FMA (the step then runs the general path).
template <class T>
SmallStepKernels<T> small_step_kernels();

/// The runtime switch of the fused step: on by default, off when the environment variable
/// CHAINRULE_SMALL_STEP is "0" at first use ("1" or unset: on; anything else: ValueError);
/// tests turn it off to compare the two paths.
bool small_step_enabled();
void set_small_step_enabled(bool enabled);

}  // namespace chainrule::kernels
