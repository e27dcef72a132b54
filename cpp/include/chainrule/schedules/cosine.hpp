#pragma once

#include "chainrule/schedule.hpp"

namespace chainrule {

/// torch.optim.lr_scheduler.CosineAnnealingLR:
/// lr = eta_min + (base_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2, periodic past T_max
/// as in torch. T_max = -1 takes the number of epochs of the fit.
class CosineAnnealingLR : public LRSchedule {
 public:
  /// Throws ValueError on T_max < 1 (other than -1) or eta_min < 0 or not finite.
  explicit CosineAnnealingLR(Index T_max = -1, double eta_min = 0);
  std::string name() const override { return "cosine"; }
  std::string repr() const override;

 private:
  double lr_impl(Index epoch) const override;
  Index T_max_;
  double eta_min_;
};

}  // namespace chainrule
