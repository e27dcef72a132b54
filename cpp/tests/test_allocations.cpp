// No heap allocation in the steady-state training step. A counting hook replaces the global
// operator new (every std container and std::function goes through it) and the core's own
// aligned_allocate keeps a counter; after a warm-up step, further steps must move neither.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <vector>

#include "chainrule/activation.hpp"
#include "chainrule/kernels/thread_pool.hpp"
#include "chainrule/loss.hpp"
#include "chainrule/network.hpp"
#include "test_util.hpp"

namespace {
std::atomic<std::size_t> g_news{0};
}

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

template <class T>
void run(int threads) {
  kernels::set_num_threads(threads);
  const std::vector<Index> sizes = {64, 96, 48, 10};
  std::vector<std::unique_ptr<Activation<T>>> acts;
  acts.push_back(make_activation<T>("relu"));
  acts.push_back(make_activation<T>("tanh"));
  acts.push_back(make_activation<T>("softmax"));
  Network<T> net(sizes, std::move(acts), make_loss<T>("cross_entropy"));
  Rng rng(3);
  for (Index l = 0; l < net.num_layers(); ++l)
    rng.fill_uniform(net.layer(l).W().data, net.layer(l).W().size(), -0.2, 0.2);
  const Index m = 200;  // large enough for the packed, threaded GEMM path
  Matrix<T> X(m, 64), Y(m, 10);
  rng.fill_uniform(X.data(), X.size(), -1.0, 1.0);
  for (Index i = 0; i < m; ++i) Y(i, i % 10) = T(1);

  // warm-up: first use of this batch size and of every thread's packing buffers
  net.compute_gradients(X.cview(), Y.cview());
  net.step(0.01);
  const std::size_t before = allocations();
  for (int s = 0; s < 20; ++s) {
    net.compute_gradients(X.cview(), Y.cview());  // forward + backward
    net.step(0.01);                               // W -= lr dW, b -= lr db
    net.compute_gradients(X.cview().row_range(0, 77), Y.cview().row_range(0, 77));  // a smaller last batch
    net.step(0.01);
  }
  const std::size_t steps = allocations() - before;
  std::printf("%d thread(s): %zu allocations in 40 training steps after warm-up\n", threads,
              steps);
  CHECK(steps == 0);

  // fit: its setup allocates, its epochs do not (10 epochs allocate as much as 1)
  FitOptions opts;
  opts.lr = 0.01;
  opts.batch_size = 64;
  opts.epochs = 1;
  std::size_t a0 = allocations();
  net.fit(X.cview(), Y.cview(), opts);
  const std::size_t one = allocations() - a0;
  opts.epochs = 10;
  a0 = allocations();
  net.fit(X.cview(), Y.cview(), opts);
  const std::size_t ten = allocations() - a0;
  std::printf("%d thread(s): fit allocates %zu times for 1 epoch, %zu for 10\n", threads, one,
              ten);
  CHECK(ten == one);
}

}  // namespace

int main() {
  RUN_TEST([] { run<float>(1); });
  RUN_TEST([] { run<float>(2); });
  RUN_TEST([] { run<double>(2); });
  return chainrule_test::report();
}
