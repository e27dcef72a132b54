#pragma once

#include "chainrule/loss.hpp"

namespace chainrule {

/// Sigmoid binary cross-entropy L = -sum(Y log s(Z) + (1 - Y) log(1 - s(Z))) / m, computed
/// stably as sum(max(Z, 0) - Z Y + log1p(exp(-|Z|))) / m; fused delta dZ[L] = Yhat - Y.
/// Targets must lie in [0, 1].
template <class T>
class SigmoidBinaryCrossEntropy : public Loss<T> {
 public:
  std::string name() const override { return "binary_cross_entropy"; }
  std::string repr() const override { return "SigmoidBinaryCrossEntropy()"; }
  std::string required_activation() const override { return "sigmoid"; }

 private:
  double value_impl(ConstView<T> Z, ConstView<T> H, ConstView<T> Y) const override;
  void gradient_impl(ConstView<T> H, ConstView<T> Y, MatrixView<T> dH) const override;
  bool fused_delta_impl(ConstView<T> Z, ConstView<T> H, ConstView<T> Y,
                        MatrixView<T> dZ) const override;
  void check_targets_impl(ConstView<T> Y) const override;
};

}  // namespace chainrule
