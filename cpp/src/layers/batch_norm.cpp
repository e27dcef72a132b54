#include "chainrule/layers/batch_norm.hpp"

#include <cmath>
#include <string>

#include "chainrule/error.hpp"

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
}

template <class T>
std::string BatchNorm<T>::repr() const {
  return entry().class_name + "(momentum=" + shortest_repr(momentum_) +
         ", eps=" + shortest_repr(eps_) + ")";
}

template <class T>
std::vector<Parameter<T>> BatchNorm<T>::buffers_impl() {
  return {{"running_mean", running_mean(), {}, true}, {"running_var", running_var(), {}, true}};
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
  if (ctx.training) {
    // the batch: this pass's m rows, or (data-parallel) the M rows of every process
    const Index M = sum_across_ != nullptr ? global_rows_ : m;
    // mean_j = sum_i x_ij / M
    double* var = sum2_.data();
    for (Index j = 0; j < n; ++j) mean[j] = 0, var[j] = 0;
    for (Index i = 0; i < m; ++i) {
      const T* x = H_prev.row(i);
      for (Index j = 0; j < n; ++j) mean[j] += static_cast<double>(x[j]);
    }
    if (sum_across_ != nullptr) (*sum_across_)(mean, n);  // + the other processes' rows
    for (Index j = 0; j < n; ++j) mean[j] /= static_cast<double>(M);
    // var_j = sum_i (x_ij - mean_j)^2 / M (biased), two passes for accuracy
    for (Index i = 0; i < m; ++i) {
      const T* x = H_prev.row(i);
      for (Index j = 0; j < n; ++j) {
        const double d = static_cast<double>(x[j]) - mean[j];
        var[j] += d * d;
      }
    }
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
  const T* gamma = affine_.gamma().data;
  const T* beta = affine_.beta().data;
  for (Index i = 0; i < m; ++i) {
    const T* x = H_prev.row(i);
    T* xh = xhat_.data() + i * n;
    T* h = H_.data() + i * n;
    for (Index j = 0; j < n; ++j) {
      const double xhat = (static_cast<double>(x[j]) - mean[j]) * inv_std[j];
      xh[j] = static_cast<T>(xhat);
      h[j] = static_cast<T>(static_cast<double>(gamma[j]) * xhat + static_cast<double>(beta[j]));
    }
  }
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
  for (Index j = 0; j < n; ++j) sum_dH[j] = 0, sum_dHx[j] = 0;
  for (Index i = 0; i < m; ++i) {
    const T* dh = dH_.data() + i * n;
    const T* xh = xhat_.data() + i * n;
    for (Index j = 0; j < n; ++j) {
      sum_dH[j] += static_cast<double>(dh[j]);
      sum_dHx[j] += static_cast<double>(dh[j]) * static_cast<double>(xh[j]);
    }
  }
  // the batch's mean_i(dH) and mean_i(dH xhat), in the units of this process's dH
  double* mean_dH = means_.data();
  double* mean_dHx = means_.data() + n;
  if (sum_across_ != nullptr) {
    // c dH is this process's share of the batch's gradient (its gradients are c times its
    // sums over rows): the shares summed over the processes, then / (M c)
    const double c = mode.scale > T(0) ? static_cast<double>(mode.scale)
                                       : 1.0 / static_cast<double>(m);
    for (Index j = 0; j < n; ++j) mean_dH[j] = c * sum_dH[j], mean_dHx[j] = c * sum_dHx[j];
    (*sum_across_)(means_.data(), 2 * n);
    const double k = 1.0 / (static_cast<double>(global_rows_) * c);
    for (Index j = 0; j < 2 * n; ++j) means_[static_cast<std::size_t>(j)] *= k;
  } else {
    const double inv_m = 1.0 / static_cast<double>(m);
    for (Index j = 0; j < n; ++j) mean_dH[j] = sum_dH[j] * inv_m, mean_dHx[j] = sum_dHx[j] * inv_m;
  }
  if (below != nullptr) {
    // from gamma as it was in the forward pass (before the update below)
    const T* gamma = affine_.gamma().data;
    T* dX = below->output_gradient().dH.data;
    for (Index i = 0; i < m; ++i) {
      const T* dh = dH_.data() + i * n;
      const T* xh = xhat_.data() + i * n;
      T* dx = dX + i * n;
      for (Index j = 0; j < n; ++j) {
        const double gs = static_cast<double>(gamma[j]) * inv_std_[static_cast<std::size_t>(j)];
        if (training_) {
          // dH_prev = gamma s (dH - mean_i(dH) - xhat mean_i(dH xhat))
          dx[j] = static_cast<T>(gs * (static_cast<double>(dh[j]) - mean_dH[j] -
                                       static_cast<double>(xh[j]) * mean_dHx[j]));
        } else {
          dx[j] = static_cast<T>(gs * static_cast<double>(dh[j]));  // running statistics
        }
      }
    }
    below->complete_delta();  // before the update: an error there changes nothing
  }
  // this process's c sum_i (dH xhat), c sum_i dH (data-parallel: its share, summed by the
  // gradient reducer)
  affine_.gradients(sum_dHx, sum_dH, m, mode);
}

template class BatchNorm<float>;
template class BatchNorm<double>;

}  // namespace chainrule
