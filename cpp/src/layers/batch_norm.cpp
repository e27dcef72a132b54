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
  if (ctx.training) {
    // mean_j = sum_i x_ij / m
    double* var = sum2_.data();
    for (Index j = 0; j < n; ++j) mean[j] = 0, var[j] = 0;
    for (Index i = 0; i < m; ++i) {
      const T* x = H_prev.row(i);
      for (Index j = 0; j < n; ++j) mean[j] += static_cast<double>(x[j]);
    }
    for (Index j = 0; j < n; ++j) mean[j] /= static_cast<double>(m);
    // var_j = sum_i (x_ij - mean_j)^2 / m (biased), two passes for accuracy
    for (Index i = 0; i < m; ++i) {
      const T* x = H_prev.row(i);
      for (Index j = 0; j < n; ++j) {
        const double d = static_cast<double>(x[j]) - mean[j];
        var[j] += d * d;
      }
    }
    T* rmean = running_.data();
    T* rvar = running_.data() + n;
    const double mom = momentum_;
    for (Index j = 0; j < n; ++j) {
      const double var_sum = var[j];
      var[j] = var_sum / static_cast<double>(m);
      inv_std[j] = 1.0 / std::sqrt(var[j] + eps_);  // s = 1 / sqrt(var + eps)
      if (ctx.update_statistics) {
        // running = momentum * batch + (1 - momentum) * running, the variance unbiased
        rmean[j] = static_cast<T>(mom * mean[j] + (1 - mom) * static_cast<double>(rmean[j]));
        rvar[j] = static_cast<T>(mom * (var_sum / static_cast<double>(m - 1)) +
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
  if (below != nullptr) {
    // from gamma as it was in the forward pass (before the update below)
    const T* gamma = affine_.gamma().data;
    T* dX = below->output_gradient().dH.data;
    const double inv_m = 1.0 / static_cast<double>(m);
    for (Index i = 0; i < m; ++i) {
      const T* dh = dH_.data() + i * n;
      const T* xh = xhat_.data() + i * n;
      T* dx = dX + i * n;
      for (Index j = 0; j < n; ++j) {
        const double gs = static_cast<double>(gamma[j]) * inv_std_[static_cast<std::size_t>(j)];
        if (training_) {
          // dH_prev = gamma s (dH - mean_i(dH) - xhat mean_i(dH xhat))
          dx[j] = static_cast<T>(gs * (static_cast<double>(dh[j]) - sum_dH[j] * inv_m -
                                       static_cast<double>(xh[j]) * (sum_dHx[j] * inv_m)));
        } else {
          dx[j] = static_cast<T>(gs * static_cast<double>(dh[j]));  // running statistics
        }
      }
    }
    below->complete_delta();  // before the update: an error there changes nothing
  }
  affine_.gradients(sum_dHx, sum_dH, m, mode);
}

template class BatchNorm<float>;
template class BatchNorm<double>;

}  // namespace chainrule
