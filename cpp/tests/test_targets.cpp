// Classification targets: integer class labels as one-hot rows (and the row and value of a bad
// label), class counts, scikit-learn's "balanced" class weights worked out by hand, class
// weights from {class: weight} pairs and their checks, and row weights (times sample weights).
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "chainrule/error.hpp"
#include "chainrule/targets.hpp"
#include "chainrule/tensor.hpp"
#include "test_util.hpp"

using namespace chainrule;

namespace {

template <class T>
void labels_become_one_hot_rows() {
  const double labels[] = {2, 0, 1, 2};
  Matrix<T> Y(4, 3);
  one_hot<T>(labels, Y.view(), "Y");
  const double want[] = {0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1};
  chainrule_test::check_all_equal("one_hot", Y.data(), want, 12);
  // a bad label is reported with its row and value, and Y is left as it was
  const double out_of_range[] = {0, 3, 1}, negative[] = {0, 1, -1}, fraction[] = {0, 1.5, 1},
               nan[] = {std::nan(""), 0, 0};
  Matrix<T> Z(3, 3);
  for (Index i = 0; i < 9; ++i) Z.data()[i] = T(7);
  CHECK_THROWS_MSG(one_hot<T>(out_of_range, Z.view(), "fit: Y"), ValueError,
                   "fit: Y: the class label at row 1 is 3, not in [0, 3) (3 classes, one per "
                   "output column)");
  CHECK_THROWS_MSG(one_hot<T>(negative, Z.view(), "Y"), ValueError,
                   "the class label at row 2 is -1, not in [0, 3)");
  CHECK_THROWS_MSG(one_hot<T>(fraction, Z.view(), "Y"), ValueError,
                   "Y: the class label at row 1 is 1.5, not an integer class index");
  CHECK_THROWS_MSG(one_hot<T>(nan, Z.view(), "Y"), ValueError,
                   "the class label at row 0 is nan, not an integer class index");
  for (Index i = 0; i < 9; ++i) CHECK(Z.data()[i] == T(7));
}

template <class T>
void class_weights_become_row_weights() {
  // one-hot rows of classes 0 1 1 2 2 2 (class 3 absent)
  Matrix<T> Y(6, 4);
  for (Index i = 0; i < 24; ++i) Y.data()[i] = T(0);
  const Index cls[] = {0, 1, 1, 2, 2, 2};
  for (Index i = 0; i < 6; ++i) Y(i, cls[i]) = T(1);
  const std::vector<double> counts = class_counts<T>(Y.cview(), "cw");
  CHECK(counts == (std::vector<double>{1, 2, 3, 0}));
  // balanced: n / (k count) with n = 6 rows, k = 3 classes present; the absent class weighs 1
  const std::vector<double> balanced = balanced_class_weights(counts);
  CHECK(balanced == (std::vector<double>{6.0 / 3, 6.0 / 6, 6.0 / 9, 1}));
  // pairs: classes not named weigh 1
  const std::vector<double> given = class_weights({{2, 0.5}, {0, 3}}, 4, "cw");
  CHECK(given == (std::vector<double>{3, 1, 0.5, 1}));
  std::vector<T> w(6);
  class_sample_weights<T>(Y.cview(), given, nullptr, w.data(), "cw");
  const double want[] = {3, 1, 1, 0.5, 0.5, 0.5};
  chainrule_test::check_all_equal("row weights", w.data(), want, 6);
  const double sample[] = {1, 2, 3, 4, 5, 0};
  class_sample_weights<T>(Y.cview(), given, sample, w.data(), "cw");
  const double times[] = {3, 2, 3, 2, 2.5, 0};
  chainrule_test::check_all_equal("row weights times sample weights", w.data(), times, 6);
  // errors
  CHECK_THROWS_MSG(class_weights({{4, 1.0}}, 4, "fit: class_weight"), ValueError,
                   "fit: class_weight: unknown class 4 (the classes are 0 to 3)");
  CHECK_THROWS_MSG(class_weights({{-1, 1.0}}, 4, "cw"), ValueError, "unknown class -1");
  CHECK_THROWS_MSG(class_weights({{1, -0.5}}, 4, "cw"), ValueError,
                   "cw: the weight of class 1 must be finite and >= 0, got -0.5");
  CHECK_THROWS_MSG(class_weights({{1, std::numeric_limits<double>::infinity()}}, 4, "cw"),
                   ValueError, "got inf");
  Y(3, 1) = T(0.5);  // not one-hot
  CHECK_THROWS_MSG(class_counts<T>(Y.cview(), "fit: class_weight"), ValueError,
                   "fit: class_weight needs one-hot rows of Y (or integer class labels): row 3 "
                   "is not one-hot");
  Y(3, 1) = T(1);  // two ones
  CHECK_THROWS_MSG(class_sample_weights<T>(Y.cview(), given, nullptr, w.data(), "cw"), ValueError,
                   "row 3 is not one-hot");
  Y(3, 1) = T(0);
  Y(3, 2) = T(0);  // all zeros
  CHECK_THROWS_MSG(class_counts<T>(Y.cview(), "cw"), ValueError, "row 3 is not one-hot");
  // one column: binary targets 0 and 1, classes 0 and 1
  const T b[] = {1, 0, 1, 1};
  const ConstView<T> B(b, 4, 1);
  CHECK(class_counts<T>(B, "cw") == (std::vector<double>{1, 3}));
  class_sample_weights<T>(B, {0.25, 2}, nullptr, w.data(), "cw");
  const double bw[] = {2, 0.25, 2, 2};
  chainrule_test::check_all_equal("binary row weights", w.data(), bw, 4);
  const T soft[] = {1, 0.75};
  CHECK_THROWS_MSG(class_counts<T>(ConstView<T>(soft, 2, 1), "fit: class_weight"), ValueError,
                   "fit: class_weight needs class targets, 0 or 1 in one column: Y[1, 0] = 0.75 "
                   "is neither");
}

}  // namespace

int main() {
  RUN_TEST(labels_become_one_hot_rows<double>);
  RUN_TEST(labels_become_one_hot_rows<float>);
  RUN_TEST(class_weights_become_row_weights<double>);
  RUN_TEST(class_weights_become_row_weights<float>);
  return chainrule_test::report();
}
