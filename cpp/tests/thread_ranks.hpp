// Data-parallel "ranks" without MPI: threads of one process joined by an all-reduce made of a
// barrier and a sum in rank order (so every rank gets bitwise the same sums), for the tests
// of data-parallel training (test_distributed.cpp, test_distributed_layers.cpp).
#pragma once

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <vector>

#include "chainrule/tensor.hpp"

namespace chainrule_test {

class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void wait() {
    std::unique_lock<std::mutex> lock(m_);
    const int gen = gen_;
    if (++count_ == n_) {
      count_ = 0;
      ++gen_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return gen_ != gen; });
    }
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  int n_, count_ = 0, gen_ = 0;
};

// MPI_Allreduce(MPI_SUM) among threads: every rank sums the buffers in rank order. hook(r)
// is rank r's AllreduceFn<T> (with T = double, also a SumAcrossFn).
template <class T>
struct ThreadAllreduce {
  explicit ThreadAllreduce(int ranks) : barrier(ranks), buffers(static_cast<std::size_t>(ranks)) {}
  std::function<void(T*, chainrule::Index)> hook(int rank) {
    return [this, rank](T* data, chainrule::Index n) {
      buffers[static_cast<std::size_t>(rank)] = data;
      barrier.wait();
      std::vector<T> sum(static_cast<std::size_t>(n), T(0));
      for (T* b : buffers)
        for (chainrule::Index i = 0; i < n; ++i) sum[static_cast<std::size_t>(i)] += b[i];
      barrier.wait();  // everyone has read every buffer
      std::copy(sum.begin(), sum.end(), data);
    };
  }
  Barrier barrier;
  std::vector<T*> buffers;
};

}  // namespace chainrule_test
