// Picks the faster of two ways to run a repeated call that give the same results, by timing
// them on the first calls: the fused small step's two parts on one thread or on two
// (training/small_step.cpp). Only timing can tell: the hand-off between the threads costs
// about 0.2 us with both vCPUs on one die and up to 1 us on two dies, and the work it splits
// depends on the activations' costs, which differ tenfold between relu and sigmoid.
#pragma once

#include <chrono>
#include <limits>

namespace chainrule {

/// The calls alternate between the two ways (after one warm-up call of each), kTrials of each,
/// then the second way is kept if its fastest call beat the first way's fastest by kMargin,
/// the first way otherwise (the one that takes less of the machine).
class TimedChoice {
 public:
  static constexpr int kTrials = 8;
  static constexpr double kMargin = 0.95;

  /// Whether the next call takes the second way.
  bool second() const { return decided_ ? choice_ : calls_ % 2 == 1; }
  /// Runs f(second()), timing it while the choice is open.
  template <class F>
  void run(F&& f) {
    const bool way = second();
    if (decided_) {
      f(way);
      return;
    }
    const auto start = std::chrono::steady_clock::now();
    f(way);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (calls_ >= 2 && seconds < best_[way]) best_[way] = seconds;  // (calls 0, 1: warm-up)
    if (++calls_ == 2 + 2 * kTrials) {
      decided_ = true;
      choice_ = best_[1] < kMargin * best_[0];
    }
  }

 private:
  int calls_ = 0;
  bool decided_ = false, choice_ = false;
  double best_[2] = {std::numeric_limits<double>::infinity(),
                     std::numeric_limits<double>::infinity()};
};

}  // namespace chainrule
