// The abstract activation: H = act(Z) and its backward pass dZ = dH * act'(Z).
#pragma once

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "chainrule/error.hpp"
#include "chainrule/registry.hpp"
#include "chainrule/tensor.hpp"

namespace chainrule {

/// An activation function applied to a layer's pre-activation Z.
///
/// Public methods check shapes and delegate to the private virtual *_impl methods
/// (non-virtual interface). Element-wise activations derive from ElementwiseActivation
/// and only define the function and its derivative.
template <class T>
class Activation {
 public:
  virtual ~Activation() = default;

  /// Z (m, n) -> H (m, n), H = act(Z).
  void forward(ConstView<T> Z, MatrixView<T> H) const {
    check_same_shape("forward", "H", Z, H);
    forward_impl(Z, H);
  }

  /// Z, H, dH (m, n) -> dZ (m, n): dZ = dH * act'(Z) for element-wise activations,
  /// the Jacobian-vector product J(Z)^T dH per row otherwise (softmax).
  void backward(ConstView<T> Z, ConstView<T> H, ConstView<T> dH, MatrixView<T> dZ) const {
    check_same_shape("backward", "H", Z, H);
    check_same_shape("backward", "dH", Z, dH);
    check_same_shape("backward", "dZ", Z, dZ);
    backward_impl(Z, H, dH, dZ);
  }

  /// True when H[i, j] depends on Z[i, j] alone. The layer then runs the activation on blocks
  /// of Z inside the GEMM's epilogue (while they are in cache) with the two methods below.
  virtual bool elementwise() const { return false; }
  /// Element-wise activations: on a (rows, cols) block of row stride ld, Z += b (cols,)
  /// broadcast over rows, then H = act(Z). Same results as adding b and calling forward().
  virtual void bias_forward_block(Index rows, Index cols, const T* b, T* Z, T* H, Index ld) const {
    (void)rows, (void)cols, (void)b, (void)Z, (void)H, (void)ld;
    throw std::logic_error(repr() + " is not element-wise");
  }
  /// Element-wise activations: dZ = dH * act'(Z) on a (rows, cols) block; Z, H and dZ have
  /// row stride ld, dH has ld_dh. Same results as backward().
  virtual void backward_block(Index rows, Index cols, const T* Z, const T* H, const T* dH,
                              Index ld_dh, T* dZ, Index ld) const {
    (void)rows, (void)cols, (void)Z, (void)H, (void)dH, (void)ld_dh, (void)dZ, (void)ld;
    throw std::logic_error(repr() + " is not element-wise");
  }

  /// The factory name ("leaky_relu").
  virtual std::string name() const = 0;
  /// True when name() is the activation's registry entry, whose properties (bounds, He
  /// initialisation) and fused losses apply to it; false for one whose function lives outside
  /// the core (CallbackActivation), whatever name it shows.
  virtual bool registered() const { return true; }
  /// Parameters by name, in constructor order ({"alpha", 0.01}).
  virtual std::vector<std::pair<std::string, double>> params() const { return {}; }
  /// "LeakyReLU(alpha=0.01)".
  virtual std::string repr() const = 0;

 private:
  virtual void forward_impl(ConstView<T> Z, MatrixView<T> H) const = 0;
  virtual void backward_impl(ConstView<T> Z, ConstView<T> H, ConstView<T> dH,
                             MatrixView<T> dZ) const = 0;

  template <class A, class B>
  void check_same_shape(const char* method, const char* what, const A& Z, const B& other) const {
    if (Z.rows != other.rows || Z.cols != other.cols)
      throw ValueError(repr() + "." + method + ": " + what + " has shape " + shape_str(other) +
                       " but Z has shape " + shape_str(Z));
  }
};

/// The activation family: its registry builds Activation<T>. Each built-in registers itself at
/// the bottom of its header in activations/ (ActivationRegistry::add), listed in all.hpp.
struct ActivationFamily {
  static constexpr const char* noun = "activation";
  template <class T>
  using Product = Activation<T>;
};
using ActivationRegistry = Registry<ActivationFamily>;

/// Builds a built-in activation from its factory name and parameters (from the registry);
/// throws ValueError naming the valid names (or the valid parameters) otherwise.
template <class T>
std::unique_ptr<Activation<T>> make_activation(
    const std::string& name, const std::vector<std::pair<std::string, double>>& params = {});

/// The factory names of the built-in activations, sorted.
std::vector<std::string> activation_names();

}  // namespace chainrule
