#include "chainrule/training/small_step.hpp"

#include <algorithm>
#include <exception>
#include <stdexcept>
#include <string>

#include "../kernels/shape_policy.hpp"
#include "chainrule/kernels/cpu.hpp"
#include "chainrule/kernels/elementwise.hpp"
#include "chainrule/kernels/thread_pool.hpp"

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
  const Index tiles = (rows + V - 1) / V;
  mp_ = tiles * V;
  std::vector<Index> widths{net.n_inputs()};
  for (Index l = 0; l < net.num_layers(); ++l) {
    Dense<T>& d = net.dense(l);
    layers_.push_back(LayerState{&d, d.activation(), d.n_in(), d.n_out()});
    widths.push_back(d.n_out());
  }
  row_work_ = kernels::small_step_work(widths, 1);
  allocate(whole_, tiles, false);
  // a call of up to `rows` rows: part 0 takes at most small_step_split(tiles) tiles, part 1
  // at most the rest; buffers only where the parts may run on two threads
  const Index first = kernels::small_step_split(tiles);
  if (kernels::small_step_concurrent(2, tiles, row_work_ * mp_)) {
    allocate(parts_[0], first, true);
    allocate(parts_[1], tiles - first, true);
  }
  const Index nL = net.n_outputs();
  Zo_.resize(mp_, nL);  // k_.untranspose writes each part's padding rows too
  Ho_.resize(mp_, nL);
  // the parameter tensors (each dense layer's W, then b) as ranges of the layers' [dW; db];
  // thread 0 updates the first half of their elements (rounded to whole 64-byte lines), 1 the
  // rest
  const std::vector<Parameter<T>>& params = net.parameters();
  Index start = 0;
  for (std::size_t k = 0; k < params.size(); ++k) {
    const MatrixView<T>& g = params[k].grad;
    const auto holds = [&](const LayerState& l) {  // g within l's [dW; db]
      const MatrixView<T> dWb = l.dense->dWb();
      return g.data >= dWb.data && g.data + g.size() <= dWb.data + dWb.size();
    };
    const auto it = std::find_if(layers_.begin(), layers_.end(), holds);
    if (it == layers_.end())
      throw std::logic_error("SmallStep: " + params[k].name +
                             " is not in a dense layer's [dW; db]");
    slots_.push_back(Slot{static_cast<Index>(k), g.size(), static_cast<Index>(it - layers_.begin()),
                          static_cast<Index>(g.data - it->dense->dWb().data), start});
    start += g.size();
  }
  constexpr Index line = 64 / static_cast<Index>(sizeof(T));
  n_params_ = start;
  split_ = std::min(start, (start / 2 + line - 1) / line * line);
  split_update_ = kernels::small_step_split_update(start * static_cast<Index>(sizeof(T)));
}

template <class T>
void SmallStep<T>::allocate(Part& p, Index tiles, bool own_sums) {
  const Index cap = tiles * kernels::small_step_lanes<T>;
  Index widest = 0;
  p.XT.resize(net_.n_inputs(), cap);
  for (const LayerState& l : layers_) {
    p.ZT.emplace_back(l.n_out, cap);
    p.HT.emplace_back(l.n_out, cap);
    p.dZT.emplace_back(l.n_out, cap);
    if (own_sums) p.dWb.emplace_back(l.n_in + 1, l.n_out);
    widest = std::max(widest, l.n_out);
  }
  p.dHT.resize(widest, cap);
  p.dZrows.resize(cap, widest);
  p.dHo.resize(cap, net_.n_outputs());
  p.dZo.resize(cap, net_.n_outputs());
}

// Part p: rows [p.row0, p.row0 + p.rows) of X and Y; the top layer's Z and H into its rows of
// Zo_, Ho_; [dW; db] * scale into the part's own sums (a part of two threads) or, for the
// whole batch, the network's gradients
template <class T>
void SmallStep<T>::run_part(Part& p, ConstView<T> X, ConstView<T> Y, T scale, Index split) {
  const Index m = p.rows, mp = p.mp;
  const bool own_sums = !p.dWb.empty();  // a part of two threads, not the whole batch
  const Index L = static_cast<Index>(layers_.size());
  const ConstView<T> Xp = X.row_range(p.row0, m), Yp = Y.row_range(p.row0, m);
  // forward: ZT = W.T @ HT_prev + b, HT = act(ZT), layer by layer on the part's rows
  transpose_padded(m, Xp.cols, Xp.data, mp, p.XT.data());
  const T* HT_prev = p.XT.data();
  for (Index l = 0; l < L; ++l) {
    const LayerState& s = layers_[static_cast<std::size_t>(l)];
    T* ZT = p.ZT[static_cast<std::size_t>(l)].data();
    T* HT = p.HT[static_cast<std::size_t>(l)].data();
    k_.affine(s.n_in, s.n_out, mp, s.dense->W().data, HT_prev, ZT);
    s.act->forward(ConstView<T>(ZT, s.n_out, mp), MatrixView<T>(HT, s.n_out, mp));
    HT_prev = HT;
  }
  // dZ[L] through the loss interface, on the part's (m, nL) row-major output rows
  const LayerState& top = layers_.back();
  const Index nL = top.n_out;
  T* top_dZT = p.dZT.back().data();
  const T* Zo = p.ZT.back().data();  // nL == 1: (1, mp) transposed is (m, 1) row-major
  const T* Ho = p.HT.back().data();
  if (nL > 1 || own_sums) {  // into this part's rows of the whole batch's output
    T* Z_rows = Zo_.data() + p.row0 * nL;
    T* H_rows = Ho_.data() + p.row0 * nL;
    if (nL > 1) {
      k_.untranspose(nL, mp, Zo, Z_rows);  // (mp, nL): the first m rows are Z
      k_.untranspose(nL, mp, Ho, H_rows);
    } else {
      std::copy(Zo, Zo + m, Z_rows);
      std::copy(Ho, Ho + m, H_rows);
    }
    Zo = Z_rows;
    Ho = H_rows;
  }
  const ConstView<T> Z(Zo, m, nL), H(Ho, m, nL);
  // (m, 1) row-major is the (1, mp) row of dZT: written in place
  const MatrixView<T> dZ =
      nL == 1 ? MatrixView<T>(top_dZT, m, 1) : MatrixView<T>(p.dZo.data(), m, nL);
  net_.loss().output_delta(*top.act, Z, H, Yp, MatrixView<T>(p.dHo.data(), m, nL), dZ);
  if (nL == 1) {
    zero_padding(1, m, mp, top_dZT);
  } else {
    transpose_padded(m, nL, p.dZo.data(), mp, top_dZT);
  }
  // backward: [dW; db] = [H_prev 1].T @ dZ * scale, dH_prev = dZ @ W.T (W before any update),
  // dZ_prev = dH_prev * act'(Z_prev)
  for (Index l = L - 1; l >= 0; --l) {
    const std::size_t u = static_cast<std::size_t>(l);
    const LayerState& s = layers_[u];
    const T* H_below = l > 0 ? p.HT[u - 1].data() : p.XT.data();
    const T* dZT = p.dZT[u].data();
    T* dWb = own_sums ? p.dWb[u].data() : s.dense->dWb().data;
    if (kernels::small_step_grads_by_rows(s.n_out, kernels::small_step_lanes<T>)) {
      // vectors across the outputs: dZ row-major, each sum over the rows in order
      k_.untranspose(s.n_out, mp, dZT, p.dZrows.data());
      k_.weight_grads_rows(s.n_in, s.n_out, m, mp, std::min(split, m), scale, H_below,
                           p.dZrows.data(), dWb);
    } else {
      k_.weight_grads(s.n_in, s.n_out, mp, std::min(split, mp), scale, H_below, dZT, dWb);
    }
    if (l > 0) {
      const LayerState& below = layers_[u - 1];
      k_.backprop(s.n_in, s.n_out, mp, s.dense->W().data, dZT, p.dHT.data());
      below.act->backward(ConstView<T>(p.ZT[u - 1].data(), below.n_out, mp),
                          ConstView<T>(p.HT[u - 1].data(), below.n_out, mp),
                          ConstView<T>(p.dHT.data(), below.n_out, mp),
                          MatrixView<T>(p.dZT[u - 1].data(), below.n_out, mp));
      zero_padding(below.n_out, m, mp, p.dZT[u - 1].data());
    }
  }
}

// X (m, n0), Y (m, nL) -> [dW; db] of every layer; the loss
template <class T>
double SmallStep<T>::gradients(ConstView<T> X, ConstView<T> Y) {
  constexpr Index V = kernels::small_step_lanes<T>;
  const Index m = X.rows, tiles = (m + V - 1) / V;
  const Index first = kernels::small_step_split(tiles);
  inv_m_ = T(1) / static_cast<T>(m);
  parts_pending_ = false;
  bool on_parts = false;
  const auto run = [&](bool two_threads) {
    on_parts = two_threads;
    if (!two_threads) {
      // one thread, the whole batch: the parts' sums apart inside the kernels
      whole_.row0 = 0;
      whole_.rows = m;
      whole_.mp = tiles * V;
      run_part(whole_, X, Y, inv_m_, first * V);
      return;
    }
    // two threads, a part each, each with its own sums; then [dW; db] = (part 0 + part 1) / m
    Part& p0 = parts_[0];
    Part& p1 = parts_[1];
    p0.row0 = 0;
    p0.rows = p0.mp = first * V;
    p1.row0 = p0.rows;
    p1.rows = m - p0.rows;
    p1.mp = (tiles - first) * V;
    on_two_threads([&](std::ptrdiff_t s) { run_part(parts_[s], X, Y, T(1), parts_[s].mp); });
    if (split_update_)
      parts_pending_ = true;  // update() adds the parts' sums, a part on each thread
    else
      add_parts(0, n_params_, false, T(0));
  };
  // two threads where they may repay the hand-off, if the first steps' timing says they do
  if (kernels::small_step_concurrent(kernels::get_num_threads(), tiles, row_work_ * tiles * V))
    threads_choice_.run(run);
  else
    run(false);
  // the loss on the whole batch's (m, nL) output, as one call would see it
  const Index nL = layers_.back().n_out;
  const bool in_place = nL == 1 && !on_parts;  // the whole batch's top row
  const ConstView<T> Z(in_place ? whole_.ZT.back().data() : Zo_.data(), m, nL);
  output_ = ConstView<T>(in_place ? whole_.HT.back().data() : Ho_.data(), m, nL);
  return net_.loss().value(Z, output_, Y);
}

template <class T>
template <class F>
void SmallStep<T>::on_two_threads(F&& f) {
  std::exception_ptr failed[2];
  kernels::parallel_for(
      2,
      [&](std::ptrdiff_t s) {
        try {
          f(s);
        } catch (...) {
          failed[s] = std::current_exception();
        }
      },
      /*pinned=*/true);
  for (const std::exception_ptr& e : failed)
    if (e) std::rethrow_exception(e);
}

template <class T>
void SmallStep<T>::update(T lr) {
  if (!parts_pending_) {
    if (net_.optimizer().fuses_into_backward()) {
      // p -= lr g without state (the capability's contract): each layer's [W; b] in one
      // pass over its [dW; db], the bits of the optimizer's own update, which goes through its
      // slots one at a time (W1's 2-10-8-5-1 step: 60 ns this way, 150 ns through the slots)
      net_.optimizer().begin_step();
      for (const LayerState& l : layers_) {
        const MatrixView<T> Wb = l.dense->Wb();
        kernels::axpy_update_block(1, Wb.size(), lr, l.dense->dWb().data, 0, Wb.data, 0);
      }
      return;
    }
    net_.apply_update(lr);
    return;
  }
  parts_pending_ = false;
  net_.optimizer().begin_step();
  on_two_threads([&](std::ptrdiff_t s) {
    add_parts(s == 0 ? 0 : split_, s == 0 ? split_ : n_params_, true, lr);
  });
}

// elements [begin, end) of the slots in order: of each slot, its two parts' sums added into
// the network's gradient; with `update`, then the optimizer's update of those elements
template <class T>
void SmallStep<T>::add_parts(Index begin, Index end, bool update, T lr) {
  const std::vector<Parameter<T>>& params = net_.parameters();
  for (const Slot& k : slots_) {
    const Index b = std::clamp(begin - k.start, Index(0), k.size);
    const Index e = std::clamp(end - k.start, Index(0), k.size);
    if (b == e) continue;
    const std::size_t l = static_cast<std::size_t>(k.layer);
    const T* a0 = parts_[0].dWb[l].data() + k.offset;
    const T* a1 = parts_[1].dWb[l].data() + k.offset;
    const Parameter<T>& p = params[static_cast<std::size_t>(k.index)];
    T* g = p.grad.data;
    for (Index i = b; i < e; ++i) g[i] = (a0[i] + a1[i]) * inv_m_;  // (part 0 + part 1) / m
    if (update) net_.optimizer().update_range(k.index, k.size, lr, g, p.value.data, b, e);
  }
}

template class SmallStep<float>;
template class SmallStep<double>;

}  // namespace chainrule
