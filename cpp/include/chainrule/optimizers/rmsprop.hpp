// RMSprop, following torch.optim.RMSprop.
#pragma once

#include "chainrule/optimizer.hpp"

namespace chainrule {

/// With g = dW (+ weight_decay * W):
///   s = alpha s + (1 - alpha) g^2
///   centered: a = alpha a + (1 - alpha) g ; d = sqrt(s - a^2) + eps, else d = sqrt(s) + eps
///   momentum > 0: buf = momentum buf + g / d ; W -= lr buf,   else W -= lr g / d
/// State: "square_avg", then "momentum_buffer" (momentum > 0), then "grad_avg" (centered).
template <class T>
class RMSprop : public Optimizer<T> {
 public:
  /// Throws ValueError on alpha outside [0, 1], or eps / weight_decay / momentum < 0 or
  /// not finite.
  RMSprop(double alpha = 0.99, double eps = 1e-8, double weight_decay = 0, double momentum = 0,
          bool centered = false);

  std::string name() const override { return "rmsprop"; }
  std::string repr() const override;

 private:
  void update_impl(Index slot, Index n, T lr, const T* g, T* p) override;

  double alpha_, eps_, weight_decay_, momentum_;
  bool centered_;
  std::size_t momentum_k_ = 0, grad_avg_k_ = 0;  // buffer indices
};

}  // namespace chainrule
