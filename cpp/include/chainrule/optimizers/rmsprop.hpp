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
  /// The registry entry: parameters with their defaults and ranges, the default lr.
  static const EntryInfo& entry() {
    static const EntryInfo e = EntryInfo("rmsprop", "RMSprop", "W -= lr * g / (sqrt(s) + eps)")
                                   .param(ParamSpec("alpha", 0.99).in(0, 1, "[]"))
                                   .param(ParamSpec("eps", 1e-8).at_least(0))
                                   .param(ParamSpec("weight_decay", 0).at_least(0))
                                   .param(ParamSpec("momentum", 0).at_least(0))
                                   .param(ParamSpec("centered", 0).flag())
                                   .property("lr", 1e-2);
    return e;
  }

  /// Throws ValueError on a value outside its range (see entry()).
  RMSprop(double alpha = entry().default_of("alpha"), double eps = entry().default_of("eps"),
          double weight_decay = entry().default_of("weight_decay"),
          double momentum = entry().default_of("momentum"),
          bool centered = entry().default_of("centered") != 0);

  std::string name() const override { return entry().name; }
  std::string repr() const override;

 private:
  void update_range_impl(Index slot, Index n, T lr, const T* g, T* p, Index b, Index e) override;

  double alpha_, eps_, weight_decay_, momentum_;
  bool centered_;
  std::size_t momentum_k_ = 0, grad_avg_k_ = 0;  // buffer indices
};

namespace registered {
inline const bool rmsprop = OptimizerRegistry::add(
    RMSprop<double>::entry(), construct<RMSprop>([](const ParamValues& v) {
      return std::tuple(v["alpha"], v["eps"], v["weight_decay"], v["momentum"], v.flag("centered"));
    }));
}  // namespace registered

}  // namespace chainrule
