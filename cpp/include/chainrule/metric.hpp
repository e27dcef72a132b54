// Metrics reported per epoch by fit: accumulated batch by batch over the training data (from
// each batch's forward pass, before its update) and over the validation data.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "chainrule/collective.hpp"
#include "chainrule/registry.hpp"
#include "chainrule/tensor.hpp"

namespace chainrule {

/// A quantity accumulated over the batches of an epoch, optionally sample-weighted.
template <class T>
class Metric {
 public:
  virtual ~Metric() = default;

  /// Allocates the accumulators for n output columns; called once, before training.
  void prepare(Index n_out) { prepare_impl(n_out); }
  /// Forgets every batch accumulated so far.
  void reset() { reset_impl(); }
  /// Adds a batch: Yhat, Y (m, n) and per-row weights w (m,), or nullptr for weights 1.
  void accumulate(ConstView<T> H, ConstView<T> Y, const T* w) { accumulate_impl(H, Y, w); }
  /// Data-parallel fit: replaces the accumulators with those of every process's batches
  /// together (a collective call: every process calls it at the same point).
  void combine(const SumAcrossFn& sum_across) { combine_impl(sum_across); }
  /// The metric of everything accumulated since reset(); NaN when nothing was.
  double result() const { return result_impl(); }

  /// The factory name ("accuracy").
  virtual std::string name() const = 0;

 private:
  virtual void prepare_impl(Index) {}
  virtual void reset_impl() = 0;
  virtual void accumulate_impl(ConstView<T> H, ConstView<T> Y, const T* w) = 0;
  virtual double result_impl() const = 0;
  virtual void combine_impl(const SumAcrossFn& sum_across) = 0;
};

/// The class of a row of outputs or targets (cols values): for one column, 1 when the value is
/// > 0.5, else 0; for several, the column of the largest value (the first on ties).
template <class T>
Index row_class(const T* row, Index cols) {
  if (cols == 1) return row[0] > T(0.5) ? 1 : 0;
  Index best = 0;
  for (Index j = 1; j < cols; ++j)
    if (row[j] > row[best]) best = j;
  return best;
}

/// The metric family: its registry builds Metric<T>. Each built-in registers itself at the
/// bottom of its header in metrics/ (MetricRegistry::add), listed in metrics/all.hpp; the
/// property "higher_is_better" says which way early stopping watches it.
struct MetricFamily {
  static constexpr const char* noun = "metric";
  template <class T>
  using Product = Metric<T>;
};
using MetricRegistry = Registry<MetricFamily>;

/// Builds a built-in metric (from the registry); ValueError lists the valid names.
template <class T>
std::unique_ptr<Metric<T>> make_metric(const std::string& name);

/// The factory names of the built-in metrics, sorted.
std::vector<std::string> metric_names();

}  // namespace chainrule
