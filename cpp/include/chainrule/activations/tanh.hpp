#pragma once

#include <cmath>

#include "chainrule/activations/elementwise.hpp"

namespace chainrule {

/// tanh(z); tanh'(z) = 1 - h^2.
template <class T>
class Tanh : public ElementwiseActivation<T, Tanh<T>> {
 public:
  std::string name() const override { return "tanh"; }
  const char* class_name() const { return "Tanh"; }
  T f(T z) const { return std::tanh(z); }
  T df(T, T h) const { return T(1) - h * h; }
};

}  // namespace chainrule
