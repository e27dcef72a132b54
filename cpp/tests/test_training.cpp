// fit's training toolkit at the Network level: sample weights (weight 2 = the row twice),
// validation loss and metrics, schedules (equal to stepping by hand with the schedule's
// rates), optimizer state carried across fit calls, and the argument checks.
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "chainrule/activation.hpp"
#include "chainrule/error.hpp"
#include "chainrule/loss.hpp"
#include "chainrule/network.hpp"
#include "chainrule/schedules/all.hpp"
#include "chainrule/training/gradient_reducer.hpp"
#include "chainrule/training/trainer.hpp"
#include "chainrule/training/weight_scale.hpp"
#include "test_util.hpp"

using namespace chainrule;
using chainrule_test::Rng;

namespace {

template <class T>
std::unique_ptr<Network<T>> make_net(const std::string& optimizer,
                                     const OptimizerParams& params = {}) {
  std::vector<std::unique_ptr<Activation<T>>> acts;
  acts.push_back(make_activation<T>("tanh"));
  acts.push_back(make_activation<T>("softmax"));
  auto net = std::make_unique<Network<T>>(std::vector<Index>{3, 5, 4}, std::move(acts),
                                          make_loss<T>("cross_entropy"),
                                          make_optimizer<T>(optimizer, params));
  Rng rng(7);
  for (Index l = 0; l < net->num_layers(); ++l) {
    rng.fill_normal(net->dense(l).W().data, net->dense(l).W().size(), 0.0, 0.6);
    rng.fill_normal(net->dense(l).b().data, net->dense(l).b().size(), 0.0, 0.1);
  }
  return net;
}

template <class T>
void make_data(Index n, Matrix<T>& X, Matrix<T>& Y, std::uint64_t seed) {
  Rng rng(seed);
  X.resize(n, 3);
  Y.resize(n, 4);
  rng.fill_normal(X.data(), X.size());
  for (Index i = 0; i < n; ++i) {
    for (Index j = 0; j < 4; ++j) Y(i, j) = T(0);
    Y(i, rng.index(4)) = T(1);
  }
}

template <class T>
std::vector<T> params(Network<T>& net) {
  std::vector<T> out;
  for (Index l = 0; l < net.num_layers(); ++l) {
    auto W = net.dense(l).W(), b = net.dense(l).b();
    out.insert(out.end(), W.data, W.data + W.size());
    out.insert(out.end(), b.data, b.data + b.size());
  }
  return out;
}

template <class T>
double tol() {
  return std::is_same_v<T, float> ? 1e-5 : 1e-13;
}

// Full batch: weight 2 on a row trains exactly like that row appearing twice.
template <class T>
void weights_are_repeated_rows(const std::string& optimizer) {
  Matrix<T> X, Y;
  make_data<T>(9, X, Y, 3);
  Matrix<T> w(9, 1), X2(12, 3), Y2(12, 4);
  Index r = 0;
  for (Index i = 0; i < 9; ++i) {
    const int copies = i % 3 == 0 ? 2 : 1;  // rows 0, 3, 6 weigh 2
    w.data()[i] = T(copies);
    for (int c = 0; c < copies; ++c, ++r) {
      for (Index j = 0; j < 3; ++j) X2(r, j) = X(i, j);
      for (Index j = 0; j < 4; ++j) Y2(r, j) = Y(i, j);
    }
  }
  auto a = make_net<T>(optimizer), b = make_net<T>(optimizer);
  FitOptions opts;
  opts.epochs = 15;
  opts.lr = 0.05;
  FitData<T> d;
  d.X = X.cview();
  d.Y = Y.cview();
  d.sample_weight = w.cview();
  const FitResult ra = fit(*a, d, opts);
  const std::vector<double> rb = fit(*b, X2.cview(), Y2.cview(), opts);
  const auto pa = params(*a), pb = params(*b);
  chainrule_test::check_all_close(optimizer + ": weights 2 vs repeated rows", pa.data(), pb.data(),
                                  static_cast<std::ptrdiff_t>(pa.size()), tol<T>(), 1e-3);
  chainrule_test::check_all_close(optimizer + ": weighted loss history", ra.loss.data(), rb.data(),
                                  15, tol<T>());
}

// Validation: val_loss and val metrics of each epoch are those of the weights after it.
template <class T>
void validation_is_evaluated_after_each_epoch() {
  Matrix<T> X, Y, Xv, Yv;
  make_data<T>(20, X, Y, 4);
  make_data<T>(2500, Xv, Yv, 5);  // more rows than one evaluation chunk
  auto net = make_net<T>("adam"), twin = make_net<T>("adam");
  FitOptions opts;
  opts.epochs = 3;
  opts.lr = 0.01;
  opts.batch_size = 6;
  opts.metrics = {"accuracy"};
  FitData<T> d;
  d.X = X.cview();
  d.Y = Y.cview();
  d.X_val = Xv.cview();
  d.Y_val = Yv.cview();
  const FitResult r = fit(*net, d, opts);
  CHECK(r.val_loss.size() == 3 && r.val_metrics.size() == 1 && r.val_metrics[0].size() == 3);
  CHECK(r.metrics.size() == 1 && r.metrics[0].size() == 3);
  FitOptions one = opts;
  one.epochs = 1;
  for (Index e = 0; e < 3; ++e) {
    fit(*twin, d.X, d.Y, one);  // Adam's state carries over from call to call
    CHECK_CLOSE(r.val_loss[static_cast<std::size_t>(e)], twin->loss_value(Xv.cview(), Yv.cview()),
                tol<T>());
  }
  const auto pn = params(*net), pt = params(*twin);
  chainrule_test::check_all_equal("3 epochs vs 3 calls of 1 epoch", pn.data(), pt.data(),
                                  static_cast<std::ptrdiff_t>(pn.size()));
  // accuracy on the validation set, by hand from predict()
  Matrix<T> P(2500, 4);
  net->predict(Xv.cview(), P.view());
  Index right = 0;
  for (Index i = 0; i < 2500; ++i) {
    Index ap = 0, ay = 0;
    for (Index j = 1; j < 4; ++j) {
      if (P(i, j) > P(i, ap)) ap = j;
      if (Yv(i, j) > Yv(i, ay)) ay = j;
    }
    right += ap == ay;
  }
  CHECK_CLOSE(r.val_metrics[0][2], static_cast<double>(right) / 2500.0, 1e-15);
}

// evaluate: the (weighted) loss and metrics of fit's validation pass, in any chunk size, with
// the parameters and the optimizer left as they were; its arguments are checked first.
template <class T>
void evaluate_measures_without_changing_the_model() {
  Matrix<T> X, Y;
  make_data<T>(2100, X, Y, 12);  // more rows than one default chunk
  auto net = make_net<T>("adam");
  FitOptions opts;
  opts.epochs = 1;
  opts.lr = 0.01;
  fit(*net, X.cview().row_range(0, 30), Y.cview().row_range(0, 30), opts);  // Adam has state
  const auto before = params(*net);
  std::vector<T> w(2100);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = static_cast<T>(0.5 + 0.25 * double(i % 4));
  const ConstView<T> wv(w.data(), 2100, 1);
  const std::vector<std::string> names = {"accuracy", "f1", "mae"};
  const Evaluation plain = Trainer<T>(*net).evaluate(X.cview(), Y.cview(), {}, names);
  CHECK(plain.metrics.size() == 3);
  CHECK_CLOSE(plain.loss, net->loss_value(X.cview(), Y.cview()), tol<T>());
  // the validation pass of fit with lr ~ 0 measures the same
  FitData<T> d;
  d.X = X.cview().row_range(0, 1);
  d.Y = Y.cview().row_range(0, 1);
  d.X_val = X.cview();
  d.Y_val = Y.cview();
  d.val_weight = wv;
  const Evaluation weighted = Trainer<T>(*net).evaluate(X.cview(), Y.cview(), wv, names);
  for (Index chunk : {1, 7, 2100}) {
    const Evaluation e = Trainer<T>(*net).evaluate(X.cview(), Y.cview(), wv, names, chunk);
    CHECK_CLOSE(e.loss, weighted.loss, tol<T>());
    for (std::size_t k = 0; k < names.size(); ++k)
      CHECK_CLOSE(e.metrics[k], weighted.metrics[k], tol<T>());
  }
  const auto after = params(*net);
  chainrule_test::check_all_equal("weights after evaluate", after.data(), before.data(),
                                  static_cast<std::ptrdiff_t>(after.size()));
  CHECK(net->optimizer().step_count() == 1);
  auto twin = make_net<T>("sgd");
  FitOptions tiny = opts;
  tiny.lr = 1e-300;  // the update rounds away: the weights stay those evaluated
  tiny.metrics = names;
  const auto before_twin = params(*twin);
  const FitResult r = fit(*twin, d, tiny);
  chainrule_test::check_all_equal("weights after a fit with lr 1e-300", params(*twin).data(),
                                  before_twin.data(),
                                  static_cast<std::ptrdiff_t>(before_twin.size()));
  const Evaluation e = Trainer<T>(*twin).evaluate(X.cview(), Y.cview(), wv, names);
  CHECK_CLOSE(e.loss, r.val_loss[0], tol<T>());
  for (std::size_t k = 0; k < names.size(); ++k)
    CHECK_CLOSE(e.metrics[k], r.val_metrics[k][0], tol<T>());
  // errors, before anything is computed
  Trainer<T> t(*net);
  CHECK_THROWS_MSG(t.evaluate(X.cview(), Y.cview(), {}, {"auc"}), ValueError,
                   "unknown metric 'auc'");
  CHECK_THROWS_MSG(t.evaluate(X.cview(), Y.cview(), {}, {}, -1), ValueError,
                   "evaluate: batch_size must be >= 1, got -1");
  CHECK_THROWS_MSG(t.evaluate(X.cview(), Y.cview().row_range(0, 5), {}, {}), ValueError,
                   "evaluate: X has 2100 rows but Y has 5");
  const T neg[] = {1, -1};
  CHECK_THROWS_MSG(
      t.evaluate(X.cview().row_range(0, 2), Y.cview().row_range(0, 2), ConstView<T>(neg, 2, 1), {}),
      ValueError, "evaluate: sample_weight must be finite and >= 0, got -1 at row 1");
}

// A schedule's rates equal stepping by hand with them; history records them.
template <class T>
void schedule_drives_the_rate() {
  Matrix<T> X, Y;
  make_data<T>(10, X, Y, 6);
  auto net = make_net<T>("sgd", {{"momentum", 0.9}}),
       twin = make_net<T>("sgd", {{"momentum", 0.9}});
  StepLR step(2, 0.5);
  FitOptions opts;
  opts.epochs = 5;
  opts.lr = 0.2;
  opts.schedule = &step;
  const FitResult r = fit(*net, FitData<T>{X.cview(), Y.cview(), {}, {}, {}, {}}, opts);
  const double want[] = {0.2, 0.2, 0.1, 0.1, 0.05};
  for (int e = 0; e < 5; ++e) {
    CHECK_CLOSE(r.lr[static_cast<std::size_t>(e)], want[e], 1e-15);
    twin->compute_gradients(X.cview(), Y.cview());
    twin->step(want[e]);
  }
  const auto pn = params(*net), pt = params(*twin);
  chainrule_test::check_all_equal("StepLR vs stepping by hand", pn.data(), pt.data(),
                                  static_cast<std::ptrdiff_t>(pn.size()));
}

// A batch whose weights are all 0 is skipped: no optimizer step.
template <class T>
void zero_weight_batch_is_skipped() {
  Matrix<T> X, Y, w(8, 1);
  make_data<T>(8, X, Y, 8);
  for (Index i = 0; i < 8; ++i) w.data()[i] = i < 4 ? T(0) : T(1);
  auto net = make_net<T>("adam");
  FitOptions opts;
  opts.epochs = 2;
  opts.batch_size = 4;
  FitData<T> d{X.cview(), Y.cview(), w.cview(), {}, {}, {}};
  const FitResult r = fit(*net, d, opts);
  CHECK(net->optimizer().step_count() == 2);
  CHECK(std::isfinite(r.loss[0]));
}

template <class T>
void bad_arguments_leave_the_network_unchanged() {
  Matrix<T> X, Y, Xv, Yv;
  make_data<T>(6, X, Y, 9);
  make_data<T>(4, Xv, Yv, 10);
  auto net = make_net<T>("adam");
  const auto before = params(*net);
  FitOptions opts;
  opts.epochs = 3;
  const T neg[] = {1, 1, -1, 1, 1, 1}, nan[] = {1, 1, 1, 1, std::numeric_limits<T>::quiet_NaN(), 1},
          zeros[] = {0, 0, 0, 0, 0, 0};
  auto fit_w = [&](const T* w, Index n) {
    FitData<T> d{X.cview(), Y.cview(), ConstView<T>(w, n, 1), {}, {}, {}};
    fit(*net, d, opts);
  };
  CHECK_THROWS_MSG(fit_w(neg, 6), ValueError,
                   "fit: sample_weight must be finite and >= 0, got -1 at row 2");
  CHECK_THROWS_MSG(fit_w(nan, 6), ValueError, "got nan at row 4");
  CHECK_THROWS_MSG(fit_w(zeros, 6), ValueError, "sample_weight sums to 0");
  CHECK_THROWS_MSG(fit_w(neg, 5), ValueError, "fit: sample_weight has 5 values for 6 rows");
  FitData<T> d{X.cview(), Y.cview(), {}, Xv.cview().row_range(0, 4), Yv.cview().row_range(0, 3),
               {}};
  CHECK_THROWS_MSG(fit(*net, d, opts), ValueError,
                   "fit: validation_data: X has 4 rows but Y has 3");
  Matrix<T> Xw(4, 2);
  d.X_val = Xw.cview();
  d.Y_val = Yv.cview();
  CHECK_THROWS_MSG(
      fit(*net, d, opts), ValueError,
      "fit: validation_data: layer 1 expects 3 input features, got X with shape (4, 2)");
  ReduceLROnPlateau plateau;
  FitOptions p = opts;
  p.schedule = &plateau;
  CHECK_THROWS_MSG(fit(*net, X.cview(), Y.cview(), p), ValueError, "monitors the validation loss");
  FitOptions m = opts;
  m.metrics = {"auc"};
  CHECK_THROWS_MSG(fit(*net, X.cview(), Y.cview(), m), ValueError, "unknown metric 'auc'");
  const auto after = params(*net);
  chainrule_test::check_all_equal("weights after failed fits", after.data(), before.data(),
                                  static_cast<std::ptrdiff_t>(after.size()));
  CHECK(net->optimizer().step_count() == 0);
  // optimizer state: shapes are checked per tensor
  const T zero5[15] = {};
  using Named = std::vector<std::pair<std::string, std::vector<ConstView<T>>>>;
  const ConstView<T> W1(zero5, 5, 3), b1(zero5, 1, 5), W2(zero5, 5, 4), b2(zero5, 1, 4);
  CHECK_THROWS_MSG(net->set_optimizer_state(
                       1, Named{{"exp_avg", {W1, b1, W2, b2}}, {"exp_avg_sq", {W1, b1, W2, b2}}}),
                   ValueError, "'exp_avg' of W1 must have shape (3, 5), got (5, 3)");
  // a new optimizer starts from fresh state
  fit(*net, X.cview(), Y.cview(), opts);
  CHECK(net->optimizer().step_count() == 3);
  net->set_optimizer(make_optimizer<T>("adam"));
  CHECK(net->optimizer().step_count() == 0 && net->optimizer().buffer(0, 0).data[0] == T(0));
}

}  // namespace

// Weights far from 1 are scaled by a power of two that brings the largest into [0.5, 1)
// (the scale clamped to [2^-1000, 2^1000]); those in [2^-256, 2^257) are left alone.
void weight_scale_brings_far_weights_near_one() {
  const double tiny[] = {0, 3 * 0x1p-1074, 0x1p-1074}, huge[] = {1e307, 0.5, 0};
  CHECK(largest_weight_exponent(tiny, 3) == -1073);
  CHECK(largest_weight_exponent(huge, 3) == 1019);
  CHECK(largest_weight_exponent(tiny, 1) == kNoWeightExponent);
  CHECK(weight_scale(kNoWeightExponent) == 1);
  for (int e : {-256, -1, 0, 100, 256}) CHECK(weight_scale(e) == 1);
  CHECK(weight_scale(1019) == 0x1p-1000);  // 1e307 -> 9.3e5 (2^-1020 clamped to 2^-1000)
  CHECK(weight_scale(1000) == 0x1p-1000);
  CHECK(weight_scale(257) == 0x1p-258);
  CHECK(weight_scale(-257) == 0x1p256);
  CHECK(weight_scale(-1073) == 0x1p1000);  // (2^1072 would not fit a double)
  Matrix<double> w(1, 3), into;
  w(0, 0) = 1e307;
  w(0, 1) = 0.5;
  w(0, 2) = 0;
  const ConstView<double> s = scaled_weights(w.cview(), weight_scale(1019), into);
  CHECK(s.data == into.data() && s(0, 0) == 1e307 * 0x1p-1000 && s(0, 1) == 0x1p-1001 &&
        s(0, 2) == 0);
  CHECK(scaled_weights(w.cview(), 1.0, into).data == w.data());  // no copy
}

int main() {
  RUN_TEST(weight_scale_brings_far_weights_near_one);
  RUN_TEST([] { weights_are_repeated_rows<double>("sgd"); });
  RUN_TEST([] { weights_are_repeated_rows<double>("adam"); });
  RUN_TEST([] { weights_are_repeated_rows<float>("rmsprop"); });
  RUN_TEST(validation_is_evaluated_after_each_epoch<double>);
  RUN_TEST(validation_is_evaluated_after_each_epoch<float>);
  RUN_TEST(evaluate_measures_without_changing_the_model<double>);
  RUN_TEST(evaluate_measures_without_changing_the_model<float>);
  RUN_TEST(schedule_drives_the_rate<double>);
  RUN_TEST(zero_weight_batch_is_skipped<double>);
  RUN_TEST(bad_arguments_leave_the_network_unchanged<double>);
  RUN_TEST(bad_arguments_leave_the_network_unchanged<float>);
  return chainrule_test::report();
}
