// Network<T>'s side of training steps: the optimizer and its state, the update (from the
// last backward pass or from given gradients, clipped when asked), the penalties' terms, and
// the copies of parameters and buffers that the divergence rollback restores.
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "chainrule/error.hpp"
#include "chainrule/kernels/elementwise.hpp"
#include "chainrule/network.hpp"

namespace chainrule {

template <class T>
double Network<T>::penalty() const {
  if (!has_penalties_) return 0;
  double sum = 0;
  for (const auto& layer : layers_) sum += layer->penalty();
  return sum;
}

template <class T>
void Network<T>::add_penalty_gradients() {
  if (!has_penalties_) return;
  for (auto& layer : layers_) layer->add_penalty_gradient();
}

template <class T>
std::vector<Index> Network<T>::slot_sizes() const {
  std::vector<Index> sizes;
  for (const auto& p : parameters()) sizes.push_back(p.value.size());
  return sizes;
}

template <class T>
void Network<T>::set_optimizer_state(
    Index steps, const std::vector<std::pair<std::string, std::vector<ConstView<T>>>>& buffers) {
  const std::vector<Parameter<T>>& params = parameters();
  for (const auto& [name, arrays] : buffers) {
    for (std::size_t s = 0; s < arrays.size() && s < params.size(); ++s) {
      const Parameter<T>& p = params[s];
      const ConstView<T>& a = arrays[s];
      const bool ok = p.vector ? a.rows == 1 && a.cols == p.value.size()
                               : a.rows == p.value.rows && a.cols == p.value.cols;
      if (!ok)
        throw ValueError(
            "set_optimizer_state: '" + name + "' of " + p.name + " must have shape " +
            (p.vector ? "(" + std::to_string(p.value.size()) + ",)" : shape_str(p.value)) +
            ", got " +
            (a.rows == 1 && p.vector ? "(" + std::to_string(a.cols) + ",)" : shape_str(a)));
    }
  }
  optimizer_->set_state(steps, buffers);
}

template <class T>
void Network<T>::set_optimizer(std::unique_ptr<Optimizer<T>> optimizer) {
  if (!optimizer) throw ValueError("set_optimizer: no optimizer");
  optimizer->prepare(slot_sizes());
  optimizer_ = std::move(optimizer);
}

template <class T>
void Network<T>::step(double lr, const GradientClipping& clip) {
  check_lr(lr);
  clip.check();
  if (!grads_ready_)
    throw ValueError(
        "step: no gradients to apply: compute them first (gradients(X, Y), or forward(X) then "
        "backward(Y)), or pass them to step(grads); a fit after the last backward pass does "
        "not keep its gradients");
  // (as step(grads) refuses given ones: applied, they would make the parameters and the
  // optimizer's state NaN, a model no file could hold)
  for (const Parameter<T>& p : parameters())
    if (kernels::first_non_finite(p.grad.size(), p.grad.data) >= 0)
      throw ValueError("step: the gradient of " + p.name +
                       " contains NaN or inf (the last backward pass's; step(grads) refuses "
                       "such gradients too)");
  clip_gradients(clip);
  apply_update(static_cast<T>(lr));
  forward_rows_ = -1;  // the kept forward pass was of the parameters before the step
}

template <class T>
void Network<T>::apply_update(T lr) {
  optimizer_->begin_step();
  Index slot = 0;
  for (const Parameter<T>& p : parameters()) {
    // plain SGD: W -= lr dW ; b -= lr db
    optimizer_->update(slot++, p.value.size(), lr, p.grad.data, p.value.data);
  }
}

template <class T>
void Network<T>::step(const std::vector<ConstView<T>>& dW, const std::vector<ConstView<T>>& db,
                      double lr, const GradientClipping& clip) {
  check_lr(lr);
  clip.check();
  if (static_cast<Index>(dW.size()) != num_layers() ||
      static_cast<Index>(db.size()) != num_layers())
    throw ValueError("step: expected gradients for " + std::to_string(num_layers()) +
                     " layers, got " + std::to_string(dW.size()) + " dW and " +
                     std::to_string(db.size()) + " db");
  for (Index l = 0; l < num_layers(); ++l) {
    const Dense<T>& layer = dense(l);
    const auto& w = dW[static_cast<std::size_t>(l)];
    const auto& b = db[static_cast<std::size_t>(l)];
    const std::string name = "step: layer " + std::to_string(l + 1);
    if (w.rows != layer.n_in() || w.cols != layer.n_out())
      throw ValueError(name + " dW must have shape " + shape_str(layer.W()) + ", got " +
                       shape_str(w));
    if (b.size() != layer.n_out())
      throw ValueError(name + " db must have " + std::to_string(layer.n_out()) + " elements, got " +
                       std::to_string(b.size()));
    if (kernels::first_non_finite(w.size(), w.data) >= 0 ||
        kernels::first_non_finite(b.size(), b.data) >= 0)
      throw ValueError(name + " gradients contain NaN or inf");
  }
  std::vector<ConstView<T>> grads;  // one per parameter: W1, b1, W2, b2, ...
  for (Index l = 0; l < num_layers(); ++l) {
    grads.push_back(dW[static_cast<std::size_t>(l)]);
    grads.push_back(db[static_cast<std::size_t>(l)]);
  }
  step(grads, lr, clip);
}

template <class T>
void Network<T>::step(const std::vector<ConstView<T>>& grads, double lr,
                      const GradientClipping& clip) {
  check_lr(lr);
  clip.check();
  const std::vector<Parameter<T>>& params = parameters();
  if (grads.size() != params.size())
    throw ValueError("step: expected " + std::to_string(params.size()) +
                     " gradients (one per parameter), got " + std::to_string(grads.size()));
  for (std::size_t k = 0; k < params.size(); ++k) {
    const Parameter<T>& p = params[k];
    const ConstView<T>& g = grads[k];
    const bool ok =
        p.vector ? g.size() == p.value.size() : g.rows == p.value.rows && g.cols == p.value.cols;
    if (!ok)
      throw ValueError(
          "step: the gradient of " + p.name + " must have shape " +
          (p.vector ? "(" + std::to_string(p.value.size()) + ",)" : shape_str(p.value)) + ", got " +
          shape_str(g));
    if (kernels::first_non_finite(g.size(), g.data) >= 0)
      throw ValueError("step: the gradient of " + p.name + " contains NaN or inf");
  }
  // each parameter's gradient: as given, or with clipping a clipped copy of them all
  std::vector<const T*> g;
  Matrix<T> copy;
  if (clip.active()) copy.resize(1, n_grads_);
  T* to = copy.data();
  for (const ConstView<T>& v : grads) {
    g.push_back(clip.active() ? to : v.data);
    if (clip.active()) to = std::copy(v.data, v.data + v.size(), to);
  }
  if (clip.active()) chainrule::clip_gradients(copy.data(), n_grads_, clip);
  const T lr_t = static_cast<T>(lr);
  optimizer_->begin_step();
  for (std::size_t k = 0; k < params.size(); ++k)
    optimizer_->update(static_cast<Index>(k), params[k].value.size(), lr_t, g[k],
                       params[k].value.data);
  forward_rows_ = -1;  // the kept forward pass was of the parameters before the step
}

template <class T>
void Network<T>::copy_params(std::vector<Matrix<T>>& to) const {
  // every parameter, then every buffer (running statistics follow the weights they belong to)
  const std::vector<Parameter<T>>& params = parameters();
  to.resize(params.size() + buffers_.size());
  for (std::size_t k = 0; k < to.size(); ++k) {
    const MatrixView<T>& p =
        k < params.size() ? params[k].value : buffers_[k - params.size()].value;
    to[k].resize(p.rows, p.cols);
    std::copy(p.data, p.data + p.size(), to[k].data());
  }
}

template <class T>
void Network<T>::restore_params(const std::vector<Matrix<T>>& from) {
  const std::vector<Parameter<T>>& params = parameters();
  for (std::size_t k = 0; k < from.size(); ++k) {
    T* p = k < params.size() ? params[k].value.data : buffers_[k - params.size()].value.data;
    std::copy(from[k].data(), from[k].data() + from[k].size(), p);
  }
}

template <class T>
void Network<T>::save_rollback() {
  copy_params(rollback_);
  optimizer_->save_snapshot();
  rollback_pass_ = context_.pass;
}

template <class T>
void Network<T>::rollback() {
  restore_params(rollback_);
  optimizer_->restore_snapshot();
  context_.pass = rollback_pass_;
}

template <class T>
bool Network<T>::params_finite() const {
  for (const auto* list : {&params_, &buffers_})
    for (const Parameter<T>& p : *list)
      if (kernels::first_non_finite(p.value.size(), p.value.data) >= 0) return false;
  return true;
}

template <class T>
void Network<T>::zero_gradients() {
  std::fill(grad_data_, grad_data_ + n_grads_, T(0));
}

template <class T>
void Network<T>::divide_gradients(T w) {
  for (Index i = 0; i < n_grads_; ++i) grad_data_[i] /= w;  // dW = sum_i w_i dW_i / sum_i w_i
}

template <class T>
void Network<T>::clip_gradients(const GradientClipping& clip) {
  if (clip.active()) chainrule::clip_gradients(grad_data_, n_grads_, clip);
}

#define CHAINRULE_NETWORK_UPDATE(T)                                                  \
  template double Network<T>::penalty() const;                                       \
  template void Network<T>::add_penalty_gradients();                                 \
  template std::vector<Index> Network<T>::slot_sizes() const;                        \
  template void Network<T>::set_optimizer_state(                                     \
      Index, const std::vector<std::pair<std::string, std::vector<ConstView<T>>>>&); \
  template void Network<T>::set_optimizer(std::unique_ptr<Optimizer<T>>);            \
  template void Network<T>::step(double, const GradientClipping&);                   \
  template void Network<T>::step(const std::vector<ConstView<T>>&,                   \
                                 const std::vector<ConstView<T>>&, double,           \
                                 const GradientClipping&);                           \
  template void Network<T>::step(const std::vector<ConstView<T>>&, double,           \
                                 const GradientClipping&);                           \
  template void Network<T>::apply_update(T);                                         \
  template void Network<T>::copy_params(std::vector<Matrix<T>>&) const;              \
  template void Network<T>::restore_params(const std::vector<Matrix<T>>&);           \
  template void Network<T>::save_rollback();                                         \
  template void Network<T>::rollback();                                              \
  template bool Network<T>::params_finite() const;                                   \
  template void Network<T>::zero_gradients();                                        \
  template void Network<T>::divide_gradients(T);                                     \
  template void Network<T>::clip_gradients(const GradientClipping&);

CHAINRULE_NETWORK_UPDATE(float)
CHAINRULE_NETWORK_UPDATE(double)
#undef CHAINRULE_NETWORK_UPDATE

}  // namespace chainrule
