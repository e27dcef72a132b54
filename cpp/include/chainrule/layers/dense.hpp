// The fully-connected layer: Z = H_prev @ W + b, H = act(Z), and its backward pass.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "chainrule/activation.hpp"
#include "chainrule/layer.hpp"
#include "chainrule/tensor.hpp"

namespace chainrule {

/// A dense layer with weights W (n_in, n_out), bias b (n_out), an activation behind the
/// abstract Activation interface and optional penalties on W (Keras' convention: l1 sum|W| +
/// l2 sum W^2 added to the loss, l1 sign(W) + 2 l2 W to dW; the bias is not penalised); it caches Z
/// and H of the forward pass and keeps the buffers of its backward pass (dH, dZ, and the gradients
/// dW, db). Parameters "W" and "b". W and b are stored as one (n_in + 1, n_out) matrix [W; b], and
/// dW, db as [dW; db], so one GEMM with a row of ones under H_prev.T yields both gradients (and one
/// epilogue updates both).
///
/// Its backward pass is fused: the product dH_prev = dZ @ W.T finishes, block by block in its
/// epilogue, the delta of the layer below when that layer offers an element-wise activation
/// (Layer::output_gradient); the product [dW; db] = [H_prev 1].T @ dZ / m applies the plain
/// SGD update in its epilogue when asked. backward_activation and backward_params are the
/// unfused steps, the readable reference the fused pass is tested against, bit for bit.
template <class T>
class Dense final : public Layer<T> {
 public:
  Dense(Index index, Index n_in, Index n_out, std::unique_ptr<Activation<T>> activation,
        double l1 = 0, double l2 = 0);

  /// The registry's description of a dense layer: its width and penalties.
  static const EntryInfo& entry() {
    static const EntryInfo e = EntryInfo("dense", "Dense", "Z = H_prev @ W + b, H = act(Z)")
                                   .param(ParamSpec("units").integer(1))
                                   .param(ParamSpec("l1", 0.0).at_least(0))
                                   .param(ParamSpec("l2", 0.0).at_least(0))
                                   .property("activation", true);
    return e;
  }

  std::string kind() const override { return "dense"; }
  std::string repr() const override;
  const Activation<T>* activation() const override { return activation_.get(); }
  double l1() const { return l1_; }
  double l2() const { return l2_; }
  /// l1 sum|W| + l2 sum W^2.
  double penalty() const override;
  bool has_penalty() const override { return l1_ != 0 || l2_ != 0; }
  /// dW += l1 sign(W) + 2 l2 W.
  void add_penalty_gradient() override;

  /// [W; b] as one (n_in + 1, n_out) block.
  MatrixView<T> Wb() { return Wb_.view(); }
  MatrixView<T> W() { return Wb_.view().row_range(0, this->n_in()); }  // (n_in, n_out)
  MatrixView<T> b() { return Wb_.view().row_range(this->n_in(), 1); }  // (1, n_out)
  MatrixView<T> dW() { return dWb_.row_range(0, this->n_in()); }       // (n_in, n_out)
  MatrixView<T> db() { return dWb_.row_range(this->n_in(), 1); }       // (1, n_out)
  /// [dW; db] as one (n_in + 1, n_out) block.
  MatrixView<T> dWb() { return dWb_; }
  ConstView<T> W() const { return Wb_.view().row_range(0, this->n_in()); }
  ConstView<T> b() const { return Wb_.view().row_range(this->n_in(), 1); }
  ConstView<T> Z() const { return Z_.view(); }  // (m, n_out)
  ConstView<T> H() const { return H_.view(); }  // (m, n_out)
  MatrixView<T> dH() { return dH_.view(); }     // (m, n_out), set by the layer above or the loss
  MatrixView<T> dZ() { return dZ_.view(); }     // (m, n_out)

  /// Unfused reference, step 1: dH (m, n_out) -> dZ = dH * act'(Z) (m, n_out), from the
  /// cached Z and H.
  void backward_activation();
  /// Unfused reference, step 2: H_prev (m, n_in), dZ (m, n_out) -> dW = H_prev.T @ dZ / m
  /// (n_in, n_out), db = sum(dZ) / m (n_out), and dH_prev = dZ @ W.T (m, n_in) when
  /// dH_prev.data is set. dH_prev uses W as it is now, i.e. before the update.
  void backward_params(ConstView<T> H_prev, MatrixView<T> dH_prev);

 private:
  ConstView<T> forward_impl(ConstView<T> H_prev, const PassContext& ctx) override;
  ConstView<T> output_impl() const override { return H_.cview(); }
  OutputGradient<T> output_gradient_impl() override;
  void delta_impl() override { backward_activation(); }
  void backward_impl(ConstView<T> H_prev, Layer<T>* below, const GradientMode<T>& mode) override;
  std::vector<Parameter<T>> parameters_impl() override;
  std::vector<Parameter<T>> caches_impl() override;
  void use_gradient_storage_impl(T* storage) override;
  void reserve_impl(Index m) override;

  std::unique_ptr<Activation<T>> activation_;
  double l1_, l2_;                 // penalties on W
  Matrix<T> Wb_;                   // [W; b], (n_in + 1, n_out)
  Matrix<T> own_dWb_;              // the layer's own [dW; db] until use_gradient_storage()
  MatrixView<T> dWb_;              // [dW; db], (n_in + 1, n_out): own_dWb_ or the network's buffer
  Matrix<T> Z_, H_, dH_, dZ_;      // per-batch buffers (m, n_out)
  bool few_rows_reverse_ = false;  // the tile order of the next few-row forward product
                                   // (flipped by each: kernels::gemm_nn_few_rows)
};

namespace registered {
inline const bool dense = LayerRegistry::add(
    Dense<double>::entry(),
    [](auto tag, const ParamValues& v, LayerArgs<typename decltype(tag)::type>&& a) {
      using T = typename decltype(tag)::type;
      return std::unique_ptr<Layer<T>>(std::make_unique<Dense<T>>(
          a.index, a.n_in, v.integer("units"), std::move(a.activation), v["l1"], v["l2"]));
    });
}  // namespace registered

}  // namespace chainrule
