#pragma once

#include <cmath>

#include "chainrule/activations/elementwise.hpp"

namespace chainrule {

/// The exact (erf) GELU: gelu(z) = z Phi(z); gelu'(z) = Phi(z) + z phi(z).
template <class T>
class GELU : public ElementwiseActivation<T, GELU<T>> {
 public:
  static const EntryInfo& entry() {
    static const EntryInfo e("gelu", "GELU", "z Phi(z) (exact, erf)");
    return e;
  }
  T f(T z) const { return T(0.5) * z * (T(1) + std::erf(z * T(0.70710678118654752440))); }
  T df(T z, T) const {
    const T Phi = T(0.5) * (T(1) + std::erf(z * T(0.70710678118654752440)));
    const T phi = T(0.39894228040143267794) * std::exp(T(-0.5) * z * z);  // 1/sqrt(2 pi)
    return Phi + z * phi;
  }
};

namespace registered {
inline const bool gelu = ActivationRegistry::add(GELU<double>::entry(), construct<GELU>());
}  // namespace registered

}  // namespace chainrule
