// Adam and AdamW, following torch.optim.Adam / torch.optim.AdamW (without amsgrad).
#pragma once

#include "chainrule/optimizer.hpp"

namespace chainrule {

/// At step t, with g = dW (+ weight_decay * W for Adam's L2 decay):
///   m = beta1 m + (1 - beta1) g ;  v = beta2 v + (1 - beta2) g^2
///   W -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
/// AdamW decays the weights directly instead (decoupled): W *= 1 - lr * weight_decay, then
/// the same update with g = dW. State: "exp_avg" (m) and "exp_avg_sq" (v).
template <class T>
class Adam : public Optimizer<T> {
 public:
  /// Throws ValueError on a beta outside [0, 1), or eps / weight_decay < 0 or not finite.
  Adam(double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weight_decay = 0,
       bool decoupled = false);

  std::string name() const override { return decoupled_ ? "adamw" : "adam"; }
  std::string repr() const override;

 private:
  void update_impl(Index slot, Index n, T lr, const T* g, T* p) override;

  double beta1_, beta2_, eps_, weight_decay_;
  bool decoupled_;
};

}  // namespace chainrule
