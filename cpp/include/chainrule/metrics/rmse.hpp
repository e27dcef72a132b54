#pragma once

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "chainrule/metric.hpp"

namespace chainrule {

/// The (weighted) root mean squared error of each output column, averaged over the columns, as
/// sklearn.metrics.root_mean_squared_error (multioutput="uniform_average"):
/// mean_j sqrt(sum_i w_i (y_ij - yhat_ij)^2 / sum_i w_i).
template <class T>
class RootMeanSquaredError : public Metric<T> {
 public:
  static const EntryInfo& entry() {
    static const EntryInfo e =
        EntryInfo("rmse", "RootMeanSquaredError",
                  "the (weighted) root mean squared error per column, averaged over the columns")
            .property("higher_is_better", false);
    return e;
  }
  std::string name() const override { return entry().name; }

 private:
  // sums_ = [sum_i w_i r_ij^2 for each column j, sum_i w_i]
  void prepare_impl(Index n_out) override {
    sums_.assign(static_cast<std::size_t>(n_out) + 1, 0.0);
  }
  void reset_impl() override { std::fill(sums_.begin(), sums_.end(), 0.0); }
  // H, Y (m, n), w (m,) -> sums_[j] += sum_i w_i (y_ij - yhat_ij)^2, sums_[n] += sum_i w_i
  void accumulate_impl(ConstView<T> H, ConstView<T> Y, const T* w) override {
    const std::size_t n = static_cast<std::size_t>(H.cols);
    if (sums_.size() != n + 1) prepare_impl(H.cols);  // only when used before prepare()
    for (Index i = 0; i < H.rows; ++i) {
      const double wi = w != nullptr ? static_cast<double>(w[i]) : 1.0;
      for (std::size_t j = 0; j < n; ++j) {
        const double r = static_cast<double>(Y(i, static_cast<Index>(j))) -
                         static_cast<double>(H(i, static_cast<Index>(j)));
        sums_[j] += wi * r * r;
      }
      sums_[n] += wi;
    }
  }
  double result_impl() const override {
    if (sums_.size() < 2 || !(sums_.back() > 0)) return std::numeric_limits<double>::quiet_NaN();
    const std::size_t n = sums_.size() - 1;
    double total = 0;
    for (std::size_t j = 0; j < n; ++j) total += std::sqrt(sums_[j] / sums_[n]);
    return total / static_cast<double>(n);
  }
  // every sum over every process
  void combine_impl(const SumAcrossFn& sum_across) override {
    if (!sums_.empty()) sum_across(sums_.data(), static_cast<Index>(sums_.size()));
  }
  std::vector<double> sums_;
};

namespace registered {
inline const bool rmse =
    MetricRegistry::add(RootMeanSquaredError<double>::entry(), construct<RootMeanSquaredError>());
}  // namespace registered

}  // namespace chainrule
