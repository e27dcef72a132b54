#pragma once

#include <cmath>

#include "chainrule/activations/elementwise.hpp"
#include "chainrule/kernels/vmath.hpp"

namespace chainrule {

/// tanh(z) (kernels::tanh_v: vectorisable, about 1 ulp); tanh'(z) = 1 - h^2.
template <class T>
class Tanh : public ElementwiseActivation<T, Tanh<T>> {
 public:
  std::string name() const override { return "tanh"; }
  const char* class_name() const { return "Tanh"; }
  T f(T z) const { return kernels::tanh_v(z); }
  T df(T, T h) const { return T(1) - h * h; }
};

}  // namespace chainrule
