#pragma once

#include <algorithm>
#include <cmath>

#include "chainrule/kernels/elementwise.hpp"
#include "chainrule/loss.hpp"

namespace chainrule {

/// Sigmoid binary cross-entropy L = -sum(Y log s(Z) + (1 - Y) log(1 - s(Z))) / m, computed
/// stably as sum(max(Z, 0) - Z Y + log1p(exp(-|Z|))) / m; fused delta dZ[L] = Yhat - Y.
/// Targets must lie in [0, 1].
template <class T>
class SigmoidBinaryCrossEntropy : public Loss<T> {
 public:
  static const EntryInfo& entry() {
    static const EntryInfo e =
        EntryInfo("binary_cross_entropy", "SigmoidBinaryCrossEntropy",
                  "-sum(Y log s(Z) + (1 - Y) log(1 - s(Z))) / m, from the logits Z")
            .alias("sigmoid_binary_cross_entropy")
            .alias("bce")
            .property("classification", true);
    return e;
  }
  std::string name() const override { return entry().name; }
  std::string repr() const override { return entry().class_name + "()"; }
  std::string required_activation() const override { return "sigmoid"; }

 private:
  // L = sum(max(Z, 0) - Z Y + log1p(exp(-|Z|))) / m
  double value_impl(ConstView<T> Z, ConstView<T>, ConstView<T> Y) const override {
    double total = 0;
    for (Index i = 0; i < Z.size(); ++i) {
      const double z = Z.data[i];
      const double y = Y.data[i];
      total += std::max(z, 0.0) - z * y + std::log1p(std::exp(-std::fabs(z)));
    }
    return total / static_cast<double>(Z.rows);
  }

  // dH = (H - Y) / (H (1 - H)) (unfused path; the delta below is fused)
  void gradient_impl(ConstView<T> H, ConstView<T> Y, MatrixView<T> dH) const override {
    for (Index i = 0; i < H.size(); ++i)
      dH.data[i] = (H.data[i] - Y.data[i]) / (H.data[i] * (T(1) - H.data[i]));
  }

  // dZ = H - Y
  bool fused_delta_impl(ConstView<T>, ConstView<T> H, ConstView<T> Y,
                        MatrixView<T> dZ) const override {
    kernels::subtract(H.size(), H.data, Y.data, dZ.data);
    return true;
  }

  void check_targets_impl(ConstView<T> Y) const override {
    for (Index i = 0; i < Y.rows; ++i)
      for (Index j = 0; j < Y.cols; ++j)
        if (!(Y(i, j) >= T(0) && Y(i, j) <= T(1)))
          throw ValueError("binary_cross_entropy targets must lie in [0, 1]: Y[" +
                           std::to_string(i) + ", " + std::to_string(j) +
                           "] = " + shortest_repr(Y(i, j)));
  }
};

namespace registered {
inline const bool binary_cross_entropy = LossRegistry::add(
    SigmoidBinaryCrossEntropy<double>::entry(), construct<SigmoidBinaryCrossEntropy>());
}  // namespace registered

}  // namespace chainrule
