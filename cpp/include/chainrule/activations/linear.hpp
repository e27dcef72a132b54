#pragma once

#include "chainrule/activations/elementwise.hpp"

namespace chainrule {

/// linear(z) = z; derivative 1.
template <class T>
class Linear : public ElementwiseActivation<T, Linear<T>> {
 public:
  static const EntryInfo& entry() {
    static const EntryInfo e("linear", "Linear", "z");
    return e;
  }
  T f(T z) const { return z; }
  T df(T, T) const { return T(1); }
};

namespace registered {
inline const bool linear = ActivationRegistry::add(Linear<double>::entry(), construct<Linear>());
}  // namespace registered

}  // namespace chainrule
