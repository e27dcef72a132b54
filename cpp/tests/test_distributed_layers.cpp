// Data-parallel fit of networks with batch normalisation (its statistics over every rank's
// rows of a step, as torch.nn.SyncBatchNorm), dropout (masks drawn per global row), layer
// normalisation, L1/L2 penalties, clipping, sample weights and metrics. The "ranks" are
// threads (thread_ranks.hpp). Every rank's parameters, running statistics, losses and
// metrics must equal one network's fit on the whole data in the same global order (1e-12 in
// double, 1e-5 in float), and every rank must hold bitwise the same values - also when a rank
// has no row in a step, or only rows of weight 0, and when a step weighs 0 on every rank.
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "chainrule/kernels/thread_pool.hpp"
#include "chainrule/network.hpp"
#include "chainrule/training/gradient_reducer.hpp"
#include "chainrule/training/trainer.hpp"
#include "test_util.hpp"
#include "thread_ranks.hpp"

using namespace chainrule;
using chainrule_test::check_all_close;
using chainrule_test::check_all_equal;
using chainrule_test::Rng;
using chainrule_test::ThreadAllreduce;

namespace {

using Order = std::function<void(Index epoch, Index n, Index* perm)>;

// 3 -> BatchNorm -> Dense(7, tanh, l2) -> Dropout(0.3) -> BatchNorm(momentum 0.3) ->
// Dense(6, sigmoid, l1) -> LayerNorm -> Dense(2, linear), MSE: batch normalisation first (no
// layer below it to pass a gradient to) and after dropout. (Not right after a dense layer:
// the batch's mean takes out most of its bias's gradient, all of it after a linear one,
// leaving a sum that cancels to a few ulps, which Adam and RMSprop scale up to full steps -
// any two summation orders, two single-process ones too, would then part ways.)
template <class T>
std::unique_ptr<Network<T>> make_net(const std::string& optimizer) {
  std::vector<LayerSpec<T>> s(7);
  s[0].kind = "batch_norm";
  s[1].kind = "dense";
  s[1].params = {{"units", 7}, {"l2", 1e-2}};
  s[1].activation = make_activation<T>("tanh");
  s[2].kind = "dropout";
  s[2].params = {{"p", 0.3}};
  s[3].kind = "batch_norm";
  s[3].params = {{"momentum", 0.3}};
  s[4].kind = "dense";
  s[4].params = {{"units", 6}, {"l1", 1e-3}};
  s[4].activation = make_activation<T>("sigmoid");
  s[5].kind = "layer_norm";
  s[6].kind = "dense";
  s[6].params = {{"units", 2}};
  s[6].activation = make_activation<T>("linear");
  auto net = std::make_unique<Network<T>>(3, std::move(s), make_loss<T>("mse"),
                                          make_optimizer<T>(optimizer));
  Rng rng(5);
  for (const Parameter<T>& p : net->parameters()) {
    if (p.name[0] == 'W')
      rng.fill_uniform(p.value.data, p.value.size(), -0.6, 0.6);
    else if (p.name[0] == 'g')
      rng.fill_uniform(p.value.data, p.value.size(), 0.5, 1.5);
    else
      rng.fill_uniform(p.value.data, p.value.size(), -0.1, 0.1);
  }
  net->set_random_state(77, 0);  // the dropout stream (as after the broadcast)
  return net;
}

// every parameter, then every buffer (the running statistics), back to back
template <class T>
std::vector<T> values(const Network<T>& net) {
  std::vector<T> v;
  for (const auto* list : {&net.parameters(), &net.buffers()})
    for (const Parameter<T>& p : *list)
      v.insert(v.end(), p.value.data, p.value.data + p.value.size());
  return v;
}

struct Case {
  std::string what;
  std::string optimizer = "sgd";
  std::vector<Index> shards;  // rows per rank, in rank order
  Index batch_size = 5;
  Index epochs = 4;
  bool validate = false;
  GradientClipping clip;
  std::vector<std::string> metrics;
  // (epoch, n, perm): the global order; default (5 i + 3 epoch) % n (5 coprime with n)
  Order order;
  // the sample weights of the N rows (empty: none)
  std::function<void(Index N, std::vector<double>& w)> weights;
};

template <class T>
void run(Case c) {
  const std::string what = std::string(sizeof(T) == 8 ? "double " : "float ") + c.what;
  const double tol = sizeof(T) == 8 ? 1e-12 : 1e-5, floor = sizeof(T) == 8 ? 1e-3 : 1e-1;
  const int ranks = static_cast<int>(c.shards.size());
  Index N = 0;
  for (Index n : c.shards) N += n;
  const Index Nv = 3 * ranks;
  Rng rng(11);
  Matrix<T> X(N, 3), Y(N, 2), W(N, 1), Xv(Nv, 3), Yv(Nv, 2);
  rng.fill_uniform(X.data(), X.size(), -1.0, 1.0);
  rng.fill_uniform(Y.data(), Y.size(), -1.0, 1.0);
  for (Index i = 0; i < N; ++i) X(i, 1) = T(3) * X(i, 1) + T(2);  // a feature far from N(0, 1)
  rng.fill_uniform(Xv.data(), Xv.size(), -1.0, 1.0);
  rng.fill_uniform(Yv.data(), Yv.size(), -1.0, 1.0);
  const bool weighted = static_cast<bool>(c.weights);
  if (weighted) {
    std::vector<double> w;
    c.weights(N, w);
    for (Index i = 0; i < N; ++i) W.data()[i] = static_cast<T>(w[static_cast<std::size_t>(i)]);
  }
  if (!c.order)
    c.order = [](Index epoch, Index n, Index* perm) {
      for (Index i = 0; i < n; ++i) perm[i] = (i * 5 + 3 * epoch) % n;
    };
  FitOptions opts;
  opts.epochs = c.epochs;
  opts.lr = c.optimizer == "sgd" ? 0.05 : 0.005;
  opts.batch_size = c.batch_size;
  opts.shuffle = true;
  opts.clip = c.clip;
  opts.metrics = c.metrics;
  FitHooks hooks;
  hooks.permutation = c.order;

  // one process on all the data
  auto single = make_net<T>(c.optimizer);
  FitData<T> d;
  d.X = X.cview();
  d.Y = Y.cview();
  if (weighted) d.sample_weight = W.cview();
  if (c.validate) {
    d.X_val = Xv.cview();
    d.Y_val = Yv.cview();
  }
  const FitResult want = fit(*single, d, opts, hooks);

  // the ranks: an all-reduce of T (the gradients) and a sum of doubles (batch normalisation's
  // statistics and the metrics), each summing in rank order
  ThreadAllreduce<T> comm(ranks);
  ThreadAllreduce<double> sums(ranks);
  std::vector<std::unique_ptr<Network<T>>> nets;
  std::vector<std::unique_ptr<AllreduceReducer<T>>> reducers;
  std::vector<FitResult> got(static_cast<std::size_t>(ranks));
  for (int r = 0; r < ranks; ++r) {
    nets.push_back(make_net<T>(c.optimizer));
    reducers.push_back(std::make_unique<AllreduceReducer<T>>(comm.hook(r), sums.hook(r)));
  }
  std::vector<std::thread> threads;
  Index offset = 0;
  for (int r = 0; r < ranks; ++r) {
    const Index n = c.shards[static_cast<std::size_t>(r)];
    FitData<T> dr;
    dr.X = X.cview().row_range(offset, n);
    dr.Y = Y.cview().row_range(offset, n);
    if (weighted) dr.sample_weight = ConstView<T>(W.data() + offset, n, 1);
    if (c.validate) {  // 3 validation rows each
      dr.X_val = Xv.cview().row_range(3 * r, 3);
      dr.Y_val = Yv.cview().row_range(3 * r, 3);
    }
    FitOptions o = opts;
    o.shuffle = false;  // the permutation orders the global rows whenever an all-reduce is set
    o.global_rows = N;
    o.row_offset = offset;
    threads.emplace_back([&nets, &got, &reducers, r, dr, o, hooks] {
      const auto k = static_cast<std::size_t>(r);
      got[k] = fit(*nets[k], dr, o, hooks, reducers[k].get());
    });
    offset += n;
  }
  for (auto& t : threads) t.join();

  const std::vector<T> p = values(*single);
  const std::vector<T> p0 = values(*nets[0]);
  for (int r = 0; r < ranks; ++r) {
    const auto k = static_cast<std::size_t>(r);
    const std::string rank = what + " rank " + std::to_string(r);
    const std::vector<T> q = values(*nets[k]);
    CHECK(q.size() == p.size());
    check_all_close("parameters and running statistics == single process, " + rank, q.data(),
                    p.data(), static_cast<Index>(p.size()), tol, floor);
    check_all_equal("every rank holds the same values, " + rank, q.data(), p0.data(),
                    static_cast<Index>(q.size()));
    const FitResult& g = got[k];
    CHECK(g.loss.size() == want.loss.size());
    check_all_close("epoch losses, " + rank, g.loss.data(), want.loss.data(),
                    static_cast<Index>(want.loss.size()), tol);
    if (c.validate) {
      CHECK(g.val_loss.size() == want.val_loss.size());
      check_all_close("validation losses, " + rank, g.val_loss.data(), want.val_loss.data(),
                      static_cast<Index>(want.val_loss.size()), tol);
    }
    for (std::size_t m = 0; m < c.metrics.size(); ++m)
      check_all_close(c.metrics[m] + ", " + rank, g.metrics[m].data(), want.metrics[m].data(),
                      static_cast<Index>(want.metrics[m].size()), tol);
    CHECK(nets[k]->optimizer().step_count() == single->optimizer().step_count());
    CHECK(nets[k]->passes() == single->passes());
  }
}

// the identity order in epoch 0 (each rank's rows together: ranks without rows in a step),
// then (5 i + epoch) % n
void identity_first(Index epoch, Index n, Index* perm) {
  for (Index i = 0; i < n; ++i) perm[i] = epoch == 0 ? i : (i * 5 + epoch) % n;
}

Case make_case(const std::string& what, const std::string& optimizer, std::vector<Index> shards,
               Index batch_size, Index epochs) {
  Case c;
  c.what = what;
  c.optimizer = optimizer;
  c.shards = std::move(shards);
  c.batch_size = batch_size;
  c.epochs = epochs;
  return c;
}

template <class T>
void cases() {
  auto some_zero = [](Index N, std::vector<double>& w) {
    Rng rng(3);
    w.resize(static_cast<std::size_t>(N));
    rng.fill_uniform(w.data(), N, 0.0, 2.0);
    w[2] = w[7] = 0;
  };
  run<T>(make_case("sgd 2 ranks", "sgd", {11, 17}, 8, 4));
  Case c = make_case("adam 3 ranks weighted validated r2", "adam", {9, 12, 7}, 8, 4);
  c.validate = true;
  c.metrics = {"r2"};
  c.weights = some_zero;
  run<T>(c);
  c = make_case("sgd 3 ranks weighted clipped", "sgd", {9, 12, 7}, 8, 4);
  c.clip.norm = 0.05;
  c.clip.value = 0.02;
  c.weights = some_zero;
  run<T>(c);
  c = make_case("adam 2 ranks full batch validated", "adam", {6, 7}, 0, 3);
  c.validate = true;
  run<T>(c);
  // 10 rows in batches of 4: rank 0 holds rows only in step 1, rank 1 in steps 1 and 2
  c = make_case("rmsprop 3 ranks, steps without rows", "rmsprop", {2, 5, 3}, 4, 3);
  c.order = identity_first;
  run<T>(c);
  // 12 rows in batches of 3, epoch 0 in order: step 1 (rank 0's rows) weighs 0 everywhere
  // and is skipped by every rank (running statistics untouched); in step 3 rank 0's one row
  // weighs 0 but counts in the statistics; step 4 has no row of rank 0
  c = make_case("adam 2 ranks, zero-weight steps", "adam", {7, 5}, 3, 3);
  c.order = identity_first;
  c.weights = [](Index N, std::vector<double>& w) {
    w.resize(static_cast<std::size_t>(N));
    for (Index i = 0; i < N; ++i) w[static_cast<std::size_t>(i)] = 0.5 + 0.1 * double(i);
    w[0] = w[1] = w[2] = w[6] = 0;
  };
  run<T>(c);
}

// The batches span every rank: a shard's own rows are not what the check counts.
void test_checks() {
  auto net = make_net<double>("sgd");
  Matrix<double> X(5, 3), Y(5, 2);
  FitData<double> d;
  d.X = X.cview();
  d.Y = Y.cview();
  FitOptions opts;
  opts.batch_size = 4;  // alone, 5 rows leave a batch of 1
  CHECK_THROWS_MSG(check_fit(*net, d, opts), ValueError,
                   "leaves a batch of 1 row(s) of the 5 rows;");
  check_fit(*net, d, opts, /*data_parallel=*/true);  // the shard's rows are not the batches
  opts.global_rows = 10;
  Trainer<double>(*net).check_batches(10, opts);  // 4, 4, 2 over every rank
  opts.global_rows = 9;
  CHECK_THROWS_MSG(Trainer<double>(*net).check_batches(9, opts), ValueError,
                   "batch normalisation needs at least 2 rows per training batch, but "
                   "batch_size=4 leaves a batch of 1 row(s) of the 9 rows over every process");
  // fit makes the same check before anything changes, and needs the sum of statistics
  const std::vector<double> before = values(*net);
  FitHooks hooks;
  hooks.permutation = [](Index, Index n, Index* perm) {
    for (Index i = 0; i < n; ++i) perm[i] = i;
  };
  AllreduceReducer<double> no_sums([](double*, Index) {}, SumAcrossFn());
  AllreduceReducer<double> alone([](double*, Index) {}, [](double*, Index) {});
  CHECK_THROWS_MSG(fit(*net, d, opts, hooks, &alone), ValueError,
                   "of the 9 rows over every process");
  opts.global_rows = 10;
  CHECK_THROWS_MSG(fit(*net, d, opts, hooks, &no_sums), ValueError,
                   "data-parallel training with batch normalisation needs the sum_across hook");
  const std::vector<double> after = values(*net);
  check_all_equal("refused fits change nothing", after.data(), before.data(),
                  static_cast<Index>(before.size()));
}

// A process without rows calls batch normalisation's sums as often as one with rows: forward
// 2 per layer, backward 1 per layer (here 2 layers, of 3 and 7 features: 6 calls), with as
// many values.
void test_calls_without_rows() {
  std::vector<std::vector<Index>> calls(2);
  for (int with_rows = 0; with_rows < 2; ++with_rows) {
    auto net = make_net<double>("sgd");
    SumAcrossFn count = [&calls, with_rows](double*, Index n) {
      calls[static_cast<std::size_t>(with_rows)].push_back(n);
    };
    Matrix<double> X(3, 3), Y(3, 2);
    Rng rng(4);
    rng.fill_uniform(X.data(), X.size(), -1.0, 1.0);
    const Index ids[3] = {0, 2, 4};
    net->begin_training_pass(true, ids, &count, 6);
    if (with_rows) {
      net->forward_pass(X.cview());
      net->backward_pass(X.cview(), Y.cview(), nullptr, 3, 0.0, 3, false);
    } else {
      net->pass_without_rows();
      for (const Parameter<double>& p : net->parameters())
        for (Index i = 0; i < p.grad.size(); ++i) CHECK(p.grad.data[i] == 0.0);
    }
  }
  CHECK(calls[0] == calls[1]);
  CHECK((calls[1] == std::vector<Index>{3, 3, 7, 7, 14, 6}));
}

}  // namespace

int main() {
  kernels::set_num_threads(1);  // the "ranks" are threads: one GEMM thread each
  RUN_TEST(cases<double>);
  RUN_TEST(cases<float>);
  RUN_TEST(test_checks);
  RUN_TEST(test_calls_without_rows);
  return chainrule_test::report();
}
