#pragma once

#include <cmath>
#include <limits>

#include "chainrule/metric.hpp"

namespace chainrule {

/// The (weighted) mean absolute error, averaged over the output columns, as
/// sklearn.metrics.mean_absolute_error (multioutput="uniform_average"):
/// sum_i w_i sum_j |y_ij - yhat_ij| / (n_cols sum_i w_i).
template <class T>
class MeanAbsoluteError : public Metric<T> {
 public:
  static const EntryInfo& entry() {
    static const EntryInfo e = EntryInfo("mae", "MeanAbsoluteError",
                                         "the (weighted) mean absolute error, averaged over the "
                                         "columns")
                                   .property("higher_is_better", false);
    return e;
  }
  std::string name() const override { return entry().name; }

 private:
  void reset_impl() override { sum_ = weight_ = 0; }
  // H, Y (m, n), w (m,) -> sum += sum_i w_i sum_j |y - yhat| / n, weight += sum_i w_i
  void accumulate_impl(ConstView<T> H, ConstView<T> Y, const T* w) override {
    for (Index i = 0; i < H.rows; ++i) {
      double row = 0;
      for (Index j = 0; j < H.cols; ++j)
        row += std::fabs(static_cast<double>(Y(i, j)) - static_cast<double>(H(i, j)));
      const double wi = w != nullptr ? static_cast<double>(w[i]) : 1.0;
      sum_ += wi * row / static_cast<double>(H.cols);
      weight_ += wi;
    }
  }
  double result_impl() const override {
    return weight_ > 0 ? sum_ / weight_ : std::numeric_limits<double>::quiet_NaN();
  }
  // {sum, weight} summed over every process
  void combine_impl(const SumAcrossFn& sum_across) override {
    double totals[2] = {sum_, weight_};
    sum_across(totals, 2);
    sum_ = totals[0];
    weight_ = totals[1];
  }
  double sum_ = 0, weight_ = 0;
};

namespace registered {
// (not `mae`: the loss of that name registers under it)
inline const bool mae_metric =
    MetricRegistry::add(MeanAbsoluteError<double>::entry(), construct<MeanAbsoluteError>());
}  // namespace registered

}  // namespace chainrule
