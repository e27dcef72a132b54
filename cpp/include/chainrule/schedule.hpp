// Learning-rate schedules: the learning rate of each epoch of fit, with the per-epoch
// semantics of torch.optim.lr_scheduler (the scheduler steps once after every epoch).
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chainrule/registry.hpp"
#include "chainrule/tensor.hpp"

namespace chainrule {

/// Hyper-parameters by name, as make_schedule takes them (choices and flags as numbers).
using ScheduleParams = std::vector<std::pair<std::string, double>>;

/// The learning rate per epoch. fit calls start() once, then for every epoch e = 0, 1, ...
/// lr(e) before the epoch and epoch_end(e, monitored) after it.
class LRSchedule {
 public:
  virtual ~LRSchedule() = default;

  /// Resets the schedule for a fit of `epochs` epochs whose base learning rate is base_lr.
  void start(double base_lr, Index epochs) {
    base_lr_ = base_lr;
    epochs_ = epochs;
    start_impl();
  }
  /// The learning rate of epoch e (0-based).
  double lr(Index epoch) const { return lr_impl(epoch); }
  /// After epoch e, with the monitored loss (see monitors_validation_loss()).
  void epoch_end(Index epoch, double monitored) { epoch_end_impl(epoch, monitored); }

  /// True when epoch_end's value steers the schedule (reduce-on-plateau).
  virtual bool uses_monitor() const { return false; }
  /// True when that value must be the validation loss (false: the training loss).
  virtual bool monitors_validation_loss() const { return false; }
  /// The factory name ("step").
  virtual std::string name() const = 0;
  /// "StepLR(step_size=10, gamma=0.5)".
  virtual std::string repr() const = 0;

 protected:
  double base_lr() const { return base_lr_; }
  Index epochs() const { return epochs_; }

 private:
  virtual void start_impl() {}
  virtual double lr_impl(Index epoch) const = 0;
  virtual void epoch_end_impl(Index, double) {}

  double base_lr_ = 0;
  Index epochs_ = 0;
};

/// The schedule family: its registry builds LRSchedule (the same for both dtypes). Each
/// built-in registers itself at the bottom of its header in schedules/ (ScheduleRegistry::add),
/// listed in schedules/all.hpp; the property "example" shows values for the parameters that
/// have no default.
struct ScheduleFamily {
  static constexpr const char* noun = "lr_schedule";
  template <class>
  using Product = LRSchedule;
};
using ScheduleRegistry = Registry<ScheduleFamily>;

/// Builds a built-in schedule (from the registry) from its hyper-parameters; ValueError on an
/// unknown name or parameter, a missing required one, or a value out of range.
std::unique_ptr<LRSchedule> make_schedule(const std::string& name,
                                          const ScheduleParams& params = {});

/// The factory names of the built-in schedules, sorted.
std::vector<std::string> schedule_names();

}  // namespace chainrule
