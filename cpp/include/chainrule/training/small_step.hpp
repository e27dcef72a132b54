// The fused small-network training step: the gradients of a whole batch through every layer
// in one call, for networks of narrow dense layers (chosen by kernels/shape_policy.hpp).
#pragma once

#include <memory>
#include <vector>

#include "chainrule/kernels/small_step.hpp"
#include "chainrule/network.hpp"
#include "chainrule/tensor.hpp"

namespace chainrule {

/// Computes what Network::forward_pass + backward_pass compute for a plain dense network
/// (every layer Dense with an element-wise activation, no penalties; no sample weights):
/// the loss and every layer's [dW; db], in the network's gradient buffer, for the optimizer.
///
/// The batch is held transposed (features by rows, rows padded to whole SIMD tiles), so each
/// product runs with the batch's rows in the vector lanes whatever the layer's width, and every
/// intermediate of the step stays in cache. Activations and the loss are reached through their
/// interfaces (an element-wise activation is applied to a layer's whole (n_out, rows) block);
/// the kernels come from kernels/small_step.hpp. The sums of dW and db run in lane-wise
/// partial sums (see SmallStepKernels::weight_grads), an order other than the general path's;
/// the forward sums and dH_prev keep its order. The caller applies the update
/// (Network::apply_update) after checking the loss.
template <class T>
class SmallStep {
 public:
  /// The step for `net` when the shape policy chooses it for batches of up to `rows` rows and
  /// `plain_step` (one process, no sample weights, no clipping); nullptr otherwise.
  static std::unique_ptr<SmallStep> make(Network<T>& net, Index rows, bool plain_step);

  /// X (m, n0), Y (m, nL), m <= rows -> every layer's [dW; db]; returns the loss.
  double gradients(ConstView<T> X, ConstView<T> Y);
  /// Yhat (m, nL) of the last gradients() call.
  ConstView<T> output() const { return output_; }

  SmallStep(Network<T>& net, Index rows, kernels::SmallStepKernels<T> kernels);

 private:
  struct LayerState {
    Dense<T>* dense;
    const Activation<T>* act;
    Index n_in, n_out;
    Matrix<T> ZT, HT, dZT;  // (n_out, mp)
  };

  Network<T>& net_;
  kernels::SmallStepKernels<T> k_;
  Index mp_;  // rows capacity, padded to whole tiles
  std::vector<LayerState> layers_;
  Matrix<T> XT_;                   // (n0, mp)
  Matrix<T> dHT_;                  // (widest, mp): dH of the layer below, before act'
  Matrix<T> dZrows_;               // (mp, widest): a wide layer's dZ row-major, for its dW
  Matrix<T> Zo_, Ho_, dHo_, dZo_;  // (m, nL) row-major output block, when nL > 1
  ConstView<T> output_;
};

}  // namespace chainrule
