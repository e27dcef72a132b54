// An L-layer fully-connected network: layers, loss, optimizer, and the training loop.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "chainrule/activation.hpp"
#include "chainrule/layer.hpp"
#include "chainrule/layers/dense.hpp"
#include "chainrule/loss.hpp"
#include "chainrule/metric.hpp"
#include "chainrule/optimizer.hpp"
#include "chainrule/schedule.hpp"
#include "chainrule/tensor.hpp"

namespace chainrule {

/// Options of Network::fit.
struct FitOptions {
  Index epochs = 1;
  double lr = 0.01;      ///< the base learning rate (a schedule starts from it)
  Index batch_size = 0;  ///< 0: the whole data set in one batch
  bool shuffle = false;  ///< when true, FitHooks::permutation orders each epoch
  /// The learning rate of each epoch; nullptr keeps lr constant. Restarted by every fit.
  LRSchedule* schedule = nullptr;
  /// Metric names ("accuracy", "r2") measured every epoch on the training data (over its
  /// batches, from each forward pass before the update) and on the validation data.
  std::vector<std::string> metrics;
  /// Data-parallel training (used when FitHooks has an all-reduce for T): the number of rows
  /// of the global data set, the concatenation of every process's shard, and where this
  /// process's rows (X) start in it. batch_size counts global rows; see Network::fit.
  Index global_rows = 0;
  Index row_offset = 0;
};

/// The data of Network::fit. Views that are left empty (data == nullptr) are absent.
template <class T>
struct FitData {
  ConstView<T> X, Y;           ///< (n, n0), (n, nL)
  ConstView<T> sample_weight;  ///< n values >= 0 (any shape); absent: every row weighs 1
  ConstView<T> X_val, Y_val;   ///< a validation set (nv, n0), (nv, nL), evaluated after each epoch
  ConstView<T> val_weight;     ///< nv values >= 0; absent: 1
};

/// What one epoch measured.
struct EpochLogs {
  double loss = 0;      ///< mean (weighted) training loss, each batch's before its update
  double val_loss = 0;  ///< (weighted) loss on the validation set after the epoch; NaN if none
  double lr = 0;        ///< the learning rate of the epoch
  std::vector<double> metrics, val_metrics;  ///< in FitOptions::metrics order
};

/// Everything fit measured, one entry per epoch run.
struct FitResult {
  std::vector<double> loss, val_loss, lr;
  std::vector<std::vector<double>> metrics, val_metrics;  ///< [metric][epoch]
};

/// Sums n values over every process of a data-parallel fit, in place (MPI_Allreduce with
/// MPI_SUM and MPI_IN_PLACE); every process calls it the same number of times.
template <class T>
using AllreduceFn = std::function<void(T* data, Index n)>;

/// Points where the training loop calls out; each may be empty.
struct FitHooks {
  /// Fills perm (n,) with the sample order of `epoch` (a permutation of 0..n-1).
  std::function<void(Index epoch, Index n, Index* perm)> permutation;
  /// Called after each epoch with what it measured; returning false stops training.
  std::function<bool(Index epoch, const EpochLogs& logs)> on_epoch_end;
  /// Called before each batch with the epoch and the rows of it done so far (of rows in all,
  /// over every process); may throw to stop at this batch boundary (Ctrl-C) and may report
  /// progress within the epoch.
  std::function<void(Index epoch, Index rows_done, Index rows)> poll;
  /// Data-parallel training: set the all-reduce of the network's type. Once per step, after
  /// backward and before the update, it sums one contiguous buffer: every layer's [dW; db]
  /// (scaled to this process's weighted sum), its weighted loss sum and its batch weight.
  AllreduceFn<float> allreduce_f32;
  AllreduceFn<double> allreduce_f64;
  /// Data-parallel training with metrics: sums each epoch's metric accumulators over every
  /// process (a few doubles, once or twice per metric and epoch).
  SumAcrossFn sum_across;
};

/// A sequence of Layers with a loss and an optimizer. Shapes follow DESIGN.md
/// section 1: X (m, n0), W[l] (n_{l-1}, n_l), b[l] (n_l), Y and Yhat (m, n_L).
template <class T>
class Network {
 public:
  /// sizes = {n0, n1, ..., nL}; one activation per layer (L of them). Throws ValueError on
  /// a size < 1, a count mismatch, or a loss that cannot follow the output activation.
  Network(const std::vector<Index>& sizes, std::vector<std::unique_ptr<Activation<T>>> activations,
          std::unique_ptr<Loss<T>> loss,
          std::unique_ptr<Optimizer<T>> optimizer = std::make_unique<SGD<T>>());

  Index num_layers() const { return static_cast<Index>(layers_.size()); }
  Index n_inputs() const { return layers_.front()->n_in(); }
  Index n_outputs() const { return layers_.back()->n_out(); }
  /// Whether the bytes [begin, end) overlap any layer's weights or biases: data aliasing the
  /// parameters must be copied before a call that changes them reads it.
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
  /// The size of the network's one gradient buffer: every layer's [dW; db] back to back, then
  /// two scalars a data-parallel step sums with them (the weighted loss sum and weight).
  Index gradient_buffer_size() const { return n_grads_ + 2; }
  /// Keeps the gradient buffer in `storage` (gradient_buffer_size() values, owned by the
  /// caller, alive while in use) - e.g. memory shared with the other processes of a
  /// data-parallel fit, which they then sum in place; nullptr returns to the network's own
  /// buffer. Gradient values are not carried over.
  void use_gradient_storage(T* storage);

  /// X (m, n0) -> Yhat (m, nL); caches every layer's Z and H for backward(). X must stay
  /// alive and unchanged until backward() is called.
  ConstView<T> forward(ConstView<T> X);
  /// Y (m, nL) -> every layer's dZ, dW, db from the last forward(); returns the loss.
  double backward(ConstView<T> Y);
  /// X (m, n0) -> out (m, nL), in chunks of rows; does not keep a forward pass for backward().
  void predict(ConstView<T> X, MatrixView<T> out);
  /// The loss of X (m, n0) against Y (m, nL).
  double loss_value(ConstView<T> X, ConstView<T> Y);
  /// forward + backward on (X, Y): every layer's dW, db and dZ; returns the loss.
  double compute_gradients(ConstView<T> X, ConstView<T> Y);
  /// One optimizer step with the gradients of the last backward (plain SGD: W -= lr dW,
  /// b -= lr db).
  void step(double lr);
  /// One optimizer step with given gradients (one (dW, db) pair per layer).
  void step(const std::vector<ConstView<T>>& dW, const std::vector<ConstView<T>>& db, double lr);
  /// Trains for opts.epochs epochs of mini-batch gradient descent with the network's
  /// optimizer (whose state carries over between calls) and returns what each epoch
  /// measured. With sample weights w, a batch's loss is sum(w_i l_i) / sum(w_i) and its
  /// gradients are those of that weighted mean; a batch whose weights are all 0 is skipped.
  /// A non-finite loss or parameter restores the weights of the last finite epoch and
  /// throws DivergenceError naming the epoch. Every argument is checked (check_fit) before
  /// anything changes.
  ///
  /// Data-parallel (an all-reduce hook of type T is set): X is this process's shard, rows
  /// [row_offset, row_offset + X.rows) of a global data set of opts.global_rows rows. Each
  /// epoch visits the global rows in the order of hooks.permutation (a permutation of
  /// 0..global_rows-1, the same on every process); global step k covers its positions
  /// [k bs, (k + 1) bs), and this process contributes those of its rows that fall in them
  /// (possibly none). Gradients are all-reduced as weighted sums and divided by the global
  /// batch weight, so every process applies the update single-process training on the
  /// whole data in that order would; the loss and validation loss are global too. Plain
  /// SGD is then not fused into the backward pass. Metrics are not supported.
  FitResult fit(const FitData<T>& data, const FitOptions& opts, const FitHooks& hooks = {});
  /// fit without weights or validation; returns the mean loss of each epoch.
  std::vector<double> fit(ConstView<T> X, ConstView<T> Y, const FitOptions& opts,
                          const FitHooks& hooks = {});
  /// The checks fit makes before training: shapes and values of the data, weights and
  /// validation set, options, metric names, and a schedule's need for validation data.
  void check_fit(const FitData<T>& data, const FitOptions& opts) const;
  /// For each parameter tensor (W1, b1, W2, b2, ...), ||g_backprop - g_numeric|| /
  /// (||g_backprop|| + ||g_numeric||) with central differences of step eps. Parameters are
  /// restored exactly.
  std::vector<double> gradient_check(ConstView<T> X, ConstView<T> Y, double eps);

  /// Shape and value checks of a call's data; `what` names the call in messages.
  void check_X(ConstView<T> X, const char* what) const;
  void check_XY(ConstView<T> X, ConstView<T> Y, const char* what) const;

 private:
  ConstView<T> forward_pass(ConstView<T> X);
  /// The loss of a forward pass of X (m, n0) against Y (no checks).
  double loss_of_forward(ConstView<T> X, ConstView<T> Y);
  /// With weights w (m,) summing to w_sum, the loss and gradients are the weighted mean's.
  /// With sgd_lr > 0 the plain SGD update W -= sgd_lr dW is fused into the dW products (the
  /// gradients are then not kept), unless the loss is not finite: then nothing is done.
  /// With grad_scale > 0 the gradients are grad_scale times the (weighted) mean's, computed in
  /// the dW products (a data-parallel step asks for w_sum times, the weighted sum).
  double backward_pass(ConstView<T> X, ConstView<T> Y, const T* w = nullptr, double w_sum = 0,
                       T sgd_lr = T(0), double grad_scale = 0);
  /// The optimizer step (no argument checks): begin_step, then every slot.
  void apply_update(T lr);
  /// (Weighted) loss of X (m, n0) against Y in chunks of `chunk` rows, adding every chunk to
  /// the metrics (reset first).
  double evaluate(ConstView<T> X, ConstView<T> Y, const T* w, Index chunk,
                  std::vector<std::unique_ptr<Metric<T>>>& metrics, double* weight_out = nullptr);
  /// The all-reduce of this network's type in hooks (empty when not set).
  static const AllreduceFn<T>& allreduce_of(const FitHooks& hooks);
  void copy_params(std::vector<Matrix<T>>& to) const;
  void restore_params(const std::vector<Matrix<T>>& from);
  bool params_finite() const;

  /// Rebuilds params_ from the layers (after the gradient storage moved).
  void collect_parameters();

  std::vector<std::unique_ptr<Layer<T>>> layers_;
  std::vector<Parameter<T>> params_;  // every layer's parameters, named W1, b1, W2, ...
  /// Every layer's [dW; db], back to back (each layer's dWb() is a view into it), then two
  /// scalars a data-parallel step all-reduces with them: the weighted loss sum and weight.
  Matrix<T> grads_;
  T* grad_data_ = nullptr;  // grads_.data() or the storage given to use_gradient_storage
  Index n_grads_ = 0;       // gradient values in the buffer (without the two scalars)
  std::unique_ptr<Loss<T>> loss_;
  std::unique_ptr<Optimizer<T>> optimizer_;
  ConstView<T> input_;  // X of the last public forward(); rows == -1 when none
  Index forward_rows_ = -1;
  std::vector<double> row_loss_;  // per-row losses of a weighted batch (sized by fit)
};

/// Validates a learning rate (finite and > 0).
void check_lr(double lr);

}  // namespace chainrule
