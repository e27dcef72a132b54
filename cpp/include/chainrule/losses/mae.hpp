#pragma once

#include <cmath>

#include "chainrule/loss.hpp"

namespace chainrule {

/// Mean absolute error: L = sum |Yhat - Y| / m, summed over the outputs and averaged over the
/// rows as MSE is (torch.nn.L1Loss(reduction="sum") / m); dH[L] = sign(Yhat - Y), with the
/// subgradient 0 where Yhat == Y (torch's sign(0) = 0).
template <class T>
class MAE : public Loss<T> {
 public:
  static const EntryInfo& entry() {
    static const EntryInfo e("mae", "MAE", "sum |Yhat - Y| / m");
    return e;
  }
  std::string name() const override { return entry().name; }
  std::string repr() const override { return entry().class_name + "()"; }

 private:
  // L = sum |H - Y| / m
  double value_impl(ConstView<T>, ConstView<T> H, ConstView<T> Y) const override {
    double sum = 0;
    for (Index i = 0; i < H.size(); ++i)
      sum += std::fabs(static_cast<double>(H.data[i]) - static_cast<double>(Y.data[i]));
    return sum / static_cast<double>(H.rows);
  }
  // dH = sign(H - Y): 1, -1, or 0 where H == Y
  void gradient_impl(ConstView<T> H, ConstView<T> Y, MatrixView<T> dH) const override {
    for (Index i = 0; i < H.size(); ++i)
      dH.data[i] = H.data[i] > Y.data[i] ? T(1) : (H.data[i] < Y.data[i] ? T(-1) : T(0));
  }
};

namespace registered {
inline const bool mae = LossRegistry::add(MAE<double>::entry(), construct<MAE>());
}  // namespace registered

}  // namespace chainrule
