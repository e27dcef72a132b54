#pragma once

#include <cmath>

#include "chainrule/activations/elementwise.hpp"

namespace chainrule {

/// elu(z) = z if z > 0 else alpha (exp(z) - 1); derivative 1 if z > 0 else h + alpha.
template <class T>
class ELU : public ElementwiseActivation<T, ELU<T>> {
 public:
  static const EntryInfo& entry() {
    static const EntryInfo e = EntryInfo("elu", "ELU", "z if z > 0 else alpha (exp(z) - 1)")
                                   .param(ParamSpec("alpha", 1.0));
    return e;
  }
  explicit ELU(double alpha = entry().spec("alpha").default_value())
      : alpha_param_(entry().checked("alpha", alpha)), alpha_(static_cast<T>(alpha_param_)) {}
  std::vector<std::pair<std::string, double>> params() const override {
    return {{"alpha", alpha_param_}};  // as given, not rounded to T
  }
  T f(T z) const { return z > T(0) ? z : alpha_ * std::expm1(z); }
  T df(T z, T h) const {
    const T neg = h + alpha_;  // alpha e^z = h + alpha; unconditional so the select vectorises
    return z > T(0) ? T(1) : neg;
  }

 private:
  double alpha_param_;
  T alpha_;
};

namespace registered {
inline const bool elu = ActivationRegistry::add(
    ELU<double>::entry(),
    construct<ELU>([](const ParamValues& v) { return std::tuple(v["alpha"]); }));
}  // namespace registered

}  // namespace chainrule
