#include "chainrule/dense_layer.hpp"

#include <string>

#include "chainrule/error.hpp"
#include "chainrule/kernels/elementwise.hpp"
#include "chainrule/kernels/gemm.hpp"

namespace chainrule {

template <class T>
DenseLayer<T>::DenseLayer(Index index, Index n_in, Index n_out,
                          std::unique_ptr<Activation<T>> activation)
    : index_(index), n_in_(n_in), n_out_(n_out), activation_(std::move(activation)) {
  if (n_in < 1 || n_out < 1)
    throw ValueError("layer " + std::to_string(index) + ": sizes must be >= 1, got n_in=" +
                     std::to_string(n_in) + ", n_out=" + std::to_string(n_out));
  if (!activation_) throw ValueError("layer " + std::to_string(index) + ": no activation");
  W_.resize(n_in, n_out);
  b_.resize(1, n_out);
  dW_.resize(n_in, n_out);
  db_.resize(1, n_out);
}

template <class T>
void DenseLayer<T>::reserve(Index m) {
  Z_.resize(m, n_out_);
  H_.resize(m, n_out_);
  dH_.resize(m, n_out_);
  dZ_.resize(m, n_out_);
}

// H_prev (m, n_in), W (n_in, n_out), b (n_out) -> Z, H (m, n_out)
template <class T>
ConstView<T> DenseLayer<T>::forward(ConstView<T> H_prev) {
  if (H_prev.cols != n_in_)
    throw ValueError("layer " + std::to_string(index_) + " expects " + std::to_string(n_in_) +
                     " input features, got " + std::to_string(H_prev.cols));
  const Index m = H_prev.rows;
  reserve(m);
  // Z = H_prev @ W + b
  kernels::gemm_nn<T>(m, n_out_, n_in_, T(1), H_prev.data, n_in_, W_.data(), n_out_, T(0),
                      Z_.data(), n_out_);
  kernels::add_row_vector(m, n_out_, b_.data(), Z_.data());
  // H = act(Z)
  with_layer_context(index_, [&] { activation_->forward(Z_.cview(), H_.view()); });
  return H_.cview();
}

// dH, Z, H (m, n_out) -> dZ (m, n_out)
template <class T>
void DenseLayer<T>::backward_activation() {
  // dZ = dH * act'(Z)
  with_layer_context(index_,
                     [&] { activation_->backward(Z_.cview(), H_.cview(), dH_.cview(), dZ_.view()); });
}

// H_prev (m, n_in), dZ (m, n_out) -> dW (n_in, n_out), db (n_out), dH_prev (m, n_in)
template <class T>
void DenseLayer<T>::backward_params(ConstView<T> H_prev, MatrixView<T> dH_prev) {
  const Index m = dZ_.rows();
  if (H_prev.rows != m || H_prev.cols != n_in_)
    throw ValueError("layer " + std::to_string(index_) + ": backward expects H_prev of shape " +
                     shape_str(m, n_in_) + ", got " + shape_str(H_prev));
  const T inv_m = T(1) / static_cast<T>(m);
  // dW = H_prev.T @ dZ / m
  kernels::gemm_tn<T>(n_in_, n_out_, m, inv_m, H_prev.data, n_in_, dZ_.data(), n_out_, T(0),
                      dW_.data(), n_out_);
  // db = sum(dZ, axis=0) / m
  kernels::column_sum(m, n_out_, dZ_.data(), inv_m, db_.data());
  if (dH_prev.data != nullptr) {
    if (dH_prev.rows != m || dH_prev.cols != n_in_)
      throw ValueError("layer " + std::to_string(index_) + ": dH_prev must have shape " +
                       shape_str(m, n_in_) + ", got " + shape_str(dH_prev));
    // dH_prev = dZ @ W.T   (W before the update)
    kernels::gemm_nt<T>(m, n_in_, n_out_, T(1), dZ_.data(), n_out_, W_.data(), n_out_, T(0),
                        dH_prev.data, n_in_);
  }
}

template class DenseLayer<float>;
template class DenseLayer<double>;

}  // namespace chainrule
