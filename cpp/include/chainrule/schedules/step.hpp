#pragma once

#include "chainrule/schedule.hpp"

namespace chainrule {

/// torch.optim.lr_scheduler.StepLR: lr = base_lr * gamma^floor(epoch / step_size).
class StepLR : public LRSchedule {
 public:
  static const EntryInfo& entry() {
    static const EntryInfo e = EntryInfo("step", "StepLR", "lr * gamma^(epoch // step_size)")
                                   .param(ParamSpec("step_size").integer(1))
                                   .param(ParamSpec("gamma", 0.1).above(0))
                                   .property("example", std::string("step_size=10, gamma=0.5"));
    return e;
  }
  /// Throws ValueError on a value outside its range (see entry()).
  StepLR(Index step_size, double gamma = entry().default_of("gamma"));
  std::string name() const override { return entry().name; }
  std::string repr() const override;

 private:
  double lr_impl(Index epoch) const override;
  Index step_size_;
  double gamma_;
};

namespace registered {
inline const bool step =
    ScheduleRegistry::add(StepLR::entry(), construct<StepLR>([](const ParamValues& v) {
                            return std::tuple(v.integer("step_size"), v["gamma"]);
                          }));
}  // namespace registered

}  // namespace chainrule
