#include "chainrule/kernels/thread_pool.hpp"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "chainrule/error.hpp"

namespace chainrule::kernels {
namespace {

thread_local int t_worker_index = 0;

int default_threads() {
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

class ThreadPool {
 public:
  /// Starts n_threads - 1 workers; if the system refuses one (std::system_error), the ones
  /// started are stopped and joined before the error propagates, so nothing is left waiting.
  explicit ThreadPool(int n_threads) {
    try {
      workers_.reserve(static_cast<std::size_t>(n_threads));
      for (int i = 1; i < n_threads; ++i)
        workers_.emplace_back([this, i] {
          t_worker_index = i;
          worker();
        });
    } catch (...) {
      shutdown();
      throw;
    }
  }
  ~ThreadPool() { shutdown(); }
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Returns false (and does nothing) when the pool is already running a job.
  bool try_run(std::ptrdiff_t n_tasks, void (*fn)(void*, std::ptrdiff_t), void* ctx, bool pinned) {
    std::unique_lock<std::mutex> busy(run_mutex_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    pinned_ = pinned;
    fn_ = fn;
    ctx_ = ctx;
    n_tasks_ = n_tasks;
    next_.store(0, std::memory_order_relaxed);
    pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.fetch_add(1, std::memory_order_release);
    }
    if (sleeping_.load() > 0) wake_.notify_all();
    work();
    // The caller spins for the stragglers: jobs are short and a sleep would cost more.
    while (pending_.load(std::memory_order_acquire) != 0) pause();
    return true;
  }

 private:
  void shutdown() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_.store(true);
    }
    wake_.notify_all();
    for (auto& w : workers_)
      if (w.joinable()) w.join();
    workers_.clear();
  }
  static void pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::this_thread::yield();
#endif
  }
  void work() {
    if (pinned_) {  // task t runs on thread t (the caller is 0): the same data on the same core
      for (std::ptrdiff_t t = t_worker_index; t < n_tasks_; t += size()) fn_(ctx_, t);
      return;
    }
    for (std::ptrdiff_t t; (t = next_.fetch_add(1)) < n_tasks_;) fn_(ctx_, t);
  }
  // Workers spin on the job counter for a while after each job (back-to-back GEMMs of a
  // training step or a predict call then start in well under a microsecond), then sleep.
  void worker() {
    std::size_t seen = 0;
    for (;;) {
      bool found = false;
      for (int spin = 0; spin < kSpins; ++spin) {
        if (generation_.load(std::memory_order_acquire) != seen || stop_.load()) {
          found = true;
          break;
        }
        pause();
      }
      if (!found) {
        std::unique_lock<std::mutex> lock(mutex_);
        sleeping_.fetch_add(1);
        wake_.wait(lock, [&] { return stop_.load() || generation_.load() != seen; });
        sleeping_.fetch_sub(1);
      }
      if (stop_.load()) return;
      seen = generation_.load(std::memory_order_acquire);
      work();
      pending_.fetch_sub(1, std::memory_order_release);
    }
  }

  static constexpr int kSpins = 200000;  // about 1-5 ms of pause instructions
  std::vector<std::thread> workers_;
  std::mutex mutex_, run_mutex_;
  std::condition_variable wake_;
  std::atomic<std::size_t> generation_{0};
  std::atomic<bool> stop_{false};
  std::atomic<int> pending_{0};
  std::atomic<int> sleeping_{0};
  void (*fn_)(void*, std::ptrdiff_t) = nullptr;
  void* ctx_ = nullptr;
  std::ptrdiff_t n_tasks_ = 0;
  bool pinned_ = false;
  std::atomic<std::ptrdiff_t> next_{0};
};

constexpr int kMaxThreads = 1024;

std::mutex g_config_mutex;      // guards g_pool
std::atomic<int> g_threads{0};  // 0: not yet decided; read lock-free on every kernel call
// Shared ownership: a call that took the pool keeps it alive while it runs, even if another
// thread installs a pool of another size meanwhile (the last user destroys the old one).
std::shared_ptr<ThreadPool> g_pool;

// The configured count, deciding the default on first use.
int configured_threads() {
  int n = g_threads.load(std::memory_order_relaxed);
  if (n == 0) {
    int expected = 0;
    g_threads.compare_exchange_strong(expected, std::min(default_threads(), kMaxThreads));
    n = g_threads.load(std::memory_order_relaxed);
  }
  return n;
}

// In a forked child the workers do not exist: forget the pool (its memory is abandoned on
// purpose, since joining threads that are not there would hang) and start a new one lazily.
void after_fork_in_child() {
  new (&g_pool) std::shared_ptr<ThreadPool>();
  new (&g_config_mutex) std::mutex();
}

void register_fork_handler() {
  static const bool registered = [] {
    pthread_atfork(nullptr, nullptr, after_fork_in_child);
    return true;
  }();
  (void)registered;
}

// The pool for the configured count, created on first use; nullptr (run on the caller) if the
// system cannot start the threads now (set_num_threads reports that case as an error).
std::shared_ptr<ThreadPool> pool() {
  register_fork_handler();
  const int threads = configured_threads();
  std::lock_guard<std::mutex> lock(g_config_mutex);
  if (g_pool == nullptr || g_pool->size() != threads) {
    try {
      g_pool = std::make_shared<ThreadPool>(threads);
    } catch (const std::system_error&) {
      return nullptr;
    }
  }
  return g_pool;
}

}  // namespace

int worker_index() { return t_worker_index; }

int get_num_threads() { return configured_threads(); }

void set_num_threads(int n) {
  if (n < 1 || n > kMaxThreads)
    throw ValueError("set_num_threads: n must be between 1 and " + std::to_string(kMaxThreads) +
                     ", got " + std::to_string(n));
  register_fork_handler();
  std::lock_guard<std::mutex> lock(g_config_mutex);
  if (g_pool == nullptr || g_pool->size() != n) {
    try {  // start the threads now, so that a system that refuses them is an error here
      g_pool = std::make_shared<ThreadPool>(n);
    } catch (const std::system_error& e) {
      throw ValueError("set_num_threads: could not start " + std::to_string(n) + " threads (" +
                       e.what() + "); the thread count stays " +
                       std::to_string(configured_threads()));
    }
  }
  g_threads.store(n);
}

void parallel_for(std::ptrdiff_t n_tasks, void (*fn)(void*, std::ptrdiff_t), void* ctx,
                  bool pinned) {
  if (n_tasks <= 0) return;
  if (n_tasks > 1 && get_num_threads() > 1) {
    const std::shared_ptr<ThreadPool> p = pool();  // kept alive until this call is done
    if (p != nullptr && p->try_run(n_tasks, fn, ctx, pinned)) return;
  }
  for (std::ptrdiff_t t = 0; t < n_tasks; ++t) fn(ctx, t);
}

}  // namespace chainrule::kernels
