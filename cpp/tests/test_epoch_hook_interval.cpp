// FitHooks::on_epoch_end_interval: the hook is called at most every so many seconds, always
// after the last epoch, and whenever it returns false training stops there; the result still
// holds every epoch, the diagnostics records all come, and training is that of an unthrottled
// hook bit for bit.
#include <limits>
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

// 2 -> tanh 10 -> tanh 8 -> tanh 5 -> linear 1 (the tiny network of the overhead benchmark)
template <class T>
std::unique_ptr<Network<T>> make_net() {
  std::vector<std::unique_ptr<Activation<T>>> acts;
  for (int i = 0; i < 3; ++i) acts.push_back(make_activation<T>("tanh"));
  acts.push_back(make_activation<T>("linear"));
  auto net = std::make_unique<Network<T>>(std::vector<Index>{2, 10, 8, 5, 1}, std::move(acts),
                                          make_loss<T>("mse"), make_optimizer<T>("sgd"));
  Rng rng(3);
  for (Index l = 0; l < net->num_layers(); ++l)
    rng.fill_normal(net->dense(l).W().data, net->dense(l).W().size(), 0.0, 0.5);
  return net;
}

template <class T>
struct Data {
  Matrix<T> X, Y;
  FitData<T> d;
  Data() {
    Rng rng(4);
    X.resize(100, 2);
    Y.resize(100, 1);
    rng.fill_normal(X.data(), X.size());
    rng.fill_normal(Y.data(), Y.size());
    d.X = X.cview();
    d.Y = Y.cview();
  }
};

template <class T>
std::vector<T> all_params(Network<T>& net) {
  std::vector<T> out;
  for (const auto& p : net.parameters())
    out.insert(out.end(), p.value.data, p.value.data + p.value.size());
  return out;
}

// A long interval: one call, after the last epoch, with its logs; every epoch in the result;
// the weights and losses those of a hook called after every epoch; every record delivered.
template <class T>
void long_interval_calls_once_at_the_end() {
  Data<T> data;
  FitOptions opts;
  opts.epochs = 200;
  opts.lr = 0.05;
  opts.diagnostics.on = true;
  auto every = make_net<T>(), throttled = make_net<T>();
  std::vector<Index> seen_every, seen;
  std::vector<double> last_loss;
  Index records_every = 0, records = 0;
  FitHooks h_every;
  h_every.on_epoch_end = [&](Index epoch, const EpochLogs&) {
    seen_every.push_back(epoch);
    return true;
  };
  h_every.on_diagnostics = [&](const DiagnosticsRecord&) { ++records_every; };
  const FitResult r_every = fit(*every, data.d, opts, h_every);
  FitHooks hooks;
  hooks.on_epoch_end_interval = 1e6;  // seconds: never within this fit
  hooks.on_epoch_end = [&](Index epoch, const EpochLogs& logs) {
    seen.push_back(epoch);
    last_loss.push_back(logs.loss);
    return true;
  };
  hooks.on_diagnostics = [&](const DiagnosticsRecord&) { ++records; };
  const FitResult r = fit(*throttled, data.d, opts, hooks);
  CHECK(seen_every.size() == 200);
  CHECK(seen == std::vector<Index>{199});
  CHECK(r.loss.size() == 200 && r.lr.size() == 200);
  CHECK(r.loss == r_every.loss);
  CHECK(last_loss.size() == 1 && last_loss[0] == r.loss.back());
  CHECK(all_params(*throttled) == all_params(*every));
  CHECK(records == 200 && records_every == 200);
}

// Interval 0 (the default) calls after every epoch; a hook returning false stops training at
// the epoch of that call, throttled or not.
template <class T>
void zero_interval_and_stopping() {
  Data<T> data;
  FitOptions opts;
  opts.epochs = 50;
  opts.lr = 0.05;
  {
    auto net = make_net<T>();
    Index calls = 0;
    FitHooks hooks;
    hooks.on_epoch_end = [&](Index epoch, const EpochLogs&) {
      CHECK(epoch == calls);
      ++calls;
      return epoch < 9;
    };
    const FitResult r = fit(*net, data.d, opts, hooks);
    CHECK(calls == 10 && r.loss.size() == 10);
  }
  {
    // a tiny interval (1 ns): every call made stops or goes on as it says; the result ends at
    // the epoch of the call that returned false
    auto net = make_net<T>();
    std::vector<Index> seen;
    FitHooks hooks;
    hooks.on_epoch_end_interval = 1e-9;
    hooks.on_epoch_end = [&](Index epoch, const EpochLogs&) {
      seen.push_back(epoch);
      return epoch < 9;
    };
    const FitResult r = fit(*net, data.d, opts, hooks);
    CHECK(!seen.empty() && seen.back() >= 9);
    CHECK(r.loss.size() == static_cast<std::size_t>(seen.back() + 1));
  }
}

// A negative, NaN or infinite interval is refused before training; the weights are unchanged.
template <class T>
void bad_interval_is_refused() {
  Data<T> data;
  FitOptions opts;
  opts.epochs = 3;
  for (const double bad :
       {-1.0, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    auto net = make_net<T>();
    const auto before = all_params(*net);
    FitHooks hooks;
    hooks.on_epoch_end = [](Index, const EpochLogs&) { return true; };
    hooks.on_epoch_end_interval = bad;
    CHECK_THROWS_MSG(fit(*net, data.d, opts, hooks), ValueError, "on_epoch_end");
    CHECK(all_params(*net) == before);
  }
}

}  // namespace

int main() {
  RUN_TEST(long_interval_calls_once_at_the_end<double>);
  RUN_TEST(long_interval_calls_once_at_the_end<float>);
  RUN_TEST(zero_interval_and_stopping<double>);
  RUN_TEST(bad_interval_is_refused<double>);
  return chainrule_test::report();
}
