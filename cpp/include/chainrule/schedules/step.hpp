#pragma once

#include "chainrule/schedule.hpp"

namespace chainrule {

/// torch.optim.lr_scheduler.StepLR: lr = base_lr * gamma^floor(epoch / step_size).
class StepLR : public LRSchedule {
 public:
  /// Throws ValueError on step_size < 1 or gamma <= 0 or not finite.
  StepLR(Index step_size, double gamma = 0.1);
  std::string name() const override { return "step"; }
  std::string repr() const override;

 private:
  double lr_impl(Index epoch) const override;
  Index step_size_;
  double gamma_;
};

}  // namespace chainrule
