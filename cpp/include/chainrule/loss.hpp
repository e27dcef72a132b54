// The abstract loss: its value for a batch and the output layer's delta dZ[L].
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "chainrule/activation.hpp"
#include "chainrule/error.hpp"
#include "chainrule/registry.hpp"
#include "chainrule/tensor.hpp"

namespace chainrule {

/// A loss L(Yhat, Y) averaged over the m rows of a batch.
///
/// The output delta follows docs/design.md section 1: the loss supplies dH[L] = m dL/dYhat (for
/// MSE, Yhat - Y) and the output activation's backward turns it into dZ[L]. A loss paired
/// with its canonical activation (softmax + cross-entropy, sigmoid + binary cross-entropy)
/// writes dZ[L] = Yhat - Y directly and computes its value stably from Z.
template <class T>
class Loss {
 public:
  virtual ~Loss() = default;

  /// Z, H = Yhat, Y (m, n) -> L, accumulated in double.
  double value(ConstView<T> Z, ConstView<T> H, ConstView<T> Y) const {
    check_shapes("value", Z, H, Y);
    return value_impl(Z, H, Y);
  }

  /// Z, H = Yhat, Y (m, n) -> out (m,): each row's loss l_i, so that L = sum(l_i) / m (the
  /// value of a one-row batch; sample weights need it). Accumulated in double.
  void row_values(ConstView<T> Z, ConstView<T> H, ConstView<T> Y, double* out) const {
    check_shapes("row_values", Z, H, Y);
    row_values_impl(Z, H, Y, out);
  }

  /// Z, H, Y (m, n) -> dZ (m, n), the output layer's delta; dH (m, n) is scratch that
  /// receives dH[L] when the delta is not fused.
  void output_delta(const Activation<T>& act, ConstView<T> Z, ConstView<T> H, ConstView<T> Y,
                    MatrixView<T> dH, MatrixView<T> dZ) const {
    check_shapes("output_delta", Z, H, Y);
    if (fused_delta_impl(Z, H, Y, dZ)) return;
    gradient_impl(H, Y, dH);
    act.backward(Z, H, dH, dZ);
  }

  /// Throws ValueError when the loss needs a specific output activation and gets another
  /// (a custom activation of the same name too: the fused loss never calls it).
  void check_output_activation(const Activation<T>& act) const {
    const std::string need = required_activation();
    if (need.empty() || (act.registered() && act.name() == need)) return;
    throw ValueError("loss '" + name() + "' needs the built-in '" + need +
                     "' output layer (it is computed from the logits Z), got " + act.repr() +
                     (act.registered() ? "" : ", a custom activation"));
  }

  /// Throws ValueError naming the row and column of the first invalid target.
  void check_targets(ConstView<T> Y) const { check_targets_impl(Y); }

  /// The factory name ("mse").
  virtual std::string name() const = 0;
  /// "MSE()".
  virtual std::string repr() const = 0;
  /// The activation this loss is fused with, or "" when it takes any.
  virtual std::string required_activation() const { return ""; }

 private:
  virtual double value_impl(ConstView<T> Z, ConstView<T> H, ConstView<T> Y) const = 0;
  /// Row i's loss is the loss of the one-row batch i (a loss is a mean over rows).
  virtual void row_values_impl(ConstView<T> Z, ConstView<T> H, ConstView<T> Y, double* out) const {
    for (Index i = 0; i < Z.rows; ++i)
      out[i] = value_impl(Z.row_range(i, 1), H.row_range(i, 1), Y.row_range(i, 1));
  }
  /// H, Y (m, n) -> dH (m, n) = m dL/dH, the per-sample output gradient.
  virtual void gradient_impl(ConstView<T> H, ConstView<T> Y, MatrixView<T> dH) const = 0;
  /// Writes dZ and returns true when the loss fuses the output activation's backward.
  virtual bool fused_delta_impl(ConstView<T>, ConstView<T>, ConstView<T>, MatrixView<T>) const {
    return false;
  }
  virtual void check_targets_impl(ConstView<T>) const {}

  void check_shapes(const char* method, ConstView<T> Z, ConstView<T> H, ConstView<T> Y) const {
    if (H.rows != Z.rows || H.cols != Z.cols || Y.rows != Z.rows || Y.cols != Z.cols)
      throw ValueError(repr() + "." + method + ": Z " + shape_str(Z) + ", Yhat " + shape_str(H) +
                       " and Y " + shape_str(Y) + " must have the same shape");
  }
};

/// The loss family: its registry builds Loss<T>. Each built-in registers itself at the bottom
/// of its header in losses/ (LossRegistry::add), listed in losses/all.hpp. The property
/// "classification" marks the losses of class targets (fit's class_weight and integer class
/// labels need one).
struct LossFamily {
  static constexpr const char* noun = "loss";
  template <class T>
  using Product = Loss<T>;
};
using LossRegistry = Registry<LossFamily>;

/// Builds a built-in loss from its factory name or an alias and its parameters (defaults for
/// those not given); ValueError lists the valid names (or parameters) otherwise.
template <class T>
std::unique_ptr<Loss<T>> make_loss(const std::string& name, const NamedParams& params = {});

/// The factory names of the built-in losses (aliases included), sorted.
std::vector<std::string> loss_names();

}  // namespace chainrule
