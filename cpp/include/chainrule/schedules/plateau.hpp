#pragma once

#include <limits>

#include "chainrule/schedule.hpp"

namespace chainrule {

/// torch.optim.lr_scheduler.ReduceLROnPlateau: after each epoch, a monitored loss that has
/// not improved (mode "min": below best * (1 - threshold), or best - threshold with absolute
/// thresholds; "max" mirrors it) for more than `patience` epochs multiplies the learning rate
/// by `factor` (not below min_lr; changes smaller than eps are skipped), then waits
/// `cooldown` epochs before counting again.
class ReduceLROnPlateau : public LRSchedule {
 public:
  /// Throws ValueError on factor outside (0, 1), negative patience, threshold, cooldown,
  /// min_lr or eps, or non-finite values.
  ReduceLROnPlateau(bool mode_max = false, double factor = 0.1, Index patience = 10,
                    double threshold = 1e-4, bool threshold_abs = false, Index cooldown = 0,
                    double min_lr = 0, double eps = 1e-8, bool monitor_validation = true);
  std::string name() const override { return "reduce_on_plateau"; }
  std::string repr() const override;
  bool uses_monitor() const override { return true; }
  bool monitors_validation_loss() const override { return monitor_validation_; }

  double best() const { return best_; }
  Index num_bad_epochs() const { return num_bad_; }

 private:
  void start_impl() override;
  double lr_impl(Index) const override { return lr_; }
  void epoch_end_impl(Index epoch, double monitored) override;
  bool is_better(double a) const;

  bool mode_max_;
  double factor_;
  Index patience_;
  double threshold_;
  bool threshold_abs_;
  Index cooldown_;
  double min_lr_, eps_;
  bool monitor_validation_;
  double lr_ = 0, best_ = std::numeric_limits<double>::infinity();
  Index num_bad_ = 0, cooldown_counter_ = 0;
};

}  // namespace chainrule
