#pragma once

#include <algorithm>
#include <cmath>
#include <limits>

#include "chainrule/kernels/elementwise.hpp"
#include "chainrule/loss.hpp"

namespace chainrule {

/// Softmax cross-entropy L = -sum(Y log softmax(Z)) / m, computed from Z with log-sum-exp;
/// fused delta dZ[L] = Yhat - Y. Rows of Y must be probability distributions.
template <class T>
class SoftmaxCrossEntropy : public Loss<T> {
 public:
  static const EntryInfo& entry() {
    static const EntryInfo e = EntryInfo("cross_entropy", "SoftmaxCrossEntropy",
                                         "-sum(Y log softmax(Z)) / m, from the logits Z")
                                   .alias("softmax_cross_entropy")
                                   .alias("categorical_cross_entropy")
                                   .property("classification", true);
    return e;
  }
  std::string name() const override { return entry().name; }
  std::string repr() const override { return entry().class_name + "()"; }
  std::string required_activation() const override { return "softmax"; }

 private:
  // L = sum_i sum_j Y[i, j] (logsumexp(Z[i, :]) - Z[i, j]) / m
  double value_impl(ConstView<T> Z, ConstView<T>, ConstView<T> Y) const override {
    double total = 0;
    for (Index i = 0; i < Z.rows; ++i) {
      const T* z = Z.row(i);
      const T* y = Y.row(i);
      const double zmax = *std::max_element(z, z + Z.cols);
      double s = 0;
      for (Index j = 0; j < Z.cols; ++j) s += std::exp(static_cast<double>(z[j]) - zmax);
      const double lse = zmax + std::log(s);
      for (Index j = 0; j < Z.cols; ++j)
        if (y[j] != T(0)) total += static_cast<double>(y[j]) * (lse - static_cast<double>(z[j]));
    }
    return total / static_cast<double>(Z.rows);
  }

  // dH = -Y / H (used only if someone calls the unfused path; the delta below is fused)
  void gradient_impl(ConstView<T> H, ConstView<T> Y, MatrixView<T> dH) const override {
    for (Index i = 0; i < H.size(); ++i)
      dH.data[i] = Y.data[i] == T(0) ? T(0) : -Y.data[i] / H.data[i];
  }

  // dZ = H - Y
  bool fused_delta_impl(ConstView<T>, ConstView<T> H, ConstView<T> Y,
                        MatrixView<T> dZ) const override {
    kernels::subtract(H.size(), H.data, Y.data, dZ.data);
    return true;
  }

  void check_targets_impl(ConstView<T> Y) const override {
    const double tol = std::sqrt(static_cast<double>(std::numeric_limits<T>::epsilon()));
    for (Index i = 0; i < Y.rows; ++i) {
      double sum = 0;
      for (Index j = 0; j < Y.cols; ++j) {
        if (!(Y(i, j) >= T(0)))  // negative or NaN
          throw ValueError("cross_entropy targets must be probability distributions: Y[" +
                           std::to_string(i) + ", " + std::to_string(j) +
                           "] = " + shortest_repr(Y(i, j)) + " is negative or NaN");
        sum += Y(i, j);
      }
      if (std::fabs(sum - 1.0) > tol)
        throw ValueError("cross_entropy targets must be probability distributions: row " +
                         std::to_string(i) + " of Y sums to " + shortest_repr(sum) +
                         ", not 1 (one-hot encode class labels)");
    }
  }
};

namespace registered {
inline const bool cross_entropy =
    LossRegistry::add(SoftmaxCrossEntropy<double>::entry(), construct<SoftmaxCrossEntropy>());
}  // namespace registered

}  // namespace chainrule
