#include "chainrule/kernels/thread_pool.hpp"

#include <pthread.h>
#include <sched.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "chainrule/error.hpp"

namespace chainrule::kernels {
namespace {

int default_threads() {
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads) {
    for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this] { worker(); });
  }
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
  }
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Returns false (and does nothing) when the pool is already running a job.
  bool try_run(std::ptrdiff_t n_tasks, void (*fn)(void*, std::ptrdiff_t), void* ctx) {
    std::unique_lock<std::mutex> busy(run_mutex_, std::try_to_lock);
    if (!busy.owns_lock()) return false;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fn_ = fn;
      ctx_ = ctx;
      n_tasks_ = n_tasks;
      next_.store(0);
      pending_ = static_cast<int>(workers_.size());
      ++generation_;
    }
    wake_.notify_all();
    work();
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
    return true;
  }

 private:
  void work() {
    for (std::ptrdiff_t t; (t = next_.fetch_add(1)) < n_tasks_;) fn_(ctx_, t);
  }
  void worker() {
    std::size_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
      }
      work();
      std::lock_guard<std::mutex> lock(mutex_);
      if (--pending_ == 0) done_.notify_one();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_, run_mutex_;
  std::condition_variable wake_, done_;
  std::size_t generation_ = 0;
  bool stop_ = false;
  int pending_ = 0;
  void (*fn_)(void*, std::ptrdiff_t) = nullptr;
  void* ctx_ = nullptr;
  std::ptrdiff_t n_tasks_ = 0;
  std::atomic<std::ptrdiff_t> next_{0};
};

std::mutex g_config_mutex;
int g_threads = 0;              // 0: not yet decided
ThreadPool* g_pool = nullptr;   // owned; replaced when the thread count changes

// In a forked child the workers do not exist: forget the pool (its memory is abandoned on
// purpose, since joining threads that are not there would hang) and start a new one lazily.
void after_fork_in_child() {
  g_pool = nullptr;
  new (&g_config_mutex) std::mutex();
}

ThreadPool* pool() {
  static const bool registered = [] {
    pthread_atfork(nullptr, nullptr, after_fork_in_child);
    return true;
  }();
  (void)registered;
  std::lock_guard<std::mutex> lock(g_config_mutex);
  if (g_threads == 0) g_threads = default_threads();
  if (g_pool == nullptr || g_pool->size() != g_threads) {
    delete g_pool;
    g_pool = new ThreadPool(g_threads);
  }
  return g_pool;
}

}  // namespace

int get_num_threads() {
  std::lock_guard<std::mutex> lock(g_config_mutex);
  if (g_threads == 0) g_threads = default_threads();
  return g_threads;
}

void set_num_threads(int n) {
  if (n < 1) throw ValueError("set_num_threads: n must be >= 1, got " + std::to_string(n));
  std::lock_guard<std::mutex> lock(g_config_mutex);
  g_threads = n;
}

void parallel_for(std::ptrdiff_t n_tasks, void (*fn)(void*, std::ptrdiff_t), void* ctx) {
  if (n_tasks <= 0) return;
  if (n_tasks > 1 && get_num_threads() > 1 && pool()->try_run(n_tasks, fn, ctx)) return;
  for (std::ptrdiff_t t = 0; t < n_tasks; ++t) fn(ctx, t);
}

}  // namespace chainrule::kernels
