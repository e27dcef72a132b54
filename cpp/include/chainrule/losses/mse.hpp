#pragma once

#include "chainrule/kernels/elementwise.hpp"
#include "chainrule/loss.hpp"

namespace chainrule {

/// L = ||Yhat - Y||^2 / (2m); dH[L] = Yhat - Y.
template <class T>
class MSE : public Loss<T> {
 public:
  static const EntryInfo& entry() {
    static const EntryInfo e("mse", "MSE", "||Yhat - Y||^2 / (2m)");
    return e;
  }
  std::string name() const override { return entry().name; }
  std::string repr() const override { return entry().class_name + "()"; }

 private:
  // L = sum((H - Y)^2) / (2m)
  double value_impl(ConstView<T>, ConstView<T> H, ConstView<T> Y) const override {
    double sum = 0;
    for (Index i = 0; i < H.size(); ++i) {
      const double d = static_cast<double>(H.data[i]) - static_cast<double>(Y.data[i]);
      sum += d * d;
    }
    return sum / (2.0 * static_cast<double>(H.rows));
  }
  // dH = H - Y
  void gradient_impl(ConstView<T> H, ConstView<T> Y, MatrixView<T> dH) const override {
    kernels::subtract(H.size(), H.data, Y.data, dH.data);
  }
};

namespace registered {
inline const bool mse = LossRegistry::add(MSE<double>::entry(), construct<MSE>());
}  // namespace registered

}  // namespace chainrule
