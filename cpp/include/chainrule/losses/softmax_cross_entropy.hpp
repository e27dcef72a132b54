#pragma once

#include "chainrule/loss.hpp"

namespace chainrule {

/// Softmax cross-entropy L = -sum(Y log softmax(Z)) / m, computed from Z with log-sum-exp;
/// fused delta dZ[L] = Yhat - Y. Rows of Y must be probability distributions.
template <class T>
class SoftmaxCrossEntropy : public Loss<T> {
 public:
  std::string name() const override { return "cross_entropy"; }
  std::string repr() const override { return "SoftmaxCrossEntropy()"; }
  std::string required_activation() const override { return "softmax"; }

 private:
  double value_impl(ConstView<T> Z, ConstView<T> H, ConstView<T> Y) const override;
  void gradient_impl(ConstView<T> H, ConstView<T> Y, MatrixView<T> dH) const override;
  bool fused_delta_impl(ConstView<T> Z, ConstView<T> H, ConstView<T> Y,
                        MatrixView<T> dZ) const override;
  void check_targets_impl(ConstView<T> Y) const override;
};

}  // namespace chainrule
