#pragma once

#include "chainrule/metric.hpp"

namespace chainrule {

/// The (weighted) fraction of rows classified correctly: argmax(Yhat) == argmax(Y) for
/// several output columns (first maximum on ties), (Yhat > 0.5) == (Y > 0.5) for one.
template <class T>
class Accuracy : public Metric<T> {
 public:
  static const EntryInfo& entry() {
    static const EntryInfo e =
        EntryInfo("accuracy", "Accuracy", "the (weighted) fraction of rows classified correctly")
            .property("higher_is_better", true);
    return e;
  }
  std::string name() const override { return entry().name; }

 private:
  void reset_impl() override { correct_ = total_ = 0; }
  void accumulate_impl(ConstView<T> H, ConstView<T> Y, const T* w) override;
  double result_impl() const override;
  void combine_impl(const SumAcrossFn& sum_across) override;
  double correct_ = 0, total_ = 0;
};

namespace registered {
inline const bool accuracy = MetricRegistry::add(Accuracy<double>::entry(), construct<Accuracy>());
}  // namespace registered

}  // namespace chainrule
