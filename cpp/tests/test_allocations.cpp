// No heap allocation in the steady-state training step (dense networks, and networks with
// batch normalisation, dropout and layer normalisation). A counting hook replaces the global
// operator new (every std container and std::function goes through it) and the core's own
// aligned_allocate keeps a counter; after a warm-up step, further steps must move neither.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <thread>
#include <type_traits>
#include <vector>

#include "chainrule/activation.hpp"
#include "chainrule/kernels/thread_pool.hpp"
#include "chainrule/loss.hpp"
#include "chainrule/network.hpp"
#include "chainrule/optimizer.hpp"
#include "chainrule/schedule.hpp"
#include "chainrule/training/gradient_reducer.hpp"
#include "chainrule/training/trainer.hpp"
#include "test_util.hpp"

namespace {
std::atomic<std::size_t> g_news{0};
}

// operator new below is malloc and operator delete is free, so they do match; GCC 12 cannot
// see that once it inlines them into std::vector<std::string> and warns anyway.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(std::size_t n) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

using namespace chainrule;
using chainrule_test::Rng;

namespace {

std::size_t allocations() { return g_news.load() + aligned_allocation_count(); }

// A relu/tanh/softmax classifier of the given widths with small random weights, and m rows of
// inputs X (m, sizes[0]) in [-1, 1] with one-hot targets Y (m, 10).
template <class T>
struct Classifier {
  Network<T> net;
  Matrix<T> X, Y;
  Classifier(const std::vector<Index>& sizes, Index m, unsigned seed)
      : net(sizes, activations(), make_loss<T>("cross_entropy")), X(m, sizes[0]), Y(m, 10) {
    Rng rng(seed);
    for (Index l = 0; l < net.num_layers(); ++l)
      rng.fill_uniform(net.dense(l).W().data, net.dense(l).W().size(), -0.2, 0.2);
    rng.fill_uniform(X.data(), X.size(), -1.0, 1.0);
    for (Index i = 0; i < m; ++i) Y(i, i % 10) = T(1);
  }
  static std::vector<std::unique_ptr<Activation<T>>> activations() {
    std::vector<std::unique_ptr<Activation<T>>> acts;
    acts.push_back(make_activation<T>("relu"));
    acts.push_back(make_activation<T>("tanh"));
    acts.push_back(make_activation<T>("softmax"));
    return acts;
  }
};

template <class T>
void run(int threads) {
  kernels::set_num_threads(threads);
  const Index m = 200;  // large enough for the packed, threaded GEMM path
  Classifier<T> c({64, 96, 48, 10}, m, 3);
  Network<T>& net = c.net;
  Matrix<T>& X = c.X;
  Matrix<T>& Y = c.Y;
  Rng rng(3);

  // warm-up: first use of this batch size and of every thread's packing buffers
  net.compute_gradients(X.cview(), Y.cview());
  net.step(0.01);
  GradientClipping clip;
  clip.norm = 0.1;
  clip.value = 0.01;
  const std::size_t before = allocations();
  for (int s = 0; s < 20; ++s) {
    net.compute_gradients(X.cview(), Y.cview());  // forward + backward
    net.step(0.01);                               // W -= lr dW, b -= lr db
    net.compute_gradients(X.cview().row_range(0, 77),
                          Y.cview().row_range(0, 77));  // a smaller last batch
    net.step(0.01, clip);                               // clipped in place first
  }
  const std::size_t steps = allocations() - before;
  std::printf("%d thread(s): %zu allocations in 40 training steps after warm-up\n", threads, steps);
  CHECK(steps == 0);

  // fit: its setup allocates, its epochs do not (10 epochs allocate as much as 1)
  FitOptions opts;
  opts.lr = 0.01;
  opts.batch_size = 64;
  opts.epochs = 1;
  fit(net, X.cview(), Y.cview(), opts);  // first use of the batch sizes fit makes (64, then 8)
  std::size_t a0 = allocations();
  fit(net, X.cview(), Y.cview(), opts);
  const std::size_t one = allocations() - a0;
  opts.epochs = 10;
  a0 = allocations();
  fit(net, X.cview(), Y.cview(), opts);
  const std::size_t ten = allocations() - a0;
  std::printf("%d thread(s): fit allocates %zu times for 1 epoch, %zu for 10\n", threads, one, ten);
  CHECK(ten == one);
  opts.clip = clip;  // clipped: the unfused update, no allocation either
  opts.epochs = 1;
  a0 = allocations();
  fit(net, X.cview(), Y.cview(), opts);
  const std::size_t one_clipped = allocations() - a0;
  opts.epochs = 10;
  a0 = allocations();
  fit(net, X.cview(), Y.cview(), opts);
  const std::size_t ten_clipped = allocations() - a0;
  std::printf("%d thread(s): fit with clipping allocates %zu times for 1 epoch, %zu for 10\n",
              threads, one_clipped, ten_clipped);
  CHECK(ten_clipped == one_clipped);
  opts.clip = GradientClipping{};

  // the same with a stateful optimizer, sample weights, shuffling, validation, metrics and a
  // schedule: the optimizer's state was allocated by set_optimizer, the rest in fit's setup
  net.set_optimizer(make_optimizer<T>("adam", {{"weight_decay", 1e-4}}));
  Matrix<T> w(m, 1), Xv(50, 64), Yv(50, 10);
  rng.fill_uniform(w.data(), w.size(), 0.0, 2.0);
  rng.fill_uniform(Xv.data(), Xv.size(), -1.0, 1.0);
  for (Index i = 0; i < 50; ++i) Yv(i, i % 10) = T(1);
  FitData<T> d;
  d.X = X.cview();
  d.Y = Y.cview();
  d.sample_weight = w.cview();
  d.X_val = Xv.cview();
  d.Y_val = Yv.cview();
  d.val_weight = w.cview().row_range(0, 50);
  auto schedule = make_schedule("reduce_on_plateau", {{"patience", 0}});
  opts.schedule = schedule.get();
  opts.metrics = {"accuracy", "r2"};
  opts.shuffle = true;
  FitHooks hooks;
  hooks.permutation = [](Index epoch, Index n, Index* perm) {
    for (Index i = 0; i < n; ++i) perm[i] = (i * 7 + epoch) % n;  // 7 is coprime with 200
  };
  hooks.on_epoch_end = [](Index, const EpochLogs&) { return true; };
  opts.epochs = 1;
  fit(net, d, opts, hooks);  // first use: the network's per-row loss buffer grows once
  a0 = allocations();
  fit(net, d, opts, hooks);
  const std::size_t one_full = allocations() - a0;
  opts.epochs = 10;
  a0 = allocations();
  fit(net, d, opts, hooks);
  const std::size_t ten_full = allocations() - a0;
  std::printf(
      "%d thread(s): fit with Adam, weights, validation, metrics and a schedule allocates "
      "%zu times for 1 epoch, %zu for 10\n",
      threads, one_full, ten_full);
  CHECK(ten_full == one_full);
  CHECK(net.optimizer().step_count() == 4 * 12);  // ceil(200 / 64) = 4 steps per epoch

  // data-parallel: this process holds rows [50, 250) of 300, a global order and an all-reduce
  // hook (here the sum over one process, plus a count of calls) run once per step
  opts.metrics.clear();
  opts.shuffle = false;
  opts.global_rows = 300;
  opts.row_offset = 50;
  std::size_t reductions = 0;
  FitHooks dist = hooks;
  dist.permutation = [](Index epoch, Index n, Index* perm) {
    for (Index i = 0; i < n; ++i) perm[i] = (i * 7 + epoch) % n;  // 7 is coprime with 300
  };
  AllreduceReducer<T> reducer([&reductions](T*, Index) { ++reductions; }, SumAcrossFn());
  opts.epochs = 1;
  fit(net, d, opts, dist, &reducer);
  a0 = allocations();
  fit(net, d, opts, dist, &reducer);
  const std::size_t one_dist = allocations() - a0;
  opts.epochs = 10;
  reductions = 0;
  a0 = allocations();
  fit(net, d, opts, dist, &reducer);
  const std::size_t ten_dist = allocations() - a0;
  std::printf("%d thread(s): data-parallel fit allocates %zu times for 1 epoch, %zu for 10\n",
              threads, one_dist, ten_dist);
  CHECK(ten_dist == one_dist);
  // ceil(300 / 64) = 5 steps and the validation loss an epoch; in float64, once a fit, the
  // sample and validation weights' largest (training/weight_scale.hpp)
  CHECK(reductions == 10 * (5 + 1) + (std::is_same_v<T, double> ? 2 : 0));
  opts.clip = clip;  // clipping the mean gradient after the reduction
  opts.epochs = 1;
  a0 = allocations();
  fit(net, d, opts, dist, &reducer);
  const std::size_t one_dist_clipped = allocations() - a0;
  opts.epochs = 10;
  a0 = allocations();
  fit(net, d, opts, dist, &reducer);
  const std::size_t ten_dist_clipped = allocations() - a0;
  std::printf(
      "%d thread(s): data-parallel fit with clipping allocates %zu times for 1 epoch, "
      "%zu for 10\n",
      threads, one_dist_clipped, ten_dist_clipped);
  CHECK(ten_dist_clipped == one_dist_clipped);
}

// A pool worker that joins the threaded products for the first time after the warm-up (it
// was busy or not scheduled then, so the caller ran every part) still allocates nothing: the
// warm-up step runs while another thread holds the pool, so that every product of it runs on
// the caller alone, and only the steps after it reach the worker. Its products (400 rows)
// take row slices, whose buffers the caller carves from its own. Run first, and larger than the
// other tests' products, so that the worker's own buffers have not grown before.
template <class T>
void run_worker_joins_late() {
  kernels::set_num_threads(2);
  Classifier<T> c({64, 128, 96, 10}, 400, 4);
  Network<T>& net = c.net;
  const Matrix<T>& X = c.X;
  const Matrix<T>& Y = c.Y;

  std::atomic<bool> hold{true}, holding{false};
  std::thread holder([&] {
    kernels::parallel_for(2, [&](std::ptrdiff_t t) {
      if (t != 0) return;
      holding = true;
      while (hold) std::this_thread::yield();
    });
  });
  while (!holding) std::this_thread::yield();
  net.compute_gradients(X.cview(), Y.cview());  // warm-up: the pool is busy, all inline
  net.step(0.01);
  hold = false;
  holder.join();
  const kernels::PoolStats s0 = kernels::pool_stats();
  const std::size_t before = allocations();
  for (int s = 0; s < 10; ++s) {
    net.compute_gradients(X.cview(), Y.cview());
    net.step(0.01);
  }
  const std::size_t steps = allocations() - before;
  const kernels::PoolStats s1 = kernels::pool_stats();
  std::printf("%s, worker late for the warm-up: %zu allocations in 10 steps (%llu worker parts)\n",
              chainrule_test::dtype_name<T>(), steps,
              static_cast<unsigned long long>(s1.worker_parts - s0.worker_parts));
  CHECK(s1.worker_parts > s0.worker_parts);  // the steps did reach the worker
  CHECK(steps == 0);
}

// The same with batch normalisation, dropout and layer normalisation between dense layers:
// their buffers (masks, normalised values, statistics) are sized by reserve, and validation
// (inference passes of larger chunks) keeps the last training mask without allocating.
template <class T>
void run_layers(int threads) {
  kernels::set_num_threads(threads);
  std::vector<LayerSpec<T>> specs(6);
  specs[0].kind = "dense";
  specs[0].params = {{"units", 96}};
  specs[0].activation = make_activation<T>("relu");
  specs[1].kind = "batch_norm";
  specs[2].kind = "dropout";
  specs[2].params = {{"p", 0.3}};
  specs[3].kind = "dense";
  specs[3].params = {{"units", 48}};
  specs[3].activation = make_activation<T>("tanh");
  specs[4].kind = "layer_norm";
  specs[5].kind = "dense";
  specs[5].params = {{"units", 10}};
  specs[5].activation = make_activation<T>("softmax");
  Network<T> net(64, std::move(specs), make_loss<T>("cross_entropy"));
  Rng rng(5);
  for (const Parameter<T>& p : net.parameters())
    if (p.name[0] == 'W') rng.fill_uniform(p.value.data, p.value.size(), -0.2, 0.2);
  const Index m = 200;
  Matrix<T> X(m, 64), Y(m, 10), Xv(1500, 64), Yv(1500, 10);
  rng.fill_uniform(X.data(), X.size(), -1.0, 1.0);
  rng.fill_uniform(Xv.data(), Xv.size(), -1.0, 1.0);
  for (Index i = 0; i < m; ++i) Y(i, i % 10) = T(1);
  for (Index i = 0; i < 1500; ++i) Yv(i, i % 10) = T(1);

  net.compute_gradients(X.cview(), Y.cview());
  net.step(0.01);
  std::size_t before = allocations();
  for (int s = 0; s < 10; ++s) {
    net.compute_gradients(X.cview(), Y.cview());
    net.step(0.01);
    net.compute_gradients(X.cview().row_range(0, 77), Y.cview().row_range(0, 77));
    net.step(0.01);
  }
  const std::size_t steps = allocations() - before;
  std::printf(
      "%d thread(s), with batch_norm, dropout, layer_norm: %zu allocations in 20 training "
      "steps after warm-up\n",
      threads, steps);
  CHECK(steps == 0);

  net.set_optimizer(make_optimizer<T>("adam"));
  FitData<T> d;
  d.X = X.cview();
  d.Y = Y.cview();
  d.X_val = Xv.cview();  // chunks of 1024 rows, more than any training batch
  d.Y_val = Yv.cview();
  FitOptions opts;
  opts.lr = 0.01;
  opts.batch_size = 64;
  opts.epochs = 1;
  fit(net, d, opts);
  std::size_t a0 = allocations();
  fit(net, d, opts);
  const std::size_t one = allocations() - a0;
  opts.epochs = 10;
  a0 = allocations();
  fit(net, d, opts);
  const std::size_t ten = allocations() - a0;
  std::printf(
      "%d thread(s), with batch_norm, dropout, layer_norm: fit allocates %zu times for 1 "
      "epoch, %zu for 10\n",
      threads, one, ten);
  CHECK(ten == one);

  // data-parallel: rows [50, 250) of 300, with sample weights; batch normalisation sums its
  // statistics through the reducer's sum_across (here over one process, counting the calls)
  opts.shuffle = false;
  opts.global_rows = 300;
  opts.row_offset = 50;
  Matrix<T> w(m, 1);
  rng.fill_uniform(w.data(), w.size(), 0.5, 1.5);
  d.sample_weight = w.cview();
  FitHooks dist;
  dist.permutation = [](Index epoch, Index n, Index* perm) {
    for (Index i = 0; i < n; ++i) perm[i] = (i * 7 + epoch) % n;  // 7 is coprime with 300
  };
  std::size_t reductions = 0, sums = 0;
  AllreduceReducer<T> reducer([&reductions](T*, Index) { ++reductions; },
                              [&sums](double*, Index) { ++sums; });
  opts.epochs = 1;
  fit(net, d, opts, dist, &reducer);
  a0 = allocations();
  fit(net, d, opts, dist, &reducer);
  const std::size_t one_dist = allocations() - a0;
  opts.epochs = 10;
  reductions = sums = 0;
  a0 = allocations();
  fit(net, d, opts, dist, &reducer);
  const std::size_t ten_dist = allocations() - a0;
  std::printf(
      "%d thread(s), with batch_norm, dropout, layer_norm: data-parallel fit allocates "
      "%zu times for 1 epoch, %zu for 10\n",
      threads, one_dist, ten_dist);
  CHECK(ten_dist == one_dist);
  // ceil(300 / 64) = 5 steps and the validation loss an epoch; in float64, once a fit, the
  // sample and validation weights' largest (training/weight_scale.hpp)
  CHECK(reductions == 10 * (5 + 1) + (std::is_same_v<T, double> ? 2 : 0));
  // per step: the global batch weight, then batch normalisation's 2 sums forward, 1 backward
  CHECK(sums == 10 * 5 * (1 + 3));
}

}  // namespace

int main() {
  RUN_TEST([] { run_worker_joins_late<double>(); });
  RUN_TEST([] { run_worker_joins_late<float>(); });
  RUN_TEST([] { run<float>(1); });
  RUN_TEST([] { run<float>(2); });
  RUN_TEST([] { run<double>(2); });
  RUN_TEST([] { run_layers<float>(1); });
  RUN_TEST([] { run_layers<double>(2); });
  return chainrule_test::report();
}
