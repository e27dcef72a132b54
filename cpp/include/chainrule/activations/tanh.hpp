#pragma once

#include <cmath>

#include "chainrule/activations/elementwise.hpp"
#include "chainrule/kernels/vmath.hpp"

namespace chainrule {

/// tanh(z) (kernels::tanh_v: vectorisable, about 1 ulp); tanh'(z) = 1 - h^2.
template <class T>
class Tanh : public ElementwiseActivation<T, Tanh<T>> {
 public:
  static const EntryInfo& entry() {
    // bounded: diagnostics count the values near the bounds (saturated units)
    static const EntryInfo e = EntryInfo("tanh", "Tanh", "tanh(z)")
                                   .property("lower_bound", -1.0)
                                   .property("upper_bound", 1.0);
    return e;
  }
  T f(T z) const { return kernels::tanh_v(z); }
  T df(T, T h) const { return T(1) - h * h; }
};

namespace registered {
inline const bool tanh = ActivationRegistry::add(Tanh<double>::entry(), construct<Tanh>());
}  // namespace registered

}  // namespace chainrule
