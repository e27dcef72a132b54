#pragma once

#include "chainrule/schedule.hpp"

namespace chainrule {

/// torch.optim.lr_scheduler.ConstantLR: lr = base_lr * factor for epochs < total_iters, then
/// base_lr. The defaults (factor 1, total_iters 0) keep the learning rate constant.
class ConstantLR : public LRSchedule {
 public:
  static const EntryInfo& entry() {
    static const EntryInfo e =
        EntryInfo("constant", "ConstantLR", "lr * factor for epoch < total_iters, then lr")
            .param(ParamSpec("factor", 1.0).in(0, 1, "(]"))
            .param(ParamSpec("total_iters", 0).integer(0));
    return e;
  }
  /// Throws ValueError on a value outside its range (see entry()).
  explicit ConstantLR(double factor = entry().default_of("factor"),
                      Index total_iters = static_cast<Index>(entry().default_of("total_iters")));
  std::string name() const override { return entry().name; }
  std::string repr() const override;

 private:
  double lr_impl(Index epoch) const override;
  double factor_;
  Index total_iters_;
};

namespace registered {
inline const bool constant =
    ScheduleRegistry::add(ConstantLR::entry(), construct<ConstantLR>([](const ParamValues& v) {
                            return std::tuple(v["factor"], v.integer("total_iters"));
                          }));
}  // namespace registered

}  // namespace chainrule
