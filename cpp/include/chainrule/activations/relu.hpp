#pragma once

#include "chainrule/activations/elementwise.hpp"

namespace chainrule {

/// relu(z) = max(z, 0); relu'(z) = 1 if z > 0 else 0 (0 at the kink, as PyTorch).
template <class T>
class ReLU : public ElementwiseActivation<T, ReLU<T>> {
 public:
  static const EntryInfo& entry() {
    static const EntryInfo e = EntryInfo("relu", "ReLU", "max(z, 0)")
                                   .property("he_init", true)
                                   .property("dead_at_zero", true);  // a unit can die (0 always)
    return e;
  }
  T f(T z) const { return z < T(0) ? T(0) : z; }  // NaN stays NaN (max(z, 0) would hide it)
  T df(T z, T) const { return static_cast<T>(z > T(0)); }  // branch-free: vectorises
};

/// leaky_relu(z) = z if z > 0 else alpha z; derivative 1 if z > 0 else alpha.
template <class T>
class LeakyReLU : public ElementwiseActivation<T, LeakyReLU<T>> {
 public:
  static const EntryInfo& entry() {
    static const EntryInfo e = EntryInfo("leaky_relu", "LeakyReLU", "z if z > 0 else alpha z")
                                   .param(ParamSpec("alpha", 0.01))
                                   .property("he_init", true);
    return e;
  }
  explicit LeakyReLU(double alpha = entry().spec("alpha").default_value())
      : alpha_param_(entry().checked("alpha", alpha)), alpha_(static_cast<T>(alpha_param_)) {}
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

namespace registered {
inline const bool relu = ActivationRegistry::add(ReLU<double>::entry(), construct<ReLU>());
inline const bool leaky_relu = ActivationRegistry::add(
    LeakyReLU<double>::entry(),
    construct<LeakyReLU>([](const ParamValues& v) { return std::tuple(v["alpha"]); }));
}  // namespace registered

}  // namespace chainrule
