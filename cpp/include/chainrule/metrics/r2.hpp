#pragma once

#include <vector>

#include "chainrule/metric.hpp"

namespace chainrule {

/// The coefficient of determination, as sklearn.metrics.r2_score (uniform average over the
/// output columns): per column 1 - sum w (y - yhat)^2 / sum w (y - mean_w(y))^2, with 1 for a
/// constant column predicted exactly and 0 for one that is not; NaN for fewer than two rows
/// (whatever their weights), where scikit-learn says R^2 is not well-defined. Batches are merged
/// with the pairwise (Chan et al.) update of the weighted mean and sum of squares; processes of a
/// data-parallel fit merge theirs in two sums: the global mean first, then each process's sum
/// of squares about it.
template <class T>
class R2 : public Metric<T> {
 public:
  static const EntryInfo& entry() {
    static const EntryInfo e =
        EntryInfo("r2", "R2", "the coefficient of determination, averaged over the columns")
            .property("higher_is_better", true);
    return e;
  }
  std::string name() const override { return entry().name; }

 private:
  void prepare_impl(Index n_out) override;
  void reset_impl() override;
  void accumulate_impl(ConstView<T> H, ConstView<T> Y, const T* w) override;
  double result_impl() const override;
  void combine_impl(const SumAcrossFn& sum_across) override;
  // per column: weight, weighted mean and sum of squares of Y, residual sum of squares;
  // batch_* are the same for the batch being added
  std::vector<double> weight_, mean_, m2_, ss_res_, batch_mean_, batch_m2_;
  double rows_ = 0;  // rows seen (over every process after combine)
};

namespace registered {
inline const bool r2 = MetricRegistry::add(R2<double>::entry(), construct<R2>());
}  // namespace registered

}  // namespace chainrule
