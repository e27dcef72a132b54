// Data-parallel fit without MPI: R "ranks" are threads of this process, each fitting its own
// network on its shard, joined by an all-reduce made of a barrier and a sum in rank order.
// Their training must equal one network's fit on the whole data with the same global order
// (1e-12 in double, 1e-5 in float), and every rank must hold bitwise identical weights.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "chainrule/activation.hpp"
#include "chainrule/kernels/thread_pool.hpp"
#include "chainrule/loss.hpp"
#include "chainrule/metric.hpp"
#include "chainrule/network.hpp"
#include "chainrule/optimizer.hpp"
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

template <class T>
std::unique_ptr<Network<T>> make_net(const std::string& optimizer) {
  std::vector<std::unique_ptr<Activation<T>>> acts;
  acts.push_back(make_activation<T>("tanh"));
  acts.push_back(make_activation<T>("relu"));
  acts.push_back(make_activation<T>("linear"));
  auto net = std::make_unique<Network<T>>(std::vector<Index>{3, 7, 5, 2}, std::move(acts),
                                          make_loss<T>("mse"), make_optimizer<T>(optimizer));
  Rng rng(5);
  for (Index l = 0; l < net->num_layers(); ++l) {
    rng.fill_uniform(net->dense(l).W().data, net->dense(l).W().size(), -0.6, 0.6);
    rng.fill_uniform(net->dense(l).b().data, net->dense(l).b().size(), -0.1, 0.1);
  }
  return net;
}

template <class T>
std::vector<T> params(Network<T>& net) {
  std::vector<T> p;
  for (Index l = 0; l < net.num_layers(); ++l) {
    auto W = net.dense(l).W();
    auto b = net.dense(l).b();
    p.insert(p.end(), W.data, W.data + W.size());
    p.insert(p.end(), b.data, b.data + b.size());
  }
  return p;
}

// shards of 4 and 9 rows (13 global), batches of 5 (5, 5, 3), a new global order each epoch,
// optional sample weights (some zero) and a sharded validation set
// (with clipping: of the global mean gradient, as single-process training clips its own)
template <class T>
void run(const std::string& optimizer, bool weighted, bool validate, int ranks,
         const GradientClipping& clip = {}) {
  const std::string what = std::string(sizeof(T) == 8 ? "double " : "float ") + optimizer +
                           (weighted ? " weighted" : "") + (validate ? " validated" : "") +
                           (clip.active() ? " clipped" : "") + " " + std::to_string(ranks) +
                           " ranks";
  const double tol = sizeof(T) == 8 ? 1e-12 : 1e-5;
  const Index N = 13, Nv = 7;
  const std::vector<Index> shard =
      ranks == 2 ? std::vector<Index>{4, 9} : std::vector<Index>{4, 6, 3};
  const std::vector<Index> vshard =
      ranks == 2 ? std::vector<Index>{3, 4} : std::vector<Index>{2, 2, 3};
  Rng rng(11);
  Matrix<T> X(N, 3), Y(N, 2), w(N, 1), Xv(Nv, 3), Yv(Nv, 2);
  rng.fill_uniform(X.data(), X.size(), -1.0, 1.0);
  rng.fill_uniform(Y.data(), Y.size(), -1.0, 1.0);
  rng.fill_uniform(w.data(), w.size(), 0.0, 2.0);
  w.data()[2] = w.data()[7] = T(0);
  rng.fill_uniform(Xv.data(), Xv.size(), -1.0, 1.0);
  rng.fill_uniform(Yv.data(), Yv.size(), -1.0, 1.0);
  auto order = [N](Index epoch, Index n, Index* perm) {
    CHECK(n == N);
    for (Index i = 0; i < n; ++i) perm[i] = (i * 5 + 3 * epoch) % n;  // 5 is coprime with 13
  };
  FitOptions opts;
  opts.epochs = 4;
  opts.lr = optimizer == "adam" ? 0.01 : 0.1;
  opts.batch_size = 5;
  opts.shuffle = true;
  opts.clip = clip;

  // one process on all the data
  auto single = make_net<T>(optimizer);
  FitData<T> d;
  d.X = X.cview();
  d.Y = Y.cview();
  if (weighted) d.sample_weight = w.cview();
  if (validate) {
    d.X_val = Xv.cview();
    d.Y_val = Yv.cview();
  }
  FitHooks hooks;
  hooks.permutation = order;
  const FitResult want = fit(*single, d, opts, hooks);

  // R ranks; every rank's initial weights equal (as after the broadcast)
  ThreadAllreduce<T> comm(ranks);
  std::vector<std::unique_ptr<Network<T>>> nets;
  std::vector<FitResult> got(static_cast<std::size_t>(ranks));
  std::vector<std::unique_ptr<AllreduceReducer<T>>> reducers;
  for (int r = 0; r < ranks; ++r) {
    nets.push_back(make_net<T>(optimizer));
    reducers.push_back(std::make_unique<AllreduceReducer<T>>(comm.hook(r), SumAcrossFn()));
  }
  std::vector<std::thread> threads;
  Index offset = 0, voffset = 0;
  for (int r = 0; r < ranks; ++r) {
    const Index n = shard[static_cast<std::size_t>(r)], nv = vshard[static_cast<std::size_t>(r)];
    FitData<T> dr;
    dr.X = X.cview().row_range(offset, n);
    dr.Y = Y.cview().row_range(offset, n);
    if (weighted) dr.sample_weight = ConstView<T>(w.data() + offset, n, 1);
    if (validate) {
      dr.X_val = Xv.cview().row_range(voffset, nv);
      dr.Y_val = Yv.cview().row_range(voffset, nv);
    }
    FitOptions o = opts;
    o.shuffle = false;  // the permutation orders the global rows whenever an all-reduce is set
    o.global_rows = N;
    o.row_offset = offset;
    FitHooks h;
    h.permutation = order;
    threads.emplace_back([&nets, &got, &reducers, r, dr, o, h] {
      const auto k = static_cast<std::size_t>(r);
      got[k] = fit(*nets[k], dr, o, h, reducers[k].get());
    });
    offset += n;
    voffset += nv;
  }
  for (auto& t : threads) t.join();

  const std::vector<T> p = params(*single);
  for (int r = 0; r < ranks; ++r) {
    const std::string rank = what + " rank " + std::to_string(r);
    const std::vector<T> q = params(*nets[static_cast<std::size_t>(r)]);
    check_all_close("weights == single process, " + rank, q.data(), p.data(),
                    static_cast<Index>(p.size()), tol, sizeof(T) == 8 ? 1e-3 : 1e-1);
    const FitResult& g = got[static_cast<std::size_t>(r)];
    CHECK(g.loss.size() == want.loss.size());
    check_all_close("epoch losses, " + rank, g.loss.data(), want.loss.data(),
                    static_cast<Index>(want.loss.size()), tol);
    CHECK(g.val_loss.size() == want.val_loss.size());
    if (validate)
      check_all_close("validation losses, " + rank, g.val_loss.data(), want.val_loss.data(),
                      static_cast<Index>(want.val_loss.size()), tol);
    CHECK(nets[static_cast<std::size_t>(r)]->optimizer().step_count() ==
          single->optimizer().step_count());
    if (r > 0) {
      const std::vector<T> p0 = params(*nets[0]);
      check_all_equal("every rank holds the same weights, " + rank, q.data(), p0.data(),
                      static_cast<Index>(q.size()));
      const auto& o0 = nets[0]->optimizer();
      const auto& o = nets[static_cast<std::size_t>(r)]->optimizer();
      for (std::size_t k = 0; k < o.buffer_names().size(); ++k)
        for (Index s = 0; s < o.num_slots(); ++s)
          check_all_equal("optimizer state " + o.buffer_names()[k] + ", " + rank,
                          o.buffer(k, s).data, o0.buffer(k, s).data, o.slot_size(s));
    }
  }
}

// A shard that has no row in some steps still joins every all-reduce: 1 row on rank 0 of 9.
void test_empty_steps() {
  ThreadAllreduce<double> comm(2);
  auto a = make_net<double>("sgd"), b = make_net<double>("sgd"), single = make_net<double>("sgd");
  Rng rng(2);
  Matrix<double> X(9, 3), Y(9, 2);
  rng.fill_uniform(X.data(), X.size(), -1.0, 1.0);
  rng.fill_uniform(Y.data(), Y.size(), -1.0, 1.0);
  FitOptions opts;
  opts.epochs = 2;
  opts.lr = 0.1;
  opts.batch_size = 2;
  FitHooks hooks;
  hooks.permutation = [](Index, Index n, Index* perm) {
    for (Index i = 0; i < n; ++i) perm[i] = i;
  };
  opts.shuffle = true;
  fit(*single, X.cview(), Y.cview(), opts, hooks);
  opts.shuffle = false;
  opts.global_rows = 9;
  AllreduceReducer<double> ra(comm.hook(0), SumAcrossFn()), rb(comm.hook(1), SumAcrossFn());
  FitOptions oa = opts, ob = opts;
  ob.row_offset = 1;
  std::thread ta(
      [&] { fit(*a, X.cview().row_range(0, 1), Y.cview().row_range(0, 1), oa, hooks, &ra); });
  std::thread tb(
      [&] { fit(*b, X.cview().row_range(1, 8), Y.cview().row_range(1, 8), ob, hooks, &rb); });
  ta.join();
  tb.join();
  const auto p = params(*single), pa = params(*a), pb = params(*b);
  check_all_close("1 + 8 rows == single process", pa.data(), p.data(), static_cast<Index>(p.size()),
                  1e-12, 1e-3);
  check_all_equal("both ranks equal", pb.data(), pa.data(), static_cast<Index>(p.size()));
  CHECK(a->optimizer().step_count() == 10 && b->optimizer().step_count() == 10);
}

// Bad distributed options are refused before anything changes.
void test_errors() {
  auto net = make_net<double>("sgd");
  Matrix<double> X(4, 3), Y(4, 2);
  FitOptions opts;
  opts.global_rows = 5;
  opts.row_offset = 2;  // rows [2, 6) do not fit in 5
  FitHooks hooks;
  AllreduceReducer<double> reducer([](double*, Index) {}, SumAcrossFn());
  hooks.permutation = [](Index, Index n, Index* perm) {
    for (Index i = 0; i < n; ++i) perm[i] = i;
  };
  CHECK_THROWS_MSG(fit(*net, X.cview(), Y.cview(), opts, hooks, &reducer), ValueError,
                   "do not fit in the global data set of 5 rows");
  opts.row_offset = 0;
  FitHooks no_order = hooks;
  no_order.permutation = nullptr;
  CHECK_THROWS_MSG(fit(*net, X.cview(), Y.cview(), opts, no_order, &reducer), ValueError,
                   "needs a permutation hook");
  opts.metrics = {"r2"};
  CHECK_THROWS_MSG(fit(*net, X.cview(), Y.cview(), opts, hooks, &reducer), ValueError,
                   "metrics in data-parallel training need the sum_across hook");
}

// Metrics accumulated on R "ranks" (threads), each over its rows in batches, then combined,
// equal one metric over all the rows on every rank (to 1e-13: the sums merge in another order),
// for every registered metric.
void test_metric_combine() {
  const Index m = 47, n = 3;
  Matrix<double> H(m, n), Y(m, n);
  std::vector<double> w(static_cast<std::size_t>(m));
  Rng rng(11);
  rng.fill_uniform(H.data(), H.size(), -1, 1);
  rng.fill_uniform(Y.data(), Y.size(), -1, 1);
  for (Index i = 0; i < m; ++i) {
    w[static_cast<std::size_t>(i)] = i % 5 == 0 ? 0.0 : 0.5 + 0.01 * static_cast<double>(i);
    Y(i, 2) += 100.0;  // a column far from 0: the merge must not cancel
  }
  for (const std::string& name : metric_names()) {  // every metric of the registry
    auto whole = make_metric<double>(name);
    whole->prepare(n);
    whole->accumulate(H.cview(), Y.cview(), w.data());
    const double want = whole->result();
    for (int ranks : {2, 3}) {
      ThreadAllreduce<double> sum(ranks);
      std::vector<double> got(static_cast<std::size_t>(ranks));
      std::vector<std::thread> threads;
      for (int r = 0; r < ranks; ++r) {
        threads.emplace_back([&, r] {
          auto metric = make_metric<double>(name);
          metric->prepare(n);
          // rank r owns rows [lo, hi) and adds them in batches of 4; rank 1 may own none
          const Index lo = r == 1 ? m / 2 : (r == 0 ? 0 : m / 2);
          const Index hi = r == 0 ? m / 2 : (r == 1 && ranks == 3 ? m / 2 : m);
          for (Index i = lo; i < hi; i += 4) {
            const Index rows = std::min<Index>(4, hi - i);
            metric->accumulate(ConstView<double>(H.data() + i * n, rows, n),
                               ConstView<double>(Y.data() + i * n, rows, n), w.data() + i);
          }
          metric->combine(sum.hook(r));
          got[static_cast<std::size_t>(r)] = metric->result();
        });
      }
      for (auto& t : threads) t.join();
      for (int r = 0; r < ranks; ++r) {
        CHECK_CLOSE(got[static_cast<std::size_t>(r)], want, 1e-13);
        CHECK(got[static_cast<std::size_t>(r)] == got[0]);
      }
    }
  }
}

}  // namespace

int main() {
  kernels::set_num_threads(1);  // the "ranks" are threads: one GEMM thread each
  for (int ranks : {2, 3}) {
    for (const char* opt : {"sgd", "adam"}) {
      RUN_TEST([&] { run<double>(opt, false, false, ranks); });
      RUN_TEST([&] { run<double>(opt, true, true, ranks); });
      RUN_TEST([&] { run<float>(opt, false, true, ranks); });
    }
  }
  RUN_TEST([] { run<double>("rmsprop", true, false, 3); });
  GradientClipping norm, both;
  norm.norm = both.norm = 0.05;
  both.value = 0.01;
  for (const char* opt : {"sgd", "adam"}) {
    RUN_TEST([&] { run<double>(opt, true, true, 3, norm); });
    RUN_TEST([&] { run<double>(opt, false, false, 2, both); });
    RUN_TEST([&] { run<float>(opt, true, false, 3, both); });
  }
  RUN_TEST(test_empty_steps);
  RUN_TEST(test_errors);
  RUN_TEST(test_metric_combine);
  return chainrule_test::report();
}
