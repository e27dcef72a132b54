// Learning-rate schedules (values per epoch worked out by hand, reduce-on-plateau on a given
// sequence of losses) and metrics (accuracy, R^2, MAE, RMSE, precision, recall and F1 by hand,
// R^2 merged over batches equal to one pass), plus their factories' errors.
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "chainrule/error.hpp"
#include "chainrule/metric.hpp"
#include "chainrule/schedule.hpp"
#include "chainrule/schedules/all.hpp"
#include "test_util.hpp"

using namespace chainrule;

namespace {

std::vector<double> rates(LRSchedule& s, double base, Index epochs) {
  s.start(base, epochs);
  std::vector<double> out;
  for (Index e = 0; e < epochs; ++e) out.push_back(s.lr(e));
  return out;
}

void check_rates(const char* what, const std::vector<double>& got,
                 const std::vector<double>& want) {
  CHECK(got.size() == want.size());
  if (!chainrule_test::check_all_close(what, got.data(), want.data(),
                                       static_cast<std::ptrdiff_t>(want.size()), 1e-15))
    std::fprintf(stderr, "  in %s\n", what);
}

void closed_forms() {
  ConstantLR constant;
  check_rates("constant", rates(constant, 0.1, 3), {0.1, 0.1, 0.1});
  ConstantLR warm(0.5, 2);
  check_rates("constant factor", rates(warm, 0.1, 4), {0.05, 0.05, 0.1, 0.1});
  StepLR step(2, 0.5);
  check_rates("step", rates(step, 0.8, 5), {0.8, 0.8, 0.4, 0.4, 0.2});
  ExponentialLR exponential(0.5);
  check_rates("exponential", rates(exponential, 1.0, 4), {1.0, 0.5, 0.25, 0.125});
  // T_max 4, eta_min 0: (1 + cos(pi e / 4)) / 2 = 1, 0.8536, 0.5, 0.1464, 0, then back up
  CosineAnnealingLR cosine(4, 0.0);
  const double c = std::cos(3.14159265358979323846 / 4);
  check_rates("cosine", rates(cosine, 1.0, 7),
              {1.0, (1 + c) / 2, 0.5, (1 - c) / 2, 0.0, (1 - c) / 2, 0.5});
  CosineAnnealingLR to_end(-1, 0.1);  // T_max = the fit's epochs (2): 1, 0.55
  check_rates("cosine over the fit", rates(to_end, 1.0, 2), {1.0, 0.55});
}

void plateau() {
  // patience 1, factor 0.5, relative threshold 0.1, cooldown 1
  ReduceLROnPlateau s(false, 0.5, 1, 0.1, false, 1, 0.0, 1e-8);
  CHECK(s.uses_monitor() && s.monitors_validation_loss());
  s.start(1.0, 10);
  const double losses[] = {10, 9.5, 9.4, 9.3, 8, 7.9, 7.8, 7.7};
  // epoch 0: best 10. 1: 9.5 not < 9 -> bad 1. 2: bad 2 > 1 -> lr 0.5, cooldown 1.
  // 3: bad (9.3 !< 9), cooldown -> 0, bad reset. 4: 8 < 9 -> best 8. 5: bad 1. 6: bad 2 -> 0.25.
  // 7: cooldown again.
  const double want[] = {1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25};  // lr of epochs 0..7
  for (Index e = 0; e < 8; ++e) {
    CHECK_CLOSE(s.lr(e), want[e], 1e-15);
    s.epoch_end(e, losses[e]);
  }
  CHECK_CLOSE(s.lr(8), 0.25, 1e-15);
  CHECK(s.best() == 8);
  // min_lr floors the rate, and a change smaller than eps is skipped
  ReduceLROnPlateau floor(false, 0.1, 0, 0.0, true, 0, 0.3, 1e-8);
  floor.start(1.0, 5);
  floor.epoch_end(0, 1.0);
  floor.epoch_end(1, 1.0);  // no improvement, patience 0 -> max(0.1, 0.3) = 0.3
  CHECK_CLOSE(floor.lr(2), 0.3, 1e-15);
  floor.epoch_end(2, 1.0);
  CHECK_CLOSE(floor.lr(3), 0.3, 1e-15);
  // mode max, absolute threshold: improvement means > best + 0.5
  ReduceLROnPlateau up(true, 0.5, 0, 0.5, true, 0, 0.0, 1e-8, false);
  CHECK(!up.monitors_validation_loss());
  up.start(1.0, 5);
  up.epoch_end(0, 1.0);
  up.epoch_end(1, 1.4);  // not > 1.5
  CHECK_CLOSE(up.lr(2), 0.5, 1e-15);
  // start() resets everything
  up.start(2.0, 5);
  CHECK_CLOSE(up.lr(0), 2.0, 1e-15);
}

void schedule_factory() {
  CHECK(schedule_names() == std::vector<std::string>({"constant", "cosine", "exponential",
                                                      "reduce_on_plateau", "step"}));
  CHECK_THROWS_MSG(make_schedule("linear"), ValueError,
                   "unknown lr_schedule 'linear'; valid names: constant, cosine, exponential");
  CHECK_THROWS_MSG(make_schedule("step"), ValueError, "lr_schedule 'step' needs step_size");
  CHECK_THROWS_MSG(make_schedule("exponential"), ValueError, "needs gamma");
  CHECK_THROWS_MSG(make_schedule("step", {{"step_size", 0}}), ValueError,
                   "StepLR: step_size must be an integer >= 1, got 0");
  CHECK_THROWS_MSG(make_schedule("step", {{"step_size", 2.5}}), ValueError, "got 2.5");
  CHECK_THROWS_MSG(make_schedule("step", {{"step_size", 3}, {"gamma", -1}}), ValueError,
                   "StepLR: gamma must be a finite number > 0, got -1");
  CHECK_THROWS_MSG(make_schedule("exponential", {{"gamma", NAN}}), ValueError, "got nan");
  CHECK_THROWS_MSG(make_schedule("cosine", {{"T_max", 0}}), ValueError,
                   "CosineAnnealingLR: T_max must be an integer >= 1, got 0");
  CHECK_THROWS_MSG(make_schedule("cosine", {{"T_max", -1}}), ValueError, "got -1");
  CHECK_THROWS_MSG(make_schedule("cosine", {{"eta_min", -0.1}}), ValueError, "eta_min");
  CHECK_THROWS_MSG(make_schedule("constant", {{"factor", 0}}), ValueError,
                   "ConstantLR: factor must be a finite number in (0, 1], got 0");
  CHECK_THROWS_MSG(make_schedule("reduce_on_plateau", {{"factor", 1}}), ValueError,
                   "ReduceLROnPlateau: factor must be a finite number in (0, 1), got 1");
  CHECK_THROWS_MSG(make_schedule("reduce_on_plateau", {{"patience", -1}}), ValueError, "patience");
  CHECK_THROWS_MSG(make_schedule("reduce_on_plateau", {{"min_lr", INFINITY}}), ValueError,
                   "min_lr");
  CHECK_THROWS_MSG(make_schedule("reduce_on_plateau", {{"warmup", 1}}), ValueError,
                   "has no parameter 'warmup'");
}

template <class T>
void metrics() {
  {  // accuracy, several columns (argmax) with weights: rows 0 and 2 right
    auto acc = make_metric<T>("accuracy");
    acc->prepare(3);
    acc->reset();
    CHECK(std::isnan(acc->result()));
    const T H[] = {0.7, 0.2, 0.1, 0.1, 0.8, 0.1, 0.2, 0.3, 0.5};
    const T Y[] = {1, 0, 0, 0, 0, 1, 0, 0, 1};
    const T w[] = {1, 2, 3};
    acc->accumulate(ConstView<T>(H, 3, 3), ConstView<T>(Y, 3, 3), nullptr);
    CHECK_CLOSE(acc->result(), 2.0 / 3.0, 1e-15);
    acc->reset();
    acc->accumulate(ConstView<T>(H, 3, 3), ConstView<T>(Y, 3, 3), w);
    CHECK_CLOSE(acc->result(), 4.0 / 6.0, 1e-15);
    // one column: threshold 0.5
    auto bin = make_metric<T>("accuracy");
    bin->reset();
    const T h1[] = {0.9, 0.4, 0.6, 0.1}, y1[] = {1, 1, 0, 0};
    bin->accumulate(ConstView<T>(h1, 4, 1), ConstView<T>(y1, 4, 1), nullptr);
    CHECK_CLOSE(bin->result(), 0.5, 1e-15);
  }
  {  // R^2 of y = [1, 2, 3, 4], yhat = [1, 2, 3, 5]: 1 - 1 / 5 = 0.8 ; second column constant
    auto r2 = make_metric<T>("r2");
    r2->prepare(2);
    r2->reset();
    const T H[] = {1, 7, 2, 7, 3, 7, 5, 7}, Y[] = {1, 7, 2, 7, 3, 7, 4, 7};
    r2->accumulate(ConstView<T>(H, 4, 2), ConstView<T>(Y, 4, 2), nullptr);
    CHECK_CLOSE(r2->result(), (0.8 + 1.0) / 2, 1e-15);
    // one row: not defined (scikit-learn's nan), whatever it predicts
    r2->reset();
    r2->accumulate(ConstView<T>(H, 1, 2), ConstView<T>(Y, 1, 2), nullptr);
    CHECK(std::isnan(r2->result()));
    // in batches of 1, 2, 1 rows with weights: the same as one weighted pass
    const T w[] = {0.5, 2, 1, 3};
    auto once = make_metric<T>("r2"), parts = make_metric<T>("r2");
    once->prepare(2);
    parts->prepare(2);
    once->reset();
    parts->reset();
    once->accumulate(ConstView<T>(H, 4, 2), ConstView<T>(Y, 4, 2), w);
    parts->accumulate(ConstView<T>(H, 1, 2), ConstView<T>(Y, 1, 2), w);
    parts->accumulate(ConstView<T>(H + 2, 2, 2), ConstView<T>(Y + 2, 2, 2), w + 1);
    parts->accumulate(ConstView<T>(H + 6, 1, 2), ConstView<T>(Y + 6, 1, 2), w + 3);
    // weighted: mean = (0.5 + 4 + 3 + 12) / 6.5 = 3; ss_tot = 0.5*4 + 2*1 + 0 + 3*1 = 7;
    // ss_res = 3 * 1 = 3 -> 1 - 3/7 for column 0; column 1 constant and exact -> 1
    CHECK_CLOSE(once->result(), (1 - 3.0 / 7.0 + 1) / 2, 1e-14);
    CHECK_CLOSE(parts->result(), once->result(), 1e-14);
    // a constant column predicted wrongly scores 0
    auto off = make_metric<T>("r2");
    const T h2[] = {1, 2}, y2[] = {1, 1};
    off->reset();
    off->accumulate(ConstView<T>(h2, 2, 1), ConstView<T>(y2, 2, 1), nullptr);
    CHECK(off->result() == 0.0);
  }
  {  // mean absolute error and RMSE: H - Y = [[1, 0], [0, 4]]
    const T H[] = {1, 2, 3, 5}, Y[] = {0, 2, 3, 1}, w[] = {3, 1};
    auto mae = make_metric<T>("mae"), rmse = make_metric<T>("rmse");
    mae->prepare(2);
    rmse->prepare(2);
    mae->reset();
    rmse->reset();
    CHECK(std::isnan(mae->result()) && std::isnan(rmse->result()));
    mae->accumulate(ConstView<T>(H, 2, 2), ConstView<T>(Y, 2, 2), nullptr);
    rmse->accumulate(ConstView<T>(H, 2, 2), ConstView<T>(Y, 2, 2), nullptr);
    CHECK_CLOSE(mae->result(), (0.5 + 2.0) / 2, 1e-15);                         // rows 0.5, 2
    CHECK_CLOSE(rmse->result(), (std::sqrt(0.5) + std::sqrt(8.0)) / 2, 1e-15);  // per column
    mae->reset();
    rmse->reset();
    mae->accumulate(ConstView<T>(H, 2, 2), ConstView<T>(Y, 2, 2), w);
    rmse->accumulate(ConstView<T>(H, 2, 2), ConstView<T>(Y, 2, 2), w);
    CHECK_CLOSE(mae->result(), (3 * 0.5 + 1 * 2.0) / 4, 1e-15);
    CHECK_CLOSE(rmse->result(), (std::sqrt(3.0 / 4) + std::sqrt(16.0 / 4)) / 2, 1e-15);
  }
  {  // precision, recall, F1 of one output (binary, class 1): predicted 1 0 1 0 1 1, true
     // 1 1 0 0 1 0 -> tp 2, fp 2 (rows 2, 5), fn 1 (row 1)
    const T H[] = {0.9, 0.4, 0.6, 0.1, 0.7, 0.8}, Y[] = {1, 1, 0, 0, 1, 0};
    const T w[] = {1, 2, 3, 1, 1, 0.5};  // tp 1 + 1 = 2, fp 3 + 0.5, fn 2
    const double plain[] = {2.0 / 4, 2.0 / 3, 4.0 / 7};
    const double weighted[] = {2.0 / 5.5, 2.0 / 4, 4.0 / 9.5};
    int k = 0;
    for (const char* name : {"precision", "recall", "f1"}) {
      auto metric = make_metric<T>(name);
      metric->prepare(1);
      metric->reset();
      CHECK(std::isnan(metric->result()));
      metric->accumulate(ConstView<T>(H, 6, 1), ConstView<T>(Y, 6, 1), nullptr);
      CHECK_CLOSE(metric->result(), plain[k], 1e-15);
      metric->reset();  // in two batches, weighted
      metric->accumulate(ConstView<T>(H, 2, 1), ConstView<T>(Y, 2, 1), w);
      metric->accumulate(ConstView<T>(H + 2, 4, 1), ConstView<T>(Y + 2, 4, 1), w + 2);
      CHECK_CLOSE(metric->result(), weighted[k], 1e-15);
      ++k;
    }
    // no positive predicted or true: every score 0 (zero_division=0)
    const T h0[] = {0.2, 0.1}, y0[] = {0, 0};
    auto p = make_metric<T>("precision");
    p->prepare(1);
    p->accumulate(ConstView<T>(h0, 2, 1), ConstView<T>(y0, 2, 1), nullptr);
    CHECK(p->result() == 0.0);
  }
  {  // macro average over 4 classes; class 3 occurs nowhere and is left out.
     // (true, predicted): (0, 0) (0, 1) (1, 1) (2, 1) (2, 2) (1, 0)
     // class 0: tp 1 fp 1 fn 1; class 1: tp 1 fp 2 fn 1; class 2: tp 1 fp 0 fn 1
    const T H[] = {0.7, 0.1, 0.1, 0.1, 0.2, 0.5, 0.2, 0.1, 0.1, 0.6, 0.2, 0.1,
                   0.3, 0.4, 0.2, 0.1, 0.1, 0.2, 0.6, 0.1, 0.5, 0.2, 0.2, 0.1};
    const T Y[] = {1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0};
    const double want[] = {(0.5 + 1.0 / 3 + 1.0) / 3, 0.5, (0.5 + 0.4 + 2.0 / 3) / 3};
    int k = 0;
    for (const char* name : {"precision", "recall", "f1"}) {
      auto metric = make_metric<T>(name);
      metric->prepare(4);
      metric->reset();
      metric->accumulate(ConstView<T>(H, 6, 4), ConstView<T>(Y, 6, 4), nullptr);
      CHECK_CLOSE(metric->result(), want[k++], 1e-15);
    }
  }
  for (const auto& name : metric_names()) {  // higher_is_better is set for every metric
    const EntryInfo& e = MetricRegistry::instance().info(name);
    bool found = false;
    for (const auto& [key, value] : e.properties) found = found || key == "higher_is_better";
    CHECK(found);
  }
  CHECK_THROWS_MSG(make_metric<T>("auc"), ValueError,
                   "unknown metric 'auc'; valid names: accuracy, f1, mae, precision, r2, recall, "
                   "rmse");
}

}  // namespace

int main() {
  RUN_TEST(closed_forms);
  RUN_TEST(plateau);
  RUN_TEST(schedule_factory);
  RUN_TEST(metrics<double>);
  RUN_TEST(metrics<float>);
  return chainrule_test::report();
}
