#pragma once

#include "chainrule/activation.hpp"

namespace chainrule {

/// Row-wise softmax: H[i, j] = exp(Z[i, j] - max_j Z[i, :]) / sum_k exp(Z[i, k] - max).
/// Not element-wise: backward is the Jacobian-vector product
///   dZ[i, :] = H[i, :] * (dH[i, :] - sum_k dH[i, k] H[i, k]),
/// so softmax works in any layer and under any loss.
template <class T>
class Softmax : public Activation<T> {
 public:
  std::string name() const override { return "softmax"; }
  std::string repr() const override { return "Softmax()"; }

 private:
  void forward_impl(ConstView<T> Z, MatrixView<T> H) const override;
  void backward_impl(ConstView<T> Z, ConstView<T> H, ConstView<T> dH,
                     MatrixView<T> dZ) const override;
};

}  // namespace chainrule
