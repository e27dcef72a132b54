// An L-layer network: a sequence of layers, a loss, and the optimizer that updates them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "chainrule/activation.hpp"
#include "chainrule/clipping.hpp"
#include "chainrule/layer.hpp"
#include "chainrule/layers/dense.hpp"
#include "chainrule/loss.hpp"
#include "chainrule/optimizer.hpp"
#include "chainrule/tensor.hpp"

namespace chainrule {

/// A sequence of Layers with a loss and an optimizer. Shapes follow docs/design.md
/// section 1: X (m, n0), W[l] (n_{l-1}, n_l), b[l] (n_l), Y and Yhat (m, n_L).
template <class T>
class Network {
 public:
  /// n_inputs features in, then the layers as described (built from the layer registry, in
  /// order: each one's input width is the output width of the one before). Throws
  /// ValueError on an input size < 1, no layers, a layer spec the registry refuses, a last
  /// layer without an activation, or a loss that cannot follow the output activation.
  Network(Index n_inputs, std::vector<LayerSpec<T>> layers, std::unique_ptr<Loss<T>> loss,
          std::unique_ptr<Optimizer<T>> optimizer = std::make_unique<SGD<T>>());
  /// Dense layers only: sizes = {n0, n1, ..., nL}; one activation per layer (L of them).
  /// Throws ValueError on a size < 1 or a count mismatch, and as above.
  Network(const std::vector<Index>& sizes, std::vector<std::unique_ptr<Activation<T>>> activations,
          std::unique_ptr<Loss<T>> loss,
          std::unique_ptr<Optimizer<T>> optimizer = std::make_unique<SGD<T>>());

  Index num_layers() const { return static_cast<Index>(layers_.size()); }
  Index n_inputs() const { return layers_.front()->n_in(); }
  Index n_outputs() const { return layers_.back()->n_out(); }
  /// Whether the bytes [begin, end) overlap any layer's parameters or buffers: data aliasing
  /// them must be copied before a call that changes them reads it.
  bool overlaps_parameters(const void* begin, const void* end) const;
  /// Layer l, 0-based (the derivation's layer l + 1).
  Layer<T>& layer(Index l) { return *layers_.at(static_cast<std::size_t>(l)); }
  const Layer<T>& layer(Index l) const { return *layers_.at(static_cast<std::size_t>(l)); }
  /// Layer l as a Dense layer (its W, b, dZ, ...); TypeError when it is another kind.
  Dense<T>& dense(Index l);
  /// Every layer's parameters in order (layer 1's W, b, then layer 2's, ...), each named
  /// with its layer number ("W1", "b1", ...): the optimizer's slots, and what save, load,
  /// gradient_check and the divergence rollback walk.
  const std::vector<Parameter<T>>& parameters() const { return params_; }
  /// Every layer's buffers (not learned: BatchNorm's running statistics), named like the
  /// parameters ("running_mean2", ...).
  const std::vector<Parameter<T>>& buffers() const { return buffers_; }
  /// The sum of the layers' penalties (L1/L2 on weights), part of every loss reported.
  double penalty() const;
  /// Adds every layer's penalty gradient to its parameter gradients.
  void add_penalty_gradients();
  /// Whether any layer has a penalty.
  bool has_penalties() const { return has_penalties_; }
  /// Whether some layer's activation runs outside the core (Activation::registered() false:
  /// a Python one), whose call can raise in the middle of a backward pass.
  bool has_external_activations() const { return has_external_activations_; }

  /// The pass context: the key of the layers' random streams and the count of training
  /// passes so far (both part of the training state a model file keeps).
  std::uint64_t seed() const { return context_.seed; }
  std::uint64_t passes() const { return context_.pass; }
  void set_random_state(std::uint64_t seed, std::uint64_t passes);
  /// Puts the count of training passes back as it was when made, when it goes out of scope
  /// however (a pass that raised too): passes that must not move the dropout stream on and
  /// update no statistics (gradient_check, diagnose).
  class PassesBack {
   public:
    explicit PassesBack(Network& net) : net_(net), passes_(net.context_.pass) {}
    PassesBack(const PassesBack&) = delete;
    PassesBack& operator=(const PassesBack&) = delete;
    ~PassesBack() { net_.context_.pass = passes_; }

   private:
    Network& net_;
    const std::uint64_t passes_;
  };
  /// Undoes a training pass that ends in an exception (a refused batch, an extension's error,
  /// in forward, gradients or a step of fit): if it goes out of scope by one, it puts the
  /// count of training passes and every layer's buffers (BatchNorm's running statistics, which
  /// the pass's forward may already have moved) back as they were when it was made. A pass
  /// that returns, or one after keep() (a divergence, whose rollback has put the state of an
  /// earlier epoch back), keeps both.
  class PassUndo {
   public:
    explicit PassUndo(Network& net);
    PassUndo(const PassUndo&) = delete;
    PassUndo& operator=(const PassUndo&) = delete;
    ~PassUndo();
    void keep() { kept_ = true; }

   private:
    Network& net_;
    const std::uint64_t passes_;
    const int exceptions_;  // std::uncaught_exceptions() when made
    bool kept_ = false;
  };
  /// The next forward passes run in training mode, as training pass number passes() + 1
  /// (fresh random draws), updating running statistics when `update_statistics`; row_ids,
  /// sum_across and global_rows (a data-parallel step) as in PassContext.
  void begin_training_pass(bool update_statistics = true, const Index* row_ids = nullptr,
                           const SumAcrossFn* sum_across = nullptr, Index global_rows = 0);
  /// The next forward passes run in inference mode (no collective calls).
  void begin_inference() {
    context_.training = false;
    context_.row_ids = nullptr;
    context_.sum_across = nullptr;
    context_.global_rows = 0;
  }
  /// Whether a forward pass depends on training mode (dropout, batch normalisation).
  bool has_training_behaviour() const;
  /// Whether a layer uses statistics over a training batch's rows (batch normalisation).
  bool uses_batch_statistics() const;
  /// The fewest rows a training batch may have (2 with batch normalisation).
  Index min_training_rows() const;
  const Loss<T>& loss() const { return *loss_; }
  /// The optimizer and its state (prepared for this network's parameter tensors).
  Optimizer<T>& optimizer() { return *optimizer_; }
  const Optimizer<T>& optimizer() const { return *optimizer_; }
  /// Installs an optimizer with fresh (zero) state; ValueError on nullptr.
  void set_optimizer(std::unique_ptr<Optimizer<T>> optimizer);
  /// Replaces the optimizer's state: the step counter and, per buffer name, one array per
  /// parameter tensor (W1, b1, W2, ...) shaped like it. Checked first; on error nothing changes.
  void set_optimizer_state(
      Index steps, const std::vector<std::pair<std::string, std::vector<ConstView<T>>>>& buffers);
  /// The element count of each parameter tensor W1, b1, W2, b2, ... (the optimizer's slots).
  std::vector<Index> slot_sizes() const;
  /// The number of gradient values: every parameter's, back to back in one buffer (layer 1's
  /// [dW; db], then layer 2's, ...).
  Index gradient_size() const { return n_grads_; }
  /// Keeps the gradient buffer in `storage` (gradient_size() values, owned by the caller,
  /// alive while in use) - e.g. a data-parallel reducer's buffer, which the processes sum in
  /// place; nullptr returns to the network's own buffer. Gradient values are not carried over.
  void use_gradient_storage(T* storage);

  /// X (m, n0) -> Yhat (m, nL); caches every layer's Z and H for backward(). X must stay
  /// alive and unchanged until backward() is called.
  ConstView<T> forward(ConstView<T> X);
  /// Y (m, nL) -> every layer's dZ, dW, db from the last forward(); returns the loss.
  double backward(ConstView<T> Y);
  /// X (m, n0) -> out (m, nL), in chunks of kPredictChunk rows; does not keep a forward pass
  /// for backward(). `poll`, when given, runs before every chunk but the first (Ctrl-C: an
  /// exception it throws ends the call, the network unchanged).
  void predict(ConstView<T> X, MatrixView<T> out, const std::function<void()>& poll = {});
  /// The loss of X (m, n0) against Y (m, nL).
  double loss_value(ConstView<T> X, ConstView<T> Y);
  /// forward + backward on (X, Y): every layer's dW, db and dZ; returns the loss.
  double compute_gradients(ConstView<T> X, ConstView<T> Y);
  /// One optimizer step with the gradients of the last backward (plain SGD: W -= lr dW,
  /// b -= lr db), clipped in place first when `clip` is active. ValueError when there are
  /// none: no backward(), compute_gradients() or gradient_check() since the network was
  /// built, or a training run or a move of the gradient storage came after it.
  void step(double lr, const GradientClipping& clip = {});
  /// One optimizer step with given gradients (one (dW, db) pair per layer; dense layers only),
  /// clipped as by the overload below.
  void step(const std::vector<ConstView<T>>& dW, const std::vector<ConstView<T>>& db, double lr,
            const GradientClipping& clip = {});
  /// One optimizer step with given gradients, one per parameter tensor in the order of
  /// parameters(), each shaped like its parameter; with `clip`, with a clipped copy of them
  /// (the arrays given are left as they are).
  void step(const std::vector<ConstView<T>>& grads, double lr, const GradientClipping& clip = {});
  /// For each parameter tensor (W1, b1, W2, b2, ...), ||g_backprop - g_numeric|| /
  /// (||g_backprop|| + ||g_numeric||) with central differences of step eps. Parameters are
  /// restored exactly, and so is the count of training passes (a check does not move the
  /// dropout stream on); the gradients are then backprop's of (X, Y). `poll`, when given, is
  /// called after each perturbed value (its two passes), and may raise to stop the check
  /// (Ctrl-C) with every parameter back.
  std::vector<double> gradient_check(ConstView<T> X, ConstView<T> Y, double eps,
                                     const std::function<void()>& poll = {});

  /// Shape and value checks of a call's data; `what` names the call in messages.
  void check_X(ConstView<T> X, const char* what) const;
  void check_XY(ConstView<T> X, ConstView<T> Y, const char* what) const;

  // ---- the steps a training loop (Trainer) is made of; no argument checks -----------------

  /// Rows per forward pass of predict() and of a validation pass.
  static constexpr Index kPredictChunk = 1024;
  /// Shapes every layer's per-batch buffers for batches of up to `rows` rows and the
  /// per-row loss buffer of weighted batches for up to `weighted_rows` rows (allocating only
  /// past the largest sizes so far), so that the steps below do not allocate.
  void prepare_batches(Index rows, Index weighted_rows);
  /// X (m, n0) -> H[L] (m, nL), caching every layer's forward pass for backward_pass, in the
  /// mode last set (begin_training_pass / begin_inference).
  ConstView<T> forward_pass(ConstView<T> X);
  /// H[L] (m, nL) of the last forward pass.
  ConstView<T> output() const { return layers_.back()->output(); }
  /// The loss of a forward pass of X (m, n0) against Y, penalties included.
  double loss_of_forward(ConstView<T> X, ConstView<T> Y);
  /// Of the last forward pass against Y (m, nL): the sum of the row losses (weighted by w
  /// (m,) when given), with the rows' weight (m, or sum(w)) added to *weight.
  double pass_loss_sum(ConstView<T> Y, const T* w, double* weight);
  /// Y (m, nL) -> every layer's gradients from the last forward pass of X; returns the loss.
  /// With weights w (m,) summing to w_sum, the loss and gradients are the weighted mean's
  /// (sum_i w_i l_i / w_sum: another w_sum > 0 only scales them, and a batch whose weights
  /// are all 0 needs one).
  /// With sgd_lr > 0 the plain SGD update W -= sgd_lr dW is fused into the dW products (the
  /// gradients are then not kept), unless the loss is not finite: then nothing is done.
  /// With grad_scale > 0 the gradients are grad_scale times the (weighted) mean's, computed in
  /// the dW products (a data-parallel step asks for w_sum = grad_scale = m: the weighted sums
  /// over rows, each row's delta scaled by w_i alone).
  /// The loss and gradients include the layers' penalties unless `penalties` is false (a
  /// data-parallel step adds them once, after the sum over processes).
  double backward_pass(ConstView<T> X, ConstView<T> Y, const T* w = nullptr, double w_sum = 0,
                       T sgd_lr = T(0), double grad_scale = 0, bool penalties = true);
  /// Every gradient value set to 0 (a process with no rows in a data-parallel step).
  void zero_gradients();
  /// The gradient buffer no longer holds a public backward pass's gradients, which step(lr)
  /// would apply: a training run writes (or, fused with SGD, skips) them.
  void forget_gradients() { grads_ready_ = false; }
  /// Whether it does, and its restoration by a caller that puts the gradients back as they
  /// were after passes of its own (diagnose).
  bool gradients_ready() const { return grads_ready_; }
  void set_gradients_ready(bool ready) { grads_ready_ = ready; }
  /// A data-parallel training step on a process that holds none of the step's rows, after
  /// begin_training_pass with sum_across: every gradient is set to 0, and the layers that
  /// sum batch statistics over the processes (uses_batch_statistics) run their forward and
  /// backward passes on 0 rows, in the order of forward_pass and backward_pass, so that they
  /// make the same collective calls as on the processes with rows (contributing nothing but
  /// taking the same running statistics). The other layers are not run.
  void pass_without_rows();
  /// Every gradient value divided by w (a data-parallel step's weighted sums -> the mean).
  void divide_gradients(T w);
  /// The gradients of the last backward pass (all of them, as one vector) clipped in place.
  void clip_gradients(const GradientClipping& clip);
  /// The optimizer step with the gradients of the last backward pass: begin_step, then every
  /// parameter.
  void apply_update(T lr);
  /// Copies of every parameter followed by every buffer (in the orders of parameters() and
  /// buffers()), and their restoration (the divergence rollback): running statistics go back
  /// with the weights they were computed for.
  void copy_params(std::vector<Matrix<T>>& to) const;
  void restore_params(const std::vector<Matrix<T>>& from);
  /// The divergence rollback of fit: save_rollback() copies every parameter and buffer
  /// (copy_params), the optimizer's state and the count of training passes (the dropout
  /// masks' key) into storage the network keeps from one fit to the next; rollback() puts
  /// them all back, so that the network trains on as if the diverged epoch had not run. A copy
  /// made afresh by every fit would fault in and zero as many pages as the parameters hold:
  /// some 40 ms a call for 96 MB of weights (1024-4096-4096-1024, float32).
  void save_rollback();
  void rollback();
  /// Whether every parameter and buffer value is finite.
  bool params_finite() const;

 private:
  /// Rebuilds params_ and buffers_ from the layers (after the gradient storage moved).
  void collect_parameters();
  /// Sizes the gradient buffer and prepares the optimizer (the constructors' common end).
  void finish_construction();

  std::vector<std::unique_ptr<Layer<T>>> layers_;
  std::vector<Parameter<T>> params_;   // every layer's parameters, named W1, b1, W2, ...
  std::vector<Parameter<T>> buffers_;  // every layer's buffers, named running_mean2, ...
  PassContext context_;                // what the next forward pass tells the layers
  bool has_penalties_ = false;
  bool has_external_activations_ = false;
  /// Every layer's gradients, back to back (each layer's dWb() is a view into it).
  Matrix<T> grads_;
  T* grad_data_ = nullptr;  // grads_.data() or the storage given to use_gradient_storage
  Index n_grads_ = 0;       // gradient values in the buffer
  std::unique_ptr<Loss<T>> loss_;
  std::unique_ptr<Optimizer<T>> optimizer_;
  ConstView<T> input_;  // X of the last public forward(); rows == -1 when none
  Index forward_rows_ = -1;
  bool grads_ready_ = false;      // the gradients are a public backward pass's (step(lr) uses them)
  std::vector<double> row_loss_;  // per-row losses of a weighted batch (prepare_batches)
  std::vector<Matrix<T>> rollback_;  // save_rollback's copy of the parameters and buffers
  std::uint64_t rollback_pass_ = 0;  // and of context_.pass
  std::vector<T> undo_buffers_;      // PassUndo's copy of every buffer, back to back
};

/// Validates a learning rate (finite and > 0).
void check_lr(double lr);

}  // namespace chainrule
