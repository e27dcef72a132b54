// Picks the faster of two ways to run a repeated call that give the same results, by timing
// them while the calls go on: the fused small step's two parts on one thread or on two
// (training/small_step.cpp). Only timing can tell: the hand-off between the threads costs
// about 0.2 us with both vCPUs on one die and up to 1 us on two dies, the work it splits
// depends on the activations' costs, which differ tenfold between relu and sigmoid, and
// another program (or another library's threads in this process) may take the second core
// for a while.
#pragma once

#include <chrono>

namespace chainrule {

/// The calls run in blocks of kBlock, each block one way, timed as a whole but for its first
/// call (which may wake a pool's sleeping thread, or find cold caches): one clock read a
/// block. Block 0 measures the first way (so a short run, say one step of partial_fit, never
/// wakes a second thread) and block 1 the second; from then on the way with the lower mean
/// time per call runs, its mean refreshed by every block, and now and then a block of the
/// other way checks whether things changed (the other core taken or freed): after 16 blocks,
/// then after twice as many each time the check confirms the choice, after 16 again when it
/// flips it; and never sooner than a check's extra time allows, kCheckShare of the blocks'
/// time: a way twice as slow is checked after 100 blocks at the earliest (two threads on two
/// dies for the demo's networks), one 10% slower after 16.
///
/// A way that gets slower while it runs is left after two blocks: the running way's mean is
/// the lower of its last two blocks', so that one block slowed by something passing (the host
/// taking the vCPU for a while, an interrupt, the worker late once) decides nothing. And the
/// way left is checked again after one block of the other: its last block may have been
/// slowed for longer, and a mean kept from then would keep it out until the next check, up
/// to 1024 blocks later. (Measured on a shared 2-vCPU VM: the demo's 2-10-8-5-1 network, whose
/// steps took 3.3 us on two threads and 4.6 on one, ran a quarter of the steps of the median
/// fit of 1000 on one thread.)
template <class Clock = std::chrono::steady_clock>  // (tests give a clock of their own)
class BasicTimedChoice {
 public:
  static constexpr int kBlock = 16;
  static constexpr long kFirstExplore = 16, kLastExplore = 1024;
  static constexpr double kCheckShare = 0.01;

  /// Runs f(way), way false or true, timing the block it belongs to.
  template <class F>
  void run(F&& f) {
    f(way_);
    if (++call_ == 1) start_ = Clock::now();  // (the first call: untimed)
    if (call_ < kBlock) return;
    call_ = 0;
    const double mean = std::chrono::duration<double>(Clock::now() - start_).count() / (kBlock - 1);
    // the lower of this block's and the previous one's if it ran this way too
    mean_[way_] = block_ > 0 && last_way_ == way_ && last_mean_ < mean ? last_mean_ : mean;
    last_way_ = way_;
    last_mean_ = mean;
    if (++block_ == 1) {  // the first way measured: now the second
      way_ = true;
      return;
    }
    const bool best = mean_[1] < mean_[0];
    if (exploring_ || block_ == 2) {  // a check (or the first comparison) confirmed or flipped
      const bool confirmed = exploring_ && best == chosen_;
      exploring_ = false;
      interval_ =
          confirmed ? (interval_ < kLastExplore ? 2 * interval_ : interval_) : kFirstExplore;
      // blocks for which one block of the other way costs kCheckShare of their time
      const double slower = mean_[!best] / mean_[best] - 1;
      const double affordable = slower / kCheckShare;
      if (affordable > static_cast<double>(interval_))
        interval_ = affordable < static_cast<double>(kLastExplore) ? static_cast<long>(affordable)
                                                                   : kLastExplore;
      next_explore_ = block_ + interval_;
    } else if (best != chosen_) {  // the running way got slower: the way left, checked soon
      next_explore_ = block_ + 1;
    }
    chosen_ = best;
    if (block_ >= next_explore_) {
      exploring_ = true;
      way_ = !chosen_;
    } else {
      way_ = chosen_;
    }
  }

  /// The way the next call takes (for tests).
  bool way() const { return way_; }

 private:
  int call_ = 0;      // calls into the current block
  long block_ = 0;    // blocks finished
  bool way_ = false;  // the current block's way
  bool chosen_ = false, exploring_ = false;
  long interval_ = kFirstExplore, next_explore_ = 2 + kFirstExplore;
  double mean_[2] = {0, 0};  // each way's mean time per call (see above)
  bool last_way_ = false;    // the latest block's way and mean
  double last_mean_ = 0;
  typename Clock::time_point start_;
};

using TimedChoice = BasicTimedChoice<>;

}  // namespace chainrule
