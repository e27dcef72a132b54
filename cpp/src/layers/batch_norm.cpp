#include "chainrule/layers/batch_norm.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "chainrule/error.hpp"
#include "chainrule/kernels/normalization.hpp"

namespace chainrule {

template <class T>
BatchNorm<T>::BatchNorm(Index index, Index n, double momentum, double eps)
    : Layer<T>(index, n, n), momentum_(momentum), eps_(eps), affine_(n), running_(2, n) {
  with_layer_context(index, [&] {
    entry().checked("momentum", momentum);
    entry().checked("eps", eps);
  });
  T* var = running_.data() + n;
  for (Index j = 0; j < n; ++j) var[j] = T(1);  // running_var starts at 1, running_mean at 0
  inv_std_.assign(static_cast<std::size_t>(n), 0.0);
  sum_.assign(static_cast<std::size_t>(n), 0.0);
  sum2_.assign(static_cast<std::size_t>(n), 0.0);
  means_.assign(static_cast<std::size_t>(2 * n), 0.0);
  factors_.assign(static_cast<std::size_t>(2 * n), 0.0);
}

template <class T>
std::string BatchNorm<T>::repr() const {
  return entry().class_name + "(momentum=" + shortest_repr(momentum_) +
         ", eps=" + shortest_repr(eps_) + ")";
}

template <class T>
std::vector<Parameter<T>> BatchNorm<T>::buffers_impl() {
  return {{"running_mean", running_mean(), {}, true},
          {"running_var", running_var(), {}, true, /*non_negative=*/true}};
}

template <class T>
std::vector<Parameter<T>> BatchNorm<T>::caches_impl() {
  return {{"xhat", xhat_.view(), {}, false}};
}

template <class T>
void BatchNorm<T>::reserve_impl(Index m) {
  const Index n = this->n_out();
  xhat_.resize(m, n);
  H_.resize(m, n);
  dH_.resize(m, n);
}

// H_prev (m, n) -> xhat, H (m, n); in training also the running statistics (n)
template <class T>
ConstView<T> BatchNorm<T>::forward_impl(ConstView<T> H_prev, const PassContext& ctx) {
  const Index m = H_prev.rows, n = this->n_out();
  double* mean = sum_.data();
  double* inv_std = inv_std_.data();
  training_ = ctx.training;
  sum_across_ = ctx.training ? ctx.sum_across : nullptr;
  global_rows_ = sum_across_ != nullptr ? ctx.global_rows : 0;
  const T* X = H_prev.data;
  if (ctx.training) {
    // the batch: this pass's m rows, or (data-parallel) the M rows of every process
    const Index M = sum_across_ != nullptr ? global_rows_ : m;
    // mean_j = sum_i x_ij / M (columns split across threads, each summed in row order)
    double* var = sum2_.data();
    kernels::parallel_columns(
        m, n, [&](Index j0, Index j1) { kernels::column_sums(m, n, j0, j1, X, mean); });
    if (sum_across_ != nullptr) (*sum_across_)(mean, n);  // + the other processes' rows
    for (Index j = 0; j < n; ++j) mean[j] /= static_cast<double>(M);
    // var_j = sum_i (x_ij - mean_j)^2 / M (biased), two passes for accuracy
    kernels::parallel_columns(m, n, [&](Index j0, Index j1) {
      kernels::column_square_deviations(m, n, j0, j1, X, mean, var);
    });
    if (sum_across_ != nullptr) (*sum_across_)(var, n);  // (centred on the global mean)
    T* rmean = running_.data();
    T* rvar = running_.data() + n;
    const double mom = momentum_;
    for (Index j = 0; j < n; ++j) {
      const double var_sum = var[j];
      var[j] = var_sum / static_cast<double>(M);
      inv_std[j] = 1.0 / std::sqrt(var[j] + eps_);  // s = 1 / sqrt(var + eps)
      if (ctx.update_statistics) {
        // running = momentum * batch + (1 - momentum) * running, the variance unbiased
        rmean[j] = static_cast<T>(mom * mean[j] + (1 - mom) * static_cast<double>(rmean[j]));
        rvar[j] = static_cast<T>(mom * (var_sum / static_cast<double>(M - 1)) +
                                 (1 - mom) * static_cast<double>(rvar[j]));
      }
    }
  } else {
    const T* rmean = running_.data();
    const T* rvar = running_.data() + n;
    for (Index j = 0; j < n; ++j) {
      mean[j] = static_cast<double>(rmean[j]);
      inv_std[j] = 1.0 / std::sqrt(static_cast<double>(rvar[j]) + eps_);
    }
  }
  // xhat = (x - mean) s, H = gamma xhat + beta
  double* gamma = factors_.data();
  double* beta = factors_.data() + n;
  for (Index j = 0; j < n; ++j) {
    gamma[j] = static_cast<double>(affine_.gamma().data[j]);
    beta[j] = static_cast<double>(affine_.beta().data[j]);
  }
  kernels::parallel_columns(m, n, [&](Index j0, Index j1) {
    kernels::normalize_columns(m, n, j0, j1, X, mean, inv_std, gamma, beta, xhat_.data(),
                               H_.data());
  });
  return H_.cview();
}

// dH, xhat (m, n) -> below's dH (m, n); dgamma, dbeta (n) or the SGD update
template <class T>
void BatchNorm<T>::backward_impl(ConstView<T> H_prev, Layer<T>* below,
                                 const GradientMode<T>& mode) {
  const Index m = H_prev.rows, n = this->n_out();  // the rows of the forward pass
  // sum_dH_j = sum_i dH_ij, sum_dHx_j = sum_i dH_ij xhat_ij
  double* sum_dH = sum_.data();
  double* sum_dHx = sum2_.data();
  const T* dH = dH_.data();
  const T* xhat = xhat_.data();
  kernels::parallel_columns(m, n, [&](Index j0, Index j1) {
    kernels::column_sums_dH(m, n, j0, j1, dH, xhat, sum_dH, sum_dHx);
  });
  // the batch's mean_i(dH) and mean_i(dH xhat), in the units of this process's dH
  double* mean_dH = means_.data();
  double* mean_dHx = means_.data() + n;
  if (sum_across_ != nullptr) {
    // c dH is this process's share of the batch's gradient (its gradients are c times its
    // sums over rows): the shares summed over the processes, then / (M c)
    const double c =
        mode.scale > T(0) ? static_cast<double>(mode.scale) : 1.0 / static_cast<double>(m);
    for (Index j = 0; j < n; ++j) mean_dH[j] = c * sum_dH[j], mean_dHx[j] = c * sum_dHx[j];
    (*sum_across_)(means_.data(), 2 * n);
    const double k = 1.0 / (static_cast<double>(global_rows_) * c);
    for (Index j = 0; j < 2 * n; ++j) means_[static_cast<std::size_t>(j)] *= k;
  } else {
    const double inv_m = 1.0 / static_cast<double>(m);
    for (Index j = 0; j < n; ++j) mean_dH[j] = sum_dH[j] * inv_m, mean_dHx[j] = sum_dHx[j] * inv_m;
  }
  if (below != nullptr) {
    // gamma s, from gamma as it was in the forward pass (before the update below)
    double* gs = factors_.data();
    for (Index j = 0; j < n; ++j)
      gs[j] = static_cast<double>(affine_.gamma().data[j]) * inv_std_[static_cast<std::size_t>(j)];
    const OutputGradient<T> g = below->output_gradient();
    const Activation<T>* act =
        g.activation != nullptr && g.activation->elementwise() ? g.activation : nullptr;
    kernels::parallel_columns(m, n, [&](Index j0, Index j1) {
      // a few rows at a time, so that below's delta reads dH_prev from the closest cache
      const Index block = std::max<Index>(1, 2048 / (j1 - j0));
      for (Index r = 0; r < m; r += block) {
        const Index rows = std::min(block, m - r), off = r * n + j0;
        // training: dH_prev = gamma s (dH - mean_i(dH) - xhat mean_i(dH xhat));
        // inference (running statistics): dH_prev = gamma s dH
        kernels::batch_norm_input_gradient(rows, n, j0, j1, dH + r * n, xhat + r * n, gs,
                                           training_ ? mean_dH : nullptr,
                                           training_ ? mean_dHx : nullptr, g.dH.data + r * n);
        // below's dZ = dH_prev * act'(Z) on these rows and columns
        if (act != nullptr)
          act->backward_block(rows, j1 - j0, g.Z.data + off, g.H.data + off, g.dH.data + off, n,
                              g.dZ.data + off, n);
      }
    });
    if (act != nullptr) {
      below->set_delta_ready();
    } else {
      below->complete_delta();  // before the update: an error there changes nothing
    }
  }
  // this process's c sum_i (dH xhat), c sum_i dH (data-parallel: its share, summed by the
  // gradient reducer)
  affine_.gradients(sum_dHx, sum_dH, m, mode);
}

template class BatchNorm<float>;
template class BatchNorm<double>;

}  // namespace chainrule
