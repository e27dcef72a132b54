// The parameter update rule. Plain SGD is the derivation's `W -= lr * dW`; stateful
// optimizers (momentum, Adam, RMSprop) plug in behind the same interface and keep their state
// per parameter tensor ("slot": W1, b1, W2, b2, ...), allocated once by prepare().
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chainrule/error.hpp"
#include "chainrule/registry.hpp"
#include "chainrule/tensor.hpp"

namespace chainrule {

/// Hyper-parameters by name, as the factories take them (booleans as 0 / 1).
using OptimizerParams = std::vector<std::pair<std::string, double>>;

/// Updates one parameter tensor at a time from its gradient.
///
/// A training step is `begin_step()` followed by one `update()` per slot. The state is a
/// step counter (the number of begin_step() calls so far) and named buffers, one per slot
/// and shaped like that slot's parameter (e.g. Adam's "exp_avg" and "exp_avg_sq"); all of
/// it can be read and written, so a saved model resumes training exactly.
template <class T>
class Optimizer {
 public:
  virtual ~Optimizer() = default;

  /// Allocates the state buffers (zero-filled) for parameter tensors of these sizes and
  /// resets the step counter. Called once, before the first step; update() never allocates.
  void prepare(const std::vector<Index>& slot_sizes) {
    sizes_ = slot_sizes;
    buffers_.assign(names_.size(), std::vector<Matrix<T>>(slot_sizes.size()));
    for (auto& per_slot : buffers_)
      for (std::size_t s = 0; s < slot_sizes.size(); ++s) per_slot[s].resize(1, slot_sizes[s]);
    steps_ = 0;
    has_snapshot_ = false;
  }

  /// Starts a step: every slot is then updated once. Increments the step counter, then
  /// computes what every slot's update of the step shares (step_started()).
  void begin_step() {
    ++steps_;
    step_started();
  }

  /// p (n,) -= update(g (n,), lr) for parameter tensor `slot` of a prepared optimizer, its
  /// elements split across the pool's threads past kernels::kParallelGrain. Each element's
  /// update reads and writes that element alone, so the bits are the same however it is split.
  void update(Index slot, Index n, T lr, const T* g, T* p);

  /// update() of elements [b, e) of the slot's n alone, on the calling thread: for a caller
  /// that splits a step across threads of its own (training/small_step.hpp), after one
  /// begin_step(). Threads may update disjoint ranges of a slot at once.
  void update_range(Index slot, Index n, T lr, const T* g, T* p, Index b, Index e);

  /// The factory name ("sgd", "adam", ...).
  virtual std::string name() const = 0;
  /// "Adam(beta1=0.9, beta2=0.999, eps=1e-08, weight_decay=0)".
  virtual std::string repr() const = 0;
  /// A capability: true when the update is p -= lr * g with no state (plain SGD: no
  /// momentum, no weight decay). It may then run inside the backward pass, on each block of
  /// the gradient as it is produced (the gradients are not kept), and a sum of gradients may
  /// be averaged through lr instead of a pass over the gradients.
  virtual bool fuses_into_backward() const { return false; }

  // ---- state ----------------------------------------------------------------------------

  /// Steps taken so far (Adam's bias correction uses it; 0 before the first step).
  Index step_count() const { return steps_; }
  Index num_slots() const { return static_cast<Index>(sizes_.size()); }
  Index slot_size(Index slot) const { return sizes_.at(static_cast<std::size_t>(slot)); }
  /// The names of the per-slot buffers, in a fixed order (empty for plain SGD).
  const std::vector<std::string>& buffer_names() const { return names_; }
  /// Buffer k of a slot: slot_size(slot) values.
  ConstView<T> buffer(std::size_t k, Index slot) const {
    return buffers_.at(k).at(static_cast<std::size_t>(slot)).cview();
  }
  /// Replaces the whole state: `buffers[k][slot]` for every buffer name (in buffer_names()
  /// order) and slot. Checks everything first, so on an error nothing has changed.
  void set_state(Index steps, const std::vector<std::vector<ConstView<T>>>& buffers);
  /// set_state with the buffers given by name, in any order; every name must be given once.
  void set_state(Index steps,
                 const std::vector<std::pair<std::string, std::vector<ConstView<T>>>>& named);
  /// A copy of the whole state (the step counter and every buffer) into storage the optimizer
  /// keeps from one call to the next, and its restoration: fit's divergence rollback
  /// (Network::save_rollback) takes the optimizer back with the weights. Without a copy since
  /// prepare() (an optimizer a callback installed after the rollback's copy), the restoration
  /// gives the state it was installed with: zeros, step 0.
  void save_snapshot();
  void restore_snapshot();

 protected:
  /// Derived constructors name their buffers, in order; state(k, slot) reaches buffer k.
  /// non_negative: the buffer holds sums or means of squares, which set_state checks are >= 0
  /// (a negative one would make the update's square root NaN).
  void add_buffer(std::string name, bool non_negative = false) {
    names_.push_back(std::move(name));
    non_negative_.push_back(non_negative);
  }
  T* state(std::size_t k, Index slot) { return buffers_[k][static_cast<std::size_t>(slot)].data(); }

 private:
  // elements [b, e) of slot `slot` (n elements): g, p and the state buffers at [b, e); may run
  // on several threads at once, on disjoint ranges
  virtual void update_range_impl(Index slot, Index n, T lr, const T* g, T* p, Index b, Index e) = 0;
  // the step's constants, common to its slots (Adam's bias corrections), computed once on the
  // thread that begins the step, before any of its updates; none by default
  virtual void step_started() {}
  void check_slot(Index slot, Index n) const;

  std::vector<std::string> names_;
  std::vector<bool> non_negative_;  // per buffer: its values must be >= 0
  std::vector<Index> sizes_;
  std::vector<std::vector<Matrix<T>>> buffers_;  // [buffer][slot], each (1, slot size)
  Index steps_ = 0;
  std::vector<std::vector<Matrix<T>>> snapshot_;  // save_snapshot's copy of buffers_
  Index snapshot_steps_ = 0;
  bool has_snapshot_ = false;  // of the buffers prepare() allocated
};

/// The optimizer family: its registry builds Optimizer<T>. Each built-in registers itself at
/// the bottom of its header in optimizers/ (OptimizerRegistry::add), listed in
/// optimizers/all.hpp; its property "lr" is its default learning rate (lr is given per step,
/// not to the factory, and checked by check_lr).
struct OptimizerFamily {
  static constexpr const char* noun = "optimizer";
  template <class T>
  using Product = Optimizer<T>;
};
using OptimizerRegistry = Registry<OptimizerFamily>;

/// Builds a built-in optimizer (from the registry) with the given hyper-parameters (defaults
/// for those not given). Throws ValueError on an unknown name or parameter, or a value out of
/// range (negative, not finite, ...), naming the optimizer.
template <class T>
std::unique_ptr<Optimizer<T>> make_optimizer(const std::string& name,
                                             const OptimizerParams& params = {});

/// The factory names of the built-in optimizers, sorted.
std::vector<std::string> optimizer_names();

}  // namespace chainrule

#include "chainrule/optimizers/sgd.hpp"
