// A loss whose value and gradient live outside the core (a Python subclass of chainrule.Loss).
#pragma once

#include <functional>
#include <string>

#include "chainrule/loss.hpp"

namespace chainrule {

template <class T>
class CallbackLoss : public Loss<T> {
 public:
  /// Yhat, Y (m, n) -> L
  using ValueFn = std::function<double(ConstView<T> H, ConstView<T> Y)>;
  /// Yhat, Y (m, n) -> dH (m, n) = m dL/dYhat (for MSE: Yhat - Y)
  using GradientFn = std::function<void(ConstView<T> H, ConstView<T> Y, MatrixView<T> dH)>;

  CallbackLoss(std::string name, std::string repr, ValueFn value, GradientFn gradient)
      : name_(std::move(name)),
        repr_(std::move(repr)),
        value_(std::move(value)),
        gradient_(std::move(gradient)) {
    if (!value_ || !gradient_) throw ValueError("loss '" + name_ + "' needs value and gradient");
  }

  std::string name() const override { return name_; }
  std::string repr() const override { return repr_; }

 private:
  double value_impl(ConstView<T>, ConstView<T> H, ConstView<T> Y) const override {
    return value_(H, Y);
  }
  void gradient_impl(ConstView<T> H, ConstView<T> Y, MatrixView<T> dH) const override {
    gradient_(H, Y, dH);
  }

  std::string name_, repr_;
  ValueFn value_;
  GradientFn gradient_;
};

}  // namespace chainrule
