#include "chainrule/layers/layer_norm.hpp"

#include <cmath>
#include <string>

#include "chainrule/error.hpp"

namespace chainrule {

template <class T>
LayerNorm<T>::LayerNorm(Index index, Index n, double eps)
    : Layer<T>(index, n, n), eps_(eps), affine_(n) {
  with_layer_context(index, [&] { entry().checked("eps", eps); });
  sum_dH_.assign(static_cast<std::size_t>(n), 0.0);
  sum_dHx_.assign(static_cast<std::size_t>(n), 0.0);
}

template <class T>
std::string LayerNorm<T>::repr() const {
  return entry().class_name + "(eps=" + shortest_repr(eps_) + ")";
}

template <class T>
std::vector<Parameter<T>> LayerNorm<T>::caches_impl() {
  return {{"xhat", xhat_.view(), {}, false}};
}

template <class T>
void LayerNorm<T>::reserve_impl(Index m) {
  const Index n = this->n_out();
  xhat_.resize(m, n);
  H_.resize(m, n);
  dH_.resize(m, n);
  inv_std_.resize(m, 1);
}

// H_prev (m, n) -> xhat, H (m, n), s (m)
template <class T>
ConstView<T> LayerNorm<T>::forward_impl(ConstView<T> H_prev, const PassContext&) {
  const Index m = H_prev.rows, n = this->n_out();
  const T* gamma = affine_.gamma().data;
  const T* beta = affine_.beta().data;
  for (Index i = 0; i < m; ++i) {
    const T* x = H_prev.row(i);
    // mean_i = sum_j x_ij / n, var_i = sum_j (x_ij - mean_i)^2 / n (biased)
    double mean = 0;
    for (Index j = 0; j < n; ++j) mean += static_cast<double>(x[j]);
    mean /= static_cast<double>(n);
    double var = 0;
    for (Index j = 0; j < n; ++j) {
      const double d = static_cast<double>(x[j]) - mean;
      var += d * d;
    }
    var /= static_cast<double>(n);
    const double s = 1.0 / std::sqrt(var + eps_);  // s_i = 1 / sqrt(var_i + eps)
    inv_std_.data()[i] = s;
    // xhat = (x - mean_i) s_i, H = gamma xhat + beta
    T* xh = xhat_.data() + i * n;
    T* h = H_.data() + i * n;
    for (Index j = 0; j < n; ++j) {
      const double xhat = (static_cast<double>(x[j]) - mean) * s;
      xh[j] = static_cast<T>(xhat);
      h[j] = static_cast<T>(static_cast<double>(gamma[j]) * xhat + static_cast<double>(beta[j]));
    }
  }
  return H_.cview();
}

// dH, xhat (m, n) -> below's dH (m, n); dgamma, dbeta (n) or the SGD update
template <class T>
void LayerNorm<T>::backward_impl(ConstView<T> H_prev, Layer<T>* below,
                                 const GradientMode<T>& mode) {
  const Index m = H_prev.rows, n = this->n_out();  // the rows of the forward pass
  const T* gamma = affine_.gamma().data;  // as in the forward pass (updated last)
  double* sum_dH = sum_dH_.data();
  double* sum_dHx = sum_dHx_.data();
  for (Index j = 0; j < n; ++j) sum_dH[j] = 0, sum_dHx[j] = 0;
  T* dX = below != nullptr ? below->output_gradient().dH.data : nullptr;
  const double inv_n = 1.0 / static_cast<double>(n);
  for (Index i = 0; i < m; ++i) {
    const T* dh = dH_.data() + i * n;
    const T* xh = xhat_.data() + i * n;
    // sums over rows for dgamma, dbeta: sum_i dH_ij xhat_ij, sum_i dH_ij
    for (Index j = 0; j < n; ++j) {
      sum_dH[j] += static_cast<double>(dh[j]);
      sum_dHx[j] += static_cast<double>(dh[j]) * static_cast<double>(xh[j]);
    }
    if (dX == nullptr) continue;
    // a = mean_j(dxhat), b = mean_j(dxhat xhat) with dxhat = dH gamma
    double a = 0, b = 0;
    for (Index j = 0; j < n; ++j) {
      const double dxhat = static_cast<double>(dh[j]) * static_cast<double>(gamma[j]);
      a += dxhat;
      b += dxhat * static_cast<double>(xh[j]);
    }
    a *= inv_n;
    b *= inv_n;
    // dH_prev = s_i (dxhat - a - xhat b)
    const double s = inv_std_.data()[i];
    T* dx = dX + i * n;
    for (Index j = 0; j < n; ++j) {
      const double dxhat = static_cast<double>(dh[j]) * static_cast<double>(gamma[j]);
      dx[j] = static_cast<T>(s * (dxhat - a - static_cast<double>(xh[j]) * b));
    }
  }
  if (below != nullptr) below->complete_delta();  // before the update: an error there changes nothing
  affine_.gradients(sum_dHx, sum_dH, m, mode);
}

template class LayerNorm<float>;
template class LayerNorm<double>;

}  // namespace chainrule
