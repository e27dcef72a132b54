// Stochastic gradient descent, with optional momentum (heavy-ball or Nesterov), dampening and
// L2 weight decay, following torch.optim.SGD.
#pragma once

#include "chainrule/optimizer.hpp"

namespace chainrule {

/// With g = dW (+ weight_decay * W when weight_decay > 0):
///   plain:     W -= lr * g                                  (the derivation's update)
///   momentum:  buf = g on the first step, else buf = momentum * buf + (1 - dampening) * g;
///              W -= lr * buf, or with Nesterov W -= lr * (g + momentum * buf).
/// State: "momentum_buffer" when momentum > 0, none otherwise.
template <class T>
class SGD : public Optimizer<T> {
 public:
  /// Throws ValueError on momentum or weight_decay < 0 or not finite, dampening outside
  /// [0, 1], or nesterov without momentum or with dampening.
  explicit SGD(double momentum = 0, double dampening = 0, bool nesterov = false,
               double weight_decay = 0);

  std::string name() const override { return "sgd"; }
  std::string repr() const override;
  bool fuses_into_backward() const override { return momentum_ == 0 && weight_decay_ == 0; }

  double momentum() const { return momentum_; }
  double dampening() const { return dampening_; }
  bool nesterov() const { return nesterov_; }
  double weight_decay() const { return weight_decay_; }

 private:
  void update_impl(Index slot, Index n, T lr, const T* g, T* p) override;

  double momentum_, dampening_;
  bool nesterov_;
  double weight_decay_;
};

}  // namespace chainrule
