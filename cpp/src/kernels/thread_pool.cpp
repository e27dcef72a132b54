#include "chainrule/kernels/thread_pool.hpp"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
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

// pool_stats(): written by callers only (one at a time per pool), read by anyone
std::atomic<std::uint64_t> g_jobs{0}, g_worker_parts{0}, g_parts_run_by_caller{0};

int default_threads() {
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return std::max(1u, std::thread::hardware_concurrency());
}

// Jobs and who runs their tasks. A job is published by bumping `generation_`. Each worker joins a
// job by writing the job's number into its own claim (a compare-and-swap on a cache line only it
// writes, so joining costs no trip between cores) and reports the end of its part in its `done`
// line, on which the caller waits, as before. The caller never waits long for a worker that has not
// joined: when the worker has not started some 3-4 us after the caller's own part is done (64
// pauses, 1.5 us on the machine measured, then 2 us by the clock), the caller takes the claim
// itself and runs that worker's pinned tasks (a dynamic job's tasks are all claimed by then), and
// in the next call at once if the worker has not started by the end of the caller's part (it is
// likely still away); a worker that joined is finishing its tasks, and the caller waits. A worker
// that is asleep, not yet scheduled, or sharing its core with another program's spinning threads
// (OpenBLAS's, after a NumPy call) then costs a call its one-thread time, not a scheduler's time
// slice. Who runs a task never changes its result (the callers' contract), so results are the same
// bits either way.
class ThreadPool {
 public:
  /// Starts n_threads - 1 workers; if the system refuses one (std::system_error), the ones
  /// started are stopped and joined before the error propagates, so nothing is left waiting.
  explicit ThreadPool(int n_threads)
      : spins_(n_threads > default_threads() ? 0 : kSpins),
        slots_(std::make_unique<Slot[]>(static_cast<std::size_t>(n_threads))),
        away_(static_cast<std::size_t>(n_threads), 0) {
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
    // every worker's part of the previous job is done or was taken: the fields are free
    pinned_ = pinned;
    fn_ = fn;
    ctx_ = ctx;
    n_tasks_ = n_tasks;
    next_.store(0, std::memory_order_relaxed);
    const std::size_t job = generation_.load(std::memory_order_relaxed) + 1;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      generation_.store(job, std::memory_order_release);
    }
    if (sleeping_.load() > 0) wake_.notify_all();
    g_jobs.fetch_add(1, std::memory_order_relaxed);
    g_worker_parts.fetch_add(workers_.size(), std::memory_order_relaxed);
    if (pinned_)
      run_group(0);
    else
      run_claimed();
    for (int i = 1; i < size(); ++i) {
      Slot& w = slots_[i];
      // a worker whose part the last call took is likely still away: its part is taken at
      // once if it has not started by now, without the wait
      const bool was_away = away_[i];
      away_[i] = false;
      Clock::time_point deadline{};
      for (int spin = 1; w.done.load(std::memory_order_acquire) != job; ++spin) {
        // Not seen starting 64 pauses and then 2 us after the caller's own part: take the
        // worker's part unless it has joined after all (the claim decides). Started and the
        // clock are read only from the 64th pause on (1.5 us on the machine measured): reading
        // the claim's line sends the line back and forth, which the worker's next join would
        // wait for.
        if ((was_away || spin % 64 == 0) && w.started.load(std::memory_order_relaxed) != job) {
          bool take = was_away;
          if (!take) {
            const Clock::time_point now = Clock::now();
            if (deadline == Clock::time_point{})
              deadline = now + std::chrono::microseconds(2);
            else
              take = now >= deadline;
          }
          if (take) {
            std::size_t last = w.claim.load(std::memory_order_relaxed);
            if (last != job && w.claim.compare_exchange_strong(last, job)) {
              away_[i] = true;
              g_parts_run_by_caller.fetch_add(1, std::memory_order_relaxed);
              if (pinned_) run_group(i);
              break;
            }
          }
        }
        pause();
      }
    }
    return true;
  }

  /// Tests: while held, workers do not join jobs, as when they are not scheduled.
  void hold(bool held) { held_.store(held); }

 private:
  using Clock = std::chrono::steady_clock;
  // One worker's claim and started, and its done, on two cache lines. The first is written by
  // the worker alone and read by the caller only when the worker is late (then the caller may
  // take the claim), so a worker's join stays in its own cache; done is written by the worker
  // and read by the caller. Each holds the number of the last job concerned.
  struct alignas(64) Slot {
    std::atomic<std::size_t> claim{0};
    std::atomic<std::size_t> started{0};
    alignas(64) std::atomic<std::size_t> done{0};
  };

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
  // Thread i's tasks of a pinned job: t = i, i + size(), ... (the same data on the same core)
  void run_group(int i) {
    for (std::ptrdiff_t t = i; t < n_tasks_; t += size()) fn_(ctx_, t);
  }
  // A dynamic job's tasks, claimed one at a time until none is left.
  void run_claimed() {
    for (std::ptrdiff_t t; (t = next_.fetch_add(1)) < n_tasks_;) fn_(ctx_, t);
  }
  // Workers spin on the job counter for a while after each job (back-to-back GEMMs of a
  // training step or a predict call then start in well under a microsecond), then sleep.
  void worker() {
    std::size_t seen = 0;
    Slot& me = slots_[t_worker_index];
    for (;;) {
      bool found = false;
      for (int spin = 0; spin < spins_; ++spin) {
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
      if (held_.load(std::memory_order_relaxed)) continue;
      // Join job `seen` unless the caller has taken this worker's part of it (or of a later
      // job: then `seen` is over). Joined, the job's fields stay `seen`'s until done.
      std::size_t last = me.claim.load(std::memory_order_relaxed);
      if (last >= seen || !me.claim.compare_exchange_strong(last, seen)) continue;
      me.started.store(seen, std::memory_order_relaxed);
      if (pinned_)
        run_group(t_worker_index);
      else
        run_claimed();
      me.done.store(seen, std::memory_order_release);
    }
  }

  static constexpr int kSpins = 200000;  // about 1-5 ms of pause instructions
  // kSpins, or 0 when there are more threads than CPUs: workers spinning after a job would
  // then take the CPUs from the caller and the workers that have work (64 threads on 2 CPUs
  // made a small fit's epoch 50 times slower, 512 a thousand times)
  const int spins_;
  std::vector<std::thread> workers_;
  std::mutex mutex_, run_mutex_;
  std::condition_variable wake_;
  std::atomic<std::size_t> generation_{0};  // the latest job's number
  std::atomic<bool> stop_{false};
  std::atomic<bool> held_{false};
  std::atomic<int> sleeping_{0};
  void (*fn_)(void*, std::ptrdiff_t) = nullptr;
  void* ctx_ = nullptr;
  std::ptrdiff_t n_tasks_ = 0;
  bool pinned_ = false;
  std::atomic<std::ptrdiff_t> next_{0};  // a dynamic job's next task
  std::unique_ptr<Slot[]> slots_;        // by thread (slot 0 unused)
  std::vector<char> away_;               // by thread: the last call took its part (caller's)
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

PoolStats pool_stats() {
  PoolStats s;
  s.jobs = g_jobs.load(std::memory_order_relaxed);
  s.worker_parts = g_worker_parts.load(std::memory_order_relaxed);
  s.parts_run_by_caller = g_parts_run_by_caller.load(std::memory_order_relaxed);
  return s;
}

namespace testing {
void hold_workers(bool held) {
  const std::shared_ptr<ThreadPool> p = pool();
  if (p != nullptr) p->hold(held);
}
}  // namespace testing

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
