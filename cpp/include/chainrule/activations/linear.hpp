#pragma once

#include "chainrule/activations/elementwise.hpp"

namespace chainrule {

/// linear(z) = z; derivative 1.
template <class T>
class Linear : public ElementwiseActivation<T, Linear<T>> {
 public:
  std::string name() const override { return "linear"; }
  const char* class_name() const { return "Linear"; }
  T f(T z) const { return z; }
  T df(T, T) const { return T(1); }
};

}  // namespace chainrule
