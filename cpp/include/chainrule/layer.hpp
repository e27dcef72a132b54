// The abstract layer: a forward pass H_prev -> H, its backward pass, and named parameters.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "chainrule/activation.hpp"
#include "chainrule/collective.hpp"
#include "chainrule/error.hpp"
#include "chainrule/registry.hpp"
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

/// One learnable tensor of a layer: its name ("W", "b", "gamma", ...), its value and its
/// gradient (same shape). A 1-D parameter (a bias) is a (1, n) view shown to users as (n,).
/// The same record names a layer's other tensors (buffers, caches), whose grad is empty.
template <class T>
struct Parameter {
  std::string name;
  MatrixView<T> value;
  MatrixView<T> grad;
  bool vector = false;
  /// A buffer whose values must be >= 0 (a running variance): an assignment of a negative
  /// value is refused, since the layer would compute with its square root.
  bool non_negative = false;
};

/// Where the producer of a layer's output gradient (the loss, or the layer above) writes it:
/// dH (m, n_out) and, when the layer's backward pass begins with an activation's derivative
/// dZ = dH * act'(Z), that activation with Z, H and dZ. The producer may then write dZ itself
/// (a loss fused with its activation, or the epilogue of the product that yields dH) and say
/// so with Layer::set_delta_ready(); otherwise the layer computes dZ from dH.
template <class T>
struct OutputGradient {
  MatrixView<T> dH;
  const Activation<T>* activation = nullptr;
  ConstView<T> Z, H;
  MatrixView<T> dZ;
};

/// What a forward pass tells its layers besides the data. The network owns it and sets it
/// per pass: training steps, gradients and gradient checks run in training mode; predict,
/// loss, evaluation and validation in inference mode.
struct PassContext {
  /// Training behaviour (dropout drops, batch normalisation uses the batch's statistics) or
  /// inference (dropout is the identity, batch normalisation uses its running statistics).
  bool training = false;
  /// In training: whether the pass updates running statistics (a gradient check's passes
  /// evaluate the same function again and must not).
  bool update_statistics = false;
  /// The key of the random streams (dropout masks) and the number of the training pass: a
  /// layer's random draws are a function of (seed, pass, layer, row id, column) only, so
  /// that a seed reproduces a fit and a pass can be evaluated again with the same draws.
  std::uint64_t seed = 0;
  std::uint64_t pass = 0;
  /// Each row's id in the step's batch over every process (a data-parallel step gives each
  /// process the ids of its rows); nullptr: the row's index in the pass.
  const Index* row_ids = nullptr;
  /// Data-parallel training of a network whose layers need statistics over the whole batch
  /// (batch normalisation): the sum over every process, which such a layer calls in its
  /// training passes, forward and backward, with the same count of values on every process
  /// (a process without rows in the step takes part too: Network::pass_without_rows).
  /// nullptr: this process holds the whole batch.
  const SumAcrossFn* sum_across = nullptr;
  /// Data-parallel: the rows of the step's batch over every process (this process holds
  /// some of them, possibly none), which a layer's need of rows per batch counts. 0: the
  /// pass's rows.
  Index global_rows = 0;
};

/// How a backward pass delivers the parameter gradients.
template <class T>
struct GradientMode {
  /// > 0: apply the plain SGD update p -= sgd_lr * grad as each block of the gradient is
  /// produced; the gradients are then not kept (an optimizer that can fuse asks for this).
  T sgd_lr = T(0);
  /// > 0: the gradients are `scale` times the sum over rows instead of the mean (1 / m);
  /// a data-parallel step asks for the batch's weighted sum.
  T scale = T(0);
  /// Whether the gradients include those of the layers' penalties (L1/L2 on weights). A
  /// data-parallel step adds them once, after the processes' gradients are summed.
  bool penalties = true;
};

/// A layer of a network: H = f(H_prev; parameters).
///
/// Public methods check shapes and delegate to private virtual *_impl methods
/// (non-virtual interface). Per-batch buffers are sized by reserve(), which allocates only
/// past the largest batch seen, never inside a training step. Every parameter's gradient
/// lives in one block of gradient_size() values, which the network may place in a buffer of
/// its own (use_gradient_storage) so that all layers' gradients are contiguous.
template <class T>
class Layer {
 public:
  /// `index` is the 1-based layer number used in error messages.
  Layer(Index index, Index n_in, Index n_out) : index_(index), n_in_(n_in), n_out_(n_out) {
    if (n_in < 1 || n_out < 1)
      throw ValueError("layer " + std::to_string(index) + ": sizes must be >= 1, got n_in=" +
                       std::to_string(n_in) + ", n_out=" + std::to_string(n_out));
  }
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  Index index() const { return index_; }
  Index n_in() const { return n_in_; }
  Index n_out() const { return n_out_; }
  /// The layer's kind ("dense").
  virtual std::string kind() const = 0;
  /// "Dense(10, relu)".
  virtual std::string repr() const = 0;

  /// H_prev (m, n_in) -> H (m, n_out), cached (with what backward needs) until the next call.
  ConstView<T> forward(ConstView<T> H_prev, const PassContext& ctx = PassContext()) {
    if (H_prev.cols != n_in_)
      throw ValueError("layer " + std::to_string(index_) + " expects " + std::to_string(n_in_) +
                       " input features, got " + std::to_string(H_prev.cols));
    // (data-parallel: the rows of the batch over every process count)
    const Index batch_rows = ctx.global_rows > 0 ? ctx.global_rows : H_prev.rows;
    if (ctx.training && batch_rows < min_training_rows())
      throw ValueError("layer " + std::to_string(index_) + ": " + repr() + " needs at least " +
                       std::to_string(min_training_rows()) + " rows per batch in training, got " +
                       std::to_string(batch_rows));
    reserve(H_prev.rows);
    delta_ready_ = false;
    rows_ = H_prev.rows;
    return forward_impl(H_prev, ctx);
  }

  /// H (m, n_out) of the last forward pass.
  ConstView<T> output() const { return output_impl(); }

  /// Where the loss or the layer above writes this layer's output gradient (see
  /// OutputGradient), shaped for the last forward pass.
  OutputGradient<T> output_gradient() { return output_gradient_impl(); }
  /// The producer of the output gradient wrote the delta dZ itself.
  void set_delta_ready() { delta_ready_ = true; }
  /// Computes the layer's delta from its output gradient now, unless the producer did: the
  /// producer calls it before it changes its own parameters, so that an error there (a
  /// user's activation) leaves every parameter as it was.
  void complete_delta() {
    if (!delta_ready_) delta_impl();
    delta_ready_ = true;
  }

  /// From the output gradient of the last forward pass: the parameter gradients (or, with
  /// mode.sgd_lr, the update) and, when `below` is given, below's output gradient dH_prev,
  /// computed from the parameters as they were in the forward pass (before any update).
  /// H_prev (m, n_in) is the input of that forward pass.
  void backward(ConstView<T> H_prev, Layer<T>* below, const GradientMode<T>& mode) {
    if (H_prev.rows != rows_ || H_prev.cols != n_in_)
      throw ValueError("layer " + std::to_string(index_) + ": backward expects H_prev of shape " +
                       shape_str(rows_, n_in_) + ", got " + shape_str(H_prev));
    if (below != nullptr && (below->n_out() != n_in_ || below->rows_ != rows_))
      throw ValueError("layer " + std::to_string(index_) + ": the layer below does not match");
    complete_delta();
    backward_impl(H_prev, below, mode);
  }

  /// The learnable tensors, in a fixed order, with views of their values and gradients.
  std::vector<Parameter<T>> parameters() { return parameters_impl(); }
  /// Tensors kept across calls that are not learned (BatchNorm's running statistics): saved
  /// with the model and broadcast like parameters, never touched by an optimizer.
  std::vector<Parameter<T>> buffers() { return buffers_impl(); }
  /// Read-only views of what the last forward pass cached, for inspection (a dense layer's
  /// Z and H, a dropout layer's mask).
  std::vector<Parameter<T>> caches() { return caches_impl(); }
  /// The penalty the layer adds to the loss (L1/L2 on weights; 0 for most layers).
  virtual double penalty() const { return 0; }
  virtual bool has_penalty() const { return false; }
  /// Whether the layer behaves differently in training and inference (PassContext).
  virtual bool has_training_behaviour() const { return false; }
  /// Whether training uses statistics over the batch's rows (batch normalisation). In a
  /// data-parallel step such a layer sums them over the processes (PassContext::sum_across),
  /// and Network::pass_without_rows runs it on a process that holds none of the step's rows.
  virtual bool uses_batch_statistics() const { return false; }
  /// Adds the penalty's gradient to the parameter gradients.
  virtual void add_penalty_gradient() {}
  /// The fewest rows a training batch may have (batch normalisation needs 2).
  virtual Index min_training_rows() const { return 1; }
  /// The number of parameter values (and of gradient values).
  Index gradient_size() {
    Index n = 0;
    for (const auto& p : parameters_impl()) n += p.value.size();
    return n;
  }
  /// Keeps the gradients in `storage` (gradient_size() values, owned by the caller, alive as
  /// long as the layer) instead of the layer's own buffer, which is freed. The values are not
  /// carried over.
  void use_gradient_storage(T* storage) { use_gradient_storage_impl(storage); }

  /// Shapes the per-batch buffers for m rows; allocates only past the largest m so far.
  /// Out of memory: OutOfMemory naming the layer, the rows and one (m, n_out) buffer's size.
  void reserve(Index m) {
    try {
      reserve_impl(m);
    } catch (const std::bad_alloc&) {
      char gib[32];
      std::snprintf(gib, sizeof gib, "%.3g",
                    static_cast<double>(m) * static_cast<double>(n_out_) * sizeof(T) /
                        (1024.0 * 1024.0 * 1024.0));
      throw OutOfMemory("layer " + std::to_string(index_) + ": " + repr() +
                        ": out of memory for the buffers of a batch of " + std::to_string(m) +
                        " rows (one of shape (" + std::to_string(m) + ", " +
                        std::to_string(n_out_) + ") in " +
                        (sizeof(T) == 4 ? "float32" : "float64") + " takes " + gib +
                        " GiB); pass fewer rows at a time (a smaller batch_size)");
    }
  }

  /// The activation the layer ends with, if any (losses computed from the logits need it).
  virtual const Activation<T>* activation() const { return nullptr; }

 private:
  virtual ConstView<T> forward_impl(ConstView<T> H_prev, const PassContext& ctx) = 0;
  virtual ConstView<T> output_impl() const = 0;
  virtual OutputGradient<T> output_gradient_impl() = 0;
  /// The layer's first backward step, from its output gradient to its delta (Dense:
  /// dZ = dH * act'(Z)); nothing for a layer whose backward starts from dH.
  virtual void delta_impl() {}
  /// From the delta: the parameter gradients and below's output gradient (see backward); a
  /// layer that writes below's dH without its delta calls below->complete_delta() before
  /// updating its own parameters.
  virtual void backward_impl(ConstView<T> H_prev, Layer<T>* below, const GradientMode<T>& mode) = 0;
  virtual std::vector<Parameter<T>> parameters_impl() = 0;
  virtual std::vector<Parameter<T>> buffers_impl() { return {}; }
  virtual std::vector<Parameter<T>> caches_impl() { return {}; }
  virtual void use_gradient_storage_impl(T* storage) = 0;
  virtual void reserve_impl(Index m) = 0;

  Index index_;
  Index n_in_;
  Index n_out_;
  Index rows_ = -1;  // rows of the last forward pass
  bool delta_ready_ = false;
};

/// What a layer factory takes besides the entry's parameters: the layer's 1-based number,
/// its input width, and the activation a layer ends with (a dense layer; nullptr for the
/// others, which take none).
template <class T>
struct LayerArgs {
  Index index = 0;
  Index n_in = 0;
  std::unique_ptr<Activation<T>> activation;
};

/// The layer family: its registry builds Layer<T> from a kind ("dense", "dropout", ...), its
/// parameters and LayerArgs. Each layer registers itself at the bottom of its header in
/// layers/ (LayerRegistry::add), listed in layers/all.hpp; the property "activation" says
/// that a kind takes an activation.
struct LayerFamily {
  static constexpr const char* noun = "layer";
  template <class T>
  using Product = Layer<T>;
  template <class T>
  using Args = LayerArgs<T>;
};
using LayerRegistry = Registry<LayerFamily>;

/// A layer as a network is described: its kind, its parameters by name and, for a layer
/// that takes one, its activation.
template <class T>
struct LayerSpec {
  std::string kind;
  NamedParams params;
  std::unique_ptr<Activation<T>> activation;
};

/// Builds a layer from its spec (from the registry): ValueError on an unknown kind, a
/// parameter out of range, or an activation given to a kind that takes none (or missing).
template <class T>
std::unique_ptr<Layer<T>> make_layer(LayerSpec<T> spec, Index index, Index n_in);

}  // namespace chainrule
