// TimedChoice (training/timed_choice.hpp), the small step's choice between one thread and two,
// on a clock of the test's own: each call advances it by the cost the test gives its way, so
// the schedule of ways is exact.
#include <chrono>
#include <string>
#include <vector>

#include "chainrule/training/timed_choice.hpp"
#include "test_util.hpp"

using namespace chainrule;

namespace {

struct FakeClock {
  using duration = std::chrono::nanoseconds;
  using rep = duration::rep;
  using period = duration::period;
  using time_point = std::chrono::time_point<FakeClock>;
  static constexpr bool is_steady = true;
  static inline rep ticks = 0;
  static time_point now() { return time_point(duration(ticks)); }
};

using Choice = BasicTimedChoice<FakeClock>;
constexpr int B = Choice::kBlock;

// The ways of `calls` calls, way w costing cost(call, w) nanoseconds
template <class Cost>
std::vector<bool> ways(int calls, Cost cost) {
  Choice choice;
  std::vector<bool> out;
  for (int c = 0; c < calls; ++c)
    choice.run([&](bool way) {
      out.push_back(way);
      FakeClock::ticks += cost(c, way);
    });
  return out;
}

// ways[first, last) all equal to want
bool all(const std::vector<bool>& ways, int first, int last, bool want) {
  for (int c = first; c < last; ++c)
    if (ways[static_cast<std::size_t>(c)] != want) return false;
  return true;
}

void starts_with_the_first_way_then_tries_the_second() {
  const auto w = ways(2 * B, [](int, bool) { return 1000; });
  CHECK(all(w, 0, B, false));
  CHECK(all(w, B, 2 * B, true));
}

void keeps_the_faster_and_checks_the_other_at_doubling_intervals() {
  // the second way 5% faster: it runs from block 1 on, but for one block of the first way after
  // 16 blocks, then after 32 more, then 64 more (a check of a way 5% slower is affordable
  // after 5 blocks: the doubling decides)
  const auto second = ways(200 * B, [](int, bool way) { return way ? 2000 : 2100; });
  CHECK(all(second, 0, B, false));
  CHECK(all(second, B, 18 * B, true));
  CHECK(all(second, 18 * B, 19 * B, false));  // a check: the first way still slower
  CHECK(all(second, 19 * B, 51 * B, true));
  CHECK(all(second, 51 * B, 52 * B, false));
  CHECK(all(second, 52 * B, 116 * B, true));
  CHECK(all(second, 116 * B, 117 * B, false));
  // the first way faster: the same with the ways swapped, after the first two blocks
  const auto first = ways(60 * B, [](int, bool way) { return way ? 1050 : 1000; });
  CHECK(all(first, 0, B, false));
  CHECK(all(first, B, 2 * B, true));
  CHECK(all(first, 2 * B, 18 * B, false));
  CHECK(all(first, 18 * B, 19 * B, true));
  CHECK(all(first, 19 * B, 51 * B, false));
}

void spaces_the_checks_by_what_they_cost() {
  // the second way twice as slow: a block of it costs a block's time, so the first check
  // comes after 100 blocks (kCheckShare 1%), the next after 200 (the doubling)
  const auto w = ways(320 * B, [](int, bool way) { return way ? 5000 : 2500; });
  CHECK(all(w, 0, B, false));
  CHECK(all(w, B, 2 * B, true));
  CHECK(all(w, 2 * B, 102 * B, false));
  CHECK(all(w, 102 * B, 103 * B, true));
  CHECK(all(w, 103 * B, 303 * B, false));
  CHECK(all(w, 303 * B, 304 * B, true));
  // twenty times as slow: after the longest interval, 1024 blocks
  const auto far = ways(1100 * B, [](int, bool way) { return way ? 50000 : 2500; });
  CHECK(all(far, 2 * B, 1026 * B, false));
  CHECK(all(far, 1026 * B, 1027 * B, true));
}

void follows_a_change_in_the_costs() {
  // two threads faster at first; from call 400 (block 25) they cost 10% more than one: blocks
  // 25 and 26 show it (one block alone decides nothing), and the first way runs from block 27
  // on, but for the check of the way left after one block (28), still slower; the next check
  // comes after twice the interval, 64 blocks
  const auto w = ways(95 * B, [](int c, bool way) { return way ? (c < 400 ? 2000 : 2300) : 2100; });
  CHECK(all(w, 19 * B, 27 * B, true));
  CHECK(all(w, 27 * B, 28 * B, false));
  CHECK(all(w, 28 * B, 29 * B, true));  // the check, still slower
  CHECK(all(w, 29 * B, 93 * B, false));
  CHECK(all(w, 93 * B, 94 * B, true));
  // one thread chosen (the other 10% slower), then the other core freed: the check after 16
  // blocks finds it; one thread, now 2.5 times as slow, is checked again after 150 blocks
  const auto freed =
      ways(200 * B, [](int c, bool way) { return way ? (c < 100 ? 5500 : 2000) : 5000; });
  CHECK(all(freed, 2 * B, 18 * B, false));
  CHECK(all(freed, 18 * B, 169 * B, true));  // flipped by the check
  CHECK(all(freed, 169 * B, 170 * B, false));
  CHECK(all(freed, 170 * B, 200 * B, true));
}

void is_not_moved_by_a_passing_slowdown() {
  // two threads faster; one block of them (10) slowed 4.5 times: the lower of the last two
  // blocks' means counts, and the choice stays
  const auto once = ways(40 * B, [](int c, bool way) {
    return way ? (c >= 10 * B && c < 11 * B ? 9000 : 2000) : 2100;
  });
  CHECK(all(once, B, 18 * B, true));
  // two blocks in a row slowed (10, 11): one thread runs a block (12), then the way left is
  // checked (13), found faster again and chosen, the next check 16 blocks after it (30)
  const auto twice = ways(40 * B, [](int c, bool way) {
    return way ? (c >= 10 * B && c < 12 * B ? 9000 : 2000) : 2100;
  });
  CHECK(all(twice, B, 12 * B, true));
  CHECK(all(twice, 12 * B, 13 * B, false));
  CHECK(all(twice, 13 * B, 30 * B, true));
  CHECK(all(twice, 30 * B, 31 * B, false));
  CHECK(all(twice, 31 * B, 40 * B, true));
}

void leaves_each_blocks_first_call_out() {
  // the second way's first call of every block costs 1 ms (a thread waking up): still chosen
  const auto w =
      ways(30 * B, [](int c, bool way) { return way ? (c % B == 0 ? 1000000 : 2000) : 5000; });
  CHECK(all(w, 2 * B, 18 * B, true));
}

}  // namespace

int main() {
  RUN_TEST(starts_with_the_first_way_then_tries_the_second);
  RUN_TEST(keeps_the_faster_and_checks_the_other_at_doubling_intervals);
  RUN_TEST(spaces_the_checks_by_what_they_cost);
  RUN_TEST(follows_a_change_in_the_costs);
  RUN_TEST(is_not_moved_by_a_passing_slowdown);
  RUN_TEST(leaves_each_blocks_first_call_out);
  return chainrule_test::report();
}
