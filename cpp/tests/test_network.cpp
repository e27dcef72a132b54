// Network: whole-network gradients (its own gradient_check and an independent finite
// difference here), the SGD step, fit (decrease, hooks, shuffling, divergence, errors),
// construction and call-order errors.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "chainrule/activation.hpp"
#include "chainrule/error.hpp"
#include "chainrule/kernels/elementwise.hpp"
#include "chainrule/kernels/gemm.hpp"
#include "chainrule/kernels/small_step.hpp"
#include "chainrule/loss.hpp"
#include "chainrule/network.hpp"
#include "chainrule/training/gradient_reducer.hpp"
#include "chainrule/training/trainer.hpp"
#include "test_util.hpp"

using namespace chainrule;
using chainrule_test::check_all_close;
using chainrule_test::check_all_equal;
using chainrule_test::dtype_name;
using chainrule_test::Rng;

namespace {

// What a poll throws for Ctrl-C in these tests.
struct Interrupt : std::runtime_error {
  Interrupt() : std::runtime_error("interrupted") {}
};

struct Spec {
  std::vector<Index> sizes;
  std::vector<std::string> acts;
  std::string loss;
};

std::string describe(const Spec& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.sizes.size(); ++i)
    out += (i ? "," : "") + std::to_string(s.sizes[i]);
  out += "] ";
  for (std::size_t i = 0; i < s.acts.size(); ++i) out += (i ? "/" : "") + s.acts[i];
  return out + " + " + s.loss;
}

template <class T>
std::vector<std::unique_ptr<Activation<T>>> activations(const std::vector<std::string>& names) {
  std::vector<std::unique_ptr<Activation<T>>> acts;
  for (const auto& n : names) acts.push_back(make_activation<T>(n));
  return acts;
}

// The C++ Network starts from zeros; give it W ~ N(0, 1/sqrt(n_in)) (standard deviation)
// and b ~ N(0, 0.1) from a fixed seed, so two nets built with the same seed are identical.
template <class T>
std::unique_ptr<Network<T>> make_net(const Spec& s, std::uint64_t seed) {
  auto net = std::make_unique<Network<T>>(s.sizes, activations<T>(s.acts), make_loss<T>(s.loss));
  Rng rng(seed);
  for (Index l = 0; l < net->num_layers(); ++l) {
    auto& layer = net->dense(l);
    rng.fill_normal(layer.W().data, layer.W().size(), 0.0,
                    1.0 / std::sqrt(static_cast<double>(layer.n_in())));
    rng.fill_normal(layer.b().data, layer.b().size(), 0.0, 0.1);
  }
  return net;
}

// X (m, n0) ~ N(0, 1); Y (m, nL) valid for the loss: one-hot rows (cross-entropy),
// values in [0, 1] (binary cross-entropy) or N(0, 1) (mse).
template <class T>
void make_data(const Spec& s, Index m, std::uint64_t seed, Matrix<T>& X, Matrix<T>& Y) {
  Rng rng(seed);
  const Index n0 = s.sizes.front(), nL = s.sizes.back();
  X.resize(m, n0);
  Y.resize(m, nL);
  rng.fill_normal(X);
  std::fill(Y.data(), Y.data() + Y.size(), T(0));
  if (s.loss == "cross_entropy") {
    for (Index i = 0; i < m; ++i) Y(i, rng.index(nL)) = T(1);
  } else if (s.loss == "binary_cross_entropy") {
    for (Index i = 0; i < Y.size(); ++i) Y.data()[i] = T(0.25) * static_cast<T>(rng.index(5));
  } else {
    rng.fill_normal(Y);
  }
}

// W1, b1, W2, b2, ... copied out.
template <class T>
std::vector<std::vector<T>> params(Network<T>& net) {
  std::vector<std::vector<T>> p;
  for (Index l = 0; l < net.num_layers(); ++l) {
    auto& layer = net.dense(l);
    p.emplace_back(layer.W().data, layer.W().data + layer.W().size());
    p.emplace_back(layer.b().data, layer.b().data + layer.b().size());
  }
  return p;
}

// dW1, db1, dW2, db2, ... copied out.
template <class T>
std::vector<std::vector<T>> grads(Network<T>& net) {
  std::vector<std::vector<T>> g;
  for (Index l = 0; l < net.num_layers(); ++l) {
    auto& layer = net.dense(l);
    g.emplace_back(layer.dW().data, layer.dW().data + layer.dW().size());
    g.emplace_back(layer.db().data, layer.db().data + layer.db().size());
  }
  return g;
}

std::string tensor_name(std::size_t t) {
  return (t % 2 == 0 ? "W" : "b") + std::to_string(t / 2 + 1);
}

template <class T>
void check_params_equal(const std::string& what, const std::vector<std::vector<T>>& got,
                        const std::vector<std::vector<T>>& want) {
  if (!CHECK(got.size() == want.size())) return;
  for (std::size_t t = 0; t < got.size(); ++t)
    check_all_equal(what + " " + tensor_name(t), got[t].data(), want[t].data(),
                    static_cast<Index>(got[t].size()));
}

template <class T>
bool all_finite(const std::vector<std::vector<T>>& p) {
  for (const auto& v : p)
    for (T x : v)
      if (!std::isfinite(x)) return false;
  return true;
}

const std::vector<Spec>& grad_specs() {
  static const std::vector<Spec> specs = {
      {{2, 10, 8, 5, 1}, {"relu", "tanh", "relu", "linear"}, "mse"},
      {{2, 15, 1}, {"sigmoid", "linear"}, "mse"},
      {{4, 6, 6, 3}, {"tanh", "elu", "softmax"}, "cross_entropy"},
      {{3, 5, 2}, {"gelu", "sigmoid"}, "binary_cross_entropy"},
      // softmax under mse: the output delta goes through softmax's Jacobian-vector product
      {{3, 7, 7, 7, 2}, {"silu", "softplus", "leaky_relu", "softmax"}, "mse"},
      {{3, 4, 2}, {"linear", "linear"}, "mse"},
      {{5, 3}, {"linear"}, "mse"},
      {{1, 1}, {"linear"}, "mse"},
      {{6, 9, 4}, {"softmax", "tanh"}, "mse"},  // softmax in a hidden layer
      {{3, 8, 8, 4}, {"leaky_relu", "elu", "softmax"}, "cross_entropy"},
      {{2, 6, 6, 1}, {"softplus", "gelu", "sigmoid"}, "binary_cross_entropy"},
  };
  return specs;
}

// Network::gradient_check in double: central differences with eps = 1e-6 are accurate to
// ~1e-10 relative (truncation eps^2 ~ 1e-12, rounding 1e-16 / 1e-6), so 1e-6 separates a
// correct gradient from a wrong one (a wrong term gives O(1e-2) or worse) with a wide margin.
void test_gradient_check_double() {
  std::uint64_t seed = 100;
  for (const auto& s : grad_specs()) {
    auto net = make_net<double>(s, seed++);
    Matrix<double> X, Y;
    make_data(s, 8, seed++, X, Y);
    const auto before = params(*net);
    const std::vector<double> errors = net->gradient_check(X.cview(), Y.cview(), 1e-6);
    const std::size_t L = s.sizes.size() - 1;
    if (!CHECK(errors.size() == 2 * L)) continue;
    double worst = 0;
    std::size_t at = 0;
    for (std::size_t t = 0; t < errors.size(); ++t) {
      if (!(errors[t] <= worst)) {
        worst = errors[t];
        at = t;
      }
    }
    if (chainrule_test::verbose())
      std::printf("gradient_check %s double: max relative error %.3e (%s)\n", describe(s).c_str(),
                  worst, tensor_name(at).c_str());
    chainrule_test::record(worst < 1e-6, __FILE__, __LINE__,
                           "gradient_check " + describe(s) + " double: max relative error " +
                               chainrule_test::fmt(worst) + " (" + tensor_name(at) + ") >= 1e-6");
    // gradient_check restores the parameters exactly and leaves the backprop gradients.
    check_params_equal("gradient_check restores parameters " + describe(s), params(*net), before);
    const auto g_after = grads(*net);
    net->compute_gradients(X.cview(), Y.cview());
    check_params_equal("gradient_check leaves the gradients " + describe(s), g_after, grads(*net));
    // ... and the check is not vacuous: the gradient is not identically zero.
    double norm = 0;
    for (const auto& g : g_after)
      for (double x : g) norm += x * x;
    CHECK(norm > 1e-12);
  }
}

// float: eps = 1e-2 (a step of ~1e5 float ulps of an O(1) weight) keeps the rounding of the
// float forward pass (~1e-7 relative) below 1e-4 of the gradient and the truncation error
// ~eps^2 ~ 1e-4; 1e-2 is loose but still fails any wrong gradient. Smooth activations only,
// since a 1e-2 step would often straddle a relu kink.
void test_gradient_check_float() {
  const std::vector<Spec> specs = {
      {{2, 10, 8, 1}, {"tanh", "gelu", "linear"}, "mse"},
      {{4, 6, 3}, {"sigmoid", "softmax"}, "cross_entropy"},
      {{3, 5, 2}, {"silu", "sigmoid"}, "binary_cross_entropy"},
      {{3, 5, 3}, {"softplus", "softmax"}, "mse"},
  };
  std::uint64_t seed = 300;
  for (const auto& s : specs) {
    auto net = make_net<float>(s, seed++);
    Matrix<float> X, Y;
    make_data(s, 8, seed++, X, Y);
    const auto errors = net->gradient_check(X.cview(), Y.cview(), 1e-2);
    double worst = 0;
    for (double e : errors) worst = std::max(worst, e);
    if (chainrule_test::verbose())
      std::printf("gradient_check %s float: max relative error %.3e\n", describe(s).c_str(), worst);
    chainrule_test::record(errors.size() == 2 * (s.sizes.size() - 1) && worst < 1e-2, __FILE__,
                           __LINE__,
                           "gradient_check " + describe(s) + " float: max relative error " +
                               chainrule_test::fmt(worst) + " >= 1e-2");
  }
}

// Central differences computed here, not by gradient_check: perturb each W and b element by
// +-eps, re-evaluate loss_value, compare with the backprop dW, db element by element.
// eps = 1e-5: truncation ~eps^2 ~ 1e-10, rounding ~1e-15 / 2e-5 ~ 5e-11 (absolute, loss O(1));
// measured relative to max(|g|, 1e-3), a tolerance of 1e-6 allows 1e-9 absolute near zero.
void test_independent_finite_differences() {
  const Spec specs[] = {
      {{2, 10, 8, 5, 1}, {"relu", "tanh", "relu", "linear"}, "mse"},
      {{4, 6, 6, 3}, {"tanh", "elu", "softmax"}, "cross_entropy"},
      {{3, 7, 7, 7, 2}, {"silu", "softplus", "leaky_relu", "softmax"}, "mse"},
  };
  std::uint64_t seed = 500;
  for (const auto& s : specs) {
    auto net = make_net<double>(s, seed++);
    Matrix<double> X, Y;
    make_data(s, 8, seed++, X, Y);
    net->compute_gradients(X.cview(), Y.cview());
    const auto backprop = grads(*net);
    const double eps = 1e-5;
    for (Index l = 0; l < net->num_layers(); ++l) {
      for (int k = 0; k < 2; ++k) {
        MatrixView<double> p = k == 0 ? net->dense(l).W() : net->dense(l).b();
        std::vector<double> numeric(static_cast<std::size_t>(p.size()));
        for (Index i = 0; i < p.size(); ++i) {
          const double saved = p.data[i];
          p.data[i] = saved + eps;
          const double up = p.data[i], lp = net->loss_value(X.cview(), Y.cview());
          p.data[i] = saved - eps;
          const double down = p.data[i], lm = net->loss_value(X.cview(), Y.cview());
          p.data[i] = saved;
          numeric[static_cast<std::size_t>(i)] = (lp - lm) / (up - down);
        }
        const std::size_t t = static_cast<std::size_t>(2 * l + k);
        check_all_close("independent finite differences " + describe(s) + " d" + tensor_name(t),
                        backprop[t].data(), numeric.data(), p.size(), 1e-6, 1e-3);
      }
    }
  }
}

// step(lr) is exactly W -= T(lr) * dW, b -= T(lr) * db (the build uses -ffp-contract=off,
// so neither side fuses the multiply-add and the results agree bit for bit).
template <class T>
void test_step() {
  const std::string dt = dtype_name<T>();
  const Spec s{{3, 5, 4, 2}, {"tanh", "relu", "linear"}, "mse"};
  auto net = make_net<T>(s, 7);
  Matrix<T> X, Y;
  make_data(s, 6, 8, X, Y);
  // no backward pass yet: step(lr) has nothing to apply (the buffer holds zeros)
  CHECK_THROWS_MSG(net->step(0.1), ValueError, "no gradients");
  net->compute_gradients(X.cview(), Y.cview());
  const auto p0 = params(*net);
  const auto g = grads(*net);
  const double lr = 0.1;
  net->step(lr);
  auto want = p0;
  for (std::size_t t = 0; t < want.size(); ++t)
    for (std::size_t i = 0; i < want[t].size(); ++i)
      want[t][i] = p0[t][i] - static_cast<T>(lr) * g[t][i];  // W - lr dW
  check_params_equal("step(lr) " + dt, params(*net), want);
  CHECK(p0 != want);  // the step moved something

  // step(dW, db, lr) with explicit gradients (here 2 * the backprop ones).
  std::vector<Matrix<T>> store;
  std::vector<ConstView<T>> dW, db;
  for (Index l = 0; l < net->num_layers(); ++l) {
    for (int k = 0; k < 2; ++k) {
      const auto& src = g[static_cast<std::size_t>(2 * l + k)];
      Matrix<T> m(k == 0 ? net->dense(l).n_in() : 1, net->dense(l).n_out());
      for (Index i = 0; i < m.size(); ++i) m.data()[i] = T(2) * src[static_cast<std::size_t>(i)];
      store.push_back(std::move(m));
    }
  }
  for (Index l = 0; l < net->num_layers(); ++l) {
    dW.push_back(store[static_cast<std::size_t>(2 * l)].cview());
    db.push_back(store[static_cast<std::size_t>(2 * l + 1)].cview());
  }
  const auto p1 = params(*net);
  net->step(dW, db, 0.05);
  for (std::size_t t = 0; t < want.size(); ++t)
    for (std::size_t i = 0; i < want[t].size(); ++i)
      want[t][i] = p1[t][i] - static_cast<T>(0.05) * store[t].data()[i];
  check_params_equal("step(dW, db, lr) " + dt, params(*net), want);

  // Bad learning rates and gradients are rejected without touching the parameters.
  const auto p2 = params(*net);
  CHECK_THROWS(net->step(0.0), ValueError);
  CHECK_THROWS(net->step(-0.1), ValueError);
  CHECK_THROWS(net->step(std::nan("")), ValueError);
  CHECK_THROWS(net->step(HUGE_VAL), ValueError);
  std::vector<ConstView<T>> short_dW(dW.begin(), dW.end() - 1);
  CHECK_THROWS(net->step(short_dW, db, 0.1), ValueError);
  std::vector<ConstView<T>> swapped = dW;
  std::swap(swapped[0], swapped[1]);
  CHECK_THROWS_MSG(net->step(swapped, db, 0.1), ValueError, "layer 1");
  store[1].data()[0] = std::numeric_limits<T>::quiet_NaN();  // db1[0]
  CHECK_THROWS_MSG(net->step(dW, db, 0.1), ValueError, "NaN");
  check_params_equal("rejected steps leave the parameters " + dt, params(*net), p2);
}

// A small regression problem: y = sin(2 x0) + 0.5 x1 on 32 points.
template <class T>
void regression_data(Matrix<T>& X, Matrix<T>& Y, Index n = 32) {
  Rng rng(77);
  X.resize(n, 2);
  Y.resize(n, 1);
  rng.fill_uniform(X, -1.0, 1.0);
  for (Index i = 0; i < n; ++i)
    Y(i, 0) = static_cast<T>(std::sin(2.0 * double(X(i, 0))) + 0.5 * double(X(i, 1)));
}

template <class T>
void test_fit_decreases() {
  const std::string dt = dtype_name<T>();
  const Spec s{{2, 8, 1}, {"tanh", "linear"}, "mse"};
  Matrix<T> X, Y;
  regression_data(X, Y);
  {
    auto net = make_net<T>(s, 11);
    auto ref = make_net<T>(s, 11);
    const double L0 = ref->loss_value(X.cview(), Y.cview());
    FitOptions opts;
    opts.epochs = 300;
    opts.lr = 0.1;
    net->compute_gradients(X.cview(), Y.cview());
    const auto losses = fit(*net, X.cview(), Y.cview(), opts);
    // fit's fused SGD steps keep no gradients, and the last backward pass's are gone
    CHECK_THROWS_MSG(net->step(0.1), ValueError, "no gradients");
    if (CHECK(losses.size() == 300)) {
      // Full batch: epoch 0's loss is the loss before any step.
      CHECK_CLOSE(losses[0], L0, 1e-12);
      CHECK(losses.back() < 0.2 * losses.front());
      std::size_t rises = 0;
      for (std::size_t e = 1; e < losses.size(); ++e) rises += losses[e] > losses[e - 1];
      chainrule_test::record(rises == 0, __FILE__, __LINE__,
                             "full-batch gradient descent with a small lr is monotone " + dt +
                                 ": the loss rose in " + std::to_string(rises) + " epochs");
      std::printf("fit %s: full-batch loss %.4g -> %.4g\n", dt.c_str(), losses.front(),
                  losses.back());
    }
    // The loss after training equals a fresh evaluation with the trained weights.
    CHECK(all_finite(params(*net)));
    CHECK(net->loss_value(X.cview(), Y.cview()) < 0.2 * L0);
  }
  {
    auto net = make_net<T>(s, 11);
    FitOptions opts;
    opts.epochs = 100;
    opts.lr = 0.05;
    opts.batch_size = 5;  // 32 = 6 * 5 + 2: a short last batch
    const auto losses = fit(*net, X.cview(), Y.cview(), opts);
    CHECK(losses.size() == 100 && losses.back() < 0.3 * losses.front());
  }
  {
    // on_epoch_end sees every epoch's loss and stops training by returning false.
    auto net = make_net<T>(s, 11);
    std::vector<double> seen;
    FitHooks hooks;
    hooks.on_epoch_end = [&](Index epoch, const EpochLogs& logs) {
      CHECK(epoch == static_cast<Index>(seen.size()));
      seen.push_back(logs.loss);
      return epoch < 2;
    };
    FitOptions opts;
    opts.epochs = 10;
    opts.lr = 0.1;
    const auto losses = fit(*net, X.cview(), Y.cview(), opts, hooks);
    CHECK(losses.size() == 3 && seen == losses);
  }
}

template <class T>
void test_fit_errors() {
  const std::string dt = dtype_name<T>();
  const Spec s{{2, 8, 1}, {"tanh", "linear"}, "mse"};
  Matrix<T> X, Y;
  regression_data(X, Y);
  auto net = make_net<T>(s, 11);
  const auto p0 = params(*net);
  FitOptions opts;
  opts.epochs = 5;
  opts.lr = 0.1;

  FitOptions zero = opts;
  zero.epochs = 0;
  CHECK(fit(*net, X.cview(), Y.cview(), zero).empty());
  check_params_equal("fit with epochs=0 " + dt, params(*net), p0);

  Matrix<T> Xnan = X, Ynan = Y, Xinf = X;
  Xnan(3, 1) = std::numeric_limits<T>::quiet_NaN();
  Ynan(5, 0) = std::numeric_limits<T>::quiet_NaN();
  Xinf(0, 0) = -std::numeric_limits<T>::infinity();
  CHECK_THROWS_MSG(fit(*net, Xnan.cview(), Y.cview(), opts), ValueError, "row 3, column 1");
  CHECK_THROWS(fit(*net, X.cview(), Ynan.cview(), opts), ValueError);
  CHECK_THROWS(fit(*net, Xinf.cview(), Y.cview(), opts), ValueError);

  Matrix<T> X3(32, 3), Y31(31, 1), Y2(32, 2);
  CHECK_THROWS_MSG(fit(*net, X3.cview(), Y.cview(), opts), ValueError,
                   "layer 1 expects 2 input features");
  CHECK_THROWS_MSG(fit(*net, X.cview(), Y31.cview(), opts), ValueError, "rows");
  CHECK_THROWS(fit(*net, X.cview(), Y2.cview(), opts), ValueError);
  CHECK_THROWS(fit(*net, X.cview().row_range(0, 0), Y.cview().row_range(0, 0), opts), ValueError);

  FitOptions bad = opts;
  bad.lr = 0;
  CHECK_THROWS(fit(*net, X.cview(), Y.cview(), bad), ValueError);
  bad = opts;
  bad.lr = std::nan("");
  CHECK_THROWS(fit(*net, X.cview(), Y.cview(), bad), ValueError);
  bad = opts;
  bad.epochs = -1;
  CHECK_THROWS(fit(*net, X.cview(), Y.cview(), bad), ValueError);
  bad = opts;
  bad.batch_size = -2;
  CHECK_THROWS(fit(*net, X.cview(), Y.cview(), bad), ValueError);
  bad = opts;
  bad.shuffle = true;  // without a permutation hook
  CHECK_THROWS(fit(*net, X.cview(), Y.cview(), bad), ValueError);
  FitHooks out_of_range;
  out_of_range.permutation = [](Index, Index n, Index* perm) {
    for (Index i = 0; i < n; ++i) perm[i] = i + 1;  // n is out of range
  };
  CHECK_THROWS_MSG(fit(*net, X.cview(), Y.cview(), bad, out_of_range), ValueError, "range");
  check_params_equal("rejected fits leave the parameters " + dt, params(*net), p0);

  // Loss-specific target checks run before training too.
  const Spec ce{{2, 4, 3}, {"tanh", "softmax"}, "cross_entropy"};
  auto ce_net = make_net<T>(ce, 3);
  Matrix<T> Xc(4, 2), Yc(4, 3);
  Yc(0, 0) = Yc(1, 1) = Yc(2, 2) = T(1);  // row 3 sums to 0
  CHECK_THROWS(fit(*ce_net, Xc.cview(), Yc.cview(), opts), ValueError);
}

template <class T>
void test_construction_errors() {
  auto mse = [] { return make_loss<T>("mse"); };
  CHECK_THROWS(Network<T>({2, 0, 1}, activations<T>({"relu", "linear"}), mse()), ValueError);
  CHECK_THROWS(Network<T>({0, 3}, activations<T>({"relu"}), mse()), ValueError);
  CHECK_THROWS(Network<T>({2, 3, 0}, activations<T>({"relu", "linear"}), mse()), ValueError);
  CHECK_THROWS(Network<T>({-1, 3}, activations<T>({"relu"}), mse()), ValueError);
  CHECK_THROWS(Network<T>({3}, activations<T>({}), mse()), ValueError);
  CHECK_THROWS(Network<T>({}, activations<T>({}), mse()), ValueError);
  CHECK_THROWS_MSG(Network<T>({2, 3, 1}, activations<T>({"relu"}), mse()), ValueError,
                   "1 activations for 2 layers");
  CHECK_THROWS(Network<T>({2, 3, 1}, activations<T>({"relu", "relu", "linear"}), mse()),
               ValueError);
  CHECK_THROWS(Network<T>({2, 3}, activations<T>({"relu"}), nullptr), ValueError);
  CHECK_THROWS_MSG(Network<T>({2, 3}, activations<T>({"linear"}), make_loss<T>("cross_entropy")),
                   ValueError, "softmax");
  CHECK_THROWS(Network<T>({2, 3}, activations<T>({"softmax"}), make_loss<T>("bce")), ValueError);
  Network<T> ok({2, 3}, activations<T>({"sigmoid"}), make_loss<T>("bce"));
  CHECK(ok.num_layers() == 1 && ok.n_inputs() == 2 && ok.n_outputs() == 3);
}

template <class T>
void test_call_order() {
  const std::string dt = dtype_name<T>();
  const Spec s{{3, 5, 2}, {"tanh", "linear"}, "mse"};
  auto net = make_net<T>(s, 5);
  Matrix<T> X, Y;
  make_data(s, 6, 6, X, Y);
  CHECK_THROWS_MSG(net->backward(Y.cview()), ValueError, "forward");
  net->forward(X.cview());
  const double loss = net->backward(Y.cview());
  const auto g = grads(*net);
  CHECK(loss == net->compute_gradients(X.cview(), Y.cview()));
  check_params_equal("forward + backward == compute_gradients " + dt, g, grads(*net));
  // Any other pass invalidates the cached forward pass.
  net->loss_value(X.cview(), Y.cview());
  CHECK_THROWS(net->backward(Y.cview()), ValueError);
  Matrix<T> out(6, 2);
  net->forward(X.cview());
  net->predict(X.cview(), out.view());
  CHECK_THROWS(net->backward(Y.cview()), ValueError);
  net->forward(X.cview());
  CHECK_THROWS(net->backward(Y.cview().row_range(0, 5)), ValueError);
  Matrix<T> X4(6, 4);
  CHECK_THROWS_MSG(net->forward(X4.cview()), ValueError, "layer 1 expects 3 input features");
  Matrix<T> bad_out(6, 3);
  CHECK_THROWS(net->predict(X.cview(), bad_out.view()), ValueError);
  CHECK_THROWS(net->gradient_check(X.cview(), Y.cview(), 0.0), ValueError);

  // predict works in chunks of rows; the result equals one forward pass over all rows.
  Matrix<T> Xbig(2500, 3), Pbig(2500, 2);
  Rng rng(8);
  rng.fill_normal(Xbig);
  net->predict(Xbig.cview(), Pbig.view());
  const ConstView<T> F = net->forward(Xbig.cview());
  check_all_equal("predict (chunked) == forward " + dt, Pbig.data(), F.data, F.size());

  // predict's poll runs before every chunk but the first (2,500 rows: 3 chunks, 2 polls); an
  // exception it throws ends the call (Ctrl-C in the bindings)
  Index polls = 0;
  Matrix<T> Ppoll(2500, 2);
  net->predict(Xbig.cview(), Ppoll.view(), [&] { ++polls; });
  CHECK(polls == 2);
  check_all_equal("predict with a poll " + dt, Ppoll.data(), Pbig.data(), Pbig.size());
  CHECK_THROWS(net->predict(Xbig.cview(), Ppoll.view(), [] { throw Interrupt(); }), Interrupt);
  polls = 0;
  net->predict(X.cview(), out.view(), [&] { ++polls; });  // one chunk: no poll
  CHECK(polls == 0);
}

// Divergence: a huge lr on a relu net with big targets. fit must throw DivergenceError,
// leave every weight finite, and keep exactly the weights of the last finite epoch (which
// on_epoch_end sees, after fit has saved them).
template <class T>
void test_divergence() {
  const std::string dt = dtype_name<T>();
  const Spec s{{2, 16, 16, 1}, {"relu", "relu", "linear"}, "mse"};
  auto net = make_net<T>(s, 13);
  Matrix<T> X, Y;
  make_data(s, 20, 14, X, Y);
  for (Index i = 0; i < Y.size(); ++i) Y.data()[i] *= T(1000);
  std::vector<std::vector<T>> last_epoch = params(*net);
  Index completed = 0;
  FitHooks hooks;
  hooks.on_epoch_end = [&](Index, const EpochLogs&) {
    last_epoch = params(*net);
    ++completed;
    return true;
  };
  FitOptions opts;
  opts.epochs = 500;
  opts.lr = 1e6;
  opts.batch_size = 4;
  bool threw = false;
  try {
    fit(*net, X.cview(), Y.cview(), opts, hooks);
  } catch (const DivergenceError& e) {
    threw = true;
    CHECK(e.epoch() == completed);
    if (chainrule_test::verbose())
      std::printf("divergence %s: DivergenceError in epoch %td: %s\n", dt.c_str(), e.epoch(),
                  e.what());
    CHECK(std::string(e.what()).find("diverged") != std::string::npos);
  }
  chainrule_test::record(threw, __FILE__, __LINE__,
                         "fit with lr=1e6 did not throw DivergenceError " + dt);
  const auto after = params(*net);
  CHECK(all_finite(after));
  check_params_equal("after divergence: the weights of the last finite epoch " + dt, after,
                     last_epoch);
}

// A geometric divergence that takes many epochs: full-batch gradient descent on a linear
// least-squares problem with lr = 5, well past the stability limit 2 / lambda_max, grows the
// error by a factor ~4 per epoch until the loss overflows. The weights must come back as the
// ones saved at the end of the last finite epoch (not the initial ones).
template <class T>
void test_slow_divergence() {
  const std::string dt = dtype_name<T>();
  const Spec s{{3, 2}, {"linear"}, "mse"};
  auto net = make_net<T>(s, 17);
  Matrix<T> X, Y;
  make_data(s, 16, 18, X, Y);
  std::vector<std::vector<T>> last_epoch;
  std::vector<double> losses;
  FitHooks hooks;
  hooks.on_epoch_end = [&](Index, const EpochLogs& logs) {
    last_epoch = params(*net);
    losses.push_back(logs.loss);
    return true;
  };
  FitOptions opts;
  opts.epochs = 5000;
  opts.lr = 5;
  Index epoch = -1;
  try {
    fit(*net, X.cview(), Y.cview(), opts, hooks);
  } catch (const DivergenceError& e) {
    epoch = e.epoch();
  }
  if (chainrule_test::verbose())
    std::printf("slow divergence %s: DivergenceError in epoch %td\n", dt.c_str(), epoch);
  chainrule_test::record(
      epoch > 10 && epoch == static_cast<Index>(losses.size()), __FILE__, __LINE__,
      "slow divergence " + dt +
          ": expected DivergenceError after more than "
          "10 finite epochs, got epoch " +
          std::to_string(epoch) + " after " + std::to_string(losses.size()) + " epochs");
  if (losses.size() > 2) CHECK(losses.back() > 1e10 * losses.front());
  const auto after = params(*net);
  CHECK(all_finite(after));
  check_params_equal("after slow divergence: the weights of the last finite epoch " + dt, after,
                     last_epoch);
}

// shuffle = true takes its order from FitHooks::permutation: a reversing permutation must
// give exactly the same training as unshuffled data stored in reverse.
template <class T>
void test_shuffle_permutation() {
  const std::string dt = dtype_name<T>();
  const Spec s{{3, 6, 2}, {"tanh", "linear"}, "mse"};
  const Index n = 10;
  Matrix<T> X, Y;
  make_data(s, n, 21, X, Y);
  Matrix<T> Xr(n, 3), Yr(n, 2);
  for (Index i = 0; i < n; ++i) {
    std::copy(X.cview().row(n - 1 - i), X.cview().row(n - 1 - i) + 3, Xr.view().row(i));
    std::copy(Y.cview().row(n - 1 - i), Y.cview().row(n - 1 - i) + 2, Yr.view().row(i));
  }
  for (Index bs : {Index(0), Index(3)}) {
    const std::string what = dt + " batch_size=" + std::to_string(bs);
    auto a = make_net<T>(s, 22);
    auto b = make_net<T>(s, 22);
    std::vector<Index> epochs_seen;
    FitHooks hooks;
    hooks.permutation = [&](Index epoch, Index size, Index* perm) {
      epochs_seen.push_back(epoch);
      CHECK(size == n);
      for (Index i = 0; i < size; ++i) perm[i] = size - 1 - i;
    };
    FitOptions opts;
    opts.epochs = 3;
    opts.lr = 0.1;
    opts.batch_size = bs;
    opts.shuffle = true;
    const auto la = fit(*a, X.cview(), Y.cview(), opts, hooks);
    opts.shuffle = false;
    const auto lb = fit(*b, Xr.cview(), Yr.cview(), opts);
    CHECK((epochs_seen == std::vector<Index>{0, 1, 2}));
    check_all_equal("shuffled losses == reversed data losses " + what, la.data(), lb.data(),
                    static_cast<Index>(la.size()));
    check_params_equal("shuffled == reversed data " + what, params(*a), params(*b));
  }

  // A different permutation each epoch (rotate by epoch + 1), replayed by hand with
  // compute_gradients + step on the gathered batches.
  auto a = make_net<T>(s, 23);
  auto b = make_net<T>(s, 23);
  auto rotation = [n](Index epoch, Index i) { return (i + epoch + 1) % n; };
  FitHooks hooks;
  hooks.permutation = [&](Index epoch, Index size, Index* perm) {
    for (Index i = 0; i < size; ++i) perm[i] = rotation(epoch, i);
  };
  FitOptions opts;
  opts.epochs = 3;
  opts.lr = 0.1;
  opts.batch_size = 4;  // batches of 4, 4, 2
  opts.shuffle = true;
  fit(*a, X.cview(), Y.cview(), opts, hooks);
  for (Index epoch = 0; epoch < 3; ++epoch) {
    for (Index start = 0; start < n; start += 4) {
      const Index mb = std::min<Index>(4, n - start);
      Matrix<T> xb(mb, 3), yb(mb, 2);
      for (Index i = 0; i < mb; ++i) {
        const Index src = rotation(epoch, start + i);
        std::copy(X.cview().row(src), X.cview().row(src) + 3, xb.view().row(i));
        std::copy(Y.cview().row(src), Y.cview().row(src) + 2, yb.view().row(i));
      }
      b->compute_gradients(xb.cview(), yb.cview());
      b->step(0.1);
    }
  }
  check_params_equal("per-epoch permutation == manual replay " + dt, params(*a), params(*b));
}

// FitHooks::poll runs before every batch; when it throws on call k + 1, fit stops with that
// exception after exactly k batches, and the weights are those of k manual SGD steps.
template <class T>
void test_poll_interrupt() {
  const std::string dt = dtype_name<T>();
  const Spec s{{3, 6, 2}, {"relu", "linear"}, "mse"};
  const Index n = 10, bs = 3, k = 6;  // 4 batches per epoch: all of epoch 0, 2 of epoch 1
  Matrix<T> X, Y;
  make_data(s, n, 31, X, Y);
  auto a = make_net<T>(s, 32);
  auto b = make_net<T>(s, 32);
  Index calls = 0;
  FitHooks hooks;
  hooks.poll = [&](Index epoch, Index done, Index rows) {
    // the batches' progress: epoch 0 at rows 0, 3, 6, 9 of 10, then epoch 1 again from 0
    CHECK(epoch == calls / 4 && done == 3 * (calls % 4) && rows == n);
    if (++calls > k) throw Interrupt();
  };
  FitOptions opts;
  opts.epochs = 5;
  opts.lr = 0.05;
  opts.batch_size = bs;
  CHECK_THROWS(fit(*a, X.cview(), Y.cview(), opts, hooks), Interrupt);
  CHECK(calls == k + 1);
  Index start = 0;
  for (Index step = 0; step < k; ++step) {
    const Index mb = std::min(bs, n - start);
    b->compute_gradients(X.cview().row_range(start, mb), Y.cview().row_range(start, mb));
    b->step(0.05);
    start = start + mb == n ? 0 : start + mb;
  }
  const auto pa = params(*a);
  CHECK(all_finite(pa));
  check_params_equal("weights after an interrupt at batch " + std::to_string(k) + " " + dt, pa,
                     params(*b));
}

// The fused paths change no bit: fit with plain SGD (the update applied inside the dW GEMM,
// the activation's derivative inside the dH GEMM, bias + activation inside the forward GEMM)
// equals a loop of compute_gradients + step(lr), and the forward pass equals the unfused
// Z = X @ W, Z += b, H = act(Z). Shapes reach the row loops and the packed kernels with one
// and several depth blocks (batch > 256); softmax in a hidden layer takes the unfused path.
template <class T>
void test_fused_equals_unfused() {
  const Spec specs[] = {
      {{2, 10, 8, 5, 1}, {"relu", "tanh", "relu", "linear"}, "mse"},
      {{40, 300, 70, 6}, {"sigmoid", "elu", "softmax"}, "cross_entropy"},
      {{33, 40, 20, 3}, {"gelu", "softmax", "linear"}, "mse"},
      {{90, 260, 30, 4}, {"leaky_relu", "softplus", "sigmoid"}, "binary_cross_entropy"},
  };
  for (const auto& s : specs) {
    for (Index m : {Index(50), Index(300)}) {
      const std::string what = describe(s) + " m=" + std::to_string(m) + " " + dtype_name<T>();
      Matrix<T> X, Y;
      make_data(s, m, 3, X, Y);
      auto fused = make_net<T>(s, 21);
      auto manual = make_net<T>(s, 21);
      FitOptions opts;
      opts.epochs = 3;
      opts.lr = 0.05;
      opts.batch_size = m == 300 ? 280 : 0;  // 280 + a short batch of 20
      const auto losses = fit(*fused, X.cview(), Y.cview(), opts);
      std::vector<double> manual_losses;
      for (Index e = 0; e < opts.epochs; ++e) {
        double total = 0;
        const Index bs = opts.batch_size == 0 ? m : opts.batch_size;
        for (Index start = 0; start < m; start += bs) {
          const Index mb = std::min(bs, m - start);
          total += manual->compute_gradients(X.cview().row_range(start, mb),
                                             Y.cview().row_range(start, mb)) *
                   static_cast<double>(mb);
          manual->step(opts.lr);
        }
        manual_losses.push_back(total / static_cast<double>(m));
      }
      CHECK(losses == manual_losses);
      check_params_equal("fused fit == compute_gradients + step: " + what, params(*fused),
                         params(*manual));
      // forward of the trained net against the unfused layer maths
      const ConstView<T> Yhat = fused->forward(X.cview());
      Matrix<T> Hin = X, Z, H;
      for (Index l = 0; l < fused->num_layers(); ++l) {
        const auto& layer = fused->dense(l);
        Z.resize(m, layer.n_out());
        H.resize(m, layer.n_out());
        kernels::gemm_nn<T>(m, layer.n_out(), layer.n_in(), T(1), Hin.data(), layer.n_in(),
                            layer.W().data, layer.n_out(), T(0), Z.data(), layer.n_out());
        kernels::add_row_vector(m, layer.n_out(), layer.b().data, Z.data());
        layer.activation()->forward(Z.cview(), H.view());
        check_all_equal("fused forward Z, layer " + std::to_string(l + 1) + ": " + what,
                        layer.Z().data, Z.data(), Z.size());
        check_all_equal("fused forward H, layer " + std::to_string(l + 1) + ": " + what,
                        layer.H().data, H.data(), H.size());
        Hin = H;
      }
      check_all_equal("forward output: " + what, Yhat.data, H.data(), H.size());
    }
  }
}

template <class T>
void run_typed() {
  RUN_TEST(test_step<T>);
  RUN_TEST(test_fit_decreases<T>);
  RUN_TEST(test_fit_errors<T>);
  RUN_TEST(test_construction_errors<T>);
  RUN_TEST(test_call_order<T>);
  RUN_TEST(test_divergence<T>);
  RUN_TEST(test_slow_divergence<T>);
  RUN_TEST(test_shuffle_permutation<T>);
  RUN_TEST(test_poll_interrupt<T>);
  RUN_TEST(test_fused_equals_unfused<T>);
}

}  // namespace

int main() {
  // These tests compare fit bit for bit with replays through the general path's own steps
  // (compute_gradients, step, the fused SGD epilogue); the fused small-network step adds dW's
  // rows in another order and has its own tests (test_small_step.cpp, tests/test_small_step.py).
  chainrule::kernels::set_small_step_enabled(false);
  RUN_TEST(test_gradient_check_double);
  RUN_TEST(test_independent_finite_differences);
  RUN_TEST(test_gradient_check_float);
  RUN_TEST(run_typed<double>);
  RUN_TEST(run_typed<float>);
  return chainrule_test::report();
}
