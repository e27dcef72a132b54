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
  static const EntryInfo& entry() {
    static const EntryInfo e =
        EntryInfo("reduce_on_plateau", "ReduceLROnPlateau",
                  "lr * factor after more than patience epochs without improvement")
            .param(ParamSpec("mode_max", 0).flag())
            .param(ParamSpec("factor", 0.1).in(0, 1, "()"))
            .param(ParamSpec("patience", 10).integer(0))
            .param(ParamSpec("threshold", 1e-4).at_least(0))
            .param(ParamSpec("threshold_abs", 0).flag())
            .param(ParamSpec("cooldown", 0).integer(0))
            .param(ParamSpec("min_lr", 0).at_least(0))
            .param(ParamSpec("eps", 1e-8).at_least(0))
            .param(ParamSpec("monitor_validation", 1).flag());
    return e;
  }
  /// Throws ValueError on a value outside its range (see entry()).
  ReduceLROnPlateau(bool mode_max = entry().default_of("mode_max") != 0,
                    double factor = entry().default_of("factor"),
                    Index patience = static_cast<Index>(entry().default_of("patience")),
                    double threshold = entry().default_of("threshold"),
                    bool threshold_abs = entry().default_of("threshold_abs") != 0,
                    Index cooldown = static_cast<Index>(entry().default_of("cooldown")),
                    double min_lr = entry().default_of("min_lr"),
                    double eps = entry().default_of("eps"),
                    bool monitor_validation = entry().default_of("monitor_validation") != 0);
  std::string name() const override { return entry().name; }
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

namespace registered {
inline const bool reduce_on_plateau = ScheduleRegistry::add(
    ReduceLROnPlateau::entry(), construct<ReduceLROnPlateau>([](const ParamValues& v) {
      return std::tuple(v.flag("mode_max"), v["factor"], v.integer("patience"), v["threshold"],
                        v.flag("threshold_abs"), v.integer("cooldown"), v["min_lr"], v["eps"],
                        v.flag("monitor_validation"));
    }));
}  // namespace registered

}  // namespace chainrule
