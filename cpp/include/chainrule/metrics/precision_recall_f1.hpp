#pragma once

#include "chainrule/metrics/class_counts.hpp"

namespace chainrule {

/// tp / (tp + fp) per class (0 when nothing was predicted as that class), as
/// sklearn.metrics.precision_score with zero_division=0 (see ClassCounts for the averaging).
template <class T>
class Precision : public ClassCounts<T> {
 public:
  static const EntryInfo& entry() {
    static const EntryInfo e =
        EntryInfo("precision", "Precision",
                  "tp / (tp + fp): binary (class 1) for one output, else the macro average")
            .property("higher_is_better", true);
    return e;
  }
  std::string name() const override { return entry().name; }

 private:
  double score(double tp, double fp, double) const override {
    return tp + fp > 0 ? tp / (tp + fp) : 0.0;
  }
};

/// tp / (tp + fn) per class (0 when the class never occurs in Y), as
/// sklearn.metrics.recall_score with zero_division=0.
template <class T>
class Recall : public ClassCounts<T> {
 public:
  static const EntryInfo& entry() {
    static const EntryInfo e =
        EntryInfo("recall", "Recall",
                  "tp / (tp + fn): binary (class 1) for one output, else the macro average")
            .property("higher_is_better", true);
    return e;
  }
  std::string name() const override { return entry().name; }

 private:
  double score(double tp, double, double fn) const override {
    return tp + fn > 0 ? tp / (tp + fn) : 0.0;
  }
};

/// 2 tp / (2 tp + fp + fn) per class, the harmonic mean of its precision and recall (0 when
/// the class neither occurs nor is predicted), as sklearn.metrics.f1_score with
/// zero_division=0: the macro average is the mean of the classes' F1, not the F1 of the mean
/// precision and recall.
template <class T>
class F1 : public ClassCounts<T> {
 public:
  static const EntryInfo& entry() {
    static const EntryInfo e =
        EntryInfo("f1", "F1",
                  "2 tp / (2 tp + fp + fn): binary (class 1) for one output, else the macro "
                  "average")
            .property("higher_is_better", true);
    return e;
  }
  std::string name() const override { return entry().name; }

 private:
  double score(double tp, double fp, double fn) const override {
    return 2 * tp + fp + fn > 0 ? 2 * tp / (2 * tp + fp + fn) : 0.0;
  }
};

namespace registered {
inline const bool precision =
    MetricRegistry::add(Precision<double>::entry(), construct<Precision>());
inline const bool recall = MetricRegistry::add(Recall<double>::entry(), construct<Recall>());
inline const bool f1 = MetricRegistry::add(F1<double>::entry(), construct<F1>());
}  // namespace registered

}  // namespace chainrule
