// The training loop: epochs, batches and their order, schedules, metrics, validation, sample
// weights, divergence rollback and hooks, around a Network and a GradientReducer.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "chainrule/metric.hpp"
#include "chainrule/network.hpp"
#include "chainrule/tensor.hpp"
#include "chainrule/training/fit.hpp"
#include "chainrule/training/gradient_reducer.hpp"

namespace chainrule {

/// Trains a network with its optimizer (whose state carries over between fits).
///
/// fit runs opts.epochs epochs of mini-batch gradient descent and returns what each epoch
/// measured. With sample weights w, a batch's loss is sum(w_i l_i) / sum(w_i) and its
/// gradients are those of that weighted mean; a batch whose weights are all 0 is skipped.
/// A non-finite loss, parameter or buffer restores the parameters, buffers (running
/// statistics), optimizer state and training-pass count of the last finite epoch
/// (Network::rollback) and throws DivergenceError naming the epoch. Every argument is checked
/// (check) before anything changes. When the optimizer can fuse its update into the backward pass
/// (plain SGD), the update runs in the epilogue of each dW product, unless opts.clip clips the
/// gradients between the backward pass and the update. A plain network of narrow dense layers may
/// instead compute each step's gradients in one fused call (SmallStep, when
/// kernels/shape_policy.hpp chooses it), followed by the optimizer's update.
///
/// Data-parallel (a reducer that sums across processes): X is this process's shard, rows
/// [row_offset, row_offset + X.rows) of a global data set of opts.global_rows rows. Each
/// epoch visits the global rows in the order of hooks.permutation (a permutation of
/// 0..global_rows-1, the same on every process); global step k covers its positions
/// [k bs, (k + 1) bs), and this process contributes those of its rows that fall in them
/// (possibly none). Gradients are reduced as weighted sums and divided by the global batch
/// weight, so every process applies the update single-process training on the whole data in
/// that order would (clipping, too, sees that global mean); the loss, validation loss and
/// metrics are global too. Batch normalisation computes its training statistics over the
/// step's rows on every process (PassContext::sum_across, from reducer->sum_across()), a
/// process without rows in a step taking part through Network::pass_without_rows; a step
/// whose rows weigh 0 on every process is skipped by all before its forward pass.
template <class T>
class Trainer {
 public:
  /// `reducer` (kept by the caller, alive during fit) combines the processes of a
  /// data-parallel fit; nullptr: one process.
  explicit Trainer(Network<T>& net, GradientReducer<T>* reducer = nullptr)
      : net_(net), reducer_(reducer != nullptr ? reducer : &local_) {}

  /// The checks fit makes before training: shapes and values of the data, weights and
  /// validation set, options, metric names, a schedule's need for validation data, and
  /// check_batches of X's rows - unless `data_parallel`: X is then one process's shard, and
  /// the batches, which span every process's rows, are checked by check_batches(global rows).
  void check(const FitData<T>& data, const FitOptions& opts, bool data_parallel = false) const;
  /// Batch normalisation's rows per training batch: every batch of an epoch over `rows` rows
  /// (the global data set's in data-parallel training) in batches of opts.batch_size has at
  /// least Network::min_training_rows() rows (when opts.epochs > 0).
  void check_batches(Index rows, const FitOptions& opts) const;
  FitResult fit(const FitData<T>& data, const FitOptions& opts, const FitHooks& hooks = {});
  /// The (weighted) mean loss of X (m, n0) against Y (m, nL) and the named metrics, computed
  /// in chunks of batch_size rows (0: up to Network::kPredictChunk), with sample weights w
  /// (m values >= 0) when given. The arguments are checked first; the parameters and the
  /// optimizer do not change (a pending forward pass is forgotten, as by loss()). `poll`, when
  /// given, runs before every chunk but the first (Ctrl-C: an exception it throws ends the
  /// call).
  Evaluation evaluate(ConstView<T> X, ConstView<T> Y, ConstView<T> w,
                      const std::vector<std::string>& metrics, Index batch_size = 0,
                      const std::function<void()>& poll = {});

 private:
  /// (Weighted) loss of X (m, n0) against Y in chunks of `chunk` rows, adding every chunk to
  /// the metrics (reset first); the weight of the rows in *weight_out; poll (if any) before
  /// every chunk but the first.
  double evaluate(ConstView<T> X, ConstView<T> Y, const T* w, Index chunk,
                  std::vector<std::unique_ptr<Metric<T>>>& metrics, double* weight_out,
                  const std::function<void()>& poll);
  /// The binary exponent of w's largest weight, over every process when `across_processes`
  /// (a collective call then), for weight_scale (training/weight_scale.hpp).
  int weight_exponent(ConstView<T> w, bool across_processes);

  Network<T>& net_;
  LocalReducer<T> local_;
  GradientReducer<T>* reducer_;
};

/// Trainer(net, reducer).fit(data, opts, hooks).
template <class T>
FitResult fit(Network<T>& net, const FitData<T>& data, const FitOptions& opts,
              const FitHooks& hooks = {}, GradientReducer<T>* reducer = nullptr) {
  return Trainer<T>(net, reducer).fit(data, opts, hooks);
}

/// fit without weights or validation; returns the mean loss of each epoch.
template <class T>
std::vector<double> fit(Network<T>& net, ConstView<T> X, ConstView<T> Y, const FitOptions& opts,
                        const FitHooks& hooks = {}, GradientReducer<T>* reducer = nullptr) {
  FitData<T> d;
  d.X = X;
  d.Y = Y;
  return fit(net, d, opts, hooks, reducer).loss;
}

/// Trainer(net).check(data, opts, data_parallel).
template <class T>
void check_fit(Network<T>& net, const FitData<T>& data, const FitOptions& opts,
               bool data_parallel = false) {
  Trainer<T>(net).check(data, opts, data_parallel);
}

}  // namespace chainrule
