// Losses: values against hand-computed and naive formulas, output deltas against the
// math contract (H - Y fused; dH * act'(Z) otherwise) and against finite differences of the
// value, target and activation checks, the factory and its aliases. Both dtypes.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "chainrule/activation.hpp"
#include "chainrule/activations/all.hpp"
#include "chainrule/activations/callback.hpp"
#include "chainrule/loss.hpp"
#include "chainrule/losses/mse.hpp"
#include "chainrule/losses/sigmoid_binary_cross_entropy.hpp"
#include "chainrule/losses/softmax_cross_entropy.hpp"
#include "test_util.hpp"

using namespace chainrule;
using chainrule_test::check_all_close;
using chainrule_test::check_all_equal;
using chainrule_test::dtype_name;
using chainrule_test::Rng;

namespace {

template <class T>
Matrix<T> mat(Index rows, Index cols, const std::vector<double>& v) {
  Matrix<T> M(rows, cols);
  for (Index i = 0; i < rows * cols; ++i) M.data()[i] = static_cast<T>(v[static_cast<size_t>(i)]);
  return M;
}

template <class T>
Matrix<T> one_hot(Rng& rng, Index m, Index n) {
  Matrix<T> Y(m, n);
  for (Index i = 0; i < m; ++i) Y(i, rng.index(n)) = T(1);
  return Y;
}

template <class T>
Matrix<T> forward(const Activation<T>& act, const Matrix<T>& Z) {
  Matrix<T> H(Z.rows(), Z.cols());
  act.forward(Z.cview(), H.view());
  return H;
}

// Tolerance of a loss value: the contract accumulates in double, so a double-input value
// matches a naive double formula to a few ulps of double; for float inputs the value may
// also be formed in float arithmetic by a future implementation, hence ~10 float ulps.
template <class T>
double value_tol() {
  return std::is_same_v<T, double> ? 1e-12 : 1e-6;
}

template <class T>
void test_mse() {
  const std::string dt = dtype_name<T>();
  const auto loss = make_loss<T>("mse");
  const auto linear = make_activation<T>("linear");
  CHECK(loss->name() == "mse");
  CHECK(loss->repr() == "MSE()");
  // H - Y = [[1, 0], [2, 3]]; ||H - Y||^2 = 1 + 0 + 4 + 9 = 14; m = 2 -> 14 / (2 * 2) = 3.5
  const auto H = mat<T>(2, 2, {1, 2, 3, 4});
  const auto Y = mat<T>(2, 2, {0, 2, 1, 1});
  CHECK(loss->value(H.cview(), H.cview(), Y.cview()) == 3.5);
  // One row, three columns: (0.5^2 + 1.5^2 + 0) / (2 * 1) = (0.25 + 2.25) / 2 = 1.25
  const auto H1 = mat<T>(1, 3, {0.5, -1, 2});
  const auto Y1 = mat<T>(1, 3, {0, 0.5, 2});
  CHECK(loss->value(H1.cview(), H1.cview(), Y1.cview()) == 1.25);

  // output_delta through a linear output: dZ = dH = H - Y = [[1, 0], [2, 3]] exactly.
  Matrix<T> dH(2, 2), dZ(2, 2);
  loss->output_delta(*linear, H.cview(), H.cview(), Y.cview(), dH.view(), dZ.view());
  const double want[4] = {1, 0, 2, 3};
  check_all_equal("mse linear output_delta " + dt, dZ.data(), want, 4);

  // Through tanh and sigmoid: dZ = (H - Y) * act'(Z), act' written out here in double.
  Rng rng(3);
  for (const char* name : {"tanh", "sigmoid"}) {
    const auto act = make_activation<T>(name);
    Matrix<T> Z(5, 3), Yr(5, 3), dH5(5, 3), dZ5(5, 3);
    rng.fill_uniform(Z, -2.0, 2.0);
    rng.fill_uniform(Yr, -1.0, 1.0);
    const auto H5 = forward(*act, Z);
    loss->output_delta(*act, Z.cview(), H5.cview(), Yr.cview(), dH5.view(), dZ5.view());
    std::vector<double> expect(15);
    for (Index i = 0; i < 15; ++i) {
      const double z = Z.data()[i], h = H5.data()[i], y = Yr.data()[i];
      const double d = std::string(name) == "tanh"
                           ? 1.0 - std::tanh(z) * std::tanh(z)
                           : 1.0 / (1.0 + std::exp(-z)) * (1.0 - 1.0 / (1.0 + std::exp(-z)));
      expect[static_cast<size_t>(i)] = (h - y) * d;
    }
    check_all_close("mse output_delta through " + std::string(name) + " " + dt, dZ5.data(),
                    expect.data(), 15, 16 * std::numeric_limits<T>::epsilon(), 1.0);
    std::vector<double> diff(15);  // dH[L] = H - Y, left in the scratch buffer
    for (Index i = 0; i < 15; ++i)
      diff[static_cast<size_t>(i)] = double(H5.data()[i]) - double(Yr.data()[i]);
    check_all_close("mse output_delta scratch dH == H - Y " + dt, dH5.data(), diff.data(), 15,
                    std::numeric_limits<T>::epsilon(), 1.0);
  }

  // MSE accepts any output activation and any finite target.
  for (const auto& n : activation_names()) loss->check_output_activation(*make_activation<T>(n));
  const auto Yw = mat<T>(1, 2, {1.5, -7});
  loss->check_targets(Yw.cview());
  CHECK(loss->required_activation().empty());
}

template <class T>
void test_mae() {
  const std::string dt = dtype_name<T>();
  const auto loss = make_loss<T>("mae");
  const auto linear = make_activation<T>("linear");
  CHECK(loss->name() == "mae");
  CHECK(loss->repr() == "MAE()");
  // H - Y = [[1, 0], [-2, 3]]; sum |H - Y| = 6; m = 2 -> 3 (summed over outputs, mean over rows)
  const auto H = mat<T>(2, 2, {1, 2, -1, 4});
  const auto Y = mat<T>(2, 2, {0, 2, 1, 1});
  CHECK(loss->value(H.cview(), H.cview(), Y.cview()) == 3.0);
  double rows[2];
  loss->row_values(H.cview(), H.cview(), Y.cview(), rows);
  CHECK(rows[0] == 1.0 && rows[1] == 5.0);
  // dH = sign(H - Y), 0 where equal (torch's subgradient); through linear dZ = dH
  Matrix<T> dH(2, 2), dZ(2, 2);
  loss->output_delta(*linear, H.cview(), H.cview(), Y.cview(), dH.view(), dZ.view());
  const double want[4] = {1, 0, -1, 1};
  check_all_equal("mae linear output_delta " + dt, dZ.data(), want, 4);
  // through tanh: dZ = sign(H - Y) (1 - H^2)
  const auto tanh = make_activation<T>("tanh");
  const auto Z = mat<T>(1, 3, {0.5, -1, 0.25});
  const auto Ht = forward(*tanh, Z);
  const auto Yt = mat<T>(1, 3, {0, 0, 1});
  Matrix<T> dH3(1, 3), dZ3(1, 3);
  loss->output_delta(*tanh, Z.cview(), Ht.cview(), Yt.cview(), dH3.view(), dZ3.view());
  std::vector<double> expect(3);
  for (Index j = 0; j < 3; ++j) {
    const double h = Ht.data()[j], y = Yt.data()[j];
    expect[static_cast<size_t>(j)] = (h > y ? 1.0 : -1.0) * (1.0 - h * h);
  }
  check_all_close("mae output_delta through tanh " + dt, dZ3.data(), expect.data(), 3,
                  4 * std::numeric_limits<T>::epsilon(), 1.0);
  CHECK(loss->required_activation().empty());
}

template <class T>
void test_cross_entropy() {
  const std::string dt = dtype_name<T>();
  const auto loss = make_loss<T>("cross_entropy");
  const auto softmax = make_activation<T>("softmax");
  CHECK(loss->name() == "cross_entropy");
  CHECK(loss->required_activation() == "softmax");
  Rng rng(5);
  const Index m = 6, n = 4;
  Matrix<T> Z(m, n), Yd(m, n);
  rng.fill_uniform(Z, -4.0, 4.0);
  Matrix<T> Y = one_hot<T>(rng, m, n);
  // soft targets: rows (0.25, 0.25, 0.5, 0) permuted, exact in binary
  for (Index i = 0; i < m; ++i) {
    Yd(i, i % n) = T(0.25);
    Yd(i, (i + 1) % n) = T(0.25);
    Yd(i, (i + 2) % n) = T(0.5);
  }
  const auto H = forward(*softmax, Z);
  for (const Matrix<T>* Yp : {&Y, &Yd}) {
    // -sum(Y log softmax(Z)) / m, naively: softmax = exp(z) / sum exp(z) in double
    double naive = 0;
    for (Index i = 0; i < m; ++i) {
      double s = 0;
      for (Index j = 0; j < n; ++j) s += std::exp(double(Z(i, j)));
      for (Index j = 0; j < n; ++j)
        naive -= double((*Yp)(i, j)) * std::log(std::exp(double(Z(i, j))) / s);
    }
    naive /= double(m);
    CHECK_CLOSE(loss->value(Z.cview(), H.cview(), Yp->cview()), naive, value_tol<T>());
    loss->check_targets(Yp->cview());  // valid distributions: no throw

    // Fused delta: dZ = H - Y exactly.
    Matrix<T> dH(m, n), dZ(m, n), want(m, n);
    loss->output_delta(*softmax, Z.cview(), H.cview(), Yp->cview(), dH.view(), dZ.view());
    for (Index i = 0; i < m * n; ++i) want.data()[i] = H.data()[i] - Yp->data()[i];
    check_all_equal("cross_entropy fused delta == H - Y " + dt, dZ.data(), want.data(), m * n);

    // ... which is the chain rule through softmax: J^T (-Y / H) (computed here in T).
    Matrix<T> g(m, n), jvp(m, n);
    for (Index i = 0; i < m * n; ++i) g.data()[i] = -Yp->data()[i] / H.data()[i];
    softmax->backward(Z.cview(), H.cview(), g.cview(), jvp.view());
    check_all_close("cross_entropy fused delta == softmax JVP of -Y/H " + dt, dZ.data(), jvp.data(),
                    m * n, 1e3 * std::numeric_limits<T>::epsilon(), 1.0);
  }

  // Stable at z = 1000: row 0 [1000, 0, -1000] with class 1 -> lse - z1 = 1000;
  // row 1 [1000, 1000, 0] with Y = (0.5, 0.5, 0) -> lse - 1000 = log 2. L = (1000 + log 2) / 2.
  const auto Zb = mat<T>(2, 3, {1000, 0, -1000, 1000, 1000, 0});
  const auto Yb = mat<T>(2, 3, {0, 1, 0, 0.5, 0.5, 0});
  const auto Hb = forward(*softmax, Zb);
  const double vb = loss->value(Zb.cview(), Hb.cview(), Yb.cview());
  CHECK(std::isfinite(vb));
  CHECK_CLOSE(vb, (1000.0 + std::log(2.0)) / 2.0, 1e-12);
  Matrix<T> dHb(2, 3), dZb(2, 3);
  loss->output_delta(*softmax, Zb.cview(), Hb.cview(), Yb.cview(), dHb.view(), dZb.view());
  const double want_b[6] = {1, -1, 0, 0, 0, 0};  // H = [[1, 0, 0], [0.5, 0.5, 0]]
  check_all_close("cross_entropy delta at z = 1000 " + dt, dZb.data(), want_b, 6, 1e-6, 1.0);

  // Targets must be distributions.
  const auto short_row = mat<T>(2, 3, {1, 0, 0, 0.5, 0.4, 0});
  CHECK_THROWS_MSG(loss->check_targets(short_row.cview()), ValueError, "row 1");
  const auto negative = mat<T>(1, 3, {1.2, -0.2, 0});
  CHECK_THROWS_MSG(loss->check_targets(negative.cview()), ValueError, "negative");
  const auto zeros = mat<T>(1, 3, {0, 0, 0});
  CHECK_THROWS(loss->check_targets(zeros.cview()), ValueError);

  // Needs a softmax output.
  loss->check_output_activation(*softmax);
  CHECK_THROWS_MSG(loss->check_output_activation(*make_activation<T>("linear")), ValueError,
                   "softmax");
  CHECK_THROWS(loss->check_output_activation(*make_activation<T>("sigmoid")), ValueError);
}

template <class T>
void test_binary_cross_entropy() {
  const std::string dt = dtype_name<T>();
  const auto loss = make_loss<T>("binary_cross_entropy");
  const auto sigmoid = make_activation<T>("sigmoid");
  CHECK(loss->name() == "binary_cross_entropy");
  CHECK(loss->required_activation() == "sigmoid");
  Rng rng(9);
  const Index m = 5, n = 3;
  Matrix<T> Z(m, n), Y(m, n);
  rng.fill_uniform(Z, -4.0, 4.0);
  for (Index i = 0; i < m * n; ++i) Y.data()[i] = T(0.25) * static_cast<T>(rng.index(5));
  const auto H = forward(*sigmoid, Z);
  // -sum(y log s + (1 - y) log(1 - s)) / m, naively in double
  double naive = 0;
  for (Index i = 0; i < m * n; ++i) {
    const double s = 1.0 / (1.0 + std::exp(-double(Z.data()[i])));
    const double y = Y.data()[i];
    naive -= y * std::log(s) + (1.0 - y) * std::log(1.0 - s);
  }
  naive /= double(m);
  CHECK_CLOSE(loss->value(Z.cview(), H.cview(), Y.cview()), naive, value_tol<T>() * 100);
  loss->check_targets(Y.cview());

  Matrix<T> dH(m, n), dZ(m, n), want(m, n);
  loss->output_delta(*sigmoid, Z.cview(), H.cview(), Y.cview(), dH.view(), dZ.view());
  for (Index i = 0; i < m * n; ++i) want.data()[i] = H.data()[i] - Y.data()[i];
  check_all_equal("binary_cross_entropy fused delta == H - Y " + dt, dZ.data(), want.data(), m * n);
  // ... the chain rule through sigmoid of dH = (H - Y) / (H (1 - H))
  Matrix<T> g(m, n), chained(m, n);
  for (Index i = 0; i < m * n; ++i) {
    const T h = H.data()[i];
    g.data()[i] = (h - Y.data()[i]) / (h * (T(1) - h));
  }
  sigmoid->backward(Z.cview(), H.cview(), g.cview(), chained.view());
  check_all_close("binary_cross_entropy fused delta == sigmoid' * dH " + dt, dZ.data(),
                  chained.data(), m * n, 1e3 * std::numeric_limits<T>::epsilon(), 1.0);

  // Stable at |z| = 1000: y = 1 at z = 1000 costs 0; y = 0 at z = 1000 and y = 1 at
  // z = -1000 cost 1000 each; y = 0 at z = -1000 costs 0. m = 2 -> L = 2000 / 2 = 1000.
  const auto Zb = mat<T>(2, 2, {1000, 1000, -1000, -1000});
  const auto Yb = mat<T>(2, 2, {1, 0, 1, 0});
  const auto Hb = forward(*sigmoid, Zb);
  const double vb = loss->value(Zb.cview(), Hb.cview(), Yb.cview());
  CHECK(std::isfinite(vb));
  CHECK_CLOSE(vb, 1000.0, 1e-12);

  // Targets in [0, 1].
  const auto too_big = mat<T>(1, 2, {0.5, 1.5});
  CHECK_THROWS_MSG(loss->check_targets(too_big.cview()), ValueError, "[0, 1]");
  const auto negative = mat<T>(1, 2, {-0.1, 0.5});
  CHECK_THROWS(loss->check_targets(negative.cview()), ValueError);
  const auto edges = mat<T>(1, 3, {0, 1, 0.3});
  loss->check_targets(edges.cview());

  loss->check_output_activation(*sigmoid);
  CHECK_THROWS(loss->check_output_activation(*make_activation<T>("linear")), ValueError);
  CHECK_THROWS(loss->check_output_activation(*make_activation<T>("softmax")), ValueError);
  // an activation from outside the core named "sigmoid" is not the sigmoid the loss is fused
  // with: the fused loss would never call its forward
  const CallbackActivation<T> named_sigmoid(
      "sigmoid", "Sigmoid(t=0.5)", [](ConstView<T>, MatrixView<T>) {},
      [](ConstView<T>, ConstView<T>, MatrixView<T>) {}, nullptr);
  CHECK(!named_sigmoid.registered() && sigmoid->registered());
  CHECK_THROWS_MSG(loss->check_output_activation(named_sigmoid), ValueError, "custom activation");
}

// For every loss, m * d(value)/dZ by central differences equals output_delta's dZ (the value
// is recomputed from Z through the output activation). This ties the delta to the value.
template <class T>
void test_delta_is_gradient_of_value() {
  const std::string dt = dtype_name<T>();
  struct Pair {
    std::string loss, act;
  };
  // every registered loss: through its required output activation, or linear, tanh and
  // softmax when it takes any
  std::vector<Pair> pairs;
  for (const EntryInfo* info : LossRegistry::instance().entries()) {
    const std::string need = make_loss<T>(info->name)->required_activation();
    if (!need.empty()) {
      pairs.push_back({info->name, need});
      continue;
    }
    for (const char* act : {"linear", "tanh", "softmax"}) pairs.push_back({info->name, act});
  }
  // Central differences of a double-accumulated value: h = 1e-5 (double) gives ~1e-10;
  // float inputs are perturbed by h = 4e-3 in float (~1e-5 error), see test_activations.
  const double h = std::is_same_v<T, double> ? 1e-5 : 4e-3;
  const double tol = std::is_same_v<T, double> ? 1e-8 : 1e-3;
  Rng rng(21);
  for (const auto& p : pairs) {
    const auto loss = make_loss<T>(p.loss);
    const auto act = make_activation<T>(p.act);
    const Index m = 4, n = 3;
    Matrix<T> Z(m, n), Y(m, n), dH(m, n), dZ(m, n);
    rng.fill_uniform(Z, -2.0, 2.0);
    if (loss->required_activation() == "softmax")  // targets: distributions
      Y = one_hot<T>(rng, m, n);
    else
      rng.fill_uniform(Y, 0.0, 1.0);
    const auto H = forward(*act, Z);
    loss->output_delta(*act, Z.cview(), H.cview(), Y.cview(), dH.view(), dZ.view());
    std::vector<double> numeric(static_cast<size_t>(m * n));
    Matrix<T> Zq = Z;
    auto value = [&] {
      const auto Hq = forward(*act, Zq);
      return loss->value(Zq.cview(), Hq.cview(), Y.cview());
    };
    for (Index i = 0; i < m * n; ++i) {
      const T z = Z.data()[i];
      Zq.data()[i] = static_cast<T>(z + h);
      const double up = Zq.data()[i], vp = value();
      Zq.data()[i] = static_cast<T>(z - h);
      const double down = Zq.data()[i], vm = value();
      Zq.data()[i] = z;
      numeric[static_cast<size_t>(i)] = double(m) * (vp - vm) / (up - down);  // m dL/dZ
    }
    check_all_close("output_delta == m dL/dZ: " + p.loss + " + " + p.act + " " + dt, dZ.data(),
                    numeric.data(), m * n, tol, 1.0);
  }
}

template <class T>
void test_factory_and_shapes() {
  CHECK_THROWS_MSG(make_loss<T>("hinge"), ValueError, "unknown loss 'hinge'");
  CHECK_THROWS_MSG(make_loss<T>("hinge"), ValueError, "mse");
  CHECK_THROWS(make_loss<T>("MSE"), ValueError);
  CHECK(make_loss<T>("softmax_cross_entropy")->name() == "cross_entropy");
  CHECK(make_loss<T>("categorical_cross_entropy")->name() == "cross_entropy");
  CHECK(make_loss<T>("bce")->name() == "binary_cross_entropy");
  CHECK(make_loss<T>("sigmoid_binary_cross_entropy")->name() == "binary_cross_entropy");
  CHECK(make_loss<T>("cross_entropy")->repr() == "SoftmaxCrossEntropy()");
  CHECK(make_loss<T>("bce")->repr() == "SigmoidBinaryCrossEntropy()");
  const auto names = loss_names();
  CHECK(std::is_sorted(names.begin(), names.end()));
  for (const auto& n : names) CHECK(make_loss<T>(n) != nullptr);
  for (const char* n : {"mse", "cross_entropy", "binary_cross_entropy", "bce"})
    CHECK(std::find(names.begin(), names.end(), n) != names.end());

  // Every registered loss: name and repr from its entry, unknown parameters and out-of-range
  // values rejected by name, shapes checked.
  const auto linear = make_activation<T>("linear");
  for (const EntryInfo* info : LossRegistry::instance().entries()) {
    const auto loss = make_loss<T>(info->name);
    CHECK_STR_EQ(loss->name(), info->name);
    CHECK(loss->repr().rfind(info->class_name + "(", 0) == 0);
    for (const auto& a : info->aliases) CHECK_STR_EQ(make_loss<T>(a)->name(), info->name);
    CHECK_THROWS_MSG(make_loss<T>(info->name, {{"no_such_parameter", 1}}), ValueError,
                     "loss '" + info->name + "' has no parameter 'no_such_parameter'");
    for (const auto& p : info->params)
      CHECK_THROWS_MSG(make_loss<T>(info->name, {{p.name(), std::nan("")}}), ValueError,
                       info->class_name + ": " + p.label() + " must be");
    Matrix<T> Z(2, 3), H(2, 3), Y(2, 3), Ybad(3, 2), Yrows(1, 3), Hbad(2, 2), dH(2, 3), dZ(2, 3);
    CHECK_THROWS(loss->value(Z.cview(), H.cview(), Ybad.cview()), ValueError);
    CHECK_THROWS(loss->value(Z.cview(), H.cview(), Yrows.cview()), ValueError);
    CHECK_THROWS(loss->value(Z.cview(), Hbad.cview(), Y.cview()), ValueError);
    CHECK_THROWS(
        loss->output_delta(*linear, Z.cview(), H.cview(), Ybad.cview(), dH.view(), dZ.view()),
        ValueError);
  }
}

template <class T>
void run_all() {
  RUN_TEST(test_mse<T>);
  RUN_TEST(test_mae<T>);
  RUN_TEST(test_cross_entropy<T>);
  RUN_TEST(test_binary_cross_entropy<T>);
  RUN_TEST(test_delta_is_gradient_of_value<T>);
  RUN_TEST(test_factory_and_shapes<T>);
}

}  // namespace

int main() {
  RUN_TEST(run_all<double>);
  RUN_TEST(run_all<float>);
  return chainrule_test::report();
}
