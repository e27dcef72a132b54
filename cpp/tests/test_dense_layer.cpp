// Dense: a hand-worked 3-input, 2-output example (every number exact in binary, so the
// checks are exact equalities), with a linear and a relu activation, and its error messages.
#include <algorithm>
#include <string>
#include <vector>

#include "chainrule/activation.hpp"
#include "chainrule/layers/dense.hpp"
#include "test_util.hpp"

using namespace chainrule;
using chainrule_test::check_all_equal;
using chainrule_test::dtype_name;

namespace {

template <class T>
void set(MatrixView<T> v, const std::vector<double>& values) {
  CHECK(static_cast<Index>(values.size()) == v.size());
  for (Index i = 0; i < v.size(); ++i) v.data[i] = static_cast<T>(values[static_cast<size_t>(i)]);
}

template <class T>
Matrix<T> mat(Index rows, Index cols, const std::vector<double>& values) {
  Matrix<T> M(rows, cols);
  set(M.view(), values);
  return M;
}

// The shared example:
//   W (3, 2) = [[ 1,  -0.5 ],     b (2,) = [0.5, -1]
//               [ 0.5,  2   ],
//               [-1,    0.25]]
//   H_prev (2, 3) = [[1,    2, -1  ],
//                    [0.5, -2,  1.5]]
//   dH (2, 2) (from the layer above) = [[1,   -2],
//                                       [0.5,  1]]
//
// Z = H_prev @ W + b:
//   Z[0, 0] = 1*1    + 2*0.5    + (-1)*(-1)   + 0.5 = 1 + 1 + 1 + 0.5          =  3.5
//   Z[0, 1] = 1*-0.5 + 2*2      + (-1)*0.25   - 1   = -0.5 + 4 - 0.25 - 1      =  2.25
//   Z[1, 0] = 0.5*1  + (-2)*0.5 + 1.5*(-1)    + 0.5 = 0.5 - 1 - 1.5 + 0.5      = -1.5
//   Z[1, 1] = 0.5*-0.5 + (-2)*2 + 1.5*0.25    - 1   = -0.25 - 4 + 0.375 - 1    = -4.875
template <class T>
struct Example {
  Matrix<T> W = mat<T>(3, 2, {1, -0.5, 0.5, 2, -1, 0.25});
  Matrix<T> b = mat<T>(1, 2, {0.5, -1});
  Matrix<T> H_prev = mat<T>(2, 3, {1, 2, -1, 0.5, -2, 1.5});
  Matrix<T> dH = mat<T>(2, 2, {1, -2, 0.5, 1});
  std::vector<double> Z = {3.5, 2.25, -1.5, -4.875};
};

template <class T>
std::unique_ptr<Dense<T>> make_layer(const Example<T>& ex, const char* act, Index index = 1) {
  auto layer = std::make_unique<Dense<T>>(index, 3, 2, make_activation<T>(act));
  CHECK(layer->n_in() == 3 && layer->n_out() == 2 && layer->index() == index);
  CHECK(layer->W().rows == 3 && layer->W().cols == 2 && layer->b().rows == 1 &&
        layer->b().cols == 2);
  set(layer->W(), std::vector<double>(ex.W.data(), ex.W.data() + 6));
  set(layer->b(), {0.5, -1});
  return layer;
}

// Runs forward, sets dH, runs the backward pass; returns dH_prev (2, 3).
template <class T>
Matrix<T> run(Dense<T>& layer, const Example<T>& ex) {
  const ConstView<T> out = layer.forward(ex.H_prev.cview());
  CHECK(out.rows == 2 && out.cols == 2);
  CHECK(out.data == layer.H().data);
  std::copy(ex.dH.data(), ex.dH.data() + 4, layer.dH().data);
  layer.backward_activation();
  Matrix<T> dH_prev(2, 3);
  layer.backward_params(ex.H_prev.cview(), dH_prev.view());
  return dH_prev;
}

template <class T>
void test_linear() {
  const std::string dt = std::string(" linear ") + dtype_name<T>();
  Example<T> ex;
  auto layer = make_layer(ex, "linear");
  const Matrix<T> dH_prev = run(*layer, ex);
  check_all_equal("Z" + dt, layer->Z().data, ex.Z.data(), 4);
  check_all_equal("H = Z" + dt, layer->H().data, ex.Z.data(), 4);
  // Linear: dZ = dH = [[1, -2], [0.5, 1]]
  const double dZ[4] = {1, -2, 0.5, 1};
  check_all_equal("dZ = dH" + dt, layer->dZ().data, dZ, 4);
  // dW = H_prev.T @ dZ / m, H_prev.T = [[1, 0.5], [2, -2], [-1, 1.5]], m = 2:
  //   dW[0, :] = (1*[1, -2]  + 0.5*[0.5, 1]) / 2 = [1.25, -1.5] / 2 = [ 0.625, -0.75]
  //   dW[1, :] = (2*[1, -2]  + (-2)*[0.5, 1]) / 2 = [1, -6] / 2     = [ 0.5,   -3   ]
  //   dW[2, :] = (-1*[1, -2] + 1.5*[0.5, 1]) / 2 = [-0.25, 3.5] / 2 = [-0.125,  1.75]
  const double dW[6] = {0.625, -0.75, 0.5, -3, -0.125, 1.75};
  check_all_equal("dW = H_prev.T @ dZ / m" + dt, layer->dW().data, dW, 6);
  // db = sum(dZ, axis=0) / m = [1 + 0.5, -2 + 1] / 2 = [0.75, -0.5]
  const double db[2] = {0.75, -0.5};
  check_all_equal("db = sum(dZ) / m" + dt, layer->db().data, db, 2);
  // dH_prev = dZ @ W.T, W.T = [[1, 0.5, -1], [-0.5, 2, 0.25]]:
  //   row 0: 1*[1, 0.5, -1]   + (-2)*[-0.5, 2, 0.25] = [1 + 1, 0.5 - 4, -1 - 0.5]
  //        = [2, -3.5, -1.5]
  //   row 1: 0.5*[1, 0.5, -1] + 1*[-0.5, 2, 0.25] = [0.5 - 0.5, 0.25 + 2, -0.5 + 0.25]
  //        = [0, 2.25, -0.25]
  const double dHp[6] = {2, -3.5, -1.5, 0, 2.25, -0.25};
  check_all_equal("dH_prev = dZ @ W.T" + dt, dH_prev.data(), dHp, 6);
  // The parameters are not touched by the backward pass.
  check_all_equal("W unchanged" + dt, layer->W().data, ex.W.data(), 6);
  // Without a dH_prev buffer (first layer) only dW and db are computed.
  layer->backward_params(ex.H_prev.cview(), MatrixView<T>());
  check_all_equal("dW again (no dH_prev)" + dt, layer->dW().data, dW, 6);
  check_all_equal("db again (no dH_prev)" + dt, layer->db().data, db, 2);
}

template <class T>
void test_relu() {
  const std::string dt = std::string(" relu ") + dtype_name<T>();
  Example<T> ex;
  auto layer = make_layer(ex, "relu");
  const Matrix<T> dH_prev = run(*layer, ex);
  check_all_equal("Z" + dt, layer->Z().data, ex.Z.data(), 4);
  // H = max(Z, 0) = [[3.5, 2.25], [0, 0]]
  const double H[4] = {3.5, 2.25, 0, 0};
  check_all_equal("H = relu(Z)" + dt, layer->H().data, H, 4);
  // dZ = dH * (Z > 0) = [[1, -2], [0, 0]]
  const double dZ[4] = {1, -2, 0, 0};
  check_all_equal("dZ = dH * relu'(Z)" + dt, layer->dZ().data, dZ, 4);
  // dW = H_prev.T @ dZ / 2, only sample 0 contributes:
  //   [1*[1, -2], 2*[1, -2], -1*[1, -2]] / 2 = [[0.5, -1], [1, -2], [-0.5, 1]]
  const double dW[6] = {0.5, -1, 1, -2, -0.5, 1};
  check_all_equal("dW" + dt, layer->dW().data, dW, 6);
  // db = [1, -2] / 2 = [0.5, -1]
  const double db[2] = {0.5, -1};
  check_all_equal("db" + dt, layer->db().data, db, 2);
  // dH_prev row 0 as in the linear case, row 1 = 0
  const double dHp[6] = {2, -3.5, -1.5, 0, 0, 0};
  check_all_equal("dH_prev" + dt, dH_prev.data(), dHp, 6);
}

template <class T>
void test_batch_sizes() {
  // The same layer serves different batch sizes; a smaller batch after a larger one must
  // give exactly the rows of the larger one.
  const std::string dt = dtype_name<T>();
  Example<T> ex;
  auto layer = make_layer(ex, "linear");
  Matrix<T> X4 = mat<T>(4, 3, {1, 2, -1, 0.5, -2, 1.5, 3, 0, 1, -1, -1, -1});
  layer->forward(X4.cview());
  CHECK(layer->Z().rows == 4);
  const ConstView<T> one = layer->forward(ex.H_prev.cview().row_range(1, 1));  // (1, 3)
  CHECK(one.rows == 1 && one.cols == 2);
  check_all_equal("Z of a 1-row batch after a 4-row batch " + dt, layer->Z().data, ex.Z.data() + 2,
                  2);
}

template <class T>
void test_errors() {
  Example<T> ex;
  auto layer = make_layer(ex, "linear");
  Matrix<T> X4(2, 4), X2(2, 2);
  CHECK_THROWS_MSG(layer->forward(X4.cview()), ValueError,
                   "layer 1 expects 3 input features, got 4");
  CHECK_THROWS_MSG(layer->forward(X2.cview()), ValueError,
                   "layer 1 expects 3 input features, got 2");
  auto layer3 = make_layer(ex, "relu", 3);
  CHECK_THROWS_MSG(layer3->forward(X4.cview()), ValueError,
                   "layer 3 expects 3 input features, got 4");

  // backward_params checks H_prev and dH_prev against the cached batch (m = 2).
  run(*layer, ex);
  Matrix<T> Hp_rows(3, 3), Hp_cols(2, 4), dHp_bad(2, 2);
  CHECK_THROWS_MSG(layer->backward_params(Hp_rows.cview(), MatrixView<T>()), ValueError, "layer 1");
  CHECK_THROWS(layer->backward_params(Hp_cols.cview(), MatrixView<T>()), ValueError);
  CHECK_THROWS(layer->backward_params(ex.H_prev.cview(), dHp_bad.view()), ValueError);

  CHECK_THROWS_MSG(Dense<T>(2, 0, 3, make_activation<T>("relu")), ValueError, "layer 2");
  CHECK_THROWS(Dense<T>(1, 3, 0, make_activation<T>("relu")), ValueError);
  CHECK_THROWS(Dense<T>(1, 3, 2, nullptr), ValueError);
}

template <class T>
void run_all() {
  RUN_TEST(test_linear<T>);
  RUN_TEST(test_relu<T>);
  RUN_TEST(test_batch_sizes<T>);
  RUN_TEST(test_errors<T>);
}

}  // namespace

int main() {
  RUN_TEST(run_all<double>);
  RUN_TEST(run_all<float>);  // every number above is exact in float too
  return chainrule_test::report();
}
