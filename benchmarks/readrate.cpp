// Cache read-rate probe for benchmarks/run.py: the least time in which `threads` threads, each
// pinned to its own CPU, read their share of `bytes` of float32 weights once, doing one FMA with
// every weight (acc += x * w, as a one-row predict must), the share staying in the thread's
// caches between passes as a predict's weights do between calls.
//
// Each thread first-touches its own buffer of bytes / threads (rounded up to 512 bytes), then
// runs `passes` passes over it, in alternate directions (so the part a pass read last, still in
// the core's L2, is read first by the next, as the few-row predict does), all threads at once.
// Each pass is timed on its own; a thread's figure is its fastest pass, and the output is the
// slowest thread's figure: a lower bound for a one-row predict of that many weights on that many
// threads, as no such predict reads its weights faster than this loop does.
// Output: one line "<seconds> <threads pinned>". Usage: readrate <bytes> <threads> [passes]
//
// Build: g++ -O3 -std=c++17 -pthread [-mavx512f -mfma | -mavx2 -mfma] readrate.cpp -o readrate
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "pin.hpp"

namespace {

// 64 bytes of float32 (one zmm, two ymm or four xmm registers: the compiler's choice)
typedef float V16 __attribute__((vector_size(64)));
constexpr int kAcc = 8;  // independent FMA chains: 512 bytes a step
constexpr std::size_t kStep = kAcc * 16;

volatile float g_sink;  // keeps the sums observable

// one pass over w[0, n) (n a multiple of kStep), forward or backward; returns its seconds
double pass(const float* w, std::size_t n, bool backward) {
  const V16 x = V16{} + 1.0009765625f;
  V16 acc[kAcc] = {};
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t s = 0; s < n; s += kStep) {
    const float* p = w + (backward ? n - kStep - s : s);
    for (int k = 0; k < kAcc; ++k) {
      V16 v;
      __builtin_memcpy(&v, p + 16 * k, sizeof v);
      acc[k] += x * v;
    }
  }
  const auto t1 = std::chrono::steady_clock::now();
  float s = 0;
  for (const V16& a : acc)
    for (int i = 0; i < 16; ++i) s += a[i];
  g_sink = s;
  return std::chrono::duration<double>(t1 - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: readrate <bytes> <threads> [passes]\n");
    return 2;
  }
  const double bytes = std::atof(argv[1]);
  const int threads = std::max(1, std::atoi(argv[2]));
  const int passes = argc > 3 ? std::max(2, std::atoi(argv[3])) : 2000;
  std::size_t n = static_cast<std::size_t>(bytes / threads / sizeof(float));
  n = std::max(kStep, (n + kStep - 1) / kStep * kStep);

  std::vector<int> cpus;  // the CPUs this process may run on, in order
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &allowed)) cpus.push_back(c);

  std::vector<double> best(threads, 1e30);
  std::atomic<int> pinned{0}, ready{0};
  auto work = [&](int t) {
    if (t < static_cast<int>(cpus.size()) && pin(cpus[t])) ++pinned;
    float* w = static_cast<float*>(std::aligned_alloc(64, n * sizeof(float)));
    for (std::size_t i = 0; i < n; ++i) w[i] = 1e-3f * static_cast<float>(i % 61);
    ++ready;
    while (ready.load() < threads) {
    }  // every buffer written before any pass: the passes run at the same time
    for (int p = 0; p < passes; ++p) best[t] = std::min(best[t], pass(w, n, p % 2 == 1));
    std::free(w);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work, t);
  work(0);
  for (auto& th : pool) th.join();
  std::printf("%.9g %d\n", *std::max_element(best.begin(), best.end()), pinned.load());
  return 0;
}
