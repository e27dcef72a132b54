// An activation whose function lives outside the core (a Python subclass of
// chainrule.Activation). The bindings supply the callbacks; the chain rule stays here.
#pragma once

#include <functional>
#include <string>

#include "chainrule/activation.hpp"
#include "chainrule/kernels/elementwise.hpp"

namespace chainrule {

template <class T>
class CallbackActivation : public Activation<T> {
 public:
  /// Z (m, n) -> H (m, n)
  using ForwardFn = std::function<void(ConstView<T> Z, MatrixView<T> H)>;
  /// Z, H (m, n) -> D (m, n) = act'(Z), element-wise
  using DerivativeFn = std::function<void(ConstView<T> Z, ConstView<T> H, MatrixView<T> D)>;
  /// Z, H, dH (m, n) -> dZ (m, n), a full backward (for activations that are not element-wise)
  using BackwardFn =
      std::function<void(ConstView<T> Z, ConstView<T> H, ConstView<T> dH, MatrixView<T> dZ)>;

  /// Give either derivative (element-wise) or backward (Jacobian-vector product).
  CallbackActivation(std::string name, std::string repr, ForwardFn forward, DerivativeFn derivative,
                     BackwardFn backward)
      : name_(std::move(name)),
        repr_(std::move(repr)),
        forward_(std::move(forward)),
        derivative_(std::move(derivative)),
        backward_(std::move(backward)) {
    if (!forward_ || (!derivative_ && !backward_))
      throw ValueError("activation '" + name_ + "' needs forward and derivative (or backward)");
  }

  std::string name() const override { return name_; }
  std::string repr() const override { return repr_; }
  /// Its name only shows it: a Python class named "sigmoid" is not the core's sigmoid.
  bool registered() const override { return false; }

 private:
  void forward_impl(ConstView<T> Z, MatrixView<T> H) const override { forward_(Z, H); }

  // Z, H, dH (m, n) -> dZ (m, n)
  void backward_impl(ConstView<T> Z, ConstView<T> H, ConstView<T> dH,
                     MatrixView<T> dZ) const override {
    if (backward_) {
      backward_(Z, H, dH, dZ);
      return;
    }
    derivative_(Z, H, dZ);  // dZ <- act'(Z)
    // dZ = dH * act'(Z)
    kernels::multiply(dZ.size(), dH.data, dZ.data, dZ.data);
  }

  std::string name_, repr_;
  ForwardFn forward_;
  DerivativeFn derivative_;
  BackwardFn backward_;
};

}  // namespace chainrule
