#pragma once

#include "chainrule/schedule.hpp"

namespace chainrule {

/// torch.optim.lr_scheduler.ExponentialLR: lr = base_lr * gamma^epoch.
class ExponentialLR : public LRSchedule {
 public:
  /// Throws ValueError on gamma <= 0 or not finite.
  explicit ExponentialLR(double gamma);
  std::string name() const override { return "exponential"; }
  std::string repr() const override;

 private:
  double lr_impl(Index epoch) const override;
  double gamma_;
};

}  // namespace chainrule
