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
  /// The registry entry: parameters with their defaults and ranges, the default lr.
  static const EntryInfo& entry() {
    static const EntryInfo e = EntryInfo("sgd", "SGD", "W -= lr * g, with optional momentum")
                                   .param(ParamSpec("momentum", 0).at_least(0))
                                   .param(ParamSpec("dampening", 0).in(0, 1, "[]"))
                                   .param(ParamSpec("nesterov", 0).flag())
                                   .param(ParamSpec("weight_decay", 0).at_least(0))
                                   .property("lr", 0.01);
    return e;
  }

  /// Throws ValueError on a value outside its range (see entry()), or nesterov without
  /// momentum or with dampening.
  explicit SGD(double momentum = entry().default_of("momentum"),
               double dampening = entry().default_of("dampening"),
               bool nesterov = entry().default_of("nesterov") != 0,
               double weight_decay = entry().default_of("weight_decay"));

  std::string name() const override { return entry().name; }
  std::string repr() const override;
  bool fuses_into_backward() const override { return momentum_ == 0 && weight_decay_ == 0; }

  double momentum() const { return momentum_; }
  double dampening() const { return dampening_; }
  bool nesterov() const { return nesterov_; }
  double weight_decay() const { return weight_decay_; }

 private:
  void update_range_impl(Index slot, Index n, T lr, const T* g, T* p, Index b, Index e) override;

  double momentum_, dampening_;
  bool nesterov_;
  double weight_decay_;
};

namespace registered {
inline const bool sgd = OptimizerRegistry::add(
    SGD<double>::entry(), construct<SGD>([](const ParamValues& v) {
      return std::tuple(v["momentum"], v["dampening"], v.flag("nesterov"), v["weight_decay"]);
    }));
}  // namespace registered

}  // namespace chainrule
