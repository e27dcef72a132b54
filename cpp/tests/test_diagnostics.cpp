// Per-layer diagnostics of the training loop: training with them is bit for bit training
// without; records come when asked; their figures equal a direct computation from the same
// network's forward and backward passes; diagnose changes nothing.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "chainrule/activation.hpp"
#include "chainrule/error.hpp"
#include "chainrule/loss.hpp"
#include "chainrule/network.hpp"
#include "chainrule/training/diagnostics.hpp"
#include "chainrule/training/trainer.hpp"
#include "test_util.hpp"

using namespace chainrule;
using chainrule_test::Rng;

namespace {

// 3 -> relu 6 -> tanh 5 -> softmax 4, the same weights for every seed
template <class T>
std::unique_ptr<Network<T>> make_net(const std::string& optimizer = "sgd") {
  std::vector<std::unique_ptr<Activation<T>>> acts;
  acts.push_back(make_activation<T>("relu"));
  acts.push_back(make_activation<T>("tanh"));
  acts.push_back(make_activation<T>("softmax"));
  auto net =
      std::make_unique<Network<T>>(std::vector<Index>{3, 6, 5, 4}, std::move(acts),
                                   make_loss<T>("cross_entropy"), make_optimizer<T>(optimizer));
  Rng rng(11);
  for (Index l = 0; l < net->num_layers(); ++l) {
    rng.fill_normal(net->dense(l).W().data, net->dense(l).W().size(), 0.0, 1.5);
    rng.fill_normal(net->dense(l).b().data, net->dense(l).b().size(), 0.0, 0.5);
  }
  net->dense(0).b().data[2] = T(-50);  // unit 3 of layer 1 is dead
  return net;
}

template <class T>
void make_data(Index n, Matrix<T>& X, Matrix<T>& Y) {
  Rng rng(5);
  X.resize(n, 3);
  Y.resize(n, 4);
  rng.fill_normal(X.data(), X.size());
  for (Index i = 0; i < n; ++i) {
    for (Index j = 0; j < 4; ++j) Y(i, j) = T(0);
    Y(i, rng.index(4)) = T(1);
  }
}

template <class T>
std::vector<T> all_params(Network<T>& net) {
  std::vector<T> out;
  for (const auto& p : net.parameters())
    out.insert(out.end(), p.value.data, p.value.data + p.value.size());
  return out;
}

double l2(const double* x, std::size_t n) {
  double q = 0;
  for (std::size_t i = 0; i < n; ++i) q += x[i] * x[i];
  return std::sqrt(q);
}

template <class T>
void training_is_unchanged_and_records_come_when_asked(const std::string& optimizer) {
  Matrix<T> X, Y;
  make_data<T>(23, X, Y);
  FitData<T> d;
  d.X = X.cview();
  d.Y = Y.cview();
  FitOptions opts;
  opts.epochs = 4;
  opts.lr = 0.05;
  opts.batch_size = 5;  // 5 steps per epoch, the last of 3 rows
  auto plain = make_net<T>(optimizer), watched = make_net<T>(optimizer);
  fit(*plain, d, opts);
  std::vector<DiagnosticsRecord> records;
  FitHooks hooks;
  hooks.on_diagnostics = [&](const DiagnosticsRecord& r) { records.push_back(r); };
  opts.diagnostics.on = true;
  opts.diagnostics.histograms = true;
  fit(*watched, d, opts, hooks);
  const auto a = all_params(*plain), b = all_params(*watched);
  CHECK(chainrule_test::check_all_equal("weights", a.data(), b.data(),
                                        static_cast<std::ptrdiff_t>(a.size())));
  CHECK(plain->optimizer().step_count() == watched->optimizer().step_count());
  CHECK(records.size() == 4);
  for (std::size_t k = 0; k < records.size(); ++k) {
    CHECK(records[k].epoch == static_cast<Index>(k));
    CHECK(records[k].step == static_cast<Index>(5 * (k + 1)));
    CHECK(records[k].layers.size() == 3);
    const auto& l1 = records[k].layers[0];
    CHECK(l1.kind == "Dense" && l1.activation == "relu" && l1.dead_fraction.has_value() &&
          !l1.saturated_fraction.has_value());
    CHECK(*l1.dead_fraction >= 1.0 / 6 - 1e-15);  // unit 3 at least
    CHECK(records[k].layers[1].saturated_fraction.has_value() &&
          !records[k].layers[1].dead_fraction);
    CHECK(!records[k].layers[2].dead_fraction && !records[k].layers[2].saturated_fraction);
    for (const auto& l : records[k].layers) {
      CHECK(l.hist_H && l.hist_dZ && l.hist_W && l.hist_W->counts.size() == 20 &&
            l.hist_W->edges.size() == 21);
      double total = 0;
      for (double c : l.hist_W->counts) total += c;
      CHECK(total == static_cast<double>(l.layer == 1 ? 18 : l.layer == 2 ? 30 : 20));
      CHECK(std::isfinite(*l.update_ratio) && *l.update_ratio > 0);
    }
  }
  // every 3 steps: 20 steps -> 6 records
  records.clear();
  opts.diagnostics.every_steps = 3;
  fit(*make_net<T>(optimizer), d, opts, hooks);
  CHECK(records.size() == 6 && records[0].step == 3 && records[0].epoch == 0 &&
        records[5].step == 18 && records[5].epoch == 3);
  opts.diagnostics.bins = 0;
  CHECK_THROWS_MSG(fit(*make_net<T>(optimizer), d, opts, hooks), ValueError,
                   "diagnostics: bins must be in [1, 10000], got 0");
}

// One epoch of one full batch: every figure from the network's own passes, by hand.
template <class T>
void figures_equal_a_direct_computation() {
  Matrix<T> X, Y;
  make_data<T>(17, X, Y);
  auto net = make_net<T>(), ref = make_net<T>();
  const double lr = 0.1;
  ref->compute_gradients(X.cview(), Y.cview());
  std::vector<DiagnosticsRecord> records;
  FitHooks hooks;
  hooks.on_diagnostics = [&](const DiagnosticsRecord& r) { records.push_back(r); };
  FitOptions opts;
  opts.lr = lr;
  opts.diagnostics.on = true;
  FitData<T> d;
  d.X = X.cview();
  d.Y = Y.cview();
  fit(*net, d, opts, hooks);
  CHECK(records.size() == 1);
  const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-12;
  for (Index l = 0; l < 3; ++l) {
    const auto& got = records[0].layers[static_cast<std::size_t>(l)];
    const ConstView<T> H = ref->layer(l).output();
    std::vector<double> h(H.data, H.data + H.size());
    double mean = 0, var = 0;
    for (double v : h) mean += v;
    mean /= static_cast<double>(h.size());
    for (double v : h) var += (v - mean) * (v - mean);
    var /= static_cast<double>(h.size());
    CHECK_CLOSE(got.h_mean, mean, tol);
    CHECK_CLOSE(got.h_std, std::sqrt(var), tol);
    Dense<T>& dense = ref->dense(l);
    std::vector<double> W(dense.W().data, dense.W().data + dense.W().size());
    std::vector<double> dW(dense.dW().data, dense.dW().data + dense.dW().size());
    std::vector<double> db(dense.db().data, dense.db().data + dense.db().size());
    CHECK_CLOSE(*got.dw_norm, l2(dW.data(), dW.size()), tol);
    CHECK_CLOSE(*got.db_norm, l2(db.data(), db.size()), tol);
    // plain SGD: ||W_after - W_before|| = lr ||dW|| (up to rounding of the update)
    const double ratio_tol = std::is_same_v<T, float> ? 1e-4 : 1e-9;
    CHECK_CLOSE(*got.update_ratio, lr * l2(dW.data(), dW.size()) / l2(W.data(), W.size()),
                ratio_tol);
    if (l == 0) {
      double dead = 0;
      for (Index j = 0; j < H.cols; ++j) {
        bool all_zero = true;
        for (Index i = 0; i < H.rows; ++i) all_zero = all_zero && H.data[i * H.cols + j] == T(0);
        dead += all_zero ? 1 : 0;
      }
      CHECK(*got.dead_fraction == dead / static_cast<double>(H.cols));
    }
    if (l == 1) {
      double sat = 0;
      const double lo = -1 + 0.03 * 2, hi = 1 - 0.03 * 2;
      for (double v : h) sat += (v <= lo || v >= hi) ? 1 : 0;
      CHECK(*got.saturated_fraction == sat / static_cast<double>(h.size()));
    }
  }
  // W after the update
  const auto& l1 = records[0].layers[0];
  const ConstView<T> W1 = net->dense(0).W();
  std::vector<double> w1(W1.data, W1.data + W1.size());
  CHECK_CLOSE(*l1.w_norm, l2(w1.data(), w1.size()), tol);
}

template <class T>
void diagnose_changes_nothing() {
  Matrix<T> X, Y;
  make_data<T>(9, X, Y);
  auto net = make_net<T>("adam");
  net->compute_gradients(X.cview(), Y.cview());
  std::vector<T> grads;
  for (const auto& p : net->parameters())
    grads.insert(grads.end(), p.grad.data, p.grad.data + p.grad.size());
  const auto before = all_params(*net);
  const auto passes = net->passes();
  Matrix<T> X2, Y2;
  make_data<T>(4, X2, Y2);
  DiagnosticsOptions opts;
  opts.histograms = true;
  const DiagnosticsRecord r = diagnose(*net, X2.cview(), Y2.cview(), opts);
  CHECK(r.layers.size() == 3 && !r.layers[0].update_ratio && r.layers[0].hist_dZ);
  const DiagnosticsRecord with_lr = diagnose(*net, X2.cview(), Y2.cview(), opts, 0.01);
  CHECK_CLOSE(*with_lr.layers[0].update_ratio,
              0.01 * *with_lr.layers[0].dw_norm / *with_lr.layers[0].w_norm, 1e-12);
  const auto after = all_params(*net);
  CHECK(chainrule_test::check_all_equal("weights", before.data(), after.data(),
                                        static_cast<std::ptrdiff_t>(before.size())));
  std::vector<T> grads2;
  for (const auto& p : net->parameters())
    grads2.insert(grads2.end(), p.grad.data, p.grad.data + p.grad.size());
  CHECK(chainrule_test::check_all_equal("gradients", grads.data(), grads2.data(),
                                        static_cast<std::ptrdiff_t>(grads.size())));
  CHECK(net->passes() == passes);
  Matrix<T> bad(4, 2);
  CHECK_THROWS_MSG(diagnose(*net, bad.cview(), Y2.cview(), opts), ValueError, "diagnose");
}

}  // namespace

int main() {
  RUN_TEST([] { training_is_unchanged_and_records_come_when_asked<double>("sgd"); });
  RUN_TEST([] { training_is_unchanged_and_records_come_when_asked<float>("sgd"); });
  RUN_TEST([] { training_is_unchanged_and_records_come_when_asked<double>("adam"); });
  RUN_TEST(figures_equal_a_direct_computation<double>);
  RUN_TEST(figures_equal_a_direct_computation<float>);
  RUN_TEST(diagnose_changes_nothing<double>);
  RUN_TEST(diagnose_changes_nothing<float>);
  return chainrule_test::report();
}
