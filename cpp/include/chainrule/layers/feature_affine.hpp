// The per-feature affine map y = gamma * xhat + beta that the normalisation layers
// (BatchNorm, LayerNorm) end with: its parameters, their gradients and their update.
#pragma once

#include <vector>

#include "chainrule/layer.hpp"
#include "chainrule/tensor.hpp"

namespace chainrule {

/// gamma (n,) and beta (n,) of a normalisation layer, stored as one (2, n) block
/// [gamma; beta] (gamma starts at 1, beta at 0), and their gradients as one (2, n) block
/// [dgamma; dbeta]: the layer's own until use_gradient_storage() hands it the network's.
/// Parameters "gamma" and "beta", both 1-D.
template <class T>
class FeatureAffine {
 public:
  explicit FeatureAffine(Index n) : gb_(2, n), own_grad_(2, n), grad_(own_grad_.view()) {
    T* gamma = gb_.data();
    for (Index j = 0; j < n; ++j) gamma[j] = T(1);
  }

  Index n() const { return gb_.cols(); }
  MatrixView<T> gamma() { return gb_.view().row_range(0, 1); }  // (1, n)
  MatrixView<T> beta() { return gb_.view().row_range(1, 1); }   // (1, n)
  ConstView<T> gamma() const { return gb_.view().row_range(0, 1); }
  ConstView<T> beta() const { return gb_.view().row_range(1, 1); }
  MatrixView<T> dgamma() { return grad_.row_range(0, 1); }  // (1, n)
  MatrixView<T> dbeta() { return grad_.row_range(1, 1); }   // (1, n)

  std::vector<Parameter<T>> parameters() {
    return {{"gamma", gamma(), dgamma(), true}, {"beta", beta(), dbeta(), true}};
  }

  /// The gradients move to the caller's 2 n values; the layer's own block is freed.
  void use_gradient_storage(T* storage) {
    grad_ = MatrixView<T>(storage, 2, n());
    own_grad_ = Matrix<T>();
  }

  /// From the sums over the m rows of dH * xhat and of dH (n values each, dH being m times
  /// dL/dH): dgamma = c sum_i dH_i xhat_i, dbeta = c sum_i dH_i with c = 1 / m (the mean
  /// over rows) or mode.scale; with mode.sgd_lr > 0 then gamma -= lr dgamma, beta -= lr dbeta
  /// (the same operations as the optimizer's plain SGD step, so fused and unfused agree).
  void gradients(const double* sum_dH_xhat, const double* sum_dH, Index m,
                 const GradientMode<T>& mode) {
    const Index n = this->n();
    const double c =
        mode.scale > T(0) ? static_cast<double>(mode.scale) : 1.0 / static_cast<double>(m);
    T* dg = grad_.data;
    T* db = grad_.data + n;
    for (Index j = 0; j < n; ++j) {
      dg[j] = static_cast<T>(c * sum_dH_xhat[j]);  // dgamma = sum_i dH_i xhat_i / m
      db[j] = static_cast<T>(c * sum_dH[j]);       // dbeta = sum_i dH_i / m
    }
    if (mode.sgd_lr > T(0)) {
      T* p = gb_.data();
      for (Index k = 0; k < 2 * n; ++k) p[k] -= mode.sgd_lr * grad_.data[k];  // p -= lr g
    }
  }

 private:
  Matrix<T> gb_;        // [gamma; beta], (2, n)
  Matrix<T> own_grad_;  // the layer's own [dgamma; dbeta] until use_gradient_storage()
  MatrixView<T> grad_;  // [dgamma; dbeta], (2, n): own_grad_ or the network's buffer
};

}  // namespace chainrule
