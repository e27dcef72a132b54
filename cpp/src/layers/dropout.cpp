#include "chainrule/layers/dropout.hpp"

#include <algorithm>
#include <string>

#include "chainrule/error.hpp"

namespace chainrule {

template <class T>
Dropout<T>::Dropout(Index index, Index n, double p) : Layer<T>(index, n, n), p_(p) {
  with_layer_context(index, [&] { entry().checked("p", p); });
  // torch: noise = bernoulli(1 - p) / (1 - p) in the tensor's dtype
  scale_ = T(1) / static_cast<T>(1.0 - p_);
}

template <class T>
std::string Dropout<T>::repr() const {
  return entry().class_name + "(p=" + shortest_repr(p_) + ")";
}

template <class T>
std::vector<Parameter<T>> Dropout<T>::caches_impl() {
  return {{"mask", MatrixView<T>(mask_.data(), mask_rows_, this->n_out()), {}, false}};
}

template <class T>
void Dropout<T>::reserve_impl(Index m) {
  const Index n = this->n_out();
  H_.resize(m, n);
  dH_.resize(m, n);
  if (m * n > mask_.capacity()) {
    // grow, keeping the mask of the last training pass (a larger inference batch may come
    // between a training pass and its inspection)
    Matrix<T> grown(m, n);
    std::copy(mask_.data(), mask_.data() + mask_rows_ * n, grown.data());
    mask_ = std::move(grown);
  }
}

// H_prev (m, n) -> H (m, n), mask (m, n) in training; H = H_prev in inference
template <class T>
ConstView<T> Dropout<T>::forward_impl(ConstView<T> H_prev, const PassContext& ctx) {
  training_ = ctx.training;
  if (!ctx.training) {
    out_ = H_prev;  // the identity: no copy (below's dH is below's own buffer, not this)
    return out_;
  }
  const Index m = H_prev.rows, n = this->n_out();
  const T s = scale_;
  T* mask = mask_.data();
  T* H = H_.data();
  for (Index i = 0; i < m; ++i) {
    const Index row = ctx.row_ids != nullptr ? ctx.row_ids[i] : i;
    const std::uint64_t key =
        dropout_row_key(ctx.seed, ctx.pass, static_cast<std::uint64_t>(this->index()),
                        static_cast<std::uint64_t>(row));
    const T* x = H_prev.row(i);
    for (Index j = 0; j < n; ++j) {
      // keep iff u >= p; H = H_prev * noise with noise = mask / (1 - p)
      const bool keep = dropout_uniform(key, static_cast<std::uint64_t>(j)) >= p_;
      mask[i * n + j] = keep ? T(1) : T(0);
      H[i * n + j] = x[j] * (keep ? s : T(0));
    }
  }
  mask_rows_ = m;
  out_ = ConstView<T>(H, m, n);
  return out_;
}

// dH (m, n) -> below's dH = dH * mask / (1 - p) (training) or dH (inference)
template <class T>
void Dropout<T>::backward_impl(ConstView<T>, Layer<T>* below, const GradientMode<T>&) {
  if (below == nullptr) return;  // nothing to learn
  const Index m = out_.rows, n = this->n_out();
  const OutputGradient<T> g = below->output_gradient();
  const T* dH = dH_.data();
  T* dH_prev = g.dH.data;
  if (training_) {
    const T s = scale_;
    const T* mask = mask_.data();
    for (Index k = 0; k < m * n; ++k) dH_prev[k] = dH[k] * (mask[k] * s);
  } else {
    std::copy(dH, dH + m * n, dH_prev);
  }
  below->complete_delta();
}

template class Dropout<float>;
template class Dropout<double>;

}  // namespace chainrule
