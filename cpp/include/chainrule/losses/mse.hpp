#pragma once

#include "chainrule/loss.hpp"

namespace chainrule {

/// L = ||Yhat - Y||^2 / (2m); dH[L] = Yhat - Y.
template <class T>
class MSE : public Loss<T> {
 public:
  std::string name() const override { return "mse"; }
  std::string repr() const override { return "MSE()"; }

 private:
  double value_impl(ConstView<T> Z, ConstView<T> H, ConstView<T> Y) const override;
  void gradient_impl(ConstView<T> H, ConstView<T> Y, MatrixView<T> dH) const override;
};

}  // namespace chainrule
