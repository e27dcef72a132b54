// Optimizers: each update rule against values worked out by hand (two steps on a one-element
// tensor, so momentum and bias correction are exercised), the state accessors and setter,
// fuses_into_backward, updates in ranges, and every configuration error; Adam bit for bit
// against its operations with plain divisions. float and double.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "chainrule/error.hpp"
#include "chainrule/kernels/vmath.hpp"
#include "chainrule/optimizer.hpp"
#include "chainrule/optimizers/adam.hpp"
#include "chainrule/optimizers/rmsprop.hpp"
#include "chainrule/optimizers/sgd.hpp"
#include "test_util.hpp"

using namespace chainrule;

namespace {

template <class T>
double tol() {
  return std::is_same_v<T, float> ? 2e-6 : 1e-14;
}

// Two steps on p = [1, -2] with gradients g1 = [0.5, -1] then g2 = [0.25, 3]; returns p.
template <class T>
std::vector<double> two_steps(Optimizer<T>& opt, double lr) {
  opt.prepare({2});
  T p[2] = {T(1), T(-2)};
  const T g1[2] = {T(0.5), T(-1)}, g2[2] = {T(0.25), T(3)};
  opt.begin_step();
  opt.update(0, 2, static_cast<T>(lr), g1, p);
  opt.begin_step();
  opt.update(0, 2, static_cast<T>(lr), g2, p);
  return {p[0], p[1]};
}

template <class T>
void check_pair(const char* what, const std::vector<double>& got, double w0, double w1) {
  const bool ok0 = CHECK_CLOSE(got[0], w0, tol<T>());
  const bool ok1 = CHECK_CLOSE(got[1], w1, tol<T>());
  if (!ok0 || !ok1) std::fprintf(stderr, "  in %s\n", what);
}

template <class T>
void sgd_rules() {
  {  // plain: p -= lr g
    SGD<T> opt;
    CHECK(opt.fuses_into_backward() && opt.buffer_names().empty());
    // p0 = 1 - 0.1*0.5 - 0.1*0.25 = 0.925 ; p1 = -2 + 0.1 - 0.3 = -2.2
    check_pair<T>("sgd", two_steps(opt, 0.1), 0.925, -2.2);
    CHECK(opt.step_count() == 2);
  }
  {  // momentum 0.9: buf1 = g1, buf2 = 0.9 buf1 + g2
    SGD<T> opt(0.9);
    CHECK(!opt.fuses_into_backward());
    // p0: buf = 0.5 -> 0.95; buf = 0.45 + 0.25 = 0.7 -> 0.88
    // p1: buf = -1 -> -1.9; buf = -0.9 + 3 = 2.1 -> -2.11
    check_pair<T>("momentum", two_steps(opt, 0.1), 0.88, -2.11);
    CHECK_CLOSE(opt.buffer(0, 0).data[0], 0.7, tol<T>());
    CHECK_CLOSE(opt.buffer(0, 0).data[1], 2.1, tol<T>());
  }
  {  // dampening 0.5: the first step takes g undamped, then buf = 0.9 buf + 0.5 g
    SGD<T> opt(0.9, 0.5);
    // p0: 0.95; buf = 0.45 + 0.125 = 0.575 -> 0.8925 ; p1: -1.9; buf = -0.9 + 1.5 = 0.6 -> -1.96
    check_pair<T>("dampening", two_steps(opt, 0.1), 0.8925, -1.96);
  }
  {  // Nesterov: W -= lr (g + 0.9 buf)
    SGD<T> opt(0.9, 0, true);
    // p0: buf 0.5, step 0.5 + 0.45 = 0.95 -> 0.905; buf 0.7, step 0.25 + 0.63 = 0.88 -> 0.817
    // p1: buf -1, step -1.9 -> -1.81; buf 2.1, step 3 + 1.89 = 4.89 -> -2.299
    check_pair<T>("nesterov", two_steps(opt, 0.1), 0.817, -2.299);
  }
  {  // weight decay 0.1: g = dW + 0.1 W
    SGD<T> opt(0, 0, false, 0.1);
    CHECK(!opt.fuses_into_backward());
    // p0: g = 0.5 + 0.1 = 0.6 -> 0.94; g = 0.25 + 0.094 = 0.344 -> 0.9056
    // p1: g = -1 - 0.2 = -1.2 -> -1.88; g = 3 - 0.188 = 2.812 -> -2.1612
    check_pair<T>("weight decay", two_steps(opt, 0.1), 0.9056, -2.1612);
  }
  {  // momentum with weight decay: the decayed gradient enters the buffer
    SGD<T> opt(0.5, 0, false, 0.1);
    // p0: g 0.6, buf 0.6 -> 0.94; g 0.344, buf 0.3 + 0.344 = 0.644 -> 0.8756
    // p1: g -1.2, buf -1.2 -> -1.88; g 2.812, buf -0.6 + 2.812 = 2.212 -> -2.1012
    check_pair<T>("momentum + weight decay", two_steps(opt, 0.1), 0.8756, -2.1012);
  }
}

template <class T>
void adam_rules() {
  const double e = 1e-8;
  {  // Adam(0.9, 0.999), lr 0.1
    Adam<T> opt;
    CHECK(!opt.fuses_into_backward());
    CHECK(opt.buffer_names() == std::vector<std::string>({"exp_avg", "exp_avg_sq"}));
    // step 1: m = 0.1 g, v = 0.001 g^2, bias corrections 0.1 and 0.001:
    //   W -= (0.1 / 0.1) m / (sqrt(v / 0.001) + eps) = 0.1 g / (|g| + eps)
    const double p0 = 1 - 0.05 / (0.5 + e), p1 = -2 + 0.1 / (1 + e);
    // step 2: m = 0.9 m + 0.1 g2, v = 0.999 v + 0.001 g2^2, corrections 0.19 and 0.001999
    const double m0 = 0.9 * 0.05 + 0.1 * 0.25, v0 = 0.999 * 0.00025 + 0.001 * 0.0625;
    const double m1 = 0.9 * -0.1 + 0.1 * 3, v1 = 0.999 * 0.001 + 0.001 * 9;
    const double c1 = 1 - 0.9 * 0.9, c2 = 1 - 0.999 * 0.999;
    const auto got = two_steps(opt, 0.1);
    check_pair<T>("adam", got, p0 - 0.1 / c1 * m0 / (std::sqrt(v0 / c2) + e),
                  p1 - 0.1 / c1 * m1 / (std::sqrt(v1 / c2) + e));
    CHECK_CLOSE(opt.buffer(0, 0).data[0], m0, tol<T>());
    CHECK_CLOSE(opt.buffer(1, 0).data[1], v1, tol<T>());
  }
  {  // Adam with L2 weight decay 0.1: g1 = [0.6, -1.2]; first step moves by lr exactly
    Adam<T> opt(0.9, 0.999, 1e-8, 0.1);
    opt.prepare({2});
    T p[2] = {T(1), T(-2)};
    const T g[2] = {T(0.5), T(-1)};
    opt.begin_step();
    opt.update(0, 2, T(0.1), g, p);
    CHECK_CLOSE(p[0], 1 - 0.06 / (0.6 + e), tol<T>());
    CHECK_CLOSE(p[1], -2 + 0.12 / (1.2 + e), tol<T>());
  }
  {  // AdamW 0.1: W *= 1 - lr 0.1 first, then Adam on the plain gradient
    Adam<T> opt(0.9, 0.999, 1e-8, 0.1, true);
    CHECK(opt.name() == "adamw");
    opt.prepare({2});
    T p[2] = {T(1), T(-2)};
    const T g[2] = {T(0.5), T(-1)};
    opt.begin_step();
    opt.update(0, 2, T(0.1), g, p);
    CHECK_CLOSE(p[0], 0.99 - 0.05 / (0.5 + e), tol<T>());
    CHECK_CLOSE(p[1], -1.98 + 0.1 / (1 + e), tol<T>());
  }
}

template <class T>
void rmsprop_rules() {
  const double e = 1e-8;
  {  // alpha 0.99, lr 0.01: s = 0.01 g^2, W -= lr g / (sqrt(s) + eps)
    RMSprop<T> opt;
    CHECK(opt.buffer_names() == std::vector<std::string>({"square_avg"}));
    const double s0 = 0.01 * 0.25, s1 = 0.01 * 1;
    const double p0 = 1 - 0.01 * 0.5 / (std::sqrt(s0) + e),
                 p1 = -2 + 0.01 * 1 / (std::sqrt(s1) + e);
    const double t0 = 0.99 * s0 + 0.01 * 0.0625, t1 = 0.99 * s1 + 0.01 * 9;
    check_pair<T>("rmsprop", two_steps(opt, 0.01), p0 - 0.01 * 0.25 / (std::sqrt(t0) + e),
                  p1 - 0.01 * 3 / (std::sqrt(t1) + e));
  }
  {  // momentum 0.9: buf = 0.9 buf + g / d, W -= lr buf
    RMSprop<T> opt(0.99, 1e-8, 0, 0.9);
    CHECK(opt.buffer_names() == std::vector<std::string>({"square_avg", "momentum_buffer"}));
    const double d0 = std::sqrt(0.0025) + e, t0 = std::sqrt(0.99 * 0.0025 + 0.01 * 0.0625) + e;
    const double b0 = 0.5 / d0, b0b = 0.9 * b0 + 0.25 / t0;
    const auto got = two_steps(opt, 0.01);
    CHECK_CLOSE(got[0], 1 - 0.01 * b0 - 0.01 * b0b, tol<T>());
  }
  {  // centered: a = 0.01 g, d = sqrt(s - a^2) + eps ; weight decay 0.1 enters g
    RMSprop<T> opt(0.99, 1e-8, 0.1, 0, true);
    CHECK(opt.buffer_names() == std::vector<std::string>({"square_avg", "grad_avg"}));
    opt.prepare({1});
    T p[1] = {T(1)};
    const T g[1] = {T(0.5)};
    opt.begin_step();
    opt.update(0, 1, T(0.01), g, p);
    const double gg = 0.6, s = 0.01 * gg * gg, a = 0.01 * gg;
    CHECK_CLOSE(p[0], 1 - 0.01 * gg / (std::sqrt(s - a * a) + e), tol<T>());
    CHECK_CLOSE(opt.buffer(1, 0).data[0], a, tol<T>());
  }
}

// Reading the state, writing it into a fresh optimizer, and continuing gives exactly the
// same parameters as continuing the original.
template <class T>
void state_round_trip() {
  for (const std::string name : {"sgd", "adam", "adamw", "rmsprop"}) {
    OptimizerParams params;
    if (name == "sgd") params = {{"momentum", 0.9}, {"nesterov", 1}};
    if (name == "rmsprop") params = {{"momentum", 0.5}, {"centered", 1}};
    auto a = make_optimizer<T>(name, params), b = make_optimizer<T>(name, params);
    a->prepare({3, 2});
    b->prepare({3, 2});
    T pa[3] = {T(1), T(2), T(3)}, qa[2] = {T(-1), T(0.5)};
    const T g[3] = {T(0.3), T(-0.2), T(0.1)}, h[2] = {T(0.7), T(-0.4)};
    for (int s = 0; s < 3; ++s) {
      a->begin_step();
      a->update(0, 3, T(0.05), g, pa);
      a->update(1, 2, T(0.05), h, qa);
    }
    std::vector<std::pair<std::string, std::vector<ConstView<T>>>> named;
    for (std::size_t k = 0; k < a->buffer_names().size(); ++k)
      named.push_back({a->buffer_names()[k], {a->buffer(k, 0), a->buffer(k, 1)}});
    b->set_state(a->step_count(), named);
    CHECK(b->step_count() == 3);
    T pb[3], qb[2];
    std::copy(pa, pa + 3, pb);
    std::copy(qa, qa + 2, qb);
    a->begin_step();
    a->update(0, 3, T(0.05), g, pa);
    a->update(1, 2, T(0.05), h, qa);
    b->begin_step();
    b->update(0, 3, T(0.05), g, pb);
    b->update(1, 2, T(0.05), h, qb);
    chainrule_test::check_all_equal(name + " continued from its state", pb, pa, 3);
    chainrule_test::check_all_equal(name + " continued from its state (bias)", qb, qa, 2);
  }
}

// Adam's bias corrections are computed once a step, by begin_step(); an update at another step
// count than the one begun last (set_state moved it, or no step begun yet) uses its own step's:
// the same bits as a fresh optimizer given the same state
template <class T>
void adam_corrections_follow_the_step() {
  for (const std::string name : {"adam", "adamw"}) {
    auto a = make_optimizer<T>(name, {}), b = make_optimizer<T>(name, {});
    a->prepare({3});
    b->prepare({3});
    T pa[3] = {T(1), T(2), T(3)};
    const T g[3] = {T(0.3), T(-0.2), T(0.1)};
    for (int s = 0; s < 5; ++s) {  // a's corrections are now step 5's
      a->begin_step();
      a->update(0, 3, T(0.05), g, pa);
    }
    std::vector<std::pair<std::string, std::vector<ConstView<T>>>> named;
    for (std::size_t k = 0; k < a->buffer_names().size(); ++k)
      named.push_back({a->buffer_names()[k], {a->buffer(k, 0)}});
    b->set_state(2, named);
    a->set_state(2, named);
    T pb[3];
    std::copy(pa, pa + 3, pb);
    a->update(0, 3, T(0.05), g, pa);  // at step 2, not 5
    b->update(0, 3, T(0.05), g, pb);
    chainrule_test::check_all_equal(name + " after set_state", pa, pb, 3);
    a->begin_step();  // step 3 on both
    b->begin_step();
    a->update(0, 3, T(0.05), g, pa);
    b->update(0, 3, T(0.05), g, pb);
    chainrule_test::check_all_equal(name + " a step after set_state", pa, pb, 3);
    // before any step, an update counts as step 1: its corrections are 1 - beta, so Adam's
    // first move is lr g / (|g| + eps), about lr, for each element
    auto c = make_optimizer<T>(name, {});
    c->prepare({1});
    T pc[1] = {T(1)};
    const T gc[1] = {T(0.5)};
    c->update(0, 1, T(0.1), gc, pc);
    const double decay = name == "adamw" ? 1 - 0.1 * 0.01 : 1;
    CHECK_CLOSE(pc[0], decay - 0.1 * 0.5 / (0.5 + 1e-8), tol<T>());
  }
}

// update_range over pieces of a tensor, taken in any order, gives update()'s bits: the
// parameters and every state buffer, over three steps (SGD's first momentum step included)
template <class T>
void ranges_match_whole() {
  const std::vector<std::pair<std::string, OptimizerParams>> configs = {
      {"sgd", {}},
      {"sgd", {{"momentum", 0.9}, {"nesterov", 1}, {"weight_decay", 0.01}}},
      {"adam", {{"weight_decay", 0.01}}},
      {"adamw", {}},
      {"rmsprop", {{"momentum", 0.5}, {"centered", 1}}}};
  constexpr Index n = 37;
  const std::vector<std::pair<Index, Index>> pieces = {{20, 37}, {0, 5}, {5, 20}, {5, 5}};
  for (const auto& [name, params] : configs) {
    auto whole = make_optimizer<T>(name, params), parts = make_optimizer<T>(name, params);
    whole->prepare({n});
    parts->prepare({n});
    std::vector<T> pw(n), pp(n), g(n);
    for (Index i = 0; i < n; ++i) pw[i] = pp[i] = static_cast<T>(std::sin(0.7 * i));
    for (int step = 0; step < 3; ++step) {
      for (Index i = 0; i < n; ++i) g[i] = static_cast<T>(std::cos(1.3 * i + step));
      whole->begin_step();
      whole->update(0, n, T(0.05), g.data(), pw.data());
      parts->begin_step();
      for (const auto& [b, e] : pieces)
        parts->update_range(0, n, T(0.05), g.data(), pp.data(), b, e);
    }
    chainrule_test::check_all_equal(name + " in ranges", pp.data(), pw.data(), n);
    for (std::size_t k = 0; k < whole->buffer_names().size(); ++k)
      chainrule_test::check_all_equal(name + " in ranges: " + whole->buffer_names()[k],
                                      parts->buffer(k, 0).data, whole->buffer(k, 0).data, n);
  }
  Adam<T> opt;
  opt.prepare({4});
  T p[4] = {}, g0[4] = {};
  CHECK_THROWS_MSG(opt.update_range(0, 4, T(0.1), g0, p, 3, 2), ValueError,
                   "update of elements [3, 2) of slot 0 (4 elements)");
  CHECK_THROWS_MSG(opt.update_range(0, 4, T(0.1), g0, p, 0, 5), ValueError, "[0, 5)");
  CHECK_THROWS_MSG(opt.update_range(0, 5, T(0.1), g0, p, 0, 4), ValueError, "does not match");
}

// The divergence rollback's copy: restore_snapshot() puts back the step count and every buffer
// as save_snapshot() found them, whatever steps ran in between, and the optimizer then goes on
// as one that never took those steps
template <class T>
void snapshot_restores_the_state() {
  for (const std::string name : {"sgd", "adam", "rmsprop"}) {
    std::vector<std::pair<std::string, double>> params;
    if (name == "sgd") params = {{"momentum", 0.9}};
    if (name == "rmsprop") params = {{"momentum", 0.5}, {"centered", 1}};
    auto a = make_optimizer<T>(name, params), b = make_optimizer<T>(name, params);
    a->prepare({3});
    b->prepare({3});
    T pa[3] = {T(1), T(2), T(3)}, pb[3] = {T(1), T(2), T(3)};
    const T g[3] = {T(0.3), T(-0.2), T(0.1)}, huge[3] = {T(1e30), T(-1e30), T(1e30)};
    {  // no copy since prepare(): the state as prepared (installed since the rollback's copy)
      auto c = make_optimizer<T>(name, params);
      c->prepare({3});
      T pc[3] = {T(1), T(2), T(3)};
      c->begin_step();
      c->update(0, 3, T(0.05), huge, pc);
      c->restore_snapshot();
      CHECK(c->step_count() == 0);
      for (std::size_t k = 0; k < c->buffer_names().size(); ++k)
        for (int i = 0; i < 3; ++i) CHECK(c->buffer(k, 0).data[i] == T(0));
    }
    for (auto* o : {a.get(), b.get()})
      for (int s = 0; s < 2; ++s) {
        o->begin_step();
        o->update(0, 3, T(0.05), g, o == a.get() ? pa : pb);
      }
    a->save_snapshot();
    T lost[3] = {pa[0], pa[1], pa[2]};
    for (int s = 0; s < 3; ++s) {  // steps the rollback takes back
      a->begin_step();
      a->update(0, 3, T(0.05), huge, lost);
    }
    a->restore_snapshot();
    CHECK(a->step_count() == 2);
    for (std::size_t k = 0; k < a->buffer_names().size(); ++k)
      chainrule_test::check_all_equal(name + " " + a->buffer_names()[k], a->buffer(k, 0).data,
                                      b->buffer(k, 0).data, 3);
    a->begin_step();
    b->begin_step();
    a->update(0, 3, T(0.05), g, pa);
    b->update(0, 3, T(0.05), g, pb);
    chainrule_test::check_all_equal(name + " after the rollback", pa, pb, 3);
  }
}

template <class T>
void state_errors() {
  Adam<T> opt;
  opt.prepare({2, 1});
  const T two[2] = {T(0), T(0)}, one[1] = {T(0)}, bad[1] = {std::numeric_limits<T>::quiet_NaN()};
  const ConstView<T> v2(two, 1, 2), v1(one, 1, 1), vbad(bad, 1, 1);
  using Named = std::vector<std::pair<std::string, std::vector<ConstView<T>>>>;
  CHECK_THROWS_MSG(opt.set_state(1, Named{{"exp_avg", {v2, v1}}}), ValueError, "exp_avg_sq");
  CHECK_THROWS_MSG(
      opt.set_state(1,
                    Named{{"exp_avg", {v2, v1}}, {"exp_avg_sq", {v2, v1}}, {"momentum", {v2, v1}}}),
      ValueError, "no state buffer 'momentum'");
  CHECK_THROWS_MSG(opt.set_state(1, Named{{"exp_avg", {v2, v1}}, {"exp_avg_sq", {v2}}}), ValueError,
                   "one array per parameter tensor (2), got 1");
  CHECK_THROWS_MSG(opt.set_state(1, Named{{"exp_avg", {v2, v2}}, {"exp_avg_sq", {v2, v1}}}),
                   ValueError, "'exp_avg' of b1 must have 1 values, got 2");
  CHECK_THROWS_MSG(opt.set_state(1, Named{{"exp_avg", {v2, vbad}}, {"exp_avg_sq", {v2, v1}}}),
                   ValueError, "NaN or inf");
  CHECK_THROWS_MSG(opt.set_state(-1, Named{{"exp_avg", {v2, v1}}, {"exp_avg_sq", {v2, v1}}}),
                   ValueError, "step must be >= 0");
  const T negative[1] = {T(-0.5)};  // a mean of squares below 0: NaN in the update's sqrt
  const ConstView<T> vneg(negative, 1, 1);
  CHECK_THROWS_MSG(
      opt.set_state(1, Named{{"exp_avg", {v2, vneg}}, {"exp_avg_sq", {v2, vneg}}}), ValueError,
      "'exp_avg_sq' of b1 holds sums or means of squares, which must be >= 0; got -0.5 at index 0");
  opt.set_state(1, Named{{"exp_avg", {v2, vneg}}, {"exp_avg_sq", {v2, v1}}});  // a mean may be < 0
  opt.set_state(0, Named{{"exp_avg", {v2, v1}}, {"exp_avg_sq", {v2, v1}}});
  CHECK(opt.step_count() == 0);  // nothing changed
  T p[2] = {T(1), T(1)};
  CHECK_THROWS_MSG(opt.update(0, 3, T(0.1), two, p), ValueError, "does not match");
  CHECK_THROWS_MSG(opt.update(2, 1, T(0.1), two, p), ValueError, "slot 2");
}

void factory_errors() {
  CHECK_THROWS_MSG(make_optimizer<double>("adagrad"), ValueError,
                   "unknown optimizer 'adagrad'; valid names: adam, adamw, rmsprop, sgd");
  CHECK_THROWS_MSG(
      make_optimizer<double>("adam", {{"beta", 0.9}}), ValueError,
      "optimizer 'adam' has no parameter 'beta' (valid: beta1, beta2, eps, weight_decay)");
  CHECK_THROWS_MSG(make_optimizer<double>("sgd", {{"momentum", -0.1}}), ValueError,
                   "SGD: momentum must be a finite number >= 0, got -0.1");
  CHECK_THROWS_MSG(make_optimizer<double>("sgd", {{"weight_decay", INFINITY}}), ValueError,
                   "SGD: weight_decay must be a finite number >= 0, got inf");
  CHECK_THROWS_MSG(make_optimizer<double>("sgd", {{"nesterov", 1}}), ValueError,
                   "nesterov needs momentum > 0");
  CHECK_THROWS_MSG(make_optimizer<double>("sgd", {{"dampening", 1.5}}), ValueError,
                   "SGD: dampening must be a finite number in [0, 1], got 1.5");
  CHECK_THROWS_MSG(make_optimizer<double>("adam", {{"beta1", 1}}), ValueError,
                   "Adam: betas[0] must be a finite number in [0, 1), got 1");
  CHECK_THROWS_MSG(make_optimizer<double>("adamw", {{"beta2", -0.5}}), ValueError,
                   "AdamW: betas[1] must be a finite number in [0, 1), got -0.5");
  CHECK_THROWS_MSG(make_optimizer<double>("adam", {{"eps", NAN}}), ValueError,
                   "Adam: eps must be a finite number >= 0, got nan");
  CHECK_THROWS_MSG(make_optimizer<double>("rmsprop", {{"alpha", 2}}), ValueError,
                   "RMSprop: alpha must be a finite number in [0, 1], got 2");
  CHECK_THROWS_MSG(make_optimizer<double>("rmsprop", {{"centered", 0.5}}), ValueError,
                   "RMSprop: centered must be true or false");
  CHECK(make_optimizer<double>("sgd")->fuses_into_backward());
  CHECK(!make_optimizer<double>("sgd", {{"momentum", 0.9}})->fuses_into_backward());
  CHECK(!make_optimizer<double>("sgd", {{"weight_decay", 1e-4}})->fuses_into_backward());
  CHECK(!make_optimizer<double>("adam")->fuses_into_backward());
  CHECK(!make_optimizer<double>("rmsprop")->fuses_into_backward());
  CHECK(optimizer_names() == std::vector<std::string>({"adam", "adamw", "rmsprop", "sgd"}));
}

// kernels::quotient_by(a, b, 1 / b) has the bits of a / b (Adam divides by sqrt(1 - beta2^t)
// so): every 997th float in [2^-100, 2^100) (and 0, inf, NaN), or 200,000 random doubles in
// [2^-600, 2^500], against divisors of Adam's steps and random ones in [1e-4, 1].
template <class T>
void quotient_by_matches_division() {
  std::vector<T> divisors;
  for (double beta2 : {0.9, 0.999, 0.9999})
    for (double t : {1.0, 2.0, 10.0, 1000.0, 1e6})
      divisors.push_back(static_cast<T>(std::sqrt(1 - std::pow(beta2, t))));
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> unit(1e-4, 1.0), exponent(-600, 500);
  for (int i = 0; i < 5; ++i) divisors.push_back(static_cast<T>(unit(rng)));
  std::vector<T> values = {T(0), std::numeric_limits<T>::infinity()};
  if constexpr (std::is_same_v<T, float>) {
    for (std::uint32_t u = 0x0d800000u; u < 0x71800000u; u += 997) {
      float a;
      std::memcpy(&a, &u, sizeof a);
      values.push_back(a);
    }
  } else {
    for (int i = 0; i < 200000; ++i) values.push_back(std::exp2(exponent(rng)) * (1 + unit(rng)));
  }
  long differ = 0;
  for (T b : divisors) {
    const T r_b = T(1) / b;
    for (T a : values) {
      const T q = kernels::quotient_by(a, b, r_b), d = a / b;
      differ += std::memcmp(&q, &d, sizeof q) != 0;
    }
    CHECK(std::isnan(kernels::quotient_by(std::numeric_limits<T>::quiet_NaN(), b, r_b)));
  }
  CHECK(differ == 0);
}

// Adam's update, bit for bit, against PyTorch's operations written out with its divisions, on
// values of every magnitude (and zeros) over five steps, with L2 decay and AdamW.
template <class T>
void adam_matches_division() {
  const Index n = 4000;
  std::mt19937_64 rng(9);
  std::uniform_real_distribution<double> exponent(-30, 10), sign(-1, 1);
  for (const bool decoupled : {false, true}) {
    const double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, decay = 0.01;
    const double lr = static_cast<T>(0.003);  // the learning rate as the update gets it
    Adam<T> opt(beta1, beta2, eps, decay, decoupled);
    opt.prepare({n});
    std::vector<T> p(n), pr(n), m(n, T(0)), v(n, T(0)), g(n);
    for (Index i = 0; i < n; ++i) p[i] = pr[i] = static_cast<T>(sign(rng));
    for (int step = 1; step <= 5; ++step) {
      for (Index i = 0; i < n; ++i)
        g[i] = i % 7 == 0 ? T(0) : static_cast<T>(sign(rng) * std::pow(10.0, exponent(rng)));
      opt.begin_step();
      opt.update(0, n, static_cast<T>(lr), g.data(), p.data());
      // the reference: torch.optim.Adam's single-tensor step
      const double c1 = 1 - std::pow(beta1, step), c2 = 1 - std::pow(beta2, step);
      const T step_size = static_cast<T>(lr / c1), c2_sqrt = static_cast<T>(std::sqrt(c2));
      const T keep = decoupled ? static_cast<T>(1 - lr * decay) : T(1);
      for (Index i = 0; i < n; ++i) {
        if (decoupled) pr[i] *= keep;
        const T gi = decoupled ? g[i] : g[i] + static_cast<T>(decay) * pr[i];
        m[i] = static_cast<T>(beta1) * m[i] + static_cast<T>(1 - beta1) * gi;
        v[i] = static_cast<T>(beta2) * v[i] + static_cast<T>(1 - beta2) * (gi * gi);
        const T denom = std::sqrt(v[i]) / c2_sqrt + static_cast<T>(eps);
        pr[i] -= step_size * (m[i] / denom);
      }
    }
    CHECK(std::memcmp(p.data(), pr.data(), n * sizeof(T)) == 0);
    CHECK(std::memcmp(opt.buffer(1, 0).data, v.data(), n * sizeof(T)) == 0);
  }
}

}  // namespace

int main() {
  RUN_TEST(sgd_rules<double>);
  RUN_TEST(sgd_rules<float>);
  RUN_TEST(adam_rules<double>);
  RUN_TEST(adam_rules<float>);
  RUN_TEST(quotient_by_matches_division<double>);
  RUN_TEST(quotient_by_matches_division<float>);
  RUN_TEST(adam_matches_division<double>);
  RUN_TEST(adam_matches_division<float>);
  RUN_TEST(rmsprop_rules<double>);
  RUN_TEST(rmsprop_rules<float>);
  RUN_TEST(state_round_trip<double>);
  RUN_TEST(state_round_trip<float>);
  RUN_TEST(adam_corrections_follow_the_step<double>);
  RUN_TEST(adam_corrections_follow_the_step<float>);
  RUN_TEST(ranges_match_whole<double>);
  RUN_TEST(ranges_match_whole<float>);
  RUN_TEST(snapshot_restores_the_state<double>);
  RUN_TEST(snapshot_restores_the_state<float>);
  RUN_TEST(state_errors<double>);
  RUN_TEST(factory_errors);
  return chainrule_test::report();
}
