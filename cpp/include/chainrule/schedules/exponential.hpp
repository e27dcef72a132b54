#pragma once

#include "chainrule/schedule.hpp"

namespace chainrule {

/// torch.optim.lr_scheduler.ExponentialLR: lr = base_lr * gamma^epoch.
class ExponentialLR : public LRSchedule {
 public:
  static const EntryInfo& entry() {
    static const EntryInfo e = EntryInfo("exponential", "ExponentialLR", "lr * gamma^epoch")
                                   .param(ParamSpec("gamma").above(0))
                                   .property("example", std::string("gamma=0.95"));
    return e;
  }
  /// Throws ValueError on a value outside its range (see entry()).
  explicit ExponentialLR(double gamma);
  std::string name() const override { return entry().name; }
  std::string repr() const override;

 private:
  double lr_impl(Index epoch) const override;
  double gamma_;
};

namespace registered {
inline const bool exponential = ScheduleRegistry::add(
    ExponentialLR::entry(),
    construct<ExponentialLR>([](const ParamValues& v) { return std::tuple(v["gamma"]); }));
}  // namespace registered

}  // namespace chainrule
