#pragma once

#include <cmath>

#include "chainrule/activations/sigmoid.hpp"

namespace chainrule {

/// softplus(z) = log(1 + exp(z)), computed as max(z, 0) + log1p(exp(-|z|));
/// softplus'(z) = sigmoid(z).
template <class T>
class Softplus : public ElementwiseActivation<T, Softplus<T>> {
 public:
  static const EntryInfo& entry() {
    static const EntryInfo e("softplus", "Softplus", "log(1 + exp(z))");
    return e;
  }
  T f(T z) const { return (z > T(0) ? z : T(0)) + std::log1p(std::exp(-std::fabs(z))); }
  T df(T z, T) const { return stable_sigmoid(z); }
};

namespace registered {
inline const bool softplus =
    ActivationRegistry::add(Softplus<double>::entry(), construct<Softplus>());
}  // namespace registered

}  // namespace chainrule
