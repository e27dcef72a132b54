// The lock a network's Python methods take (chainrule.Network._lock): the core's layer buffers
// serve one call at a time, and calls release the GIL, so threads sharing a network take turns.
// It behaves as threading.RLock (reentrant; acquire(blocking, timeout), release, a context
// manager), and a binding can also take it in C++ (try_acquire): a one-row predict then pays a
// try_lock instead of an RLock's two Python calls, about 120 ns less of ~0.9 us
// (docs/performance.md). No maths.
#pragma once

#include <pybind11/pybind11.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <mutex>
#include <new>
#include <stdexcept>

namespace chainrule::bindings {

class NetworkLock {
 public:
  /// Takes the lock if it is free or the calling thread holds it; never waits. GIL held.
  bool try_acquire() noexcept {
    const unsigned long me = PyThread_get_thread_ident();
    if (owner_.load(std::memory_order_relaxed) == me) {  // only this thread stores `me`
      ++count_;
      return true;
    }
    if (!mutex_.try_lock()) return false;
    become_holder(me);
    return true;
  }

  /// threading.RLock.acquire: with `blocking`, waits until the lock is free (for at most
  /// `timeout` seconds unless it is -1) with the GIL released, and raises what a signal
  /// handler raises (Ctrl-C: KeyboardInterrupt) within 50 ms. GIL held.
  bool acquire(bool blocking, double timeout) {
    if (!blocking && timeout != -1)
      throw pybind11::value_error("can't specify a timeout for a non-blocking call");
    if (std::isnan(timeout)) throw pybind11::value_error("Invalid value NaN (not a number)");
    if (timeout < 0 && timeout != -1)
      throw pybind11::value_error("timeout value must be a non-negative number");
    if (try_acquire()) return true;
    if (!blocking) return false;
    using Clock = std::chrono::steady_clock;
    const auto slice = std::chrono::milliseconds(50);
    const bool forever = timeout < 0 || timeout > 1e9;  // -1, or longer than 30 years
    const auto deadline = forever ? Clock::time_point::max()
                                  : Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                       std::chrono::duration<double>(timeout));
    for (;;) {
      bool taken;
      {
        pybind11::gil_scoped_release nogil;
        const auto now = Clock::now();
        taken = mutex_.try_lock_for(
            std::max(Clock::duration::zero(), std::min<Clock::duration>(slice, deadline - now)));
      }
      if (taken) {
        become_holder(PyThread_get_thread_ident());
        return true;
      }
      if (PyErr_CheckSignals() != 0) throw pybind11::error_already_set();
      if (Clock::now() >= deadline) return false;
    }
  }

  /// threading.RLock.release: RuntimeError unless the calling thread holds the lock. GIL held.
  void release() {
    if (owner_.load(std::memory_order_relaxed) != PyThread_get_thread_ident())
      throw std::runtime_error("cannot release un-acquired lock");
    release_held();
  }

  /// os.register_at_fork's after_in_child: a lock held by a thread of the parent, which the
  /// child does not have, is free again (as CPython resets its own locks at fork); one the
  /// forking thread held stays its own. GIL held, one thread running.
  void at_fork_reinit() noexcept {
    if (owner_.load(std::memory_order_relaxed) == PyThread_get_thread_ident()) return;
    new (&mutex_) std::timed_mutex();  // (the parent's state is not released: no owner here)
    owner_.store(0, std::memory_order_relaxed);
    count_ = 0;
  }

  /// Releases a lock the calling thread holds (after try_acquire returned true).
  void release_held() noexcept {
    if (--count_ == 0) {
      owner_.store(0, std::memory_order_relaxed);
      mutex_.unlock();
    }
  }

 private:
  /// Records thread `me` as the holder, once it has taken the mutex.
  void become_holder(unsigned long me) noexcept {
    owner_.store(me, std::memory_order_relaxed);
    count_ = 1;
  }

  std::timed_mutex mutex_;
  std::atomic<unsigned long> owner_{0};  // PyThread_get_thread_ident() of the holder; 0: none
  long count_ = 0;                       // the holder's acquisitions not yet released
};

/// Holds a lock taken with try_acquire for its scope.
class HeldLock {
 public:
  explicit HeldLock(NetworkLock& lock) : lock_(lock) {}
  ~HeldLock() { lock_.release_held(); }
  HeldLock(const HeldLock&) = delete;
  HeldLock& operator=(const HeldLock&) = delete;

 private:
  NetworkLock& lock_;
};

}  // namespace chainrule::bindings
