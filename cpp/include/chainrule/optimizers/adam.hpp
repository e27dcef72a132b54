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
  /// The registry entry of Adam, or with `decoupled` of AdamW: parameters with their
  /// defaults and ranges, the default lr.
  static const EntryInfo& entry(bool decoupled = false) {
    auto make = [](const char* name, const char* class_name, const char* doc, double decay) {
      return EntryInfo(name, class_name, doc)
          .param(ParamSpec("beta1", 0.9).in(0, 1, "[)").label("betas[0]"))
          .param(ParamSpec("beta2", 0.999).in(0, 1, "[)").label("betas[1]"))
          .param(ParamSpec("eps", 1e-8).at_least(0))
          .param(ParamSpec("weight_decay", decay).at_least(0))
          .property("lr", 1e-3);
    };
    static const EntryInfo adam = make("adam", "Adam", "Adam (L2 weight decay)", 0);
    static const EntryInfo adamw = make("adamw", "AdamW", "Adam with decoupled weight decay", 1e-2);
    return decoupled ? adamw : adam;
  }

  /// Throws ValueError on a value outside its range (see entry()).
  Adam(double beta1 = entry().default_of("beta1"), double beta2 = entry().default_of("beta2"),
       double eps = entry().default_of("eps"),
       double weight_decay = entry().default_of("weight_decay"), bool decoupled = false);

  std::string name() const override { return entry(decoupled_).name; }
  std::string repr() const override;

 private:
  // 1 - beta1^t and 1 - beta2^t at step t
  struct BiasCorrections {
    Index t;
    double first, second;
  };

  void update_range_impl(Index slot, Index n, T lr, const T* g, T* p, Index b, Index e) override;
  void step_started() override;
  BiasCorrections bias_corrections(Index t) const;

  double beta1_, beta2_, eps_, weight_decay_;
  bool decoupled_;
  // the corrections of the step begun last (two pow calls a step rather than two a slot);
  // an update at another step count (after set_state, or before any step) computes its own
  BiasCorrections step_corrections_{-1, 0, 0};
};

namespace registered {
inline const bool adam = OptimizerRegistry::add(
    Adam<double>::entry(false), construct<Adam>([](const ParamValues& v) {
      return std::tuple(v["beta1"], v["beta2"], v["eps"], v["weight_decay"], false);
    }));
inline const bool adamw = OptimizerRegistry::add(
    Adam<double>::entry(true), construct<Adam>([](const ParamValues& v) {
      return std::tuple(v["beta1"], v["beta2"], v["eps"], v["weight_decay"], true);
    }));
}  // namespace registered

}  // namespace chainrule
