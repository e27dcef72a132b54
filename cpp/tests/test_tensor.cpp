// Matrix and MatrixView: layout, zero-initialisation, capacity-preserving resize, deep copies,
// and a moved-from Matrix that stays usable without touching the matrix it was moved into.
#include <cstdint>
#include <string>
#include <utility>

#include "chainrule/tensor.hpp"
#include "test_util.hpp"

using namespace chainrule;
using chainrule_test::dtype_name;

namespace {

template <class T>
void test_matrix() {
  const std::string dt = dtype_name<T>();
  Matrix<T> A(3, 4);  // (3, 4)
  CHECK(A.rows() == 3 && A.cols() == 4 && A.size() == 12 && A.capacity() >= 12);
  CHECK(reinterpret_cast<std::uintptr_t>(A.data()) % 64 == 0);
  bool zero = true;
  for (Index i = 0; i < A.size(); ++i) zero = zero && A.data()[i] == T(0);
  CHECK(zero);

  // Row-major: (i, j) is data[i * cols + j], in the Matrix and in its views.
  for (Index i = 0; i < 3; ++i)
    for (Index j = 0; j < 4; ++j) A(i, j) = static_cast<T>(10 * i + j);
  CHECK(A.data()[1 * 4 + 2] == T(12));
  const MatrixView<T> v = A.view();
  CHECK(v.rows == 3 && v.cols == 4 && v.size() == 12 && v(2, 3) == T(23) && v.row(1)[0] == T(10));
  const ConstView<T> c = v;  // a view of T converts to a view of const T
  CHECK(c(1, 1) == T(11) && c.data == A.data());
  const ConstView<T> rows = c.row_range(1, 2);  // rows 1 and 2, (2, 4)
  CHECK(rows.rows == 2 && rows.cols == 4 && rows(0, 0) == T(10) && rows(1, 3) == T(23));
  CHECK(shape_str(c) == "(3, 4)" && shape_str(2, 5) == "(2, 5)");

  // resize within the capacity keeps the allocation; a larger one allocates (zeroed).
  const T* before = A.data();
  A.resize(2, 5);
  CHECK(A.data() == before && A.rows() == 2 && A.cols() == 5 && A.capacity() == 12);
  A.resize(5, 5);
  CHECK(A.capacity() == 25 && A.size() == 25);
  zero = true;
  for (Index i = 0; i < A.size(); ++i) zero = zero && A.data()[i] == T(0);
  CHECK(zero);

  // Copies are deep.
  Matrix<T> B(2, 2);
  B(0, 1) = T(7);
  Matrix<T> C = B;
  C(0, 1) = T(8);
  CHECK(B(0, 1) == T(7) && C(0, 1) == T(8) && C.data() != B.data());
  Matrix<T> D;
  D = B;
  CHECK(D.rows() == 2 && D.cols() == 2 && D(0, 1) == T(7) && D.data() != B.data());
}

// A moved-from object must stay valid: resizing it and writing to it must not write into
// the matrix that now owns its old buffer.
template <class T>
void test_move() {
  const std::string dt = dtype_name<T>();
  {
    Matrix<T> a(2, 2);
    a(0, 0) = T(1);
    Matrix<T> b(std::move(a));
    CHECK(b.rows() == 2 && b(0, 0) == T(1));
    a.resize(1, 1);
    a(0, 0) = T(42);
    chainrule_test::record(b(0, 0) == T(1) && a.data() != b.data(), __FILE__, __LINE__,
                           "Matrix<" + dt +
                               ">: after a move construction the moved-from matrix still "
                               "points at the new owner's buffer (writing it changed the target "
                               "to " +
                               chainrule_test::fmt(double(b(0, 0))) + ")");
  }
  {
    Matrix<T> a(2, 2), b(3, 3);
    a(0, 0) = T(1);
    b = std::move(a);
    CHECK(b.rows() == 2 && b(0, 0) == T(1));
    a.resize(1, 1);
    a(0, 0) = T(42);
    chainrule_test::record(b(0, 0) == T(1) && a.data() != b.data(), __FILE__, __LINE__,
                           "Matrix<" + dt +
                               ">: after a move assignment the moved-from matrix still points "
                               "at the new owner's buffer (writing it changed the target to " +
                               chainrule_test::fmt(double(b(0, 0))) + ")");
  }
}

}  // namespace

int main() {
  RUN_TEST(test_matrix<double>);
  RUN_TEST(test_matrix<float>);
  RUN_TEST(test_move<double>);
  RUN_TEST(test_move<float>);
  return chainrule_test::report();
}
