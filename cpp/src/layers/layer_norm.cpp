#include "chainrule/layers/layer_norm.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "chainrule/error.hpp"
#include "chainrule/kernels/normalization.hpp"

namespace chainrule {

namespace {
// Values past which the rows are split across threads (a row's sums are its own, so any
// split gives the same bits).
constexpr Index kLayerNormGrain = Index(1) << 14;
}  // namespace

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

// H_prev (m, n) -> xhat, H (m, n), s (m); rows split across threads
template <class T>
ConstView<T> LayerNorm<T>::forward_impl(ConstView<T> H_prev, const PassContext&) {
  const Index m = H_prev.rows, n = this->n_out();
  const T* gamma = affine_.gamma().data;
  const T* beta = affine_.beta().data;
  const T* X = H_prev.data;
  T* xhat = xhat_.data();
  T* H = H_.data();
  double* inv_std = inv_std_.data();
  const double eps = eps_;
  kernels::parallel_ranges(m, std::max<Index>(1, kLayerNormGrain / n), [=](Index b, Index e) {
    for (Index i = b; i < e; ++i)
      // mean_i, var_i over the row's features; s_i = 1 / sqrt(var_i + eps);
      // xhat = (x - mean_i) s_i, H = gamma xhat + beta
      inv_std[i] = kernels::layer_norm_row(n, X + i * n, gamma, beta, eps, xhat + i * n, H + i * n);
  });
  return H_.cview();
}

// dH, xhat (m, n) -> below's dH (m, n) (and below's delta when it offers an element-wise
// activation); dgamma, dbeta (n) or the SGD update
template <class T>
void LayerNorm<T>::backward_impl(ConstView<T> H_prev, Layer<T>* below,
                                 const GradientMode<T>& mode) {
  const Index m = H_prev.rows, n = this->n_out();  // the rows of the forward pass
  const T* gamma = affine_.gamma().data;           // as in the forward pass (updated last)
  const T* dH = dH_.data();
  const T* xhat = xhat_.data();
  // sums over rows for dgamma, dbeta: sum_i dH_ij xhat_ij, sum_i dH_ij (each column in row
  // order, as batch normalisation's)
  double* sum_dH = sum_dH_.data();
  double* sum_dHx = sum_dHx_.data();
  kernels::parallel_columns(m, n, [&](Index j0, Index j1) {
    kernels::column_sums_dH(m, n, j0, j1, dH, xhat, sum_dH, sum_dHx);
  });
  if (below != nullptr) {
    const OutputGradient<T> g = below->output_gradient();
    const Activation<T>* act =
        g.activation != nullptr && g.activation->elementwise() ? g.activation : nullptr;
    const double* inv_std = inv_std_.data();
    T* dX = g.dH.data;
    const Index block = std::max<Index>(1, 2048 / n);  // rows whose dX stays in cache
    kernels::parallel_ranges(m, std::max<Index>(1, kLayerNormGrain / n), [=](Index b, Index e) {
      for (Index r = b; r < e; r += block) {
        const Index rows = std::min(block, e - r);
        // dH_prev = s_i (dxhat - mean_j(dxhat) - xhat mean_j(dxhat xhat)), dxhat = dH gamma
        for (Index i = r; i < r + rows; ++i)
          kernels::layer_norm_row_gradient(n, dH + i * n, xhat + i * n, gamma, inv_std[i],
                                           dX + i * n);
        // below's dZ = dH_prev * act'(Z) on these rows
        if (act != nullptr)
          act->backward_block(rows, n, g.Z.data + r * n, g.H.data + r * n, dX + r * n, n,
                              g.dZ.data + r * n, n);
      }
    });
    if (act != nullptr) {
      below->set_delta_ready();
    } else {
      below->complete_delta();  // before the update: an error there changes nothing
    }
  }
  affine_.gradients(sum_dHx, sum_dH, m, mode);
}

template class LayerNorm<float>;
template class LayerNorm<double>;

}  // namespace chainrule
