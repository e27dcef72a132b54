// The built-in learning-rate schedules and the name -> schedule factory. The formulas are the
// closed forms of torch.optim.lr_scheduler (which computes the same values recursively).
#include "chainrule/schedule.hpp"

#include <cmath>

#include "chainrule/error.hpp"
#include "chainrule/schedules/all.hpp"

namespace chainrule {

namespace {
constexpr double kPi = 3.14159265358979323846;
}

// ---- constant -------------------------------------------------------------------------------

ConstantLR::ConstantLR(double factor, Index total_iters)
    : factor_(factor), total_iters_(total_iters) {
  entry().checked("factor", factor);
  entry().checked("total_iters", static_cast<double>(total_iters));
}

std::string ConstantLR::repr() const {
  return entry().class_name + "(factor=" + shortest_repr(factor_) +
         ", total_iters=" + std::to_string(total_iters_) + ")";
}

// lr = base_lr * factor while epoch < total_iters, else base_lr
double ConstantLR::lr_impl(Index epoch) const {
  return epoch < total_iters_ ? base_lr() * factor_ : base_lr();
}

// ---- step -----------------------------------------------------------------------------------

StepLR::StepLR(Index step_size, double gamma) : step_size_(step_size), gamma_(gamma) {
  entry().checked("step_size", static_cast<double>(step_size));
  entry().checked("gamma", gamma);
}

std::string StepLR::repr() const {
  return entry().class_name + "(step_size=" + std::to_string(step_size_) +
         ", gamma=" + shortest_repr(gamma_) + ")";
}

// lr = base_lr * gamma^floor(epoch / step_size)
double StepLR::lr_impl(Index epoch) const {
  return base_lr() * std::pow(gamma_, static_cast<double>(epoch / step_size_));
}

// ---- exponential ----------------------------------------------------------------------------

ExponentialLR::ExponentialLR(double gamma) : gamma_(gamma) { entry().checked("gamma", gamma); }

std::string ExponentialLR::repr() const {
  return entry().class_name + "(gamma=" + shortest_repr(gamma_) + ")";
}

// lr = base_lr * gamma^epoch
double ExponentialLR::lr_impl(Index epoch) const {
  return base_lr() * std::pow(gamma_, static_cast<double>(epoch));
}

// ---- cosine ---------------------------------------------------------------------------------

CosineAnnealingLR::CosineAnnealingLR(Index T_max, double eta_min)
    : T_max_(T_max), eta_min_(eta_min) {
  if (T_max != -1) entry().checked("T_max", static_cast<double>(T_max));  // -1: the fit's epochs
  entry().checked("eta_min", eta_min);
}

std::string CosineAnnealingLR::repr() const {
  return entry().class_name +
         "(T_max=" + (T_max_ == -1 ? std::string("None") : std::to_string(T_max_)) +
         ", eta_min=" + shortest_repr(eta_min_) + ")";
}

// lr = eta_min + (base_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2
double CosineAnnealingLR::lr_impl(Index epoch) const {
  const Index T = T_max_ == -1 ? epochs() : T_max_;
  if (T < 1) return base_lr();
  return eta_min_ + (base_lr() - eta_min_) *
                        (1 + std::cos(kPi * static_cast<double>(epoch) / static_cast<double>(T))) /
                        2;
}

// ---- reduce on plateau ----------------------------------------------------------------------

ReduceLROnPlateau::ReduceLROnPlateau(bool mode_max, double factor, Index patience, double threshold,
                                     bool threshold_abs, Index cooldown, double min_lr, double eps,
                                     bool monitor_validation)
    : mode_max_(mode_max),
      factor_(factor),
      patience_(patience),
      threshold_(threshold),
      threshold_abs_(threshold_abs),
      cooldown_(cooldown),
      min_lr_(min_lr),
      eps_(eps),
      monitor_validation_(monitor_validation) {
  const EntryInfo& e = entry();
  e.checked("factor", factor);
  e.checked("patience", static_cast<double>(patience));
  e.checked("threshold", threshold);
  e.checked("cooldown", static_cast<double>(cooldown));
  e.checked("min_lr", min_lr);
  e.checked("eps", eps);
}

std::string ReduceLROnPlateau::repr() const {
  return entry().class_name + "(mode='" + (mode_max_ ? "max" : "min") +
         "', factor=" + shortest_repr(factor_) + ", patience=" + std::to_string(patience_) +
         ", threshold=" + shortest_repr(threshold_) + ", threshold_mode='" +
         (threshold_abs_ ? "abs" : "rel") + "', cooldown=" + std::to_string(cooldown_) +
         ", min_lr=" + shortest_repr(min_lr_) + ", eps=" + shortest_repr(eps_) + ", monitor='" +
         (monitor_validation_ ? "val_loss" : "loss") + "')";
}

void ReduceLROnPlateau::start_impl() {
  lr_ = base_lr();
  best_ = mode_max_ ? -std::numeric_limits<double>::infinity()
                    : std::numeric_limits<double>::infinity();
  num_bad_ = 0;
  cooldown_counter_ = 0;
}

bool ReduceLROnPlateau::is_better(double a) const {
  if (!mode_max_) return threshold_abs_ ? a < best_ - threshold_ : a < best_ * (1 - threshold_);
  return threshold_abs_ ? a > best_ + threshold_ : a > best_ * (threshold_ + 1);
}

void ReduceLROnPlateau::epoch_end_impl(Index, double monitored) {
  if (is_better(monitored)) {
    best_ = monitored;
    num_bad_ = 0;
  } else {
    ++num_bad_;
  }
  if (cooldown_counter_ > 0) {  // in cooldown: bad epochs are not counted
    --cooldown_counter_;
    num_bad_ = 0;
  }
  if (num_bad_ > patience_) {
    const double reduced = std::max(lr_ * factor_, min_lr_);  // lr = max(lr * factor, min_lr)
    if (lr_ - reduced > eps_) lr_ = reduced;
    cooldown_counter_ = cooldown_;
    num_bad_ = 0;
  }
}

// ---- factory (the registry, filled by the headers that schedules/all.hpp includes) --------

std::vector<std::string> schedule_names() { return ScheduleRegistry::instance().names(); }

std::unique_ptr<LRSchedule> make_schedule(const std::string& name, const ScheduleParams& params) {
  return ScheduleRegistry::instance().make<double>(name, params);
}

}  // namespace chainrule
