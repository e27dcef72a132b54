// The built-in learning-rate schedules and the name -> schedule factory. The formulas are the
// closed forms of torch.optim.lr_scheduler (which computes the same values recursively).
#include "chainrule/schedule.hpp"

#include <cmath>
#include <functional>
#include <map>

#include "chainrule/error.hpp"
#include "chainrule/schedules/all.hpp"
#include "params.hpp"

namespace chainrule {

using detail::check_in;
using detail::check_integer;
using detail::check_nonnegative;

namespace {
constexpr double kPi = 3.14159265358979323846;
}

// ---- constant -------------------------------------------------------------------------------

ConstantLR::ConstantLR(double factor, Index total_iters) : factor_(factor), total_iters_(total_iters) {
  check_in("ConstantLR", "factor", factor, 0, 1, true, false);
  check_integer("ConstantLR", "total_iters", static_cast<double>(total_iters), 0);
}

std::string ConstantLR::repr() const {
  return "ConstantLR(factor=" + shortest_repr(factor_) +
         ", total_iters=" + std::to_string(total_iters_) + ")";
}

// lr = base_lr * factor while epoch < total_iters, else base_lr
double ConstantLR::lr_impl(Index epoch) const {
  return epoch < total_iters_ ? base_lr() * factor_ : base_lr();
}

// ---- step -----------------------------------------------------------------------------------

StepLR::StepLR(Index step_size, double gamma) : step_size_(step_size), gamma_(gamma) {
  check_integer("StepLR", "step_size", static_cast<double>(step_size), 1);
  check_nonnegative("StepLR", "gamma", gamma, true);
}

std::string StepLR::repr() const {
  return "StepLR(step_size=" + std::to_string(step_size_) + ", gamma=" + shortest_repr(gamma_) + ")";
}

// lr = base_lr * gamma^floor(epoch / step_size)
double StepLR::lr_impl(Index epoch) const {
  return base_lr() * std::pow(gamma_, static_cast<double>(epoch / step_size_));
}

// ---- exponential ----------------------------------------------------------------------------

ExponentialLR::ExponentialLR(double gamma) : gamma_(gamma) {
  check_nonnegative("ExponentialLR", "gamma", gamma, true);
}

std::string ExponentialLR::repr() const { return "ExponentialLR(gamma=" + shortest_repr(gamma_) + ")"; }

// lr = base_lr * gamma^epoch
double ExponentialLR::lr_impl(Index epoch) const {
  return base_lr() * std::pow(gamma_, static_cast<double>(epoch));
}

// ---- cosine ---------------------------------------------------------------------------------

CosineAnnealingLR::CosineAnnealingLR(Index T_max, double eta_min) : T_max_(T_max), eta_min_(eta_min) {
  if (T_max != -1) check_integer("CosineAnnealingLR", "T_max", static_cast<double>(T_max), 1);
  check_nonnegative("CosineAnnealingLR", "eta_min", eta_min);
}

std::string CosineAnnealingLR::repr() const {
  return "CosineAnnealingLR(T_max=" + (T_max_ == -1 ? std::string("None") : std::to_string(T_max_)) +
         ", eta_min=" + shortest_repr(eta_min_) + ")";
}

// lr = eta_min + (base_lr - eta_min) (1 + cos(pi epoch / T_max)) / 2
double CosineAnnealingLR::lr_impl(Index epoch) const {
  const Index T = T_max_ == -1 ? epochs() : T_max_;
  if (T < 1) return base_lr();
  return eta_min_ + (base_lr() - eta_min_) *
                        (1 + std::cos(kPi * static_cast<double>(epoch) / static_cast<double>(T))) / 2;
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
  const std::string owner = "ReduceLROnPlateau";
  check_in(owner, "factor", factor, 0, 1, false, false);
  check_integer(owner, "patience", static_cast<double>(patience), 0);
  check_nonnegative(owner, "threshold", threshold);
  check_integer(owner, "cooldown", static_cast<double>(cooldown), 0);
  check_nonnegative(owner, "min_lr", min_lr);
  check_nonnegative(owner, "eps", eps);
}

std::string ReduceLROnPlateau::repr() const {
  return std::string("ReduceLROnPlateau(mode='") + (mode_max_ ? "max" : "min") +
         "', factor=" + shortest_repr(factor_) + ", patience=" + std::to_string(patience_) +
         ", threshold=" + shortest_repr(threshold_) + ", threshold_mode='" +
         (threshold_abs_ ? "abs" : "rel") + "', cooldown=" + std::to_string(cooldown_) +
         ", min_lr=" + shortest_repr(min_lr_) + ", eps=" + shortest_repr(eps_) + ", monitor='" +
         (monitor_validation_ ? "val_loss" : "loss") + "')";
}

void ReduceLROnPlateau::start_impl() {
  lr_ = base_lr();
  best_ = mode_max_ ? -std::numeric_limits<double>::infinity() : std::numeric_limits<double>::infinity();
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

// ---- factory --------------------------------------------------------------------------------

namespace {

using Maker = std::function<std::unique_ptr<LRSchedule>(const ScheduleParams&)>;

// A parameter that has no default: NaN marks it, and its absence is reported with an example.
constexpr double kRequired = std::numeric_limits<double>::quiet_NaN();

std::vector<double> read(const std::string& name, const ScheduleParams& given,
                         const detail::NamedValues& accepted, const std::string& example) {
  auto v = detail::read_params("lr_schedule '" + name + "'", given, accepted);
  for (std::size_t i = 0; i < v.size(); ++i)
    if (std::isnan(v[i]) && std::isnan(accepted[i].second)) {
      bool given_nan = false;
      for (const auto& kv : given) given_nan |= kv.first == accepted[i].first;
      if (!given_nan)
        throw ValueError("lr_schedule '" + name + "' needs " + accepted[i].first + " (e.g. " +
                         example + ")");
    }
  return v;
}

Index as_index(const std::string& owner, const std::string& what, double v, long long lo) {
  if (v == -1 && lo == -1) return -1;
  return static_cast<Index>(check_integer(owner, what, v, lo < 0 ? 0 : lo));
}

const std::map<std::string, Maker>& registry() {
  static const std::map<std::string, Maker> r = {
      {"constant",
       [](const ScheduleParams& p) -> std::unique_ptr<LRSchedule> {
         auto v = read("constant", p, {{"factor", 1.0}, {"total_iters", 0}}, "");
         return std::make_unique<ConstantLR>(v[0], as_index("ConstantLR", "total_iters", v[1], 0));
       }},
      {"step",
       [](const ScheduleParams& p) -> std::unique_ptr<LRSchedule> {
         auto v = read("step", p, {{"step_size", kRequired}, {"gamma", 0.1}},
                       "cr.StepLR(step_size=10, gamma=0.5)");
         return std::make_unique<StepLR>(as_index("StepLR", "step_size", v[0], 1), v[1]);
       }},
      {"exponential",
       [](const ScheduleParams& p) -> std::unique_ptr<LRSchedule> {
         auto v = read("exponential", p, {{"gamma", kRequired}}, "cr.ExponentialLR(gamma=0.95)");
         return std::make_unique<ExponentialLR>(v[0]);
       }},
      {"cosine",
       [](const ScheduleParams& p) -> std::unique_ptr<LRSchedule> {
         // T_max not given: the number of epochs of the fit
         bool has_T_max = false;
         for (const auto& kv : p) has_T_max |= kv.first == "T_max";
         auto v = read("cosine", p, {{"T_max", 0}, {"eta_min", 0}}, "");
         const Index T_max = has_T_max ? as_index("CosineAnnealingLR", "T_max", v[0], 1) : -1;
         return std::make_unique<CosineAnnealingLR>(T_max, v[1]);
       }},
      {"reduce_on_plateau",
       [](const ScheduleParams& p) -> std::unique_ptr<LRSchedule> {
         const std::string owner = "ReduceLROnPlateau";
         auto v = read("reduce_on_plateau", p,
                       {{"mode_max", 0}, {"factor", 0.1}, {"patience", 10}, {"threshold", 1e-4},
                        {"threshold_abs", 0}, {"cooldown", 0}, {"min_lr", 0}, {"eps", 1e-8},
                        {"monitor_validation", 1}},
                       "");
         return std::make_unique<ReduceLROnPlateau>(
             detail::check_flag(owner, "mode_max", v[0]), v[1], as_index(owner, "patience", v[2], 0),
             v[3], detail::check_flag(owner, "threshold_abs", v[4]),
             as_index(owner, "cooldown", v[5], 0), v[6], v[7],
             detail::check_flag(owner, "monitor_validation", v[8]));
       }},
  };
  return r;
}

}  // namespace

std::vector<std::string> schedule_names() {
  std::vector<std::string> names;
  for (const auto& kv : registry()) names.push_back(kv.first);
  return names;
}

std::unique_ptr<LRSchedule> make_schedule(const std::string& name, const ScheduleParams& params) {
  auto it = registry().find(name);
  if (it == registry().end()) {
    std::string valid;
    for (const auto& n : schedule_names()) valid += (valid.empty() ? "" : ", ") + n;
    throw ValueError("unknown lr_schedule '" + name + "'; valid names: " + valid);
  }
  return it->second(params);
}

}  // namespace chainrule
