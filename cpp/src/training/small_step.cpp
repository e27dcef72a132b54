#include "chainrule/training/small_step.hpp"

#include <algorithm>

#include "../kernels/shape_policy.hpp"
#include "chainrule/kernels/cpu.hpp"

namespace chainrule {

namespace {

// A (rows, cols) row-major -> AT (cols, ld): AT[j][i] = A[i][j]; columns rows..ld-1 set to 0
template <class T>
void transpose_padded(Index rows, Index cols, const T* A, Index ld, T* AT) {
  for (Index j = 0; j < cols; ++j) {
    T* out = AT + j * ld;
    for (Index i = 0; i < rows; ++i) out[i] = A[i * cols + j];
    std::fill(out + rows, out + ld, T(0));
  }
}

// The padding columns rows..ld-1 of AT (n, ld) set to 0: they must add nothing to dW, db.
template <class T>
void zero_padding(Index n, Index rows, Index ld, T* AT) {
  for (Index j = 0; j < n; ++j) std::fill(AT + j * ld + rows, AT + (j + 1) * ld, T(0));
}

}  // namespace

template <class T>
std::unique_ptr<SmallStep<T>> SmallStep<T>::make(Network<T>& net, Index rows, bool plain_step) {
  kernels::SmallStepCase c;
  c.rows = rows;
  c.elem_bytes = static_cast<Index>(sizeof(T));
  c.plain_step = plain_step;
  c.enabled = kernels::small_step_enabled();
  const kernels::SmallStepKernels<T> k = kernels::small_step_kernels<T>();
  c.vector_isa = static_cast<bool>(k);
  c.dense_elementwise = true;
  c.widths.push_back(net.n_inputs());
  for (Index l = 0; l < net.num_layers(); ++l) {
    const Layer<T>& layer = net.layer(l);
    const Activation<T>* act = layer.activation();
    if (layer.kind() != "dense" || layer.has_penalty() || act == nullptr || !act->elementwise())
      c.dense_elementwise = false;
    c.widths.push_back(layer.n_out());
  }
  if (!kernels::use_small_step(c)) return nullptr;
  return std::make_unique<SmallStep<T>>(net, rows, k);
}

template <class T>
SmallStep<T>::SmallStep(Network<T>& net, Index rows, kernels::SmallStepKernels<T> kernels)
    : net_(net), k_(kernels) {
  constexpr Index V = kernels::small_step_lanes<T>;
  mp_ = (rows + V - 1) / V * V;
  Index widest = 0;
  for (Index l = 0; l < net.num_layers(); ++l) {
    Dense<T>& d = net.dense(l);
    LayerState s{&d, d.activation(), d.n_in(), d.n_out(), {}, {}, {}};
    s.ZT.resize(s.n_out, mp_);
    s.HT.resize(s.n_out, mp_);
    s.dZT.resize(s.n_out, mp_);
    widest = std::max(widest, s.n_out);
    layers_.push_back(std::move(s));
  }
  XT_.resize(net.n_inputs(), mp_);
  dHT_.resize(widest, mp_);
  dZrows_.resize(mp_, widest);
  const Index nL = net.n_outputs();
  if (nL > 1) {
    Zo_.resize(mp_, nL);  // k_.untranspose writes the padding rows too
    Ho_.resize(mp_, nL);
    dZo_.resize(rows, nL);
  }
  dHo_.resize(rows, nL);
}

// X (m, n0), Y (m, nL) -> [dW; db] of every layer; the loss
template <class T>
double SmallStep<T>::gradients(ConstView<T> X, ConstView<T> Y) {
  // rows padded to whole tiles: the row stride of every transposed block in this step
  constexpr Index V = kernels::small_step_lanes<T>;
  const Index m = X.rows, mp = (m + V - 1) / V * V;
  const Index L = static_cast<Index>(layers_.size());
  // forward: ZT = W.T @ HT_prev + b, HT = act(ZT), layer by layer on the whole batch
  transpose_padded(m, X.cols, X.data, mp, XT_.data());
  const T* HT_prev = XT_.data();
  for (LayerState& s : layers_) {
    k_.affine(s.n_in, s.n_out, mp, s.dense->W().data, HT_prev, s.ZT.data());
    s.act->forward(ConstView<T>(s.ZT.data(), s.n_out, mp), MatrixView<T>(s.HT.data(), s.n_out, mp));
    HT_prev = s.HT.data();
  }
  // the loss and dZ[L] through the loss interface, on the (m, nL) row-major output
  LayerState& top = layers_.back();
  const Index nL = top.n_out;
  ConstView<T> Z, H;
  MatrixView<T> dZ;
  if (nL == 1) {  // (1, mp) transposed is (m, 1) row-major
    Z = ConstView<T>(top.ZT.data(), m, 1);
    H = ConstView<T>(top.HT.data(), m, 1);
    dZ = MatrixView<T>(top.dZT.data(), m, 1);
  } else {
    Zo_.resize(mp, nL);
    Ho_.resize(mp, nL);
    dZo_.resize(m, nL);
    k_.untranspose(nL, mp, top.ZT.data(), Zo_.data());  // (mp, nL): the first m rows are Z
    k_.untranspose(nL, mp, top.HT.data(), Ho_.data());
    Z = ConstView<T>(Zo_.data(), m, nL);
    H = ConstView<T>(Ho_.data(), m, nL);
    dZ = dZo_.view();
  }
  output_ = H;
  const Loss<T>& loss = net_.loss();
  const double value = loss.value(Z, H, Y);
  dHo_.resize(m, nL);
  loss.output_delta(*top.act, Z, H, Y, dHo_.view(), dZ);
  if (nL == 1) {
    zero_padding(1, m, mp, top.dZT.data());
  } else {
    transpose_padded(m, nL, dZo_.data(), mp, top.dZT.data());
  }
  // backward: [dW; db] = [H_prev 1].T @ dZ / m, dH_prev = dZ @ W.T (W before any update),
  // dZ_prev = dH_prev * act'(Z_prev)
  const T inv_m = T(1) / static_cast<T>(m);
  // the batch's two parts (kernels::small_step_split), their sums over rows apart, then added
  const Index split = kernels::small_step_split(mp / V) * V;
  for (Index l = L - 1; l >= 0; --l) {
    LayerState& s = layers_[static_cast<std::size_t>(l)];
    const T* H_below = l > 0 ? layers_[static_cast<std::size_t>(l - 1)].HT.data() : XT_.data();
    if (kernels::small_step_grads_by_rows(s.n_out, kernels::small_step_lanes<T>)) {
      // vectors across the outputs: dZ row-major, each sum over the rows in order
      k_.untranspose(s.n_out, mp, s.dZT.data(), dZrows_.data());
      k_.weight_grads_rows(s.n_in, s.n_out, m, mp, std::min(split, m), inv_m, H_below,
                           dZrows_.data(), s.dense->dWb().data);
    } else {
      k_.weight_grads(s.n_in, s.n_out, mp, split, inv_m, H_below, s.dZT.data(),
                      s.dense->dWb().data);
    }
    if (l > 0) {
      LayerState& below = layers_[static_cast<std::size_t>(l - 1)];
      k_.backprop(s.n_in, s.n_out, mp, s.dense->W().data, s.dZT.data(), dHT_.data());
      below.act->backward(ConstView<T>(below.ZT.data(), below.n_out, mp),
                          ConstView<T>(below.HT.data(), below.n_out, mp),
                          ConstView<T>(dHT_.data(), below.n_out, mp),
                          MatrixView<T>(below.dZT.data(), below.n_out, mp));
      zero_padding(below.n_out, m, mp, below.dZT.data());
    }
  }
  return value;
}

template class SmallStep<float>;
template class SmallStep<double>;

}  // namespace chainrule
