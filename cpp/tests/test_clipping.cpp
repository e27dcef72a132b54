// Gradient clipping: clip_gradients against the formula of torch.nn.utils written naively
// (awkward sizes, both dtypes, special values), its argument checks, fit with clipping equal
// to the steps by hand, the unfused SGD path equal to the fused one when nothing is clipped,
// and the same bits for any thread count.
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "chainrule/activation.hpp"
#include "chainrule/clipping.hpp"
#include "chainrule/error.hpp"
#include "chainrule/kernels/thread_pool.hpp"
#include "chainrule/loss.hpp"
#include "chainrule/network.hpp"
#include "chainrule/training/trainer.hpp"
#include "test_util.hpp"

using namespace chainrule;
using chainrule_test::check_all_close;
using chainrule_test::check_all_equal;
using chainrule_test::Rng;

namespace {

GradientClipping clipping(std::optional<double> norm, std::optional<double> value) {
  GradientClipping c;
  c.norm = norm;
  c.value = value;
  return c;
}

// torch.nn.utils.clip_grad_value_ then clip_grad_norm_, in long double
template <class T>
std::vector<T> naive_clip(std::vector<T> g, const GradientClipping& clip) {
  if (clip.value)
    for (T& x : g)
      x = static_cast<T>(
          std::fmin(std::fmax(static_cast<long double>(x), -*clip.value), *clip.value));
  if (clip.norm) {
    long double sum = 0;
    for (T x : g) sum += static_cast<long double>(x) * x;
    const long double coef = *clip.norm / (std::sqrt(sum) + 1e-6L);
    if (coef < 1)
      for (T& x : g) x = static_cast<T>(x * coef);
  }
  return g;
}

template <class T>
void clip_matches_the_formula() {
  const double tol = std::is_same_v<T, float> ? 2e-7 : 1e-15;
  Rng rng(1);
  for (Index n : {1, 2, 3, 7, 15, 17, 31, 33, 100, 1000}) {
    std::vector<T> g(static_cast<std::size_t>(n));
    rng.fill_normal(g.data(), n, 0.0, 2.0);
    double norm = 0;
    for (T x : g) norm += static_cast<double>(x) * static_cast<double>(x);
    norm = std::sqrt(norm);
    CHECK_CLOSE(l2_norm(g.data(), n), norm, 1e-13);
    const GradientClipping cases[] = {
        {norm / 3, std::nullopt},  // scaled by about 1/3
        {norm * 2, std::nullopt},  // not clipped: unchanged
        {std::nullopt, 0.5},       // values clamped
        {norm / 10, 1.0},          // clamped, then scaled
        {1e300, 1e300},            // neither
    };
    for (const GradientClipping& c : cases) {
      const std::string what = std::string(chainrule_test::dtype_name<T>()) +
                               " n=" + std::to_string(n) +
                               " norm=" + (c.norm ? shortest_repr(*c.norm) : "-") +
                               " value=" + (c.value ? shortest_repr(*c.value) : "-");
      std::vector<T> got = g;
      clip_gradients(got.data(), n, c);
      const std::vector<T> want = naive_clip(g, c);
      check_all_close(what, got.data(), want.data(), n, tol, 1e-30);
      if (c.norm && *c.norm >= norm)
        check_all_equal(what + " (untouched)", got.data(), g.data(), n);
      if (c.norm) CHECK(l2_norm(got.data(), n) <= *c.norm * (1 + 4 * tol));
      if (c.value)
        for (T x : got) CHECK(std::fabs(static_cast<double>(x)) <= *c.value);
    }
  }
}

// As torch with error_if_nonfinite=False: NaN stays NaN, inf is clamped by value, an infinite
// norm scales by 0 (inf * 0 = NaN), a NaN norm makes everything NaN.
template <class T>
void special_values() {
  const T inf = std::numeric_limits<T>::infinity(), nan = std::numeric_limits<T>::quiet_NaN();
  T a[] = {T(1), -inf, nan, T(-0.25), inf};
  clip_gradients(a, 5, GradientClipping{std::nullopt, 0.5});
  CHECK(a[0] == T(0.5) && a[1] == T(-0.5) && std::isnan(a[2]) && a[3] == T(-0.25) &&
        a[4] == T(0.5));
  T b[] = {T(1), inf, T(-2)};
  clip_gradients(b, 3, GradientClipping{1.0, std::nullopt});
  CHECK(b[0] == T(0) && std::isnan(b[1]) && b[2] == T(0));
  T c[] = {T(1), nan, T(-2)};
  clip_gradients(c, 3, GradientClipping{1.0, std::nullopt});
  CHECK(std::isnan(c[0]) && std::isnan(c[1]) && std::isnan(c[2]));
  T d[] = {T(0), T(0)};  // a zero gradient: coefficient max_norm / 1e-6, clamped to 1
  clip_gradients(d, 2, GradientClipping{1e-3, std::nullopt});
  CHECK(d[0] == T(0) && d[1] == T(0));
  clip_gradients<T>(nullptr, 0, GradientClipping{1.0, 1.0});  // no gradients: nothing to do
}

void checks_name_the_argument() {
  const double inf = std::numeric_limits<double>::infinity();
  CHECK_THROWS_MSG(clipping(0.0, std::nullopt).check(), ValueError,
                   "clip_norm must be a finite number > 0, got 0");
  CHECK_THROWS_MSG(clipping(-1.5, std::nullopt).check(), ValueError,
                   "clip_norm must be a finite number > 0, got -1.5");
  CHECK_THROWS_MSG(clipping(inf, std::nullopt).check(), ValueError,
                   "clip_norm must be a finite number > 0, got inf");
  CHECK_THROWS_MSG(clipping(std::nullopt, std::nan("")).check(), ValueError,
                   "clip_value must be a finite number > 0, got nan");
  CHECK_THROWS_MSG(clipping(1.0, -inf).check(), ValueError,
                   "clip_value must be a finite number > 0, got -inf");
  GradientClipping{}.check();
  clipping(1e-300, 1e300).check();
  CHECK(!GradientClipping{}.active() && clipping(1.0, std::nullopt).active());
}

template <class T>
std::unique_ptr<Network<T>> make_net(const std::vector<Index>& sizes,
                                     const std::string& optimizer) {
  std::vector<std::unique_ptr<Activation<T>>> acts;
  for (std::size_t l = 0; l + 2 < sizes.size(); ++l)
    acts.push_back(make_activation<T>(l % 2 == 0 ? "relu" : "tanh"));
  acts.push_back(make_activation<T>("softmax"));
  auto net = std::make_unique<Network<T>>(sizes, std::move(acts), make_loss<T>("cross_entropy"),
                                          make_optimizer<T>(optimizer));
  Rng rng(9);
  for (Index l = 0; l < net->num_layers(); ++l) {
    rng.fill_uniform(net->dense(l).W().data, net->dense(l).W().size(), -0.3, 0.3);
    rng.fill_uniform(net->dense(l).b().data, net->dense(l).b().size(), -0.1, 0.1);
  }
  return net;
}

template <class T>
void make_data(Index m, Index n_in, Index n_out, Matrix<T>& X, Matrix<T>& Y) {
  Rng rng(10);
  X.resize(m, n_in);
  Y.resize(m, n_out);
  rng.fill_uniform(X.data(), X.size(), -1.0, 1.0);
  for (Index i = 0; i < m; ++i)
    for (Index j = 0; j < n_out; ++j) Y(i, j) = T(j == i % n_out ? 1 : 0);
}

template <class T>
std::vector<T> params(const Network<T>& net) {
  std::vector<T> out;
  for (const Parameter<T>& p : net.parameters())
    out.insert(out.end(), p.value.data, p.value.data + p.value.size());
  return out;
}

// fit with clipping is compute_gradients, clip, step for every batch, bit for bit; with a
// bound that never clips, SGD's unfused path equals the update fused into backward.
template <class T>
void fit_equals_steps_by_hand(const std::string& optimizer) {
  const std::vector<Index> sizes = {6, 9, 4};
  Matrix<T> X, Y;
  make_data<T>(23, 6, 4, X, Y);
  FitOptions opts;
  opts.epochs = 3;
  opts.batch_size = 10;  // 10, 10, 3
  opts.lr = 0.1;
  opts.clip = GradientClipping{0.05, 0.02};
  auto net = make_net<T>(sizes, optimizer), twin = make_net<T>(sizes, optimizer);
  fit(*net, X.cview(), Y.cview(), opts);
  for (int e = 0; e < 3; ++e)
    for (Index r = 0; r < 23; r += 10) {
      const Index rows = std::min<Index>(10, 23 - r);
      twin->compute_gradients(X.cview().row_range(r, rows), Y.cview().row_range(r, rows));
      twin->step(opts.lr, opts.clip);
    }
  const auto a = params(*net), b = params(*twin);
  check_all_equal(optimizer + ": fit with clipping vs steps by hand", a.data(), b.data(),
                  static_cast<Index>(a.size()));

  auto fused = make_net<T>(sizes, optimizer), unfused = make_net<T>(sizes, optimizer);
  FitOptions plain = opts;
  plain.clip = GradientClipping{};
  opts.clip = GradientClipping{1e300, 1e300};
  const auto lf = fit(*fused, X.cview(), Y.cview(), plain);
  const auto lu = fit(*unfused, X.cview(), Y.cview(), opts);
  const auto f = params(*fused), u = params(*unfused);
  check_all_equal(optimizer + ": no clipping vs bounds never reached", u.data(), f.data(),
                  static_cast<Index>(f.size()));
  check_all_equal(optimizer + ": their losses", lu.data(), lf.data(),
                  static_cast<Index>(lf.size()));
}

// step with given gradients clips a copy: the same as clipping the network's own in place.
template <class T>
void step_with_given_gradients() {
  const std::vector<Index> sizes = {6, 9, 4};
  Matrix<T> X, Y;
  make_data<T>(12, 6, 4, X, Y);
  auto a = make_net<T>(sizes, "adam"), b = make_net<T>(sizes, "adam");
  const GradientClipping clip{0.1, 0.03};
  for (int s = 0; s < 3; ++s) {
    a->compute_gradients(X.cview(), Y.cview());
    a->step(0.01, clip);
    b->compute_gradients(X.cview(), Y.cview());
    std::vector<Matrix<T>> dW, db;
    std::vector<ConstView<T>> grads;  // one per parameter: W1, b1, W2, b2
    for (Index l = 0; l < b->num_layers(); ++l) {
      dW.emplace_back(b->dense(l).dW().rows, b->dense(l).dW().cols);
      db.emplace_back(1, b->dense(l).db().size());
      std::copy(b->dense(l).dW().data, b->dense(l).dW().data + dW.back().size(), dW.back().data());
      std::copy(b->dense(l).db().data, b->dense(l).db().data + db.back().size(), db.back().data());
    }
    for (Index l = 0; l < b->num_layers(); ++l) {
      grads.push_back(dW[static_cast<std::size_t>(l)].cview());
      grads.push_back(db[static_cast<std::size_t>(l)].cview());
    }
    const std::vector<Matrix<T>> given = dW;
    b->step(grads, 0.01, clip);
    for (std::size_t l = 0; l < dW.size(); ++l)
      check_all_equal("the given dW is left as it was", dW[l].data(), given[l].data(),
                      dW[l].size());
  }
  const auto pa = params(*a), pb = params(*b);
  check_all_equal("step(lr, clip) vs step(grads, lr, clip)", pb.data(), pa.data(),
                  static_cast<Index>(pa.size()));
}

// Bad bounds raise before anything changes, in fit and in both steps.
void bad_bounds_leave_the_network_unchanged() {
  const std::vector<Index> sizes = {6, 9, 4};
  Matrix<double> X, Y;
  make_data<double>(12, 6, 4, X, Y);
  auto net = make_net<double>(sizes, "adam");
  net->compute_gradients(X.cview(), Y.cview());
  const auto before = params(*net);
  FitOptions opts;
  opts.clip = clipping(std::nullopt, 0.0);
  CHECK_THROWS_MSG(fit(*net, X.cview(), Y.cview(), opts), ValueError, "clip_value must be");
  CHECK_THROWS_MSG(net->step(0.1, clipping(-1.0, std::nullopt)), ValueError, "clip_norm must be");
  std::vector<ConstView<double>> grads;
  for (const Parameter<double>& p : net->parameters()) grads.push_back(p.grad);
  CHECK_THROWS_MSG(net->step(grads, 0.1, clipping(std::nan(""), std::nullopt)), ValueError,
                   "clip_norm must be");
  const auto after = params(*net);
  check_all_equal("weights after refused calls", after.data(), before.data(),
                  static_cast<Index>(before.size()));
  CHECK(net->optimizer().step_count() == 0);
}

// The norm is summed in a fixed order: 1, 2 or 3 threads train to the same bits.
template <class T>
void thread_count_does_not_matter() {
  const std::vector<Index> sizes = {64, 96, 48, 10};
  Matrix<T> X, Y;
  make_data<T>(200, 64, 10, X, Y);  // large enough for the packed, threaded GEMM path
  FitOptions opts;
  opts.epochs = 3;
  opts.batch_size = 128;
  opts.lr = 0.01;
  std::vector<T> first;
  kernels::set_num_threads(1);
  auto unclipped = make_net<T>(sizes, "sgd");
  fit(*unclipped, X.cview(), Y.cview(), opts);
  for (const char* optimizer : {"sgd", "adam"}) {
    for (const GradientClipping& clip :
         {GradientClipping{0.05, std::nullopt}, GradientClipping{0.05, 0.002}}) {
      opts.clip = clip;
      first.clear();
      for (int threads : {1, 2, 3}) {
        kernels::set_num_threads(threads);
        auto net = make_net<T>(sizes, optimizer);
        fit(*net, X.cview(), Y.cview(), opts);
        const auto p = params(*net);
        if (first.empty()) {
          first = p;
          if (optimizer == std::string("sgd")) {  // the bounds are reached: clipping is tested
            const auto u = params(*unclipped);
            double diff = 0;
            for (std::size_t k = 0; k < u.size(); ++k)
              diff = std::max(diff, std::fabs(static_cast<double>(u[k] - p[k])));
            CHECK(diff > 1e-3);
          }
        } else
          check_all_equal(std::string(optimizer) + " " + chainrule_test::dtype_name<T>() + ", " +
                              std::to_string(threads) + " threads vs 1",
                          p.data(), first.data(), static_cast<Index>(p.size()));
      }
    }
  }
  kernels::set_num_threads(2);
}

}  // namespace

int main() {
  RUN_TEST(clip_matches_the_formula<double>);
  RUN_TEST(clip_matches_the_formula<float>);
  RUN_TEST(special_values<double>);
  RUN_TEST(special_values<float>);
  RUN_TEST(checks_name_the_argument);
  RUN_TEST([] { fit_equals_steps_by_hand<double>("sgd"); });
  RUN_TEST([] { fit_equals_steps_by_hand<double>("adam"); });
  RUN_TEST([] { fit_equals_steps_by_hand<float>("sgd"); });
  RUN_TEST(step_with_given_gradients<double>);
  RUN_TEST(bad_bounds_leave_the_network_unchanged);
  RUN_TEST(thread_count_does_not_matter<double>);
  RUN_TEST(thread_count_does_not_matter<float>);
  return chainrule_test::report();
}
