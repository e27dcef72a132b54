#pragma once

#include "chainrule/schedule.hpp"

namespace chainrule {

/// torch.optim.lr_scheduler.CosineAnnealingLR:
/// lr = eta_min + (base_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2, periodic past T_max
/// as in torch. T_max = -1 (or left out of the factory's parameters) takes the number of
/// epochs of the fit.
class CosineAnnealingLR : public LRSchedule {
 public:
  static const EntryInfo& entry() {
    static const EntryInfo e = EntryInfo("cosine", "CosineAnnealingLR",
                                         "eta_min + (lr - eta_min) (1 + cos(pi epoch / T_max)) / 2")
                                   .param(ParamSpec("T_max").integer(1).optional())
                                   .param(ParamSpec("eta_min", 0).at_least(0));
    return e;
  }
  /// Throws ValueError on a value outside its range (see entry()).
  explicit CosineAnnealingLR(Index T_max = -1, double eta_min = entry().default_of("eta_min"));
  std::string name() const override { return entry().name; }
  std::string repr() const override;

 private:
  double lr_impl(Index epoch) const override;
  Index T_max_;
  double eta_min_;
};

namespace registered {
inline const bool cosine = ScheduleRegistry::add(
    CosineAnnealingLR::entry(), construct<CosineAnnealingLR>([](const ParamValues& v) {
      // T_max not given: the number of epochs of the fit
      return std::tuple(v.given("T_max") ? v.integer("T_max") : Index(-1), v["eta_min"]);
    }));
}  // namespace registered

}  // namespace chainrule
