// An L-layer fully-connected network: layers, loss, optimizer, and the training loop.
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "chainrule/activation.hpp"
#include "chainrule/dense_layer.hpp"
#include "chainrule/loss.hpp"
#include "chainrule/optimizer.hpp"
#include "chainrule/tensor.hpp"

namespace chainrule {

/// Options of Network::fit.
struct FitOptions {
  Index epochs = 1;
  double lr = 0.01;
  Index batch_size = 0;  ///< 0: the whole data set in one batch
  bool shuffle = false;  ///< when true, FitHooks::permutation orders each epoch
};

/// Points where the training loop calls out; each may be empty.
struct FitHooks {
  /// Fills perm (n,) with the sample order of `epoch` (a permutation of 0..n-1).
  std::function<void(Index epoch, Index n, Index* perm)> permutation;
  /// Called after each epoch with its mean loss; returning false stops training.
  std::function<bool(Index epoch, double loss)> on_epoch_end;
  /// Called before each batch; may throw to stop at this batch boundary (Ctrl-C).
  std::function<void()> poll;
};

/// A sequence of DenseLayers with a loss and an optimizer. Shapes follow DESIGN.md
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
  Index n_inputs() const { return layers_.front().n_in(); }
  Index n_outputs() const { return layers_.back().n_out(); }
  /// Layer l, 0-based (the derivation's layer l + 1).
  DenseLayer<T>& layer(Index l) { return layers_.at(static_cast<std::size_t>(l)); }
  const DenseLayer<T>& layer(Index l) const { return layers_.at(static_cast<std::size_t>(l)); }
  const Loss<T>& loss() const { return *loss_; }

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
  /// W -= lr dW, b -= lr db with the gradients of the last backward.
  void step(double lr);
  /// W[l] -= lr dW[l], b[l] -= lr db[l] with given gradients (one pair per layer).
  void step(const std::vector<ConstView<T>>& dW, const std::vector<ConstView<T>>& db, double lr);
  /// Trains for opts.epochs epochs of mini-batch SGD and returns the mean loss of each epoch.
  /// A non-finite loss or parameter restores the weights of the last finite epoch and
  /// throws DivergenceError naming the epoch.
  std::vector<double> fit(ConstView<T> X, ConstView<T> Y, const FitOptions& opts,
                          const FitHooks& hooks = {});
  /// For each parameter tensor (W1, b1, W2, b2, ...), ||g_backprop - g_numeric|| /
  /// (||g_backprop|| + ||g_numeric||) with central differences of step eps. Parameters are
  /// restored exactly.
  std::vector<double> gradient_check(ConstView<T> X, ConstView<T> Y, double eps);

  /// Shape and value checks of a call's data; `what` names the call in messages.
  void check_X(ConstView<T> X, const char* what) const;
  void check_XY(ConstView<T> X, ConstView<T> Y, const char* what) const;

 private:
  ConstView<T> forward_pass(ConstView<T> X);
  double backward_pass(ConstView<T> X, ConstView<T> Y, T sgd_lr = T(0));
  void copy_params(std::vector<Matrix<T>>& to) const;
  void restore_params(const std::vector<Matrix<T>>& from);
  bool params_finite() const;

  std::vector<DenseLayer<T>> layers_;
  std::unique_ptr<Loss<T>> loss_;
  std::unique_ptr<Optimizer<T>> optimizer_;
  ConstView<T> input_;  // X of the last public forward(); rows == -1 when none
  Index forward_rows_ = -1;
};

/// Validates a learning rate (finite and > 0).
void check_lr(double lr);

}  // namespace chainrule
