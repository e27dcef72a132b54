#pragma once

#include "chainrule/activations/elementwise.hpp"
#include "chainrule/kernels/vmath.hpp"

namespace chainrule {

/// Numerically stable logistic sigmoid (never exp of a large positive number), branch-free
/// so that the loops calling it vectorise (kernels::sigmoid_v, about 1 ulp).
template <class T>
inline T stable_sigmoid(T z) {
  return kernels::sigmoid_v(z);
}

/// sigmoid(z) = 1 / (1 + exp(-z)); sigmoid'(z) = h (1 - h).
template <class T>
class Sigmoid : public ElementwiseActivation<T, Sigmoid<T>> {
 public:
  static const EntryInfo& entry() {
    // bounded: diagnostics count the values near the bounds (saturated units)
    static const EntryInfo e = EntryInfo("sigmoid", "Sigmoid", "1 / (1 + exp(-z))")
                                   .property("lower_bound", 0.0)
                                   .property("upper_bound", 1.0);
    return e;
  }
  T f(T z) const { return stable_sigmoid(z); }
  T df(T, T h) const { return h * (T(1) - h); }
};

namespace registered {
inline const bool sigmoid = ActivationRegistry::add(Sigmoid<double>::entry(), construct<Sigmoid>());
}  // namespace registered

}  // namespace chainrule
