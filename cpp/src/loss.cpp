// The built-in losses and the name -> loss factory.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "chainrule/kernels/elementwise.hpp"
#include "chainrule/losses/mse.hpp"
#include "chainrule/losses/sigmoid_binary_cross_entropy.hpp"
#include "chainrule/losses/softmax_cross_entropy.hpp"

namespace chainrule {

// ---- MSE ----------------------------------------------------------------------------------

// L = sum((H - Y)^2) / (2m)
template <class T>
double MSE<T>::value_impl(ConstView<T>, ConstView<T> H, ConstView<T> Y) const {
  double sum = 0;
  for (Index i = 0; i < H.size(); ++i) {
    const double d = static_cast<double>(H.data[i]) - static_cast<double>(Y.data[i]);
    sum += d * d;
  }
  return sum / (2.0 * static_cast<double>(H.rows));
}

// dH = H - Y
template <class T>
void MSE<T>::gradient_impl(ConstView<T> H, ConstView<T> Y, MatrixView<T> dH) const {
  kernels::subtract(H.size(), H.data, Y.data, dH.data);
}

// ---- softmax cross-entropy ----------------------------------------------------------------

// L = sum_i sum_j Y[i, j] (logsumexp(Z[i, :]) - Z[i, j]) / m
template <class T>
double SoftmaxCrossEntropy<T>::value_impl(ConstView<T> Z, ConstView<T>, ConstView<T> Y) const {
  double total = 0;
  for (Index i = 0; i < Z.rows; ++i) {
    const T* z = Z.row(i);
    const T* y = Y.row(i);
    const double zmax = *std::max_element(z, z + Z.cols);
    double s = 0;
    for (Index j = 0; j < Z.cols; ++j) s += std::exp(static_cast<double>(z[j]) - zmax);
    const double lse = zmax + std::log(s);
    for (Index j = 0; j < Z.cols; ++j)
      if (y[j] != T(0)) total += static_cast<double>(y[j]) * (lse - static_cast<double>(z[j]));
  }
  return total / static_cast<double>(Z.rows);
}

// dH = -Y / H (used only if someone calls the unfused path; the delta below is fused)
template <class T>
void SoftmaxCrossEntropy<T>::gradient_impl(ConstView<T> H, ConstView<T> Y,
                                           MatrixView<T> dH) const {
  for (Index i = 0; i < H.size(); ++i) dH.data[i] = Y.data[i] == T(0) ? T(0) : -Y.data[i] / H.data[i];
}

// dZ = H - Y
template <class T>
bool SoftmaxCrossEntropy<T>::fused_delta_impl(ConstView<T>, ConstView<T> H, ConstView<T> Y,
                                              MatrixView<T> dZ) const {
  kernels::subtract(H.size(), H.data, Y.data, dZ.data);
  return true;
}

template <class T>
void SoftmaxCrossEntropy<T>::check_targets_impl(ConstView<T> Y) const {
  const double tol = std::sqrt(static_cast<double>(std::numeric_limits<T>::epsilon()));
  for (Index i = 0; i < Y.rows; ++i) {
    double sum = 0;
    for (Index j = 0; j < Y.cols; ++j) {
      if (!(Y(i, j) >= T(0)))  // negative or NaN
        throw ValueError("cross_entropy targets must be probability distributions: Y[" +
                         std::to_string(i) + ", " + std::to_string(j) +
                         "] = " + shortest_repr(Y(i, j)) + " is negative or NaN");
      sum += Y(i, j);
    }
    if (std::fabs(sum - 1.0) > tol)
      throw ValueError("cross_entropy targets must be probability distributions: row " +
                       std::to_string(i) + " of Y sums to " + shortest_repr(sum) +
                       ", not 1 (one-hot encode class labels)");
  }
}

// ---- sigmoid binary cross-entropy ---------------------------------------------------------

// L = sum(max(Z, 0) - Z Y + log1p(exp(-|Z|))) / m
template <class T>
double SigmoidBinaryCrossEntropy<T>::value_impl(ConstView<T> Z, ConstView<T>,
                                                ConstView<T> Y) const {
  double total = 0;
  for (Index i = 0; i < Z.size(); ++i) {
    const double z = Z.data[i];
    const double y = Y.data[i];
    total += std::max(z, 0.0) - z * y + std::log1p(std::exp(-std::fabs(z)));
  }
  return total / static_cast<double>(Z.rows);
}

// dH = (H - Y) / (H (1 - H)) (unfused path; the delta below is fused)
template <class T>
void SigmoidBinaryCrossEntropy<T>::gradient_impl(ConstView<T> H, ConstView<T> Y,
                                                 MatrixView<T> dH) const {
  for (Index i = 0; i < H.size(); ++i)
    dH.data[i] = (H.data[i] - Y.data[i]) / (H.data[i] * (T(1) - H.data[i]));
}

// dZ = H - Y
template <class T>
bool SigmoidBinaryCrossEntropy<T>::fused_delta_impl(ConstView<T>, ConstView<T> H,
                                                    ConstView<T> Y, MatrixView<T> dZ) const {
  kernels::subtract(H.size(), H.data, Y.data, dZ.data);
  return true;
}

template <class T>
void SigmoidBinaryCrossEntropy<T>::check_targets_impl(ConstView<T> Y) const {
  for (Index i = 0; i < Y.rows; ++i)
    for (Index j = 0; j < Y.cols; ++j)
      if (!(Y(i, j) >= T(0) && Y(i, j) <= T(1)))
        throw ValueError("binary_cross_entropy targets must lie in [0, 1]: Y[" +
                         std::to_string(i) + ", " + std::to_string(j) +
                         "] = " + shortest_repr(Y(i, j)));
}

template class MSE<float>;
template class MSE<double>;
template class SoftmaxCrossEntropy<float>;
template class SoftmaxCrossEntropy<double>;
template class SigmoidBinaryCrossEntropy<float>;
template class SigmoidBinaryCrossEntropy<double>;

// ---- factory ------------------------------------------------------------------------------

namespace {
// alias -> canonical name
const std::map<std::string, std::string>& aliases() {
  static const std::map<std::string, std::string> a = {
      {"mse", "mse"},
      {"cross_entropy", "cross_entropy"},
      {"softmax_cross_entropy", "cross_entropy"},
      {"categorical_cross_entropy", "cross_entropy"},
      {"binary_cross_entropy", "binary_cross_entropy"},
      {"sigmoid_binary_cross_entropy", "binary_cross_entropy"},
      {"bce", "binary_cross_entropy"},
  };
  return a;
}
}  // namespace

std::vector<std::string> loss_names() {
  std::vector<std::string> names;
  for (const auto& kv : aliases()) names.push_back(kv.first);
  return names;
}

template <class T>
std::unique_ptr<Loss<T>> make_loss(const std::string& name) {
  auto it = aliases().find(name);
  if (it == aliases().end()) {
    std::string valid;
    for (const auto& n : loss_names()) valid += (valid.empty() ? "" : ", ") + n;
    throw ValueError("unknown loss '" + name + "'; valid names: " + valid);
  }
  if (it->second == "mse") return std::make_unique<MSE<T>>();
  if (it->second == "cross_entropy") return std::make_unique<SoftmaxCrossEntropy<T>>();
  return std::make_unique<SigmoidBinaryCrossEntropy<T>>();
}

template std::unique_ptr<Loss<float>> make_loss<float>(const std::string&);
template std::unique_ptr<Loss<double>> make_loss<double>(const std::string&);

}  // namespace chainrule
