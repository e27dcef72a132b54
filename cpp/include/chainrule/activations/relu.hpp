#pragma once

#include "chainrule/activations/elementwise.hpp"

namespace chainrule {

/// relu(z) = max(z, 0); relu'(z) = 1 if z > 0 else 0 (0 at the kink, as PyTorch).
template <class T>
class ReLU : public ElementwiseActivation<T, ReLU<T>> {
 public:
  std::string name() const override { return "relu"; }
  const char* class_name() const { return "ReLU"; }
  T f(T z) const { return z > T(0) ? z : T(0); }
  T df(T z, T) const { return static_cast<T>(z > T(0)); }  // branch-free: vectorises
};

/// leaky_relu(z) = z if z > 0 else alpha z; derivative 1 if z > 0 else alpha.
template <class T>
class LeakyReLU : public ElementwiseActivation<T, LeakyReLU<T>> {
 public:
  explicit LeakyReLU(double alpha = 0.01)
      : alpha_param_(check_activation_param("leaky_relu", "alpha", alpha)),
        alpha_(static_cast<T>(alpha_param_)) {}
  std::string name() const override { return "leaky_relu"; }
  const char* class_name() const { return "LeakyReLU"; }
  std::vector<std::pair<std::string, double>> params() const override {
    return {{"alpha", alpha_param_}};  // as given, not rounded to T
  }
  T f(T z) const {
    const T neg = alpha_ * z;  // computed unconditionally, so the select vectorises
    return z > T(0) ? z : neg;
  }
  T df(T z, T) const { return z > T(0) ? T(1) : alpha_; }

 private:
  double alpha_param_;
  T alpha_;
};

}  // namespace chainrule
