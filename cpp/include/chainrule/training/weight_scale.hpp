// Sample weights far from 1 brought near it by a power of two before a fit or an evaluation,
// so that their sums, and the weighted sums of losses, gradients and metrics, neither overflow
// (weights of 1e307) nor sink into subnormals (weights of 1e-310). Every weighted figure is a
// ratio of such sums: a power of two scales numerator and denominator exactly and cancels, so
// the results keep their bits, and weights in the usual range are used as they are.
#pragma once

#include <algorithm>
#include <climits>
#include <cmath>

#include "chainrule/tensor.hpp"

namespace chainrule {

/// No weights, or all 0: nothing to scale.
constexpr int kNoWeightExponent = INT_MIN;

/// The binary exponent of the largest of the n weights w (floor(log2)), or kNoWeightExponent.
template <class T>
int largest_weight_exponent(const T* w, Index n) {
  double largest = 0;
  for (Index i = 0; i < n; ++i) largest = std::max(largest, static_cast<double>(w[i]));
  return largest > 0 ? std::ilogb(largest) : kNoWeightExponent;
}

/// The scale for weights whose largest has binary exponent e when e is outside [-256, 256]:
/// 2^-(e + 1), which brings the largest into [0.5, 1), clamped to [2^-1000, 2^1000] (a
/// subnormal largest, e < -1022, would need more than float64 holds: 2^1000 brings it above
/// 2^-75; the largest float64 comes to below 2^24); 1 otherwise.
inline double weight_scale(int e) {
  if (e == kNoWeightExponent || (e >= -256 && e <= 256)) return 1;
  return std::ldexp(1.0, std::clamp(-(e + 1), -1000, 1000));
}

/// w (n values) scaled by `scale` into `into` when it is not 1 (a view of `into`); else w.
template <class T>
ConstView<T> scaled_weights(ConstView<T> w, double scale, Matrix<T>& into) {
  if (scale == 1 || w.data == nullptr) return w;
  into.resize(w.rows, w.cols);
  const T s = static_cast<T>(scale);
  for (Index i = 0; i < w.size(); ++i) into.data()[i] = w.data[i] * s;
  return into.cview();
}

}  // namespace chainrule
