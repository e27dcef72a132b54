#include "chainrule/network.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <exception>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "chainrule/error.hpp"
#include "chainrule/kernels/elementwise.hpp"

namespace chainrule {

void check_lr(double lr) {
  if (!(std::isfinite(lr) && lr > 0))
    throw ValueError("lr must be a finite number > 0, got " + shortest_repr(lr));
}

namespace {

std::string listed_sizes(const std::vector<Index>& sizes) {  // layer_sizes as written: [2, 10, 1]
  std::string listed = "[";
  for (std::size_t l = 0; l < sizes.size(); ++l)
    listed += (l ? ", " : "") + std::to_string(sizes[l]);
  return listed + "]";
}

// sizes + activations -> one dense layer spec per layer, after checking sizes and counts
template <class T>
std::vector<LayerSpec<T>> dense_specs(const std::vector<Index>& sizes,
                                      std::vector<std::unique_ptr<Activation<T>>> activations) {
  for (std::size_t l = 0; l < sizes.size(); ++l)
    if (sizes[l] < 1)
      throw ValueError(
          (l == 0 ? std::string("the input size") : "the size of layer " + std::to_string(l)) +
          " must be >= 1, got " + std::to_string(sizes[l]));
  if (sizes.size() < 2)
    throw ValueError("layer_sizes needs at least an input and an output size, got " +
                     listed_sizes(sizes));
  const std::size_t L = sizes.size() - 1;
  if (activations.size() != L)
    throw ValueError("got " + std::to_string(activations.size()) + " activations for " +
                     std::to_string(L) + " layers (layer_sizes " + listed_sizes(sizes) + " has " +
                     std::to_string(L) + " layers after the input)");
  std::vector<LayerSpec<T>> specs(L);
  for (std::size_t l = 0; l < L; ++l) {
    if (!activations[l]) throw ValueError("layer " + std::to_string(l + 1) + ": no activation");
    specs[l].kind = "dense";
    specs[l].params = {{"units", static_cast<double>(sizes[l + 1])}};
    specs[l].activation = std::move(activations[l]);
  }
  return specs;
}

}  // namespace

template <class T>
Network<T>::Network(const std::vector<Index>& sizes,
                    std::vector<std::unique_ptr<Activation<T>>> activations,
                    std::unique_ptr<Loss<T>> loss, std::unique_ptr<Optimizer<T>> optimizer)
    : Network(sizes.empty() ? 0 : sizes[0], dense_specs(sizes, std::move(activations)),
              std::move(loss), std::move(optimizer)) {}

template <class T>
Network<T>::Network(Index n_inputs, std::vector<LayerSpec<T>> layers, std::unique_ptr<Loss<T>> loss,
                    std::unique_ptr<Optimizer<T>> optimizer)
    : loss_(std::move(loss)), optimizer_(std::move(optimizer)) {
  if (n_inputs < 1)
    throw ValueError("the input size must be >= 1, got " + std::to_string(n_inputs));
  if (layers.empty()) throw ValueError("a network needs at least one layer after the input");
  if (!loss_) throw ValueError("no loss");
  if (!optimizer_) throw ValueError("no optimizer");
  layers_.reserve(layers.size());
  Index n_in = n_inputs;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    layers_.push_back(make_layer<T>(std::move(layers[l]), static_cast<Index>(l + 1), n_in));
    n_in = layers_.back()->n_out();
  }
  const Layer<T>& last = *layers_.back();
  if (last.activation() == nullptr)
    throw ValueError("layer " + std::to_string(last.index()) +
                     ": the last layer must end with an "
                     "activation (a dense layer) for the loss to follow, got " +
                     last.repr());
  loss_->check_output_activation(*last.activation());
  finish_construction();
}

template <class T>
void Network<T>::finish_construction() {
  // one contiguous gradient buffer: [dW1; db1], [dW2; db2], ...
  for (const auto& layer : layers_) {
    n_grads_ += layer->gradient_size();
    has_penalties_ = has_penalties_ || layer->has_penalty();
    const Activation<T>* act = layer->activation();
    has_external_activations_ = has_external_activations_ || (act && !act->registered());
  }
  grads_.resize(1, n_grads_);
  use_gradient_storage(nullptr);
  optimizer_->prepare(slot_sizes());
}

template <class T>
void Network<T>::use_gradient_storage(T* storage) {
  grad_data_ = storage != nullptr ? storage : grads_.data();
  grads_ready_ = false;
  Index offset = 0;
  for (auto& layer : layers_) {
    layer->use_gradient_storage(grad_data_ + offset);
    offset += layer->gradient_size();
  }
  collect_parameters();  // the gradient views moved
}

template <class T>
Dense<T>& Network<T>::dense(Index l) {
  auto* d = dynamic_cast<Dense<T>*>(&layer(l));
  if (d == nullptr)
    throw TypeError("layer " + std::to_string(l + 1) + " is a " + layer(l).kind() +
                    " layer, not a dense one");
  return *d;
}

template <class T>
void Network<T>::collect_parameters() {
  params_.clear();
  buffers_.clear();
  for (auto& layer : layers_) {
    for (auto& p : layer->parameters()) {
      p.name += std::to_string(layer->index());
      params_.push_back(std::move(p));
    }
    for (auto& b : layer->buffers()) {
      b.name += std::to_string(layer->index());
      buffers_.push_back(std::move(b));
    }
  }
}

template <class T>
void Network<T>::set_random_state(std::uint64_t seed, std::uint64_t passes) {
  context_.seed = seed;
  context_.pass = passes;
}

template <class T>
void Network<T>::begin_training_pass(bool update_statistics, const Index* row_ids,
                                     const SumAcrossFn* sum_across, Index global_rows) {
  context_.training = true;
  context_.update_statistics = update_statistics;
  context_.row_ids = row_ids;
  context_.sum_across = sum_across;
  context_.global_rows = global_rows;
  ++context_.pass;
}

template <class T>
Network<T>::PassUndo::PassUndo(Network& net)
    : net_(net), passes_(net.context_.pass), exceptions_(std::uncaught_exceptions()) {
  std::vector<T>& copy = net.undo_buffers_;  // (sized once: the buffers' sizes are fixed)
  copy.clear();
  for (const Parameter<T>& b : net.buffers_)
    copy.insert(copy.end(), b.value.data, b.value.data + b.value.size());
}

template <class T>
Network<T>::PassUndo::~PassUndo() {
  if (kept_ || std::uncaught_exceptions() <= exceptions_) return;
  net_.context_.pass = passes_;
  const T* from = net_.undo_buffers_.data();
  for (const Parameter<T>& b : net_.buffers_) {
    std::copy(from, from + b.value.size(), b.value.data);
    from += b.value.size();
  }
}

template <class T>
bool Network<T>::has_training_behaviour() const {
  for (const auto& layer : layers_)
    if (layer->has_training_behaviour()) return true;
  return false;
}

template <class T>
bool Network<T>::uses_batch_statistics() const {
  for (const auto& layer : layers_)
    if (layer->uses_batch_statistics()) return true;
  return false;
}

template <class T>
Index Network<T>::min_training_rows() const {
  Index rows = 1;
  for (const auto& layer : layers_) rows = std::max(rows, layer->min_training_rows());
  return rows;
}

template <class T>
void Network<T>::check_X(ConstView<T> X, const char* what) const {
  if (X.rows < 1) throw ValueError(std::string(what) + ": X has no rows");
  if (X.cols != n_inputs())
    throw ValueError(std::string(what) + ": layer 1 expects " + std::to_string(n_inputs()) +
                     " input features, got X with shape " + shape_str(X));
  const Index bad = kernels::first_non_finite(X.size(), X.data);
  if (bad >= 0)
    throw ValueError(std::string(what) + ": X contains a non-finite value (" +
                     shortest_repr(static_cast<double>(X.data[bad])) + ") at row " +
                     std::to_string(bad / X.cols) + ", column " + std::to_string(bad % X.cols) +
                     float32_inf_note(X.data[bad]));
}

template <class T>
void Network<T>::check_XY(ConstView<T> X, ConstView<T> Y, const char* what) const {
  check_X(X, what);
  if (Y.rows != X.rows)
    throw ValueError(std::string(what) + ": X has " + std::to_string(X.rows) + " rows but Y has " +
                     std::to_string(Y.rows));
  if (Y.cols != n_outputs())
    throw ValueError(std::string(what) + ": layer " + std::to_string(num_layers()) + " outputs " +
                     std::to_string(n_outputs()) + " columns, got Y with shape " + shape_str(Y));
  const Index bad = kernels::first_non_finite(Y.size(), Y.data);
  if (bad >= 0)
    throw ValueError(std::string(what) + ": Y contains a non-finite value (" +
                     shortest_repr(static_cast<double>(Y.data[bad])) + ") at row " +
                     std::to_string(bad / Y.cols) + ", column " + std::to_string(bad % Y.cols) +
                     float32_inf_note(Y.data[bad]));
  loss_->check_targets(Y);
}

// X (m, n0) -> H[L] (m, nL)
template <class T>
ConstView<T> Network<T>::forward_pass(ConstView<T> X) {
  ConstView<T> H = X;
  for (auto& layer : layers_) H = layer->forward(H, context_);
  return H;
}

// Y (m, nL) -> every dZ, dW, db; the forward pass of X must be cached. With sgd_lr > 0 the
// plain SGD update is fused into each layer's dW product (dW, db are then not kept), unless
// the loss is not finite: then nothing is computed and the caller reports the divergence.
template <class T>
double Network<T>::backward_pass(ConstView<T> X, ConstView<T> Y, const T* w, double w_sum, T sgd_lr,
                                 double grad_scale, bool penalties) {
  grads_ready_ = false;  // until a public caller (backward, compute_gradients) says otherwise
  Layer<T>& out = *layers_.back();
  const OutputGradient<T> g = out.output_gradient();  // the output activation's Z, H, dH, dZ
  double value;
  if (w == nullptr) {
    value = loss_->value(g.Z, g.H, Y);
  } else {
    // L = sum(w_i l_i) / sum(w_i)
    double weight = 0;  // (w_sum is given)
    value = pass_loss_sum(Y, w, &weight) / w_sum;
  }
  if (penalties) value += penalty();  // (of the parameters before any update)
  if (sgd_lr > T(0) && !std::isfinite(value)) return value;
  // dZ[L] from the loss (fused or dH[L] = m dL/dYhat through act')
  with_layer_context(out.index(),
                     [&] { loss_->output_delta(*g.activation, g.Z, g.H, Y, g.dH, g.dZ); });
  out.set_delta_ready();
  if (w != nullptr) {
    // weighted mean: row i of dZ[L] *= m w_i / sum(w), so that dW = H.T @ (w dZ) / sum(w)
    MatrixView<T> dZ = g.dZ;
    const double scale = static_cast<double>(Y.rows) / w_sum;
    // a batch whose weights are all subnormal (the others' far larger) overflows m / sum(w):
    // then w_i / sum(w) first
    const bool tiny = !std::isfinite(scale);
    for (Index i = 0; i < dZ.rows; ++i) {
      const double wi = static_cast<double>(w[i]);
      const T c = static_cast<T>(tiny ? wi / w_sum * static_cast<double>(Y.rows) : wi * scale);
      T* row = dZ.row(i);
      for (Index j = 0; j < dZ.cols; ++j) row[j] *= c;
    }
  }
  // dW = H.T @ dZ / m, or grad_scale times that: unweighted, grad_scale = m gives alpha 1
  GradientMode<T> mode;
  mode.sgd_lr = sgd_lr;
  mode.scale = grad_scale > 0 ? static_cast<T>(grad_scale / static_cast<double>(Y.rows)) : T(0);
  mode.penalties = penalties;
  for (Index l = num_layers() - 1; l >= 0; --l) {
    Layer<T>& layer = *layers_[static_cast<std::size_t>(l)];
    if (l > 0) {
      Layer<T>& below = *layers_[static_cast<std::size_t>(l - 1)];
      // dH[l-1] = dZ[l] @ W[l].T (and dZ[l-1]) into the layer below, then dW, db of layer l
      // (and its update)
      layer.backward(below.output(), &below, mode);
    } else {
      layer.backward(X, nullptr, mode);
    }
  }
  return value;
}

// no rows: the layers with batch statistics take part in their sums over the processes
template <class T>
void Network<T>::pass_without_rows() {
  zero_gradients();
  for (auto& layer : layers_)
    if (layer->uses_batch_statistics())
      layer->forward(ConstView<T>(nullptr, 0, layer->n_in()), context_);
  GradientMode<T> mode;
  mode.scale = T(1);  // sums over rows, as the processes with rows compute (all of 0 here)
  mode.penalties = false;
  for (Index l = num_layers() - 1; l >= 0; --l) {
    Layer<T>& layer = *layers_[static_cast<std::size_t>(l)];
    if (layer.uses_batch_statistics())
      layer.backward(ConstView<T>(nullptr, 0, layer.n_in()), nullptr, mode);
  }
}

template <class T>
ConstView<T> Network<T>::forward(ConstView<T> X) {
  check_X(X, "forward");
  forward_rows_ = -1;
  // a refused pass (a 1-row batch for BatchNorm, an extension's error) draws no dropout
  // masks and moves no running statistics: the next pass draws what it would have
  const PassUndo refused(*this);
  begin_training_pass();
  const ConstView<T> Yhat = forward_pass(X);
  input_ = X;
  forward_rows_ = X.rows;
  return Yhat;
}

template <class T>
double Network<T>::backward(ConstView<T> Y) {
  if (forward_rows_ < 0) throw ValueError("backward: call forward(X) first");
  if (Y.rows != forward_rows_)
    throw ValueError("backward: Y has " + std::to_string(Y.rows) +
                     " rows but the last forward pass had " + std::to_string(forward_rows_));
  check_XY(input_, Y, "backward");
  const double value = backward_pass(input_, Y);
  grads_ready_ = true;
  return value;
}

template <class T>
void Network<T>::predict(ConstView<T> X, MatrixView<T> out, const std::function<void()>& poll) {
  check_X(X, "predict");
  if (out.rows != X.rows || out.cols != n_outputs())
    throw ValueError("predict: output must have shape " + shape_str(X.rows, n_outputs()) +
                     ", got " + shape_str(out));
  forward_rows_ = -1;
  begin_inference();
  for (Index r = 0; r < X.rows; r += kPredictChunk) {
    if (r > 0 && poll) poll();
    const Index rows = std::min(kPredictChunk, X.rows - r);
    ConstView<T> Yhat = forward_pass(X.row_range(r, rows));
    std::copy(Yhat.data, Yhat.data + Yhat.size(), out.row(r));
  }
}

template <class T>
double Network<T>::loss_value(ConstView<T> X, ConstView<T> Y) {
  check_XY(X, Y, "loss");
  forward_rows_ = -1;
  begin_inference();
  return loss_of_forward(X, Y);
}

template <class T>
double Network<T>::loss_of_forward(ConstView<T> X, ConstView<T> Y) {
  forward_pass(X);
  const OutputGradient<T> g = layers_.back()->output_gradient();
  return loss_->value(g.Z, g.H, Y) + penalty();
}

template <class T>
double Network<T>::compute_gradients(ConstView<T> X, ConstView<T> Y) {
  check_XY(X, Y, "gradients");
  forward_rows_ = -1;
  const PassUndo refused(*this);  // as forward: a refused pass leaves the network as it was
  begin_training_pass();
  forward_pass(X);
  const double value = backward_pass(X, Y);
  grads_ready_ = true;
  return value;
}

template <class T>
bool Network<T>::overlaps_parameters(const void* begin, const void* end) const {
  const auto lo = reinterpret_cast<std::uintptr_t>(begin);
  const auto hi = reinterpret_cast<std::uintptr_t>(end);
  for (const auto* list : {&params_, &buffers_}) {
    for (const Parameter<T>& p : *list) {
      const auto p_lo = reinterpret_cast<std::uintptr_t>(p.value.data);
      const auto p_hi = p_lo + static_cast<std::uintptr_t>(p.value.size()) * sizeof(T);
      if (lo < p_hi && p_lo < hi) return true;
    }
  }
  return false;
}

template <class T>
void Network<T>::prepare_batches(Index rows, Index weighted_rows) {
  forward_rows_ = -1;  // the caches are about to be overwritten: backward() needs a new forward()
  for (auto& layer : layers_) layer->reserve(rows);
  if (static_cast<std::size_t>(weighted_rows) > row_loss_.size())
    row_loss_.resize(static_cast<std::size_t>(weighted_rows));
}

// Y (m, nL), w (m) -> sum(l_i) or sum(w_i l_i) over the rows of the last forward pass
template <class T>
double Network<T>::pass_loss_sum(ConstView<T> Y, const T* w, double* weight) {
  const OutputGradient<T> out = layers_.back()->output_gradient();
  if (w == nullptr) {
    *weight += static_cast<double>(Y.rows);
    return loss_->value(out.Z, out.H, Y) * static_cast<double>(Y.rows);
  }
  loss_->row_values(out.Z, out.H, Y, row_loss_.data());
  double total = 0;
  for (Index i = 0; i < Y.rows; ++i) {
    total += static_cast<double>(w[i]) * row_loss_[static_cast<std::size_t>(i)];
    *weight += static_cast<double>(w[i]);
  }
  return total;
}

template class Network<float>;
template class Network<double>;

}  // namespace chainrule
