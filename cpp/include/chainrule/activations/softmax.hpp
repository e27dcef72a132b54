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
  static const EntryInfo& entry() {
    static const EntryInfo e("softmax", "Softmax", "row-wise exp(z) / sum exp(z)");
    return e;
  }
  std::string name() const override { return entry().name; }
  std::string repr() const override { return entry().class_name + "()"; }

 private:
  void forward_impl(ConstView<T> Z, MatrixView<T> H) const override;
  void backward_impl(ConstView<T> Z, ConstView<T> H, ConstView<T> dH,
                     MatrixView<T> dZ) const override;
};

namespace registered {
inline const bool softmax = ActivationRegistry::add(Softmax<double>::entry(), construct<Softmax>());
}  // namespace registered

}  // namespace chainrule
