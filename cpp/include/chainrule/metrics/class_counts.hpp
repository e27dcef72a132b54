#pragma once

#include <vector>

#include "chainrule/metric.hpp"

namespace chainrule {

/// The base of precision, recall and F1: per class, the (weighted) true positives, false
/// positives and false negatives of the predicted classes (row_class of Yhat and of Y: threshold
/// 0.5 for one output column, argmax for several), summed over batches and, in a data-parallel
/// fit, over processes (exactly: sums only). As scikit-learn with zero_division=0:
///
/// - one output column: average="binary", the score of the positive class 1;
/// - several: average="macro", the unweighted mean of the classes' scores over the classes that
///   occur in Y or in the predictions (sklearn's labels=None: unique_labels(y_true, y_pred),
///   whatever the rows' weights).
///
/// A score whose denominator is 0 counts as 0.
template <class T>
class ClassCounts : public Metric<T> {
 protected:
  /// A class's score from its weighted true positives, false positives and false negatives.
  virtual double score(double tp, double fp, double fn) const = 0;

 private:
  void prepare_impl(Index n_out) override;
  void reset_impl() override;
  void accumulate_impl(ConstView<T> H, ConstView<T> Y, const T* w) override;
  double result_impl() const override;
  void combine_impl(const SumAcrossFn& sum_across) override;

  Index cols_ = 0;     // output columns
  Index classes_ = 0;  // 2 for one output column, else the number of columns
  // [tp, fp, fn, rows in which the class occurs (as target or prediction)] per class (k
  // values each, one after the other), then the number of rows
  std::vector<double> counts_;
};

}  // namespace chainrule
