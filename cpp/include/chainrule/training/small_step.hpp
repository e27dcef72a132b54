// The fused small-network training step: the gradients of a whole batch through every layer
// in one call, for networks of narrow dense layers (chosen by kernels/shape_policy.hpp).
#pragma once

#include <memory>
#include <vector>

#include "chainrule/kernels/small_step.hpp"
#include "chainrule/network.hpp"
#include "chainrule/tensor.hpp"
#include "chainrule/training/timed_choice.hpp"

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
///
/// From two row tiles on, the batch is cut into two parts of whole tiles (kernels::
/// small_step_split) whose sums over rows for dW and db are each their own, then added:
/// (part 0 + part 1) / m. When the pool has two threads and the step is large enough to repay
/// the hand-off (small_step_concurrent in kernels/shape_policy.hpp), each part runs the whole
/// forward and backward pass on its own rows and buffers, one per thread; otherwise one thread
/// runs the whole batch with kernels that sum the two parts apart. The same bits either way.
///
/// A step on two threads with parameters enough (kernels::small_step_split_update) splits its
/// update too: update() adds the parts' sums on both threads, each taking a part of every
/// parameter tensor, adding that part's two sums and updating it (Optimizer::update_range).
/// Each half of the weights is then written by one thread. That matters where the two vCPUs
/// sit on two dies, as a line of W that the other core has read must be taken back from it
/// before it is written: W1m's step (8-64-64-1, Adam, 32 rows) spent 5.4 us in the update on
/// the calling thread after a step on two threads, 2.2 us after a step on one.
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
  /// The optimizer's step (begin_step, then every parameter tensor) from the gradients of the
  /// last gradients() call, as Network::apply_update(lr) takes it, with the same bits. Until
  /// it runs, the network's gradient buffer may not yet hold them (a step on two threads).
  /// An optimizer without state (Optimizer::fuses_into_backward: p -= lr g) is applied here,
  /// a layer's [W; b] in one pass, as the dense layer's fused update does.
  void update(T lr);

  SmallStep(Network<T>& net, Index rows, kernels::SmallStepKernels<T> kernels);

 private:
  struct LayerState {
    Dense<T>* dense;
    const Activation<T>* act;
    Index n_in, n_out;
  };
  /// One part of the batch: its rows' transposed blocks and scratch, written by one thread.
  struct Part {
    Index row0 = 0, rows = 0, mp = 0;    // rows [row0, row0 + rows) of the call, padded to mp
    Matrix<T> XT;                        // (n0, mp)
    std::vector<Matrix<T>> ZT, HT, dZT;  // per layer (n_out, mp)
    std::vector<Matrix<T>> dWb;          // per layer (n_in + 1, n_out): this part's sums
    Matrix<T> dHT;                       // (widest, mp): dH of the layer below, before act'
    Matrix<T> dZrows;                    // (mp, widest): a wide layer's dZ row-major, for its dW
    Matrix<T> dHo, dZo;                  // (rows, nL) row-major output deltas
  };
  // Part p's forward pass, output delta and backward pass; [dW; db] * scale into the part's
  // own sums (a part of two threads, which has them) or the network's gradients (whole_), the
  // sums over p's rows [0, split) and [split, p.rows) apart (split: whole tiles; none when
  // split >= p.rows)
  void run_part(Part& p, ConstView<T> X, ConstView<T> Y, T scale, Index split);
  // a part's buffers for up to `tiles` row tiles, with its own sums when own_sums
  void allocate(Part& p, Index tiles, bool own_sums);
  // f(0) and f(1) on two threads (each task on the same thread every call); their exceptions
  // rethrown here
  template <class F>
  void on_two_threads(F&& f);
  // elements [begin, end) of the parameter tensors in order: [dW; db] = (part 0 + part 1) / m
  // into the network's gradients; with `update`, then the optimizer's update of them
  void add_parts(Index begin, Index end, bool update, T lr);

  /// A parameter tensor (an optimizer slot): a range of its layer's [dW; db] and [W; b].
  struct Slot {
    Index index, size;  // the slot's number in Network::parameters(), its elements
    Index layer;        // its layer, whose [dW; db] holds it from `offset` on
    Index offset;
    Index start;  // its first element in the order of all the slots' elements
  };

  Network<T>& net_;
  kernels::SmallStepKernels<T> k_;
  Index mp_;  // rows capacity, padded to whole tiles
  std::vector<LayerState> layers_;
  Part whole_;          // the whole batch, on one thread
  Part parts_[2];       // its two parts, on two threads
  Index row_work_ = 0;  // multiply-adds of a step per (padded) row: the shape policy's input
  TimedChoice threads_choice_;  // the parts on one thread or two: the faster, timed
  Matrix<T> Zo_, Ho_;           // (mp, nL): the output block row-major, every part's rows
  ConstView<T> output_;
  std::vector<Slot> slots_;     // every parameter tensor, in Network::parameters() order
  Index n_params_ = 0;          // the slots' elements
  Index split_ = 0;             // thread 0 updates the first split_ of them, thread 1 the rest
  bool split_update_ = false;   // the policy's choice (kernels::small_step_split_update)
  bool parts_pending_ = false;  // the last step ran on two threads; update() adds their sums
  T inv_m_ = 0;                 // 1 / m of the last step
};

}  // namespace chainrule
