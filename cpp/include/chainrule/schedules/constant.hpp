#pragma once

#include "chainrule/schedule.hpp"

namespace chainrule {

/// torch.optim.lr_scheduler.ConstantLR: lr = base_lr * factor for epochs < total_iters, then
/// base_lr. The defaults (factor 1, total_iters 0) keep the learning rate constant.
class ConstantLR : public LRSchedule {
 public:
  /// Throws ValueError on factor outside (0, 1] or total_iters < 0.
  explicit ConstantLR(double factor = 1.0, Index total_iters = 0);
  std::string name() const override { return "constant"; }
  std::string repr() const override;

 private:
  double lr_impl(Index epoch) const override;
  double factor_;
  Index total_iters_;
};

}  // namespace chainrule
