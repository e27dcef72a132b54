// Gradient clipping as torch.nn.utils does it: clip_grad_value_ (every gradient value clamped
// to [-clip_value, clip_value]) and clip_grad_norm_ (every gradient scaled together by
// min(clip_norm / (||g|| + 1e-6), 1), ||g|| the L2 norm of all of them as one vector).
#pragma once

#include <optional>

#include "chainrule/tensor.hpp"

namespace chainrule {

/// How a training step's gradients are clipped before the update; neither given: not at all.
struct GradientClipping {
  std::optional<double> norm;   ///< clip_norm: g *= min(norm / (||g||_2 + 1e-6), 1)
  std::optional<double> value;  ///< clip_value: g = clamp(g, -value, value), value by value
  bool active() const { return norm.has_value() || value.has_value(); }
  /// ValueError naming clip_norm or clip_value unless each one given is finite and > 0.
  void check() const;
};

/// ||g||_2 of g (n,), summed in double in a fixed order (the same for any thread count).
template <class T>
double l2_norm(const T* g, Index n);

/// Clips g (n,) in place: by value first, then by norm (the order of Keras 2's optimizers
/// given both clipvalue and clipnorm; in torch, clip_grad_value_ then clip_grad_norm_). Both
/// bounds hold afterwards. As torch's default (error_if_nonfinite=False), a non-finite norm is
/// not an error: the gradients are scaled by 0 (norm inf) or NaN, which makes the weights
/// non-finite, and fit's divergence check then restores them.
template <class T>
void clip_gradients(T* g, Index n, const GradientClipping& clip);

}  // namespace chainrule
