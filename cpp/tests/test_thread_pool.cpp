// The thread pool (kernels/thread_pool.hpp): every task of a job runs exactly once, dynamic or
// pinned, on any thread count; a pinned task runs on its own thread when that thread is there
// and on the caller when it is not (a worker held back, as one the system does not schedule),
// and the call never waits for it, and pool_stats() counts the parts it ran so; jobs stay
// correct while workers come and go at random.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "chainrule/kernels/thread_pool.hpp"
#include "test_util.hpp"

using namespace chainrule;

namespace {

// Runs one job of n tasks; returns how often each task ran, and which thread ran it last.
struct JobRecord {
  std::vector<int> runs;
  std::vector<int> thread;
};

JobRecord run_job(std::ptrdiff_t n, bool pinned) {
  std::vector<std::atomic<int>> runs(static_cast<std::size_t>(n));
  std::vector<std::atomic<int>> thread(static_cast<std::size_t>(n));
  kernels::parallel_for(
      n,
      [&](std::ptrdiff_t t) {
        runs[static_cast<std::size_t>(t)].fetch_add(1);
        thread[static_cast<std::size_t>(t)].store(kernels::worker_index());
      },
      pinned);
  JobRecord r;
  for (std::ptrdiff_t t = 0; t < n; ++t) {
    r.runs.push_back(runs[static_cast<std::size_t>(t)].load());
    r.thread.push_back(thread[static_cast<std::size_t>(t)].load());
  }
  return r;
}

bool each_once(const JobRecord& r) {
  for (int c : r.runs)
    if (c != 1) return false;
  return true;
}

void every_task_runs_once() {
  for (int threads : {1, 2, 3, 4}) {
    kernels::set_num_threads(threads);
    for (std::ptrdiff_t n : {1, 2, 3, 7, 64, 1000})
      for (bool pinned : {false, true}) {
        const JobRecord r = run_job(n, pinned);
        chainrule_test::record(each_once(r), __FILE__, __LINE__,
                               ("each task once: threads=" + std::to_string(threads) +
                                " n=" + std::to_string(n) + (pinned ? " pinned" : ""))
                                   .c_str());
        bool in_range = true;
        for (int w : r.thread) in_range = in_range && w >= 0 && w < threads;
        CHECK(in_range);
      }
  }
  kernels::set_num_threads(2);
}

void held_workers_leave_every_task_to_the_caller() {
  kernels::set_num_threads(3);
  kernels::testing::hold_workers(true);
  const kernels::PoolStats before = kernels::pool_stats();
  for (bool pinned : {false, true}) {
    const JobRecord r = run_job(12, pinned);
    CHECK(each_once(r));
    bool on_caller = true;
    for (int w : r.thread) on_caller = on_caller && w == 0;
    CHECK(on_caller);
  }
  // two jobs of two workers' parts each, every part run by the caller, and counted so
  const kernels::PoolStats held = kernels::pool_stats();
  CHECK(held.jobs - before.jobs == 2);
  CHECK(held.worker_parts - before.worker_parts == 4);
  CHECK(held.parts_run_by_caller - before.parts_run_by_caller == 4);
  kernels::testing::hold_workers(false);
  // released, the workers take their pinned tasks again: task t on thread t mod 3 once the
  // workers are awake and waiting (each call gives them until the caller's own tasks end, so
  // a call of slow tasks finds them there)
  bool on_owner = false;
  std::uint64_t taken_in_call = 0;
  for (int attempt = 0; attempt < 200 && !on_owner; ++attempt) {
    const std::uint64_t taken_before = kernels::pool_stats().parts_run_by_caller;
    std::vector<int> thread(6, -1);
    kernels::parallel_for(
        6,
        [&](std::ptrdiff_t t) {
          thread[static_cast<std::size_t>(t)] = kernels::worker_index();
          std::this_thread::sleep_for(std::chrono::milliseconds(2));
        },
        /*pinned=*/true);
    on_owner = true;
    for (int t = 0; t < 6; ++t) on_owner = on_owner && thread[static_cast<std::size_t>(t)] == t % 3;
    taken_in_call = kernels::pool_stats().parts_run_by_caller - taken_before;
  }
  CHECK(on_owner);
  CHECK(taken_in_call == 0);  // a call whose workers ran their own parts counts none taken
  kernels::set_num_threads(2);
}

// Workers held and released at random by another thread while the caller runs many jobs of
// both kinds: no task is lost or run twice, and no call hangs.
void jobs_stay_whole_while_workers_come_and_go() {
  kernels::set_num_threads(2);
  std::atomic<bool> done{false};
  std::thread toggler([&] {
    std::mt19937 rng(7);
    while (!done.load()) {
      kernels::testing::hold_workers(rng() % 2 == 0);
      std::this_thread::sleep_for(std::chrono::microseconds(rng() % 200));
    }
    kernels::testing::hold_workers(false);
  });
  bool whole = true;
  for (int job = 0; job < 20000 && whole; ++job) {
    const JobRecord r = run_job(1 + job % 9, job % 2 == 0);
    whole = each_once(r);
  }
  done.store(true);
  toggler.join();
  CHECK(whole);
}

}  // namespace

int main() {
  RUN_TEST(every_task_runs_once);
  RUN_TEST(held_workers_leave_every_task_to_the_caller);
  RUN_TEST(jobs_stay_whole_while_workers_come_and_go);
  return chainrule_test::report();
}
