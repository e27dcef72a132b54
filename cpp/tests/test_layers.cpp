// Dropout, BatchNorm and LayerNorm: forward and backward against reference formulas written
// here, dropout masks (determinism, row ids), running statistics and inference, gradient
// checks of networks mixing them with dense layers, fit (fused == unfused, seeds, divergence
// rollback of parameters and running statistics) and error messages.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "chainrule/activation.hpp"
#include "chainrule/error.hpp"
#include "chainrule/kernels/thread_pool.hpp"
#include "chainrule/layer.hpp"
#include "chainrule/layers/all.hpp"
#include "chainrule/loss.hpp"
#include "chainrule/network.hpp"
#include "chainrule/optimizer.hpp"
#include "chainrule/training/trainer.hpp"
#include "test_util.hpp"

using namespace chainrule;
using chainrule_test::check_all_close;
using chainrule_test::check_all_equal;
using chainrule_test::dtype_name;
using chainrule_test::Rng;

namespace {

template <class T>
double tol() {
  return std::is_same_v<T, double> ? 1e-13 : 2e-6;
}

// ---- a probe below the layer under test ----------------------------------------------------
// A linear dense layer (k -> n) in front of the layer under test: its H is the tested layer's
// input, and the tested layer's backward writes its dH (the input gradient) into the probe.
template <class T>
struct Probe {
  std::unique_ptr<Dense<T>> dense;
  Matrix<T> X;
  Probe(Index m, Index n, Rng& rng, double shift = 0, double spread = 1) {
    const Index k = 3;
    dense = std::make_unique<Dense<T>>(1, k, n, make_activation<T>("linear"));
    rng.fill_normal(dense->W().data, dense->W().size(), 0.0, spread);
    rng.fill_normal(dense->b().data, dense->b().size(), shift, spread);
    X.resize(m, k);
    rng.fill_normal(X);
    dense->forward(X.cview());
  }
  ConstView<T> H() const { return dense->H(); }
};

// Runs layer.forward(probe H, ctx), sets its output gradient to dH, runs its backward pass
// (mode) into the probe; returns the probe's dH (the input gradient).
template <class T>
Matrix<T> forward_backward(Layer<T>& layer, Probe<T>& probe, const PassContext& ctx,
                           const Matrix<T>& dH, const GradientMode<T>& mode = {}) {
  layer.forward(probe.H(), ctx);
  MatrixView<T> g = layer.output_gradient().dH;
  std::copy(dH.data(), dH.data() + dH.size(), g.data);
  layer.backward(probe.H(), probe.dense.get(), mode);
  Matrix<T> dX(dH.rows(), dH.cols());
  std::copy(probe.dense->dH().data, probe.dense->dH().data + dX.size(), dX.data());
  return dX;
}

PassContext training(std::uint64_t seed, std::uint64_t pass, bool update = true,
                     const Index* row_ids = nullptr) {
  PassContext c;
  c.training = true;
  c.update_statistics = update;
  c.seed = seed;
  c.pass = pass;
  c.row_ids = row_ids;
  return c;
}

// ---- Dropout -------------------------------------------------------------------------------

template <class T>
void test_dropout_forward_backward() {
  const std::string dt = dtype_name<T>();
  const Index m = 400, n = 50;
  const double p = 0.3;
  Rng rng(1);
  Probe<T> probe(m, n, rng);
  Dropout<T> layer(2, n, p);
  Matrix<T> dH(m, n);
  rng.fill_normal(dH);
  const Matrix<T> dX = forward_backward<T>(layer, probe, training(42, 3), dH);
  const ConstView<T> x = probe.H(), H = layer.output(), mask = layer.mask();
  CHECK(mask.rows == m && mask.cols == n && H.rows == m && H.cols == n);
  // keep iff u >= p with u from (seed, pass, layer 2, row, column); H = x mask / (1 - p)
  Matrix<T> want_mask(m, n), want_H(m, n), want_dX(m, n);
  const T s = T(1) / static_cast<T>(1 - p);
  Index kept = 0;
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j < n; ++j) {
      const double u = dropout_uniform(dropout_row_key(42, 3, 2, static_cast<std::uint64_t>(i)),
                                       static_cast<std::uint64_t>(j));
      want_mask(i, j) = u >= p ? T(1) : T(0);
      kept += u >= p;
      want_H(i, j) = u >= p ? x(i, j) * s : T(0);
      want_dX(i, j) = u >= p ? dH(i, j) * s : T(0);
    }
  check_all_equal("dropout mask " + dt, mask.data, want_mask.data(), m * n);
  check_all_equal("dropout H = x mask / (1 - p) " + dt, H.data, want_H.data(), m * n);
  check_all_equal("dropout dH_prev = dH mask / (1 - p) " + dt, dX.data(), want_dX.data(), m * n);
  // x mask / (1 - p) as written, to rounding
  for (Index k = 0; k < m * n; ++k)
    want_H.data()[k] = x.data[k] * mask.data[k] / static_cast<T>(1 - p);
  check_all_close("dropout H ~ x mask / (1 - p) " + dt, H.data, want_H.data(), m * n, tol<T>());
  // the fraction kept is 1 - p (20000 draws: standard deviation 0.0032)
  const double frac = static_cast<double>(kept) / static_cast<double>(m * n);
  chainrule_test::record(std::fabs(frac - (1 - p)) < 0.02, __FILE__, __LINE__,
                         "dropout keeps " + std::to_string(frac) + " of the values, want 0.7");
  // the caches: "mask" only
  const auto caches = layer.caches();
  CHECK(caches.size() == 1 && caches[0].name == "mask" && caches[0].value.data == mask.data);
  CHECK(layer.parameters().empty() && layer.buffers().empty() && layer.gradient_size() == 0);
}

template <class T>
void test_dropout_inference_and_p0() {
  const std::string dt = dtype_name<T>();
  const Index m = 20, n = 6;
  Rng rng(2);
  Probe<T> probe(m, n, rng);
  Dropout<T> layer(1, n, 0.5);
  Matrix<T> dH(m, n);
  rng.fill_normal(dH);
  forward_backward<T>(layer, probe, training(7, 1), dH);
  const std::vector<T> mask_train(layer.mask().data, layer.mask().data + m * n);
  // inference: H is H_prev itself (no copy), backward the identity
  const Matrix<T> dX = forward_backward<T>(layer, probe, PassContext(), dH);
  CHECK(layer.output().data == probe.H().data && layer.output().rows == m);
  CHECK(!layer.last_pass_training());
  check_all_equal("dropout inference: dH_prev = dH " + dt, dX.data(), dH.data(), m * n);
  // the mask of the last training pass survives inference, even of a larger batch
  Probe<T> big(3 * m, n, rng);
  layer.forward(big.H(), PassContext());
  CHECK(layer.mask().rows == m);
  check_all_equal("dropout mask kept after inference " + dt, layer.mask().data, mask_train.data(),
                  m * n);

  // p = 0: the identity in training too, every mask value 1
  Dropout<T> none(1, n, 0.0);
  const Matrix<T> dX0 = forward_backward<T>(none, probe, training(7, 1), dH);
  check_all_equal("dropout p=0: H = H_prev " + dt, none.output().data, probe.H().data, m * n);
  check_all_equal("dropout p=0: dH_prev = dH " + dt, dX0.data(), dH.data(), m * n);
  const std::vector<T> ones(static_cast<std::size_t>(m * n), T(1));
  check_all_equal("dropout p=0: mask 1 " + dt, none.mask().data, ones.data(), m * n);
}

// The mask is a function of (seed, pass, layer, row id, column) only.
template <class T>
void test_dropout_masks() {
  const Index m = 6, n = 40;
  Rng rng(3);
  Probe<T> probe(m, n, rng);
  auto mask_of = [&](Index layer_index, const PassContext& ctx, ConstView<T> X) {
    Dropout<T> layer(layer_index, n, 0.5);
    layer.forward(X, ctx);
    return std::vector<T>(layer.mask().data, layer.mask().data + layer.mask().size());
  };
  const ConstView<T> X = probe.H();
  const auto base = mask_of(2, training(11, 5), X);
  CHECK(mask_of(2, training(11, 5), X) == base);         // same seed and pass
  CHECK(mask_of(2, training(11, 5, false), X) == base);  // statistics flag: no matter
  CHECK(mask_of(2, training(11, 6), X) != base);         // another pass
  CHECK(mask_of(2, training(12, 5), X) != base);         // another seed
  CHECK(mask_of(3, training(11, 5), X) != base);         // another layer
  // rows with ids {3, 4} draw rows 3 and 4 of the full pass
  const Index ids[2] = {3, 4};
  const auto part = mask_of(2, training(11, 5, true, ids), X.row_range(0, 2));
  CHECK(std::equal(part.begin(), part.end(), base.begin() + 3 * n));
  // without ids a row's id is its index in the pass
  const auto first = mask_of(2, training(11, 5), X.row_range(0, 2));
  CHECK(std::equal(first.begin(), first.end(), base.begin()));
  // rows differ from each other
  CHECK(!std::equal(base.begin(), base.begin() + n, base.begin() + n));
}

// ---- BatchNorm -----------------------------------------------------------------------------

// Reference: per column, mean, biased var, xhat, y; the backward formulas of the header.
template <class T>
void test_batch_norm() {
  const std::string dt = dtype_name<T>();
  const Index m = 9, n = 5;
  const double mom = 0.25, eps = 1e-3;
  Rng rng(4);
  Probe<T> probe(m, n, rng, 2.0, 3.0);
  BatchNorm<T> layer(2, n, mom, eps);
  rng.fill_uniform(layer.gamma().data, n, 0.5, 1.5);
  rng.fill_normal(layer.beta().data, n);
  const std::vector<T> gamma(layer.gamma().data, layer.gamma().data + n);
  const std::vector<T> beta(layer.beta().data, layer.beta().data + n);
  Matrix<T> dH(m, n);
  rng.fill_normal(dH);
  const ConstView<T> x = probe.H();
  std::vector<double> mean(n, 0), var(n, 0);
  for (Index j = 0; j < n; ++j) {
    for (Index i = 0; i < m; ++i) mean[j] += x(i, j);
    mean[j] /= m;
    for (Index i = 0; i < m; ++i) var[j] += (x(i, j) - mean[j]) * (x(i, j) - mean[j]);
    var[j] /= m;
  }
  Matrix<double> xhat(m, n), y(m, n), dX(m, n);
  std::vector<double> dgamma(n, 0), dbeta(n, 0);
  for (Index j = 0; j < n; ++j) {
    const double s = 1 / std::sqrt(var[j] + eps);
    double sdh = 0, sdhx = 0;
    for (Index i = 0; i < m; ++i) {
      xhat(i, j) = (x(i, j) - mean[j]) * s;
      y(i, j) = gamma[j] * xhat(i, j) + beta[j];
      sdh += dH(i, j);
      sdhx += dH(i, j) * xhat(i, j);
    }
    dgamma[j] = sdhx / m;
    dbeta[j] = sdh / m;
    for (Index i = 0; i < m; ++i)
      dX(i, j) = gamma[j] * s / m * (m * dH(i, j) - sdh - xhat(i, j) * sdhx);
  }
  const Matrix<T> got_dX = forward_backward<T>(layer, probe, training(0, 1), dH);
  check_all_close("batch_norm xhat " + dt, layer.xhat().data, xhat.data(), m * n, tol<T>(), 1e-3);
  check_all_close("batch_norm H " + dt, layer.output().data, y.data(), m * n, tol<T>(), 1e-3);
  check_all_close("batch_norm dH_prev " + dt, got_dX.data(), dX.data(), m * n, tol<T>() * 10, 1e-3);
  check_all_close("batch_norm dgamma " + dt, layer.dgamma().data, dgamma.data(), n, tol<T>(), 1e-3);
  check_all_close("batch_norm dbeta " + dt, layer.dbeta().data, dbeta.data(), n, tol<T>(), 1e-3);
  check_all_equal("batch_norm backward leaves gamma " + dt, layer.gamma().data, gamma.data(), n);
  // running statistics: momentum * batch + (1 - momentum) * running, the variance unbiased
  std::vector<double> rmean(n), rvar(n);
  for (Index j = 0; j < n; ++j) {
    rmean[j] = mom * mean[j];
    rvar[j] = mom * var[j] * m / (m - 1) + (1 - mom) * 1.0;
  }
  check_all_close("batch_norm running_mean " + dt, layer.running_mean().data, rmean.data(), n,
                  tol<T>(), 1e-3);
  check_all_close("batch_norm running_var " + dt, layer.running_var().data, rvar.data(), n,
                  tol<T>());
  // a pass that does not update statistics leaves them
  forward_backward<T>(layer, probe, training(0, 2, false), dH);
  check_all_close("batch_norm running_mean not updated " + dt, layer.running_mean().data,
                  rmean.data(), n, tol<T>(), 1e-3);
  // mode.scale: scale times the sums; mode.sgd_lr: the update after the gradients
  GradientMode<T> mode;
  mode.scale = T(0.5);
  forward_backward<T>(layer, probe, training(0, 3, false), dH, mode);
  for (Index j = 0; j < n; ++j) dgamma[j] *= 0.5 * m, dbeta[j] *= 0.5 * m;
  check_all_close("batch_norm dgamma, scale " + dt, layer.dgamma().data, dgamma.data(), n, tol<T>(),
                  1e-3);
  check_all_close("batch_norm dbeta, scale " + dt, layer.dbeta().data, dbeta.data(), n, tol<T>(),
                  1e-3);
  GradientMode<T> sgd;
  sgd.sgd_lr = T(0.1);
  const Matrix<T> dX_sgd = forward_backward<T>(layer, probe, training(0, 4, false), dH, sgd);
  check_all_equal("batch_norm dH_prev from gamma before the update " + dt, dX_sgd.data(),
                  got_dX.data(), m * n);
  std::vector<T> g_after(gamma), b_after(beta);
  for (Index j = 0; j < n; ++j) {
    g_after[j] -= T(0.1) * layer.dgamma().data[j];
    b_after[j] -= T(0.1) * layer.dbeta().data[j];
  }
  check_all_equal("batch_norm sgd gamma " + dt, layer.gamma().data, g_after.data(), n);
  check_all_equal("batch_norm sgd beta " + dt, layer.beta().data, b_after.data(), n);

  // inference: the running statistics; backward dH_prev = gamma dH / sqrt(running_var + eps)
  std::copy(gamma.begin(), gamma.end(), layer.gamma().data);
  std::copy(beta.begin(), beta.end(), layer.beta().data);
  const Matrix<T> dX_inf = forward_backward<T>(layer, probe, PassContext(), dH);
  for (Index j = 0; j < n; ++j) {
    const double s = 1 / std::sqrt(rvar[j] + eps);
    for (Index i = 0; i < m; ++i) {
      y(i, j) = gamma[j] * (x(i, j) - rmean[j]) * s + beta[j];
      dX(i, j) = gamma[j] * s * dH(i, j);
    }
  }
  check_all_close("batch_norm inference H " + dt, layer.output().data, y.data(), m * n,
                  tol<T>() * 10, 1e-3);
  check_all_close("batch_norm inference dH_prev " + dt, dX_inf.data(), dX.data(), m * n, tol<T>(),
                  1e-3);
  check_all_close("batch_norm inference: statistics unchanged " + dt, layer.running_var().data,
                  rvar.data(), n, tol<T>());

  // names
  const auto params = layer.parameters();
  CHECK(params.size() == 2 && params[0].name == "gamma" && params[1].name == "beta");
  CHECK(params[0].vector && params[1].vector && params[1].value.data == params[0].value.data + n);
  CHECK(params[1].grad.data == params[0].grad.data + n && layer.gradient_size() == 2 * n);
  const auto buffers = layer.buffers();
  CHECK(buffers.size() == 2 && buffers[0].name == "running_mean" &&
        buffers[1].name == "running_var");
  CHECK(buffers[0].vector && buffers[0].value.cols == n && buffers[0].grad.data == nullptr);
  const auto caches = layer.caches();
  CHECK(caches.size() == 1 && caches[0].name == "xhat");
  CHECK(layer.has_training_behaviour() && layer.uses_batch_statistics() &&
        layer.min_training_rows() == 2);
}

// Fresh statistics are 0 and 1; a one-row batch is refused in training, fine in inference.
template <class T>
void test_batch_norm_rows() {
  BatchNorm<T> layer(3, 4);
  for (Index j = 0; j < 4; ++j)
    CHECK(layer.running_mean().data[j] == T(0) && layer.running_var().data[j] == T(1) &&
          layer.gamma().data[j] == T(1) && layer.beta().data[j] == T(0));
  Matrix<T> X(1, 4);
  CHECK_THROWS_MSG(layer.forward(X.cview(), training(0, 1)), ValueError,
                   "layer 3: BatchNorm(momentum=0.1, eps=1e-05) needs at least 2 rows per batch "
                   "in training, got 1");
  layer.forward(X.cview(), PassContext());
}

// ---- LayerNorm -----------------------------------------------------------------------------

template <class T>
void test_layer_norm() {
  const std::string dt = dtype_name<T>();
  const Index m = 7, n = 6;
  const double eps = 1e-4;
  Rng rng(5);
  Probe<T> probe(m, n, rng, 1.0, 2.0);
  LayerNorm<T> layer(2, n, eps);
  rng.fill_uniform(layer.gamma().data, n, 0.5, 1.5);
  rng.fill_normal(layer.beta().data, n);
  const std::vector<T> gamma(layer.gamma().data, layer.gamma().data + n);
  const std::vector<T> beta(layer.beta().data, layer.beta().data + n);
  Matrix<T> dH(m, n);
  rng.fill_normal(dH);
  const ConstView<T> x = probe.H();
  Matrix<double> xhat(m, n), y(m, n), dX(m, n);
  std::vector<double> dgamma(n, 0), dbeta(n, 0);
  for (Index i = 0; i < m; ++i) {
    double mean = 0, var = 0;
    for (Index j = 0; j < n; ++j) mean += x(i, j);
    mean /= n;
    for (Index j = 0; j < n; ++j) var += (x(i, j) - mean) * (x(i, j) - mean);
    var /= n;
    const double s = 1 / std::sqrt(var + eps);
    double a = 0, b = 0;
    for (Index j = 0; j < n; ++j) {
      xhat(i, j) = (x(i, j) - mean) * s;
      y(i, j) = gamma[j] * xhat(i, j) + beta[j];
      a += dH(i, j) * gamma[j];
      b += dH(i, j) * gamma[j] * xhat(i, j);
      dgamma[j] += dH(i, j) * xhat(i, j) / m;
      dbeta[j] += dH(i, j) / m;
    }
    for (Index j = 0; j < n; ++j) dX(i, j) = s / n * (n * dH(i, j) * gamma[j] - a - xhat(i, j) * b);
  }
  const Matrix<T> got_dX = forward_backward<T>(layer, probe, training(0, 1), dH);
  check_all_close("layer_norm xhat " + dt, layer.xhat().data, xhat.data(), m * n, tol<T>(), 1e-3);
  check_all_close("layer_norm H " + dt, layer.output().data, y.data(), m * n, tol<T>(), 1e-3);
  check_all_close("layer_norm dH_prev " + dt, got_dX.data(), dX.data(), m * n, tol<T>() * 10, 1e-3);
  check_all_close("layer_norm dgamma " + dt, layer.dgamma().data, dgamma.data(), n, tol<T>(), 1e-3);
  check_all_close("layer_norm dbeta " + dt, layer.dbeta().data, dbeta.data(), n, tol<T>(), 1e-3);
  // the same in inference
  const Matrix<T> dX_inf = forward_backward<T>(layer, probe, PassContext(), dH);
  check_all_close("layer_norm inference H " + dt, layer.output().data, y.data(), m * n, tol<T>(),
                  1e-3);
  check_all_equal("layer_norm inference dH_prev " + dt, dX_inf.data(), got_dX.data(), m * n);
  // sgd: the update after the gradients, dH_prev from gamma before it
  GradientMode<T> sgd;
  sgd.sgd_lr = T(0.5);
  const Matrix<T> dX_sgd = forward_backward<T>(layer, probe, training(0, 2), dH, sgd);
  check_all_equal("layer_norm dH_prev with sgd " + dt, dX_sgd.data(), got_dX.data(), m * n);
  std::vector<T> g_after(gamma);
  for (Index j = 0; j < n; ++j) g_after[j] -= T(0.5) * layer.dgamma().data[j];
  check_all_equal("layer_norm sgd gamma " + dt, layer.gamma().data, g_after.data(), n);
  const auto params = layer.parameters();
  CHECK(params.size() == 2 && params[0].name == "gamma" && params[1].name == "beta");
  CHECK(layer.buffers().empty() && layer.caches().size() == 1 && layer.caches()[0].name == "xhat");
  CHECK(!layer.has_training_behaviour() && !layer.uses_batch_statistics() &&
        layer.min_training_rows() == 1);
}

// ---- networks ------------------------------------------------------------------------------

struct LayerDesc {
  std::string kind;
  NamedParams params;
  std::string act;  // "" for none
};

struct NetDesc {
  Index n_in;
  std::vector<LayerDesc> layers;
  std::string loss;
};

template <class T>
std::vector<LayerSpec<T>> specs(const NetDesc& d) {
  std::vector<LayerSpec<T>> out;
  for (const auto& l : d.layers) {
    LayerSpec<T> s;
    s.kind = l.kind;
    s.params = l.params;
    if (!l.act.empty()) s.activation = make_activation<T>(l.act);
    out.push_back(std::move(s));
  }
  return out;
}

// W ~ N(0, 1/sqrt(n_in)), b ~ N(0, 0.1), gamma ~ U(0.5, 1.5), beta ~ N(0, 0.1)
template <class T>
std::unique_ptr<Network<T>> make_net(const NetDesc& d, std::uint64_t seed,
                                     const std::string& optimizer = "sgd") {
  auto net = std::make_unique<Network<T>>(d.n_in, specs<T>(d), make_loss<T>(d.loss),
                                          make_optimizer<T>(optimizer));
  Rng rng(seed);
  for (const Parameter<T>& p : net->parameters()) {
    if (p.name[0] == 'W')
      rng.fill_normal(p.value.data, p.value.size(), 0.0, 1.0 / std::sqrt(double(p.value.rows)));
    else if (p.name.rfind("gamma", 0) == 0)
      rng.fill_uniform(p.value.data, p.value.size(), 0.5, 1.5);
    else
      rng.fill_normal(p.value.data, p.value.size(), 0.0, 0.1);
  }
  return net;
}

template <class T>
void make_data(const NetDesc& d, Index n_out, Index m, std::uint64_t seed, Matrix<T>& X,
               Matrix<T>& Y) {
  Rng rng(seed);
  X.resize(m, d.n_in);
  Y.resize(m, n_out);
  rng.fill_normal(X);
  std::fill(Y.data(), Y.data() + Y.size(), T(0));
  if (d.loss == "cross_entropy") {
    for (Index i = 0; i < m; ++i) Y(i, rng.index(n_out)) = T(1);
  } else if (d.loss == "binary_cross_entropy") {
    for (Index i = 0; i < Y.size(); ++i) Y.data()[i] = T(0.25) * static_cast<T>(rng.index(5));
  } else {
    rng.fill_normal(Y);
  }
}

// Every parameter, then every buffer, copied out.
template <class T>
std::vector<std::vector<T>> state(const Network<T>& net) {
  std::vector<std::vector<T>> s;
  for (const auto* list : {&net.parameters(), &net.buffers()})
    for (const Parameter<T>& p : *list) s.emplace_back(p.value.data, p.value.data + p.value.size());
  return s;
}

template <class T>
void check_state_equal(const std::string& what, const Network<T>& net,
                       const std::vector<std::vector<T>>& want) {
  const auto got = state(net);
  if (!CHECK(got.size() == want.size())) return;
  for (std::size_t k = 0; k < got.size(); ++k)
    check_all_equal(what + " tensor " + std::to_string(k), got[k].data(), want[k].data(),
                    static_cast<Index>(got[k].size()));
}

const std::vector<NetDesc>& mixed_nets() {
  static const std::vector<NetDesc> nets = {
      {4,
       {{"dense", {{"units", 6}}, "tanh"},
        {"batch_norm", {}, ""},
        {"dense", {{"units", 5}}, "elu"},
        {"dropout", {{"p", 0.3}}, ""},
        {"dense", {{"units", 3}}, "linear"}},
       "mse"},
      {5,
       {{"dense", {{"units", 8}}, "tanh"},
        {"layer_norm", {}, ""},
        {"dropout", {{"p", 0.5}}, ""},
        {"dense", {{"units", 4}}, "softmax"}},
       "cross_entropy"},
      {3,
       {{"batchnorm", {{"momentum", 0.5}, {"eps", 1e-3}}, ""},
        {"dense", {{"units", 7}}, "sigmoid"},
        {"layernorm", {{"eps", 1e-3}}, ""},
        {"dense", {{"units", 2}}, "sigmoid"}},
       "binary_cross_entropy"},
      // (a dense layer between them: batch_norm right after layer_norm would cancel
      // layer_norm's beta and, up to eps, its gamma, leaving gradients of rounding noise)
      {6,
       {{"dropout", {{"p", 0.2}}, ""},
        {"layer_norm", {}, ""},
        {"dense", {{"units", 5}}, "tanh"},
        {"batch_norm", {}, ""},
        {"dense", {{"units", 4}}, "gelu"},
        {"dropout", {}, ""},
        {"dense", {{"units", 1}}, "linear"}},
       "mse"},
  };
  return nets;
}

// gradient_check through networks mixing the layers: one training pass (same dropout masks
// and batch statistics in every perturbed pass), running statistics untouched.
template <class T>
void test_gradient_checks() {
  const std::string dt = dtype_name<T>();
  std::uint64_t seed = 100;
  for (const auto& d : mixed_nets()) {
    auto net = make_net<T>(d, seed++);
    net->set_random_state(seed, 10);
    Matrix<T> X, Y;
    make_data(d, net->n_outputs(), 12, seed++, X, Y);
    const auto before = state(*net);
    const std::vector<double> errors =
        net->gradient_check(X.cview(), Y.cview(), std::is_same_v<T, double> ? 1e-6 : 1e-2);
    const double worst = *std::max_element(errors.begin(), errors.end());
    if (chainrule_test::verbose())
      std::printf("gradient_check %s (%s): max relative error %.3e\n", net->layer(1).repr().c_str(),
                  dt.c_str(), worst);
    chainrule_test::record(worst < (std::is_same_v<T, double> ? 1e-7 : 2e-2), __FILE__, __LINE__,
                           "gradient_check " + dt + " of a net with " + net->layer(1).repr() +
                               ": max relative error " + std::to_string(worst));
    check_state_equal("gradient_check leaves parameters and running statistics " + dt, *net,
                      before);
    CHECK(net->passes() == 10);  // a check leaves the dropout stream where it was
  }
}

// Network-level names, flags and running statistics; predict uses the running statistics.
template <class T>
void test_network_with_layers() {
  const std::string dt = dtype_name<T>();
  const NetDesc d{
      3,
      {{"batch_norm", {}, ""}, {"dropout", {{"p", 0.2}}, ""}, {"dense", {{"units", 2}}, "linear"}},
      "mse"};
  auto net = make_net<T>(d, 7);
  std::vector<std::string> names, buffer_names;
  for (const auto& p : net->parameters()) names.push_back(p.name);
  for (const auto& b : net->buffers()) buffer_names.push_back(b.name);
  CHECK((names == std::vector<std::string>{"gamma1", "beta1", "W3", "b3"}));
  CHECK((buffer_names == std::vector<std::string>{"running_mean1", "running_var1"}));
  CHECK(net->gradient_size() == 2 * 3 + 4 * 2);
  CHECK(net->has_training_behaviour() && net->uses_batch_statistics() &&
        net->min_training_rows() == 2);
  CHECK_STR_EQ(net->layer(0).repr(), std::string("BatchNorm(momentum=0.1, eps=1e-05)"));
  CHECK_STR_EQ(net->layer(1).repr(), std::string("Dropout(p=0.2)"));
  CHECK_STR_EQ(net->layer(0).kind(), std::string("batch_norm"));
  CHECK_STR_EQ(net->layer(1).kind(), std::string("dropout"));
  CHECK(net->overlaps_parameters(net->buffers()[1].value.data, net->buffers()[1].value.data + 1));

  Matrix<T> X, Y;
  make_data(d, 2, 10, 8, X, Y);
  const std::uint64_t passes = net->passes();
  net->compute_gradients(X.cview(), Y.cview());
  CHECK(net->passes() == passes + 1);
  // running_mean = 0.1 * mean(X), the network's gradients are contiguous (gamma1 first)
  std::vector<double> rmean(3, 0);
  for (Index j = 0; j < 3; ++j) {
    for (Index i = 0; i < 10; ++i) rmean[j] += 0.1 * X(i, j) / 10;
  }
  check_all_close("network running_mean " + dt, net->buffers()[0].value.data, rmean.data(), 3,
                  tol<T>(), 1e-3);
  CHECK(net->parameters()[1].grad.data == net->parameters()[0].grad.data + 3);
  CHECK(net->parameters()[2].grad.data == net->parameters()[0].grad.data + 6);
  // predict: inference, dropout the identity, batch norm with its running statistics
  Matrix<T> P(10, 2);
  net->predict(X.cview(), P.view());
  auto& dense = net->dense(2);
  Matrix<double> want(10, 2);
  const T* rm = net->buffers()[0].value.data;
  const T* rv = net->buffers()[1].value.data;
  const T* g = net->parameters()[0].value.data;
  const T* b = net->parameters()[1].value.data;
  for (Index i = 0; i < 10; ++i)
    for (Index k = 0; k < 2; ++k) {
      double z = dense.b().data[k];
      for (Index j = 0; j < 3; ++j)
        z += (g[j] * (X(i, j) - rm[j]) / std::sqrt(double(rv[j]) + 1e-5) + b[j]) * dense.W()(j, k);
      want(i, k) = z;
    }
  check_all_close("predict with running statistics " + dt, P.data(), want.data(), 20, tol<T>() * 10,
                  1e-3);
  // the inference loss is a function of the data only (no fresh dropout draws)
  CHECK(net->loss_value(X.cview(), Y.cview()) == net->loss_value(X.cview(), Y.cview()));
  CHECK(net->passes() == passes + 1);
  // training with one row is refused by the batch norm layer
  CHECK_THROWS_MSG(net->compute_gradients(X.cview().row_range(0, 1), Y.cview().row_range(0, 1)),
                   ValueError,
                   "layer 1: BatchNorm(momentum=0.1, eps=1e-05) needs at least 2 rows per batch "
                   "in training, got 1");
  Matrix<T> P1(1, 2);
  net->predict(X.cview().row_range(0, 1), P1.view());
  check_all_close("predict of one row " + dt, P1.data(), P.data(), 2, tol<T>(), 1e-3);
  FitOptions opts;
  opts.batch_size = 3;  // 10 rows leave a batch of 1
  CHECK_THROWS_MSG(fit(*net, X.cview(), Y.cview(), opts), ValueError,
                   "batch normalisation needs at least 2 rows");
}

// fit with plain SGD (gamma and beta updated inside the backward pass) equals
// compute_gradients + step, bit for bit, running statistics and dropout masks included;
// a seed reproduces a fit and another seed changes it; Adam trains too.
template <class T>
void test_fit() {
  const std::string dt = dtype_name<T>();
  const NetDesc d{4,
                  {{"dense", {{"units", 16}}, "tanh"},
                   {"batch_norm", {}, ""},
                   {"dropout", {{"p", 0.1}}, ""},
                   {"dense", {{"units", 12}}, "tanh"},
                   {"layer_norm", {}, ""},
                   {"dense", {{"units", 2}}, "linear"}},
                  "mse"};
  const Index m = 50;
  Matrix<T> X, Y;
  make_data(d, 2, m, 31, X, Y);
  for (Index i = 0; i < m; ++i) {  // a learnable target
    Y(i, 0) = std::sin(X(i, 0)) + X(i, 1) * X(i, 2);
    Y(i, 1) = std::tanh(X(i, 3) - X(i, 0));
  }
  FitOptions opts;
  opts.epochs = 4;
  opts.lr = 0.05;
  opts.batch_size = 16;  // 16, 16, 16, 2
  auto fused = make_net<T>(d, 9);
  auto manual = make_net<T>(d, 9);
  fused->set_random_state(5, 0);
  manual->set_random_state(5, 0);
  const auto losses = fit(*fused, X.cview(), Y.cview(), opts);
  std::vector<double> manual_losses;
  for (Index e = 0; e < opts.epochs; ++e) {
    double total = 0;
    for (Index start = 0; start < m; start += opts.batch_size) {
      const Index mb = std::min(opts.batch_size, m - start);
      total += manual->compute_gradients(X.cview().row_range(start, mb),
                                         Y.cview().row_range(start, mb)) *
               double(mb);
      manual->step(opts.lr);
    }
    manual_losses.push_back(total / m);
  }
  CHECK(losses == manual_losses);
  check_state_equal("fused fit == compute_gradients + step " + dt, *fused, state(*manual));
  CHECK(fused->passes() == manual->passes() && fused->passes() == 16);

  // the same seed reproduces the fit, with any number of threads; another seed draws other
  // masks
  const int threads = kernels::get_num_threads();
  kernels::set_num_threads(threads == 1 ? 2 : 1);
  auto again = make_net<T>(d, 9);
  again->set_random_state(5, 0);
  CHECK(fit(*again, X.cview(), Y.cview(), opts) == losses);
  kernels::set_num_threads(threads);
  check_state_equal("the same fit with another thread count " + dt, *again, state(*fused));
  auto other = make_net<T>(d, 9);
  other->set_random_state(6, 0);
  CHECK(fit(*other, X.cview(), Y.cview(), opts) != losses);

  // training decreases the loss (Adam, longer)
  auto adam = make_net<T>(d, 9, "adam");
  opts.epochs = 60;
  opts.lr = 0.01;
  const auto long_losses = fit(*adam, X.cview(), Y.cview(), opts);
  if (chainrule_test::verbose())
    std::printf("fit %s: loss %.4f -> %.4f\n", dt.c_str(), long_losses.front(), long_losses.back());
  chainrule_test::record(long_losses.back() < 0.5 * long_losses.front(), __FILE__, __LINE__,
                         "fit " + dt + " with batch norm, dropout and layer norm: loss " +
                             std::to_string(long_losses.front()) + " -> " +
                             std::to_string(long_losses.back()));
}

// A diverging fit restores the parameters and the running statistics of the last finite
// epoch (which on_epoch_end sees): at once (huge lr and targets) and after an epoch.
template <class T>
void test_divergence_restores_buffers() {
  const std::string dt = dtype_name<T>();
  const NetDesc d{2,
                  {{"dense", {{"units", 16}}, "relu"},
                   {"batch_norm", {}, ""},
                   {"dense", {{"units", 16}}, "relu"},
                   {"batch_norm", {}, ""},
                   {"dense", {{"units", 1}}, "linear"}},
                  "mse"};
  for (const auto& [lr, target_scale] : {std::pair(1e6, 1000.0), std::pair(0.5, 1.0)}) {
    auto net = make_net<T>(d, 13);
    Matrix<T> X, Y;
    make_data(d, 1, 20, 14, X, Y);
    for (Index i = 0; i < Y.size(); ++i) Y.data()[i] *= static_cast<T>(target_scale);
    auto last_epoch = state(*net);
    Index completed = 0;
    FitHooks hooks;
    hooks.on_epoch_end = [&](Index, const EpochLogs&) {
      last_epoch = state(*net);
      ++completed;
      return true;
    };
    FitOptions opts;
    opts.epochs = 500;
    opts.lr = lr;
    opts.batch_size = 4;
    bool threw = false;
    try {
      fit(*net, X.cview(), Y.cview(), opts, hooks);
    } catch (const DivergenceError& e) {
      threw = true;
      CHECK(e.epoch() == completed);
      if (chainrule_test::verbose())
        std::printf("divergence %s lr=%g: epoch %td: %s\n", dt.c_str(), lr, e.epoch(), e.what());
    }
    chainrule_test::record(threw, __FILE__, __LINE__,
                           "fit with lr=" + std::to_string(lr) + " did not diverge " + dt);
    check_state_equal("after divergence (lr=" + std::to_string(lr) +
                          "): parameters and running "
                          "statistics of the last finite epoch " +
                          dt,
                      *net, last_epoch);
  }
  auto net = make_net<T>(d, 13);
  // restore_params(copy_params) covers the buffers
  std::vector<Matrix<T>> saved;
  net->copy_params(saved);
  CHECK(saved.size() == net->parameters().size() + net->buffers().size());
  const auto before = state(*net);
  for (const auto* list : {&net->parameters(), &net->buffers()})
    for (const Parameter<T>& p : *list)
      std::fill(p.value.data, p.value.data + p.value.size(), T(7));
  net->restore_params(saved);
  check_state_equal("restore_params " + dt, *net, before);
  // a non-finite running statistic counts as divergence
  CHECK(net->params_finite());
  net->buffers()[1].value.data[0] = std::numeric_limits<T>::infinity();
  CHECK(!net->params_finite());
}

// ---- errors --------------------------------------------------------------------------------

template <class T>
void test_errors() {
  auto make = [](const std::string& kind, NamedParams params, Index index = 2) {
    LayerSpec<T> s;
    s.kind = kind;
    s.params = std::move(params);
    return make_layer<T>(std::move(s), index, 4);
  };
  CHECK_THROWS_MSG(make("dropout", {{"p", 1}}), ValueError,
                   "layer 2: Dropout: p must be a finite number in [0, 1), got 1");
  CHECK_THROWS_MSG(make("dropout", {{"p", -0.1}}), ValueError, "got -0.1");
  CHECK_THROWS_MSG(make("batch_norm", {{"eps", 0}}, 3), ValueError,
                   "layer 3: BatchNorm: eps must be a finite number > 0, got 0");
  CHECK_THROWS_MSG(make("batch_norm", {{"momentum", 1.5}}), ValueError,
                   "layer 2: BatchNorm: momentum must be a finite number in [0, 1], got 1.5");
  CHECK_THROWS_MSG(make("layer_norm", {{"eps", 0}}), ValueError,
                   "layer 2: LayerNorm: eps must be a finite number > 0, got 0");
  CHECK_THROWS_MSG(make("layer_norm", {{"momentum", 0.1}}), ValueError, "momentum");
  CHECK_THROWS_MSG(make("norm", {}), ValueError, "batch_norm");
  // the constructors check too
  CHECK_THROWS_MSG(Dropout<T>(4, 3, 1.0), ValueError, "layer 4: Dropout: p must be");
  CHECK_THROWS_MSG(BatchNorm<T>(4, 3, 0.1, -1), ValueError, "layer 4: BatchNorm: eps");
  CHECK_THROWS_MSG(LayerNorm<T>(4, 3, 0), ValueError, "layer 4: LayerNorm: eps");
  // defaults, aliases, reprs
  CHECK_STR_EQ(make("dropout", {})->repr(), std::string("Dropout(p=0.5)"));
  CHECK_STR_EQ(make("batchnorm", {{"momentum", 0}})->repr(),
               std::string("BatchNorm(momentum=0, eps=1e-05)"));
  CHECK_STR_EQ(make("layernorm", {{"eps", 0.001}})->repr(), std::string("LayerNorm(eps=0.001)"));
  CHECK_STR_EQ(make("layer_norm", {})->kind(), std::string("layer_norm"));
  CHECK(make("dropout", {{"p", 0}})->n_out() == 4);
  // an activation is refused
  LayerSpec<T> s;
  s.kind = "dropout";
  s.activation = make_activation<T>("relu");
  CHECK_THROWS_MSG(make_layer<T>(std::move(s), 2, 4), ValueError,
                   "layer 2: a Dropout layer takes no activation, got");
  // a network cannot end with one of them (the loss needs an activation)
  const NetDesc last{3, {{"dense", {{"units", 2}}, "tanh"}, {"layer_norm", {}, ""}}, "mse"};
  CHECK_THROWS_MSG(make_net<T>(last, 1), ValueError,
                   "layer 2: the last layer must end with an activation");
  CHECK(LayerRegistry::instance().info("batchnorm").name == "batch_norm");
  // a batch whose buffers cannot be had: std::bad_alloc (MemoryError) naming the layer, the
  // rows and a buffer's size; 2^45 rows of 4 take 2^50 bytes a buffer, past any address space
  // (the rows are never read: the buffers come first)
  const T row[4] = {};
  const ConstView<T> huge(row, Index(1) << 45, 4);
  CHECK_THROWS_MSG(make("dropout", {})->forward(huge, training(0, 1)), std::bad_alloc,
                   "layer 2: Dropout(p=0.5): out of memory for the buffers of a batch of "
                   "35184372088832 rows (one of shape (35184372088832, 4) in ");
  CHECK_THROWS_MSG(make("batch_norm", {})->forward(huge), std::bad_alloc, " GiB); pass fewer");
  auto dense =
      make_layer<T>(LayerSpec<T>{"dense", {{"units", 3}}, make_activation<T>("tanh")}, 1, 4);
  CHECK_THROWS_MSG(dense->forward(huge), std::bad_alloc,
                   "layer 1: Dense(3, Tanh()): out of memory");
}

template <class T>
void run_all() {
  RUN_TEST(test_dropout_forward_backward<T>);
  RUN_TEST(test_dropout_inference_and_p0<T>);
  RUN_TEST(test_dropout_masks<T>);
  RUN_TEST(test_batch_norm<T>);
  RUN_TEST(test_batch_norm_rows<T>);
  RUN_TEST(test_layer_norm<T>);
  RUN_TEST(test_gradient_checks<T>);
  RUN_TEST(test_network_with_layers<T>);
  RUN_TEST(test_fit<T>);
  RUN_TEST(test_divergence_restores_buffers<T>);
  RUN_TEST(test_errors<T>);
}

}  // namespace

int main() {
  RUN_TEST(run_all<double>);
  RUN_TEST(run_all<float>);
  return chainrule_test::report();
}
