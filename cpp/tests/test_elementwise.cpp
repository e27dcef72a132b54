// The element-wise helpers the layers use (kernels/elementwise.hpp): the bias added to every
// row, column sums, the SGD update (on a vector and on a block) and the search for a
// non-finite value.
#include <limits>
#include <string>
#include <vector>

#include "chainrule/kernels/elementwise.hpp"
#include "test_util.hpp"

using namespace chainrule;
using chainrule_test::dtype_name;

namespace {

// The element-wise helpers used by the layers.
template <class T>
void run_elementwise() {
  const std::string dt = dtype_name<T>();
  // Z (2, 3) += b (3,)
  T Z[6] = {1, 2, 3, 4, 5, 6};
  const T b[3] = {T(0.5), T(-1), T(2)};
  kernels::add_row_vector<T>(2, 3, b, Z);
  const T want_z[6] = {T(1.5), 1, 5, T(4.5), 4, 8};
  chainrule_test::check_all_equal("add_row_vector " + dt, Z, want_z, 6);
  // db (3,) = 0.5 * column sums of dZ (2, 3)
  T db[3] = {T(99), T(99), T(99)};
  kernels::column_sum<T>(2, 3, want_z, T(0.5), db);
  const T want_db[3] = {3, T(2.5), T(6.5)};
  chainrule_test::check_all_equal("column_sum " + dt, db, want_db, 3);
  // p -= lr g, one row
  T p[3] = {1, 2, 3};
  const T g[3] = {2, -4, T(0.5)};
  kernels::axpy_update_block<T>(1, 3, T(0.25), g, 0, p, 0);
  const T want_p[3] = {T(0.5), 3, T(2.875)};
  chainrule_test::check_all_equal("axpy_update_block, one row " + dt, p, want_p, 3);
  // on a (rows, cols) block of strided rows (the SGD epilogue's): each element p -= lr * g
  // rounded as a scalar loop rounds it, the columns past cols untouched
  const Index rows = 3, cols = 37, ldg = 41, ldp = 40;
  const T lr = T(0.0625);
  std::vector<T> gb(rows * ldg), pb(rows * ldp), want(rows * ldp);
  for (Index i = 0; i < rows * ldg; ++i) gb[size_t(i)] = T(0.1) * T(i % 17) - T(0.7);
  for (Index i = 0; i < rows * ldp; ++i) pb[size_t(i)] = want[size_t(i)] = T(0.3) * T(i % 11) + 1;
  for (Index i = 0; i < rows; ++i)
    for (Index j = 0; j < cols; ++j) want[size_t(i * ldp + j)] -= lr * gb[size_t(i * ldg + j)];
  kernels::axpy_update_block<T>(rows, cols, lr, gb.data(), ldg, pb.data(), ldp);
  chainrule_test::check_all_equal("axpy_update_block " + dt, pb.data(), want.data(), rows * ldp);
  const T bad[4] = {1, 2, std::numeric_limits<T>::infinity(), std::numeric_limits<T>::quiet_NaN()};
  CHECK(kernels::first_non_finite<T>(4, bad) == 2);
  CHECK(kernels::first_non_finite<T>(2, bad) == -1);
  // across the blocks of the vectorised test: the extremes of the finite range pass, every
  // kind of non-finite value is found at its index, the first of several wins
  std::vector<T> big(3000, T(0.5));
  big[7] = std::numeric_limits<T>::max();
  big[8] = -std::numeric_limits<T>::max();
  big[9] = std::numeric_limits<T>::denorm_min();
  big[10] = -T(0);
  CHECK(kernels::first_non_finite<T>(3000, big.data()) == -1);
  const T specials[] = {std::numeric_limits<T>::infinity(), -std::numeric_limits<T>::infinity(),
                        std::numeric_limits<T>::quiet_NaN(), -std::numeric_limits<T>::quiet_NaN(),
                        std::numeric_limits<T>::signaling_NaN()};
  for (T v : specials)
    for (Index at : {Index(0), Index(1023), Index(1024), Index(2047), Index(2999)}) {
      std::vector<T> x = big;
      x[static_cast<size_t>(at)] = v;
      if (at + 500 < 3000) x[static_cast<size_t>(at + 500)] = v;  // a later one does not win
      CHECK(kernels::first_non_finite<T>(3000, x.data()) == at);
      CHECK(kernels::first_non_finite<T>(at, x.data()) == -1);  // not in the range asked
    }
}

}  // namespace

int main() {
  RUN_TEST(run_elementwise<double>);
  RUN_TEST(run_elementwise<float>);
  return chainrule_test::report();
}
