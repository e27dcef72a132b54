// How a training step's gradients are combined across processes: not at all (one process), or
// summed over every process of a data-parallel fit.
#pragma once

#include <functional>
#include <utility>

#include "chainrule/metric.hpp"
#include "chainrule/network.hpp"
#include "chainrule/tensor.hpp"

namespace chainrule {

/// Sums n values over every process of a data-parallel fit, in place (MPI_Allreduce with
/// MPI_SUM and MPI_IN_PLACE, or a shared-memory window); every process calls it the same
/// number of times.
template <class T>
using AllreduceFn = std::function<void(T* data, Index n)>;

/// Combines what each process of a fit measured. The training loop has one path: a step's
/// gradients are produced as this process's weighted sums when the reducer sums across
/// processes, then reduced, then divided by the global weight; with the local reducer all
/// of that is the identity and the gradients are the batch's mean as usual.
template <class T>
class GradientReducer {
 public:
  virtual ~GradientReducer() = default;

  /// Whether the values are summed over several processes. The update must then wait for
  /// the sum (it cannot be fused into the backward pass), and a process may hold none of a
  /// step's rows.
  virtual bool across_processes() const = 0;
  /// Before the first step of a fit: the reducer may place the network's gradients in a
  /// buffer of its own (restored by detach).
  virtual void attach(Network<T>& net) = 0;
  virtual void detach(Network<T>& net) = 0;
  /// One step: the network's gradients (this process's weighted sums), with this process's
  /// weighted loss sum and weight, summed over every process in place; returns the global
  /// (loss sum, weight).
  virtual std::pair<double, double> reduce_step(Network<T>& net, double loss_sum,
                                                double weight) = 0;
  /// Two numbers (a loss sum and its weight) summed over every process.
  virtual std::pair<double, double> reduce_pair(double loss_sum, double weight) = 0;
  /// The metric accumulators' sums over every process.
  virtual const SumAcrossFn& sum_across() const = 0;
};

/// One process: nothing to combine.
template <class T>
class LocalReducer final : public GradientReducer<T> {
 public:
  bool across_processes() const override { return false; }
  void attach(Network<T>&) override {}
  void detach(Network<T>&) override {}
  std::pair<double, double> reduce_step(Network<T>&, double loss_sum, double weight) override {
    return {loss_sum, weight};
  }
  std::pair<double, double> reduce_pair(double loss_sum, double weight) override {
    return {loss_sum, weight};
  }
  const SumAcrossFn& sum_across() const override { return none_; }

 private:
  SumAcrossFn none_;
};

/// Data-parallel: every step sums one contiguous buffer, the network's gradients followed by
/// the loss sum and the weight, with one call of `allreduce`. The buffer is the caller's
/// (`storage`, e.g. an MPI shared-memory window the processes sum in place) or the
/// reducer's own.
template <class T>
class AllreduceReducer final : public GradientReducer<T> {
 public:
  /// `storage`, when given, must hold buffer_size(net) values and outlive the fit.
  AllreduceReducer(AllreduceFn<T> allreduce, SumAcrossFn sum_across, MatrixView<T> storage = {})
      : allreduce_(std::move(allreduce)), sum_across_(std::move(sum_across)), storage_(storage) {}

  /// The values summed per step: the network's gradients and two sums.
  static Index buffer_size(const Network<T>& net) { return net.gradient_size() + 2; }

  bool across_processes() const override { return true; }
  void attach(Network<T>& net) override;
  void detach(Network<T>& net) override;
  std::pair<double, double> reduce_step(Network<T>& net, double loss_sum, double weight) override;
  std::pair<double, double> reduce_pair(double loss_sum, double weight) override;
  const SumAcrossFn& sum_across() const override { return sum_across_; }

 private:
  AllreduceFn<T> allreduce_;
  SumAcrossFn sum_across_;
  MatrixView<T> storage_;  // the caller's buffer, or empty
  Matrix<T> own_;          // the reducer's buffer when the caller gives none
  T* buffer_ = nullptr;    // [gradients, loss sum, weight]
  Index n_grads_ = 0;
};

}  // namespace chainrule
