#pragma once

#include <cmath>

#include "chainrule/activations/sigmoid.hpp"

namespace chainrule {

/// mish(z) = z tanh(softplus(z)), as torch.nn.Mish; mish'(z) = t + z s (1 - t^2) with
/// t = tanh(softplus(z)) and s = sigmoid(z) = softplus'(z).
template <class T>
class Mish : public ElementwiseActivation<T, Mish<T>> {
 public:
  static const EntryInfo& entry() {
    static const EntryInfo e("mish", "Mish", "z tanh(softplus(z))");
    return e;
  }
  T f(T z) const { return z * tanh_softplus(z); }
  T df(T z, T) const {
    const T t = tanh_softplus(z);
    return t + z * stable_sigmoid(z) * (T(1) - t * t);
  }

 private:
  // tanh(softplus(z)), softplus(z) = max(z, 0) + log1p(exp(-|z|)) computed without overflow
  static T tanh_softplus(T z) {
    return std::tanh((z > T(0) ? z : T(0)) + std::log1p(std::exp(-std::fabs(z))));
  }
};

namespace registered {
inline const bool mish = ActivationRegistry::add(Mish<double>::entry(), construct<Mish>());
}  // namespace registered

}  // namespace chainrule
