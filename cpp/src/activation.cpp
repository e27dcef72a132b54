// Softmax's row loops and the name -> activation factory.
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>

#include "chainrule/activations/all.hpp"
#include "params.hpp"

namespace chainrule {

// Z (m, n) -> H (m, n), row-wise, shifted by the row maximum so exp never overflows.
template <class T>
void Softmax<T>::forward_impl(ConstView<T> Z, MatrixView<T> H) const {
  for (Index i = 0; i < Z.rows; ++i) {
    const T* z = Z.row(i);
    T* h = H.row(i);
    const T zmax = *std::max_element(z, z + Z.cols);
    T sum = 0;
    for (Index j = 0; j < Z.cols; ++j) {
      h[j] = std::exp(z[j] - zmax);
      sum += h[j];
    }
    const T inv = T(1) / sum;
    for (Index j = 0; j < Z.cols; ++j) h[j] *= inv;
  }
}

// H, dH (m, n) -> dZ (m, n): dZ[i, :] = H[i, :] * (dH[i, :] - <dH[i, :], H[i, :]>)
template <class T>
void Softmax<T>::backward_impl(ConstView<T>, ConstView<T> H, ConstView<T> dH,
                               MatrixView<T> dZ) const {
  for (Index i = 0; i < H.rows; ++i) {
    const T* h = H.row(i);
    const T* g = dH.row(i);
    T* d = dZ.row(i);
    T dot = 0;
    for (Index j = 0; j < H.cols; ++j) dot += g[j] * h[j];
    for (Index j = 0; j < H.cols; ++j) d[j] = h[j] * (g[j] - dot);
  }
}

template class Softmax<float>;
template class Softmax<double>;

namespace {

using Params = std::vector<std::pair<std::string, double>>;

// Reads the named parameters (with defaults) and rejects any other name.
std::vector<double> read_params(const std::string& name, const Params& given, const Params& accepted) {
  return detail::read_params("activation '" + name + "'", given, accepted);
}

template <class T>
using Maker = std::function<std::unique_ptr<Activation<T>>(const std::string&, const Params&)>;

template <class Act, class T>
Maker<T> no_params() {
  return [](const std::string& n, const Params& p) -> std::unique_ptr<Activation<T>> {
    read_params(n, p, {});
    return std::make_unique<Act>();
  };
}

template <class Act, class T>
Maker<T> alpha_param(double dflt) {
  return [dflt](const std::string& n, const Params& p) -> std::unique_ptr<Activation<T>> {
    return std::make_unique<Act>(read_params(n, p, {{"alpha", dflt}})[0]);
  };
}

template <class T>
const std::map<std::string, Maker<T>>& registry() {
  static const std::map<std::string, Maker<T>> r = {
      {"sigmoid", no_params<Sigmoid<T>, T>()},
      {"tanh", no_params<Tanh<T>, T>()},
      {"relu", no_params<ReLU<T>, T>()},
      {"leaky_relu", alpha_param<LeakyReLU<T>, T>(0.01)},
      {"elu", alpha_param<ELU<T>, T>(1.0)},
      {"softmax", no_params<Softmax<T>, T>()},
      {"linear", no_params<Linear<T>, T>()},
      {"gelu", no_params<GELU<T>, T>()},
      {"silu", no_params<SiLU<T>, T>()},
      {"softplus", no_params<Softplus<T>, T>()},
  };
  return r;
}

}  // namespace

std::vector<std::string> activation_names() {
  std::vector<std::string> names;
  for (const auto& kv : registry<double>()) names.push_back(kv.first);
  return names;
}

template <class T>
std::unique_ptr<Activation<T>> make_activation(const std::string& name, const Params& params) {
  const auto& r = registry<T>();
  auto it = r.find(name);
  if (it == r.end()) {
    std::string valid;
    for (const auto& n : activation_names()) valid += (valid.empty() ? "" : ", ") + n;
    throw ValueError("unknown activation '" + name + "'; valid names: " + valid);
  }
  return it->second(name, params);
}

template std::unique_ptr<Activation<float>> make_activation<float>(const std::string&,
                                                                   const Params&);
template std::unique_ptr<Activation<double>> make_activation<double>(const std::string&,
                                                                     const Params&);

}  // namespace chainrule
