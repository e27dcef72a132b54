// One fully-connected layer: Z = H_prev @ W + b, H = act(Z), and its backward pass.
#pragma once

#include <memory>
#include <string>

#include "chainrule/activation.hpp"
#include "chainrule/error.hpp"
#include "chainrule/tensor.hpp"

namespace chainrule {

/// Runs f; a ValueError or TypeError it throws is re-thrown with "layer <index>: " in front
/// (activations do not know which layer they serve). Other exceptions pass unchanged.
template <class F>
void with_layer_context(Index index, F&& f) {
  try {
    f();
  } catch (const TypeError& e) {
    throw TypeError("layer " + std::to_string(index) + ": " + e.what());
  } catch (const ValueError& e) {
    throw ValueError("layer " + std::to_string(index) + ": " + e.what());
  }
}

/// A dense layer with weights W (n_in, n_out), bias b (n_out), a cached forward pass
/// (Z, H) and the buffers of its backward pass (dH, dZ, dW, db). The per-batch buffers
/// are allocated when a batch larger than any before arrives, never inside a step.
/// W and b are stored as one (n_in + 1, n_out) matrix [W; b], and dW, db as [dW; db], so one
/// GEMM with a row of ones under H_prev.T yields both gradients (and one epilogue updates both).
template <class T>
class DenseLayer {
 public:
  /// `index` is the 1-based layer number used in error messages.
  DenseLayer(Index index, Index n_in, Index n_out, std::unique_ptr<Activation<T>> activation);

  Index index() const { return index_; }
  Index n_in() const { return n_in_; }
  Index n_out() const { return n_out_; }
  const Activation<T>& activation() const { return *activation_; }

  MatrixView<T> W() { return Wb_.view().row_range(0, n_in_); }         // (n_in, n_out)
  MatrixView<T> b() { return Wb_.view().row_range(n_in_, 1); }         // (1, n_out)
  MatrixView<T> dW() { return dWb_.row_range(0, n_in_); }              // (n_in, n_out)
  MatrixView<T> db() { return dWb_.row_range(n_in_, 1); }              // (1, n_out)
  /// [dW; db] as one (n_in + 1, n_out) block.
  MatrixView<T> dWb() { return dWb_; }
  /// The number of gradient values, (n_in + 1) * n_out.
  Index gradient_size() const { return (n_in_ + 1) * n_out_; }
  /// Keeps [dW; db] in `storage` (gradient_size() values, owned by the caller and alive as
  /// long as the layer) instead of the layer's own buffer, which is freed. A network puts
  /// every layer's gradients in one contiguous buffer this way, so a data-parallel step
  /// all-reduces them in one message. The values are not carried over.
  void use_gradient_storage(T* storage);
  ConstView<T> W() const { return Wb_.view().row_range(0, n_in_); }
  ConstView<T> b() const { return Wb_.view().row_range(n_in_, 1); }
  ConstView<T> Z() const { return Z_.view(); }   // (m, n_out)
  ConstView<T> H() const { return H_.view(); }   // (m, n_out)
  MatrixView<T> dH() { return dH_.view(); }      // (m, n_out), set by the layer above or the loss
  MatrixView<T> dZ() { return dZ_.view(); }      // (m, n_out)

  /// Shapes the per-batch buffers for m rows; allocates only past the largest m so far.
  void reserve(Index m);

  /// H_prev (m, n_in) -> Z = H_prev @ W + b, H = act(Z) (m, n_out), cached. For an
  /// element-wise activation, bias and activation run in the GEMM's epilogue.
  ConstView<T> forward(ConstView<T> H_prev);

  /// dH (m, n_out) -> dZ = dH * act'(Z) (m, n_out), from the cached Z and H.
  void backward_activation();

  /// H_prev (m, n_in), dZ (m, n_out) -> dW = H_prev.T @ dZ / m (n_in, n_out),
  /// db = sum(dZ) / m (n_out), and dH_prev = dZ @ W.T (m, n_in) when dH_prev.data is set.
  /// dH_prev uses W as it is now, i.e. before the update.
  void backward_params(ConstView<T> H_prev, MatrixView<T> dH_prev);

  /// The fused backward step of a network, from this layer's dZ:
  ///  1. when `below` is set (the layer under this one): below.dH = dZ @ W.T and, in the same
  ///     pass if below's activation is element-wise, below.dZ = below.dH * act'(below.Z)
  ///     (below.dH is then not kept); W is still the weight before the update;
  ///  2. [dW; db] = [H_prev 1].T @ dZ / m in one GEMM (H_prev is below's H, or X);
  ///  3. when sgd_lr > 0 (plain SGD): W -= lr dW, b -= lr db on each finished block of the
  ///     GEMM, and dW, db are not kept.
  /// With grad_alpha > 0, [dW; db] = grad_alpha [H_prev 1].T @ dZ instead of the mean's 1 / m
  /// (a data-parallel step asks for the batch's sum, grad_alpha = 1, without another pass).
  void backward_fused(ConstView<T> H_prev, DenseLayer* below, T sgd_lr, T grad_alpha = T(0));

 private:
  Index index_;
  Index n_in_;
  Index n_out_;
  std::unique_ptr<Activation<T>> activation_;
  Matrix<T> Wb_;                // [W; b], (n_in + 1, n_out)
  Matrix<T> own_dWb_;           // the layer's own [dW; db] until use_gradient_storage()
  MatrixView<T> dWb_;           // [dW; db], (n_in + 1, n_out): own_dWb_ or the network's buffer
  Matrix<T> Z_, H_, dH_, dZ_;   // per-batch buffers (m, n_out)
};

}  // namespace chainrule
