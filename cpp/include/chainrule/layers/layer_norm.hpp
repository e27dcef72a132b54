// Layer normalisation over the features of each row, as torch.nn.LayerNorm(n).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "chainrule/layer.hpp"
#include "chainrule/layers/feature_affine.hpp"
#include "chainrule/tensor.hpp"

namespace chainrule {

/// Per row i, over its n features: mean_i, the biased variance var_i, s_i = 1 / sqrt(var_i +
/// eps), xhat = (x - mean_i) s_i, H = gamma * xhat + beta; the same in training and
/// inference.
///
/// Backward, with dH m times dL/dH: dxhat = dH gamma, dH_prev = s_i (dxhat - mean_j(dxhat) -
/// xhat mean_j(dxhat xhat)) (means over the row's features); dgamma = mean_i(dH xhat),
/// dbeta = mean_i(dH) (FeatureAffine). Sums are accumulated in double. Parameters "gamma"
/// (1) and "beta" (0), 1-D (n,); cache "xhat" (m, n).
///
/// The loops (kernels/normalization.hpp) are vectorised: a row's sums over its features in
/// eight interleaved partial sums added in a fixed order, the sums over rows column by column
/// in row order. Rows (and, for the sums over rows, columns) are split across threads
/// without changing any bit. When the layer below offers an element-wise activation, its
/// delta dZ = dH_prev * act'(Z) is computed in the backward pass, a few rows at a time.
template <class T>
class LayerNorm final : public Layer<T> {
 public:
  LayerNorm(Index index, Index n, double eps = entry().default_of("eps"));

  /// The registry's description of a layer normalisation layer.
  static const EntryInfo& entry() {
    static const EntryInfo e =
        EntryInfo("layer_norm", "LayerNorm",
                  "H = gamma (H_prev - mean) / sqrt(var + eps) + beta, statistics over each "
                  "row's features")
            .alias("layernorm")
            .param(ParamSpec("eps", 1e-5).above(0));
    return e;
  }

  std::string kind() const override { return "layer_norm"; }
  std::string repr() const override;
  double eps() const { return eps_; }

  MatrixView<T> gamma() { return affine_.gamma(); }    // (1, n)
  MatrixView<T> beta() { return affine_.beta(); }      // (1, n)
  MatrixView<T> dgamma() { return affine_.dgamma(); }  // (1, n)
  MatrixView<T> dbeta() { return affine_.dbeta(); }    // (1, n)
  ConstView<T> xhat() const { return xhat_.cview(); }  // (m, n)
  MatrixView<T> dH() { return dH_.view(); }            // (m, n)

 private:
  ConstView<T> forward_impl(ConstView<T> H_prev, const PassContext& ctx) override;
  ConstView<T> output_impl() const override { return H_.cview(); }
  OutputGradient<T> output_gradient_impl() override { return {dH_.view(), nullptr, {}, {}, {}}; }
  void backward_impl(ConstView<T> H_prev, Layer<T>* below, const GradientMode<T>& mode) override;
  std::vector<Parameter<T>> parameters_impl() override { return affine_.parameters(); }
  std::vector<Parameter<T>> caches_impl() override;
  void use_gradient_storage_impl(T* storage) override { affine_.use_gradient_storage(storage); }
  void reserve_impl(Index m) override;

  double eps_;
  FeatureAffine<T> affine_;               // gamma, beta and their gradients
  Matrix<T> xhat_, H_, dH_;               // per-batch buffers (m, n)
  Matrix<double> inv_std_;                // (m, 1): s_i of the last forward pass
  std::vector<double> sum_dH_, sum_dHx_;  // (n): sums over rows in backward, allocated once
};

namespace registered {
inline const bool layer_norm = LayerRegistry::add(
    LayerNorm<double>::entry(),
    [](auto tag, const ParamValues& v, LayerArgs<typename decltype(tag)::type>&& a) {
      using T = typename decltype(tag)::type;
      return std::unique_ptr<Layer<T>>(std::make_unique<LayerNorm<T>>(a.index, a.n_in, v["eps"]));
    });
}  // namespace registered

}  // namespace chainrule
