// Peak floating-point throughput probe for benchmarks/run.py.
//
// Each thread runs ACC independent FMA chains  acc[i] = acc[i] * a + b  on the widest vectors
// the compiler flags allow (AVX-512, AVX2+FMA, or SSE2 multiply + add). Enough independent
// chains cover FMA latency x throughput, so the loop is bound by the FMA ports only.
// The iteration count is calibrated on one thread to take about `seconds`; every thread count
// then runs that many iterations per thread (std::thread), after an untimed warm-up, best of 3.
// Output: a line "isa <name> <accumulators>", then "<dtype> <threads> <GFLOP/s>" for fp32 and
// fp64 and every thread count. Usage: peak [seconds] [threads...]  (default 0.2 s, 1 and all)
//
// Build: g++ -O2 -std=c++17 -pthread [-mavx512f -mfma | -mavx2 -mfma] peak.cpp -o peak
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

// One vector type per dtype and the two operations the probe needs, for the widest ISA enabled.
#if defined(__AVX512F__)
constexpr const char* ISA = "avx512f+fma";
constexpr int ACC = 16;  // 32 zmm registers: 16 accumulators + 2 constants
using V32 = __m512;
using V64 = __m512d;
inline V32 splat(float x) { return _mm512_set1_ps(x); }
inline V64 splat(double x) { return _mm512_set1_pd(x); }
inline V32 fma(V32 x, V32 a, V32 b) { return _mm512_fmadd_ps(x, a, b); }  // x * a + b
inline V64 fma(V64 x, V64 a, V64 b) { return _mm512_fmadd_pd(x, a, b); }
#elif defined(__AVX2__) && defined(__FMA__)
constexpr const char* ISA = "avx2+fma";
constexpr int ACC = 12;  // 16 ymm registers: 12 accumulators + 2 constants
using V32 = __m256;
using V64 = __m256d;
inline V32 splat(float x) { return _mm256_set1_ps(x); }
inline V64 splat(double x) { return _mm256_set1_pd(x); }
inline V32 fma(V32 x, V32 a, V32 b) { return _mm256_fmadd_ps(x, a, b); }
inline V64 fma(V64 x, V64 a, V64 b) { return _mm256_fmadd_pd(x, a, b); }
#else
constexpr const char* ISA = "sse2";
constexpr int ACC = 12;  // no FMA instruction: a multiply and an add, still 2 flops per lane
using V32 = __m128;
using V64 = __m128d;
inline V32 splat(float x) { return _mm_set1_ps(x); }
inline V64 splat(double x) { return _mm_set1_pd(x); }
inline V32 fma(V32 x, V32 a, V32 b) { return _mm_add_ps(_mm_mul_ps(x, a), b); }
inline V64 fma(V64 x, V64 a, V64 b) { return _mm_add_pd(_mm_mul_pd(x, a), b); }
#endif

template <class T, class V>
constexpr int lanes = static_cast<int>(sizeof(V) / sizeof(T));

template <class T, class V>
double horizontal_sum(V x) {
  T t[lanes<T, V>];
  std::memcpy(t, &x, sizeof x);
  double s = 0;
  for (T v : t) s += v;
  return s;
}

volatile double g_sink;  // keeps the chains observable so they are not optimised away

// iters x ACC x lanes FMAs; acc converges to b / (1 - a) = 1, so no overflow or denormals.
template <class T, class V>
void fma_chains(long iters) {
  const V a = splat(T(0.999999)), b = splat(T(0.000001));
  V acc[ACC];
  for (int i = 0; i < ACC; ++i) acc[i] = splat(T(1 + i * 1e-3));
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 16
    for (int i = 0; i < ACC; ++i) acc[i] = fma(acc[i], a, b);  // ACC independent chains
  }
  double s = 0;
  for (int i = 0; i < ACC; ++i) s += horizontal_sum<T, V>(acc[i]);
  g_sink = s;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <class T, class V>
double run_threads(int threads, long iters) {  // wall seconds for `threads` x `iters`
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(fma_chains<T, V>, iters);
  for (auto& th : pool) th.join();
  return seconds_since(t0);
}

template <class T, class V>
void measure(const char* dtype, double seconds, const std::vector<int>& thread_counts) {
  long iters = 1 << 16;  // calibrate: grow until a single-thread run takes >= seconds / 4
  for (;;) {
    const auto t0 = std::chrono::steady_clock::now();
    fma_chains<T, V>(iters);
    const double dt = seconds_since(t0);
    if (dt >= seconds / 4) {
      iters = static_cast<long>(iters * seconds / dt);
      break;
    }
    iters *= 2;
  }
  const double flops_per_thread = 2.0 * ACC * lanes<T, V> * static_cast<double>(iters);
  for (int threads : thread_counts) {
    run_threads<T, V>(threads, iters / 4);  // untimed: wake every core up
    double best = 1e30;
    for (int rep = 0; rep < 3; ++rep) best = std::min(best, run_threads<T, V>(threads, iters));
    std::printf("%s %d %.2f\n", dtype, threads, flops_per_thread * threads / best / 1e9);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 0.2;
  std::vector<int> thread_counts;
  for (int i = 2; i < argc; ++i) thread_counts.push_back(std::max(1, std::atoi(argv[i])));
  if (thread_counts.empty()) {
    thread_counts.push_back(1);
    const int all = static_cast<int>(std::thread::hardware_concurrency());
    if (all > 1) thread_counts.push_back(all);
  }
  std::printf("isa %s %d\n", ISA, ACC);
  measure<float, V32>("fp32", seconds, thread_counts);
  measure<double, V64>("fp64", seconds, thread_counts);
  return 0;
}
