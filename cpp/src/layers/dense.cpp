#include "chainrule/layers/dense.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "chainrule/error.hpp"
#include "chainrule/kernels/elementwise.hpp"
#include "chainrule/kernels/gemm.hpp"

namespace chainrule {

namespace {

// Epilogue contexts: what each fused GEMM does to a finished block of its output, and which
// of their own operands to fetch before the GEMM computes a block (Epilogue::prefetch): the
// product's time then hides the memory latency of the epilogue's rows, which for a large layer
// (W of 4096 x 4096, read and written by the SGD update a strip at a time) come from DRAM.

// Brings rows [i0, i0 + rows) x columns [j0, j0 + cols) of a (.., ld) row-major array into
// cache, one prefetch per 64-byte line (a prefetch never faults); Write: about to be written.
template <bool Write, class T>
void prefetch_rows(const T* base, Index ld, Index i0, Index j0, Index rows, Index cols) {
  constexpr Index line = 64 / static_cast<Index>(sizeof(T));
  for (Index i = i0; i < i0 + rows; ++i) {
    const T* row = base + i * ld + j0;
    for (Index j = 0; j < cols; j += line) __builtin_prefetch(row + j, Write ? 1 : 0, 3);
    __builtin_prefetch(row + cols - 1, Write ? 1 : 0, 3);  // a row need not start on a line
  }
}

// Forward, C = Z: Z += b, H = act(Z) on the block.
template <class T>
struct BiasActivation {
  const Activation<T>* act;
  const T* b;  // (n_out)
  T* H;        // (m, n_out), row stride ld as Z
  Index ld;    // n_out
  static void run(const void* ctx, Index i0, Index j0, Index rows, Index cols, T* Z, Index ld) {
    const auto& c = *static_cast<const BiasActivation*>(ctx);
    c.act->bias_forward_block(rows, cols, c.b + j0, Z, c.H + i0 * ld + j0, ld);
  }
  static void prefetch(const void* ctx, Index i0, Index j0, Index rows, Index cols, T*, Index) {
    const auto& c = *static_cast<const BiasActivation*>(ctx);
    prefetch_rows<true>(c.H, c.ld, i0, j0, rows, cols);
  }
};

// Backward, C = dH of the layer below (possibly a scratch block): its dZ = dH * act'(Z).
template <class T>
struct ActivationDerivative {
  const Activation<T>* act;
  const T* Z;  // (m, n) of the layer below, row stride n
  const T* H;
  T* dZ;
  Index n;
  static void run(const void* ctx, Index i0, Index j0, Index rows, Index cols, T* dH, Index ld) {
    const auto& c = *static_cast<const ActivationDerivative*>(ctx);
    const Index off = i0 * c.n + j0;
    c.act->backward_block(rows, cols, c.Z + off, c.H + off, dH, ld, c.dZ + off, c.n);
  }
  static void prefetch(const void* ctx, Index i0, Index j0, Index rows, Index cols, T*, Index) {
    const auto& c = *static_cast<const ActivationDerivative*>(ctx);
    prefetch_rows<false>(c.Z, c.n, i0, j0, rows, cols);
    prefetch_rows<false>(c.H, c.n, i0, j0, rows, cols);
    prefetch_rows<true>(c.dZ, c.n, i0, j0, rows, cols);
  }
};

// The gradient of the penalty l1 |w| + l2 w^2 of one weight: l1 sign(w) + 2 l2 w.
template <class T>
inline T penalty_gradient(T w, T l1, T l2) {
  const T sign = w > T(0) ? T(1) : (w < T(0) ? T(-1) : T(0));
  return l1 * sign + T(2) * l2 * w;
}

// Backward, C = [dW; db] (possibly a scratch block): [W; b] -= lr [dW; db], the SGD update
// (with the penalty's gradient added to the rows of dW when the layer has one).
template <class T>
struct SgdUpdate {
  T lr;
  T* Wb;  // (n_in + 1, n_out), row stride n
  Index n;
  Index n_in;  // rows of W; row n_in is b
  T l1, l2;    // penalties on W (0: none)
  static void run(const void* ctx, Index i0, Index j0, Index rows, Index cols, T* g, Index ld) {
    const auto& c = *static_cast<const SgdUpdate*>(ctx);
    const bool penalised = c.l1 != T(0) || c.l2 != T(0);
    if (!penalised) {  // plain SGD's arithmetic, vectorised for the CPU's widest ISA
      kernels::axpy_update_block(rows, cols, c.lr, g, ld, c.Wb + i0 * c.n + j0, c.n);
      return;
    }
    const Index w_rows = std::min(rows, std::max(c.n_in - i0, Index(0)));  // the rest: b's row
    for (Index i = 0; i < w_rows; ++i) {
      T* __restrict p = c.Wb + (i0 + i) * c.n + j0;
      const T* gi = g + i * ld;
      for (Index j = 0; j < cols; ++j) p[j] -= c.lr * (gi[j] + penalty_gradient(p[j], c.l1, c.l2));
    }
    if (w_rows < rows)  // b has no penalty
      kernels::axpy_update_block(rows - w_rows, cols, c.lr, g + w_rows * ld, ld,
                                 c.Wb + (i0 + w_rows) * c.n + j0, c.n);
  }
  static void prefetch(const void* ctx, Index i0, Index j0, Index rows, Index cols, T*, Index) {
    const auto& c = *static_cast<const SgdUpdate*>(ctx);
    prefetch_rows<true>(c.Wb, c.n, i0, j0, rows, cols);
  }
};

}  // namespace

template <class T>
Dense<T>::Dense(Index index, Index n_in, Index n_out, std::unique_ptr<Activation<T>> activation,
                double l1, double l2)
    : Layer<T>(index, n_in, n_out), activation_(std::move(activation)), l1_(l1), l2_(l2) {
  if (!activation_) throw ValueError("layer " + std::to_string(index) + ": no activation");
  with_layer_context(index, [&] {
    entry().checked("l1", l1);
    entry().checked("l2", l2);
  });
  Wb_.resize(n_in + 1, n_out);
  own_dWb_.resize(n_in + 1, n_out);
  dWb_ = own_dWb_.view();
}

template <class T>
std::string Dense<T>::repr() const {
  return "Dense(" + std::to_string(this->n_out()) + ", " + activation_->repr() +
         (l1_ != 0 ? ", l1=" + shortest_repr(l1_) : std::string()) +
         (l2_ != 0 ? ", l2=" + shortest_repr(l2_) : std::string()) + ")";
}

template <class T>
std::vector<Parameter<T>> Dense<T>::parameters_impl() {
  return {{"W", W(), dW(), false}, {"b", b(), db(), true}};
}

template <class T>
std::vector<Parameter<T>> Dense<T>::caches_impl() {
  return {{"Z", Z_.view(), {}, false}, {"H", H_.view(), {}, false}};
}

// W (n_in, n_out) -> l1 sum|W| + l2 sum W^2
template <class T>
double Dense<T>::penalty() const {
  if (l1_ == 0 && l2_ == 0) return 0;
  const ConstView<T> w = W();
  double a = 0, q = 0;
  for (Index i = 0; i < w.size(); ++i) {
    const double v = static_cast<double>(w.data[i]);
    a += std::fabs(v);
    q += v * v;
  }
  return l1_ * a + l2_ * q;
}

// dW (n_in, n_out) += l1 sign(W) + 2 l2 W
template <class T>
void Dense<T>::add_penalty_gradient() {
  if (l1_ == 0 && l2_ == 0) return;
  const ConstView<T> w = W();
  MatrixView<T> g = dW();
  const T l1 = static_cast<T>(l1_), l2 = static_cast<T>(l2_);
  for (Index i = 0; i < w.rows; ++i) {
    const T* wi = w.row(i);
    T* gi = g.row(i);
    for (Index j = 0; j < w.cols; ++j) gi[j] += penalty_gradient(wi[j], l1, l2);
  }
}

template <class T>
void Dense<T>::use_gradient_storage_impl(T* storage) {
  dWb_ = MatrixView<T>(storage, this->n_in() + 1, this->n_out());
  own_dWb_ = Matrix<T>();
}

template <class T>
void Dense<T>::reserve_impl(Index m) {
  const Index n_out = this->n_out();
  Z_.resize(m, n_out);
  H_.resize(m, n_out);
  dH_.resize(m, n_out);
  dZ_.resize(m, n_out);
}

template <class T>
OutputGradient<T> Dense<T>::output_gradient_impl() {
  return {dH_.view(), activation_.get(), Z_.cview(), H_.cview(), dZ_.view()};
}

// H_prev (m, n_in), W (n_in, n_out), b (n_out) -> Z, H (m, n_out)
template <class T>
ConstView<T> Dense<T>::forward_impl(ConstView<T> H_prev, const PassContext&) {
  const Index m = H_prev.rows, n_in = this->n_in(), n_out = this->n_out();
  const T* W = Wb_.data();
  const T* b = W + n_in * n_out;
  // Z = H_prev @ W (then the epilogue): a few rows against large weights (a one-sample
  // predict) take the few-row path, which reads W in the opposite order on every other call
  // (the bits are the same either way)
  const bool few_rows = kernels::use_few_rows<T>(m, n_out, n_in);
  if (few_rows) few_rows_reverse_ = !few_rows_reverse_;
  const auto product = [&](const kernels::Epilogue<T>& ep) {
    if (few_rows)
      kernels::gemm_nn_few_rows<T>(m, n_out, n_in, H_prev.data, n_in, W, n_out, Z_.data(), n_out,
                                   ep, few_rows_reverse_);
    else
      kernels::gemm_nn<T>(m, n_out, n_in, T(1), H_prev.data, n_in, W, n_out, T(0), Z_.data(), n_out,
                          ep);
  };
  if (activation_->elementwise()) {
    // Z = H_prev @ W, then Z += b and H = act(Z) on each block as the GEMM finishes it
    const BiasActivation<T> ctx{activation_.get(), b, H_.data(), n_out};
    product({&BiasActivation<T>::run, &ctx, false, &BiasActivation<T>::prefetch});
    return H_.cview();
  }
  // Z = H_prev @ W + b
  product({});
  kernels::add_row_vector(m, n_out, b, Z_.data());
  // H = act(Z), row-wise activations (softmax) and callbacks on the whole batch
  with_layer_context(this->index(), [&] { activation_->forward(Z_.cview(), H_.view()); });
  return H_.cview();
}

// dH, Z, H (m, n_out) -> dZ (m, n_out)
template <class T>
void Dense<T>::backward_activation() {
  // dZ = dH * act'(Z)
  with_layer_context(this->index(), [&] {
    activation_->backward(Z_.cview(), H_.cview(), dH_.cview(), dZ_.view());
  });
}

// H_prev (m, n_in), dZ (m, n_out) -> dW (n_in, n_out), db (n_out), dH_prev (m, n_in)
template <class T>
void Dense<T>::backward_params(ConstView<T> H_prev, MatrixView<T> dH_prev) {
  const Index m = dZ_.rows(), n_in = this->n_in(), n_out = this->n_out();
  if (H_prev.rows != m || H_prev.cols != n_in)
    throw ValueError("layer " + std::to_string(this->index()) +
                     ": backward expects H_prev of shape " + shape_str(m, n_in) + ", got " +
                     shape_str(H_prev));
  if (dH_prev.data != nullptr && (dH_prev.rows != m || dH_prev.cols != n_in))
    throw ValueError("layer " + std::to_string(this->index()) + ": dH_prev must have shape " +
                     shape_str(m, n_in) + ", got " + shape_str(dH_prev));
  // [dW; db] = [H_prev 1].T @ dZ / m
  kernels::gemm_tn_sum<T>(n_in, n_out, m, T(1) / static_cast<T>(m), H_prev.data, n_in, dZ_.data(),
                          n_out, dWb_.data, n_out);
  add_penalty_gradient();  // dW += l1 sign(W) + 2 l2 W (nothing without penalties)
  if (dH_prev.data != nullptr) {
    // dH_prev = dZ @ W.T
    kernels::gemm_nt<T>(m, n_in, n_out, T(1), dZ_.data(), n_out, Wb_.data(), n_out, T(0),
                        dH_prev.data, n_in);
  }
}

// dZ (m, n_out) -> below's dH and dZ (m, n_in); [dW; db] (n_in + 1, n_out) or the SGD update
template <class T>
void Dense<T>::backward_impl(ConstView<T> H_prev, Layer<T>* below, const GradientMode<T>& mode) {
  const Index m = dZ_.rows(), n_in = this->n_in(), n_out = this->n_out();
  if (below != nullptr) {
    // below.dH = dZ @ W.T (W before the update); below.dZ = below.dH * act'(below.Z) in the
    // product's epilogue when below offers an element-wise activation
    const OutputGradient<T> g = below->output_gradient();
    if (g.activation != nullptr && g.activation->elementwise()) {
      const ActivationDerivative<T> ctx{g.activation, g.Z.data, g.H.data, g.dZ.data, n_in};
      kernels::gemm_nt<T>(m, n_in, n_out, T(1), dZ_.data(), n_out, Wb_.data(), n_out, T(0),
                          g.dH.data, n_in,
                          {&ActivationDerivative<T>::run, &ctx, /*c_unused=*/true,
                           &ActivationDerivative<T>::prefetch});
      below->set_delta_ready();
    } else {
      kernels::gemm_nt<T>(m, n_in, n_out, T(1), dZ_.data(), n_out, Wb_.data(), n_out, T(0),
                          g.dH.data, n_in);
      below->complete_delta();  // before this layer's update: an error there changes nothing
    }
  }
  // [dW; db] = [H_prev 1].T @ dZ / m, and with plain SGD [W; b] -= lr [dW; db] block by block
  const T inv_m = mode.scale > T(0) ? mode.scale : T(1) / static_cast<T>(m);
  const bool penalties = mode.penalties && (l1_ != 0 || l2_ != 0);
  if (mode.sgd_lr > T(0)) {
    const SgdUpdate<T> ctx{mode.sgd_lr,
                           Wb_.data(),
                           n_out,
                           n_in,
                           penalties ? static_cast<T>(l1_) : T(0),
                           penalties ? static_cast<T>(l2_) : T(0)};
    kernels::gemm_tn_sum<T>(n_in, n_out, m, inv_m, H_prev.data, n_in, dZ_.data(), n_out, dWb_.data,
                            n_out,
                            {&SgdUpdate<T>::run, &ctx, /*c_unused=*/true, &SgdUpdate<T>::prefetch});
  } else {
    kernels::gemm_tn_sum<T>(n_in, n_out, m, inv_m, H_prev.data, n_in, dZ_.data(), n_out, dWb_.data,
                            n_out);
    if (penalties) add_penalty_gradient();
  }
}

template class Dense<float>;
template class Dense<double>;

}  // namespace chainrule
