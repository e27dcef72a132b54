#pragma once

#include "chainrule/activations/sigmoid.hpp"

namespace chainrule {

/// silu(z) = z sigmoid(z); silu'(z) = s (1 + z (1 - s)) with s = sigmoid(z).
template <class T>
class SiLU : public ElementwiseActivation<T, SiLU<T>> {
 public:
  static const EntryInfo& entry() {
    static const EntryInfo e("silu", "SiLU", "z sigmoid(z)");
    return e;
  }
  T f(T z) const { return z * stable_sigmoid(z); }
  T df(T z, T) const {
    const T s = stable_sigmoid(z);
    return s * (T(1) + z * (T(1) - s));
  }
};

namespace registered {
inline const bool silu = ActivationRegistry::add(SiLU<double>::entry(), construct<SiLU>());
}  // namespace registered

}  // namespace chainrule
