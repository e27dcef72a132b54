// The built-in optimizers, the state setter, and the name -> optimizer factory. Each update
// follows the torch.optim algorithm of the same name (see the class comments); the equation
// sits beside the line that implements it.
#include "chainrule/optimizer.hpp"

#include <algorithm>
#include <cmath>

#include "chainrule/kernels/elementwise.hpp"
#include "chainrule/kernels/vmath.hpp"
#include "chainrule/optimizers/all.hpp"

namespace chainrule {

// ---- the update ---------------------------------------------------------------------------

template <class T>
void Optimizer<T>::check_slot(Index slot, Index n) const {
  if (slot < 0 || slot >= num_slots() || n != sizes_[static_cast<std::size_t>(slot)])
    throw ValueError(repr() + ": update of slot " + std::to_string(slot) + " with " +
                     std::to_string(n) + " elements does not match the prepared sizes");
}

template <class T>
void Optimizer<T>::update(Index slot, Index n, T lr, const T* g, T* p) {
  check_slot(slot, n);
  kernels::parallel_ranges(n, kernels::kParallelGrain,
                           [=](Index b, Index e) { update_range_impl(slot, n, lr, g, p, b, e); });
}

template <class T>
void Optimizer<T>::update_range(Index slot, Index n, T lr, const T* g, T* p, Index b, Index e) {
  check_slot(slot, n);
  if (b < 0 || b > e || e > n)
    throw ValueError(repr() + ": update of elements [" + std::to_string(b) + ", " +
                     std::to_string(e) + ") of slot " + std::to_string(slot) + " (" +
                     std::to_string(n) + " elements)");
  update_range_impl(slot, n, lr, g, p, b, e);
}

// ---- state ----------------------------------------------------------------------------------

template <class T>
void Optimizer<T>::set_state(Index steps, const std::vector<std::vector<ConstView<T>>>& buffers) {
  const std::string where = "set_optimizer_state: " + repr();
  if (steps < 0) throw ValueError(where + ": step must be >= 0, got " + std::to_string(steps));
  if (buffers.size() != names_.size()) {
    std::string names;
    for (const auto& n : names_) names += (names.empty() ? "" : ", ") + n;
    throw ValueError(where + " has " + std::to_string(names_.size()) + " state buffers (" +
                     (names.empty() ? std::string("none") : names) + "), got " +
                     std::to_string(buffers.size()));
  }
  for (std::size_t k = 0; k < buffers.size(); ++k) {
    if (static_cast<Index>(buffers[k].size()) != num_slots())
      throw ValueError(where + ": '" + names_[k] + "' needs one array per parameter tensor (" +
                       std::to_string(num_slots()) + "), got " + std::to_string(buffers[k].size()));
    for (Index s = 0; s < num_slots(); ++s) {
      const ConstView<T>& b = buffers[k][static_cast<std::size_t>(s)];
      const std::string tensor = std::string(s % 2 == 0 ? "W" : "b") + std::to_string(s / 2 + 1);
      if (b.size() != slot_size(s))
        throw ValueError(where + ": '" + names_[k] + "' of " + tensor + " must have " +
                         std::to_string(slot_size(s)) + " values, got " + std::to_string(b.size()));
      if (kernels::first_non_finite(b.size(), b.data) >= 0)
        throw ValueError(where + ": '" + names_[k] + "' of " + tensor + " contains NaN or inf");
      if (non_negative_[k]) {
        const T* negative = std::find_if(b.data, b.data + b.size(), [](T x) { return x < 0; });
        if (negative != b.data + b.size())
          throw ValueError(where + ": '" + names_[k] + "' of " + tensor +
                           " holds sums or means of squares, which must be >= 0; got " +
                           shortest_repr(static_cast<double>(*negative)) + " at index " +
                           std::to_string(negative - b.data));
      }
    }
  }
  for (std::size_t k = 0; k < buffers.size(); ++k)
    for (Index s = 0; s < num_slots(); ++s) {
      const ConstView<T>& b = buffers[k][static_cast<std::size_t>(s)];
      std::copy(b.data, b.data + b.size(), state(k, s));
    }
  steps_ = steps;
}

template <class T>
void Optimizer<T>::set_state(
    Index steps, const std::vector<std::pair<std::string, std::vector<ConstView<T>>>>& named) {
  std::string names;
  for (const auto& n : names_) names += (names.empty() ? "" : ", ") + n;
  if (names.empty()) names = "none";
  std::vector<std::vector<ConstView<T>>> ordered(names_.size());
  std::vector<bool> seen(names_.size(), false);
  for (const auto& [name, arrays] : named) {
    const auto it = std::find(names_.begin(), names_.end(), name);
    if (it == names_.end())
      throw ValueError("set_optimizer_state: " + repr() + " has no state buffer '" + name +
                       "' (its buffers: " + names + ")");
    const std::size_t k = static_cast<std::size_t>(it - names_.begin());
    if (seen[k]) throw ValueError("set_optimizer_state: buffer '" + name + "' given twice");
    seen[k] = true;
    ordered[k] = arrays;
  }
  for (std::size_t k = 0; k < names_.size(); ++k)
    if (!seen[k])
      throw ValueError("set_optimizer_state: " + repr() + " needs state buffer '" + names_[k] +
                       "' (its buffers: " + names + ")");
  set_state(steps, ordered);
}

template <class T>
void Optimizer<T>::save_snapshot() {
  snapshot_.resize(buffers_.size());
  for (std::size_t k = 0; k < buffers_.size(); ++k) {
    snapshot_[k].resize(buffers_[k].size());
    for (std::size_t s = 0; s < buffers_[k].size(); ++s) {
      const Matrix<T>& from = buffers_[k][s];
      snapshot_[k][s].resize(from.rows(), from.cols());
      std::copy(from.data(), from.data() + from.size(), snapshot_[k][s].data());
    }
  }
  snapshot_steps_ = steps_;
  has_snapshot_ = true;
}

template <class T>
void Optimizer<T>::restore_snapshot() {
  if (!has_snapshot_) {  // installed since (a callback's): back to its state as installed
    for (auto& per_slot : buffers_)
      for (Matrix<T>& b : per_slot) std::fill(b.data(), b.data() + b.size(), T(0));
    steps_ = 0;
    return;
  }
  for (std::size_t k = 0; k < snapshot_.size(); ++k)
    for (std::size_t s = 0; s < snapshot_[k].size(); ++s)
      std::copy(snapshot_[k][s].data(), snapshot_[k][s].data() + snapshot_[k][s].size(),
                buffers_[k][s].data());
  steps_ = snapshot_steps_;
}

// ---- SGD ------------------------------------------------------------------------------------

template <class T>
SGD<T>::SGD(double momentum, double dampening, bool nesterov, double weight_decay)
    : momentum_(momentum), dampening_(dampening), nesterov_(nesterov), weight_decay_(weight_decay) {
  entry().checked("momentum", momentum);
  entry().checked("dampening", dampening);
  entry().checked("weight_decay", weight_decay);
  if (nesterov && (momentum <= 0 || dampening != 0))
    throw ValueError("SGD: nesterov needs momentum > 0 and dampening = 0, got momentum=" +
                     shortest_repr(momentum) + ", dampening=" + shortest_repr(dampening));
  if (momentum > 0) this->add_buffer("momentum_buffer");
}

template <class T>
std::string SGD<T>::repr() const {
  return entry().class_name + "(momentum=" + shortest_repr(momentum_) +
         ", dampening=" + shortest_repr(dampening_) +
         ", nesterov=" + (nesterov_ ? "True" : "False") +
         ", weight_decay=" + shortest_repr(weight_decay_) + ")";
}

// g, p [b, e) -> p updated; buf [b, e) when momentum > 0
template <class T>
void SGD<T>::update_range_impl(Index slot, Index, T lr, const T* g, T* p, Index b, Index e) {
  if (fuses_into_backward()) {
    kernels::axpy_update_block(1, e - b, lr, g + b, 0, p + b, 0);  // W -= lr * dW
    return;
  }
  const T wd = static_cast<T>(weight_decay_), mu = static_cast<T>(momentum_);
  const T undamped = static_cast<T>(1 - dampening_);
  T* buf = momentum_ > 0 ? this->state(0, slot) : nullptr;
  const bool first = this->step_count() <= 1, nesterov = nesterov_;
  for (Index i = b; i < e; ++i) {
    T gi = g[i];
    if (wd != T(0)) gi += wd * p[i];  // g = dW + weight_decay * W
    if (buf != nullptr) {
      // buf = g (first step), else buf = momentum * buf + (1 - dampening) * g
      buf[i] = first ? gi : mu * buf[i] + undamped * gi;
      gi = nesterov ? gi + mu * buf[i] : buf[i];  // Nesterov: g + momentum * buf
    }
    p[i] -= lr * gi;  // W -= lr * g
  }
}

// ---- Adam / AdamW ---------------------------------------------------------------------------

template <class T>
Adam<T>::Adam(double beta1, double beta2, double eps, double weight_decay, bool decoupled)
    : beta1_(beta1), beta2_(beta2), eps_(eps), weight_decay_(weight_decay), decoupled_(decoupled) {
  const EntryInfo& e = entry(decoupled);
  e.checked("beta1", beta1);
  e.checked("beta2", beta2);
  e.checked("eps", eps);
  e.checked("weight_decay", weight_decay);
  this->add_buffer("exp_avg");
  this->add_buffer("exp_avg_sq", /*non_negative=*/true);
}

template <class T>
std::string Adam<T>::repr() const {
  return entry(decoupled_).class_name + "(betas=(" + shortest_repr(beta1_) + ", " +
         shortest_repr(beta2_) + "), eps=" + shortest_repr(eps_) +
         ", weight_decay=" + shortest_repr(weight_decay_) + ")";
}

namespace {

// The coefficients of one Adam step (see Adam<T>::update_range_impl).
template <class T>
struct AdamStep {
  T decay, l2, b1, b2, one_minus_b1, one_minus_b2, bc2_sqrt, inv_bc2_sqrt, eps, step_size;
};

// g, p, m, v [b, e) -> p, m, v updated. One version per ISA (CHAINRULE_CLONES; this file is
// compiled with -fno-math-errno so that sqrt vectorises: v >= 0, sqrt never sets errno here);
// every version gives the same bits.
template <class T>
CHAINRULE_CLONES void adam_range(Index b, Index e, AdamStep<T> c, const T* g, T* p, T* m, T* v) {
  for (Index i = b; i < e; ++i) {
    if (c.decay != T(1)) p[i] *= c.decay;  // AdamW: W *= 1 - lr * weight_decay
    T gi = g[i];
    if (c.l2 != T(0)) gi += c.l2 * p[i];              // Adam: g = dW + weight_decay * W
    m[i] = c.b1 * m[i] + c.one_minus_b1 * gi;         // m = beta1 m + (1 - beta1) g
    v[i] = c.b2 * v[i] + c.one_minus_b2 * (gi * gi);  // v = beta2 v + (1 - beta2) g^2
    // denom = sqrt(v) / sqrt(1 - beta2^t) + eps, the division by the step's constant made a
    // product and its correction, the same bits: sqrt(v) is 0, inf, NaN or a normal number
    // of at least 2^-75 (float) or 2^-537 (double), and the quotient stays far from overflow
    // (quotient_by's conditions)
    const T denom = kernels::quotient_by(std::sqrt(v[i]), c.bc2_sqrt, c.inv_bc2_sqrt) + c.eps;
    p[i] -= c.step_size * (m[i] / denom);  // W -= lr / (1 - beta1^t) * m / denom
  }
}

}  // namespace

template <class T>
typename Adam<T>::BiasCorrections Adam<T>::bias_corrections(Index t) const {
  const double td = static_cast<double>(t);
  return {t, 1 - std::pow(beta1_, td), 1 - std::pow(beta2_, td)};  // 1 - beta1^t, 1 - beta2^t
}

template <class T>
void Adam<T>::step_started() {
  step_corrections_ = bias_corrections(this->step_count());
}

// g, p, m, v [b, e) -> p, m, v updated
template <class T>
void Adam<T>::update_range_impl(Index slot, Index, T lr, const T* g, T* p, Index b, Index e) {
  const Index t = std::max<Index>(this->step_count(), 1);
  const BiasCorrections bc = step_corrections_.t == t ? step_corrections_ : bias_corrections(t);
  const T step_size = static_cast<T>(static_cast<double>(lr) / bc.first);
  const T bc2_sqrt = static_cast<T>(std::sqrt(bc.second));
  const T b1 = static_cast<T>(beta1_), b2 = static_cast<T>(beta2_);
  const T one_minus_b1 = static_cast<T>(1 - beta1_), one_minus_b2 = static_cast<T>(1 - beta2_);
  const T eps = static_cast<T>(eps_);
  const T l2 = decoupled_ ? T(0) : static_cast<T>(weight_decay_);
  const T decay = decoupled_ ? static_cast<T>(1 - static_cast<double>(lr) * weight_decay_) : T(1);
  const T inv = T(1) / bc2_sqrt;  // rounded once, as quotient_by needs it
  const AdamStep<T> c{decay, l2, b1, b2, one_minus_b1, one_minus_b2, bc2_sqrt, inv, eps, step_size};
  T* m = this->state(0, slot);
  T* v = this->state(1, slot);
  adam_range(b, e, c, g, p, m, v);
}

// ---- RMSprop --------------------------------------------------------------------------------

template <class T>
RMSprop<T>::RMSprop(double alpha, double eps, double weight_decay, double momentum, bool centered)
    : alpha_(alpha),
      eps_(eps),
      weight_decay_(weight_decay),
      momentum_(momentum),
      centered_(centered) {
  entry().checked("alpha", alpha);
  entry().checked("eps", eps);
  entry().checked("weight_decay", weight_decay);
  entry().checked("momentum", momentum);
  this->add_buffer("square_avg", /*non_negative=*/true);
  if (momentum > 0) {
    momentum_k_ = this->buffer_names().size();
    this->add_buffer("momentum_buffer");
  }
  if (centered) {
    grad_avg_k_ = this->buffer_names().size();
    this->add_buffer("grad_avg");
  }
}

template <class T>
std::string RMSprop<T>::repr() const {
  return entry().class_name + "(alpha=" + shortest_repr(alpha_) + ", eps=" + shortest_repr(eps_) +
         ", weight_decay=" + shortest_repr(weight_decay_) +
         ", momentum=" + shortest_repr(momentum_) + ", centered=" + (centered_ ? "True" : "False") +
         ")";
}

// g, p, s [b, e) [, buf, a [b, e)] -> updated
template <class T>
void RMSprop<T>::update_range_impl(Index slot, Index, T lr, const T* g, T* p, Index b, Index e) {
  const T alpha = static_cast<T>(alpha_), one_minus_alpha = static_cast<T>(1 - alpha_);
  const T eps = static_cast<T>(eps_), wd = static_cast<T>(weight_decay_);
  const T mu = static_cast<T>(momentum_);
  T* s = this->state(0, slot);
  T* buf = momentum_ > 0 ? this->state(momentum_k_, slot) : nullptr;
  T* a = centered_ ? this->state(grad_avg_k_, slot) : nullptr;
  for (Index i = b; i < e; ++i) {
    T gi = g[i];
    if (wd != T(0)) gi += wd * p[i];                    // g = dW + weight_decay * W
    s[i] = alpha * s[i] + one_minus_alpha * (gi * gi);  // s = alpha s + (1 - alpha) g^2
    T d;
    if (a != nullptr) {
      a[i] = alpha * a[i] + one_minus_alpha * gi;  // a = alpha a + (1 - alpha) g
      d = std::sqrt(s[i] - a[i] * a[i]) + eps;     // d = sqrt(s - a^2) + eps
    } else {
      d = std::sqrt(s[i]) + eps;  // d = sqrt(s) + eps
    }
    if (buf != nullptr) {
      buf[i] = mu * buf[i] + gi / d;  // buf = momentum buf + g / d
      p[i] -= lr * buf[i];            // W -= lr buf
    } else {
      p[i] -= lr * (gi / d);  // W -= lr g / d
    }
  }
}

// ---- factory (the registry, filled by the headers that optimizers/all.hpp includes) -------

std::vector<std::string> optimizer_names() { return OptimizerRegistry::instance().names(); }

template <class T>
std::unique_ptr<Optimizer<T>> make_optimizer(const std::string& name,
                                             const OptimizerParams& params) {
  return OptimizerRegistry::instance().make<T>(name, params);
}

template class Optimizer<float>;
template class Optimizer<double>;
template class SGD<float>;
template class SGD<double>;
template class Adam<float>;
template class Adam<double>;
template class RMSprop<float>;
template class RMSprop<double>;
template std::unique_ptr<Optimizer<float>> make_optimizer<float>(const std::string&,
                                                                 const OptimizerParams&);
template std::unique_ptr<Optimizer<double>> make_optimizer<double>(const std::string&,
                                                                   const OptimizerParams&);

}  // namespace chainrule
