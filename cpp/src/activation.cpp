// Softmax's row loops and the name -> activation factory (the registry, filled by the
// headers that all.hpp includes).
#include <algorithm>
#include <cmath>

#include "chainrule/activations/all.hpp"

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

std::vector<std::string> activation_names() { return ActivationRegistry::instance().names(); }

template <class T>
std::unique_ptr<Activation<T>> make_activation(const std::string& name, const NamedParams& params) {
  return ActivationRegistry::instance().make<T>(name, params);
}

template std::unique_ptr<Activation<float>> make_activation<float>(const std::string&,
                                                                   const NamedParams&);
template std::unique_ptr<Activation<double>> make_activation<double>(const std::string&,
                                                                     const NamedParams&);

}  // namespace chainrule
