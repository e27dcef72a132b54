#include "chainrule/clipping.hpp"

#include <cmath>
#include <string>

#include "chainrule/error.hpp"

namespace chainrule {

namespace {

void check_bound(const std::optional<double>& v, const char* name) {
  if (v && !(std::isfinite(*v) && *v > 0))
    throw ValueError(std::string(name) + " must be a finite number > 0, got " + shortest_repr(*v));
}

}  // namespace

void GradientClipping::check() const {
  check_bound(norm, "clip_norm");
  check_bound(value, "clip_value");
}

// sum_i g_i^2 in four interleaved partial sums (value i in sum i % 4), added as (s0 + s1) +
// (s2 + s3): a fixed order, whatever the thread count.
template <class T>
double l2_norm(const T* g, Index n) {
  double s[4] = {0, 0, 0, 0};
  Index i = 0;
  for (; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; ++k) {
      const double x = static_cast<double>(g[i + k]);
      s[k] += x * x;
    }
  for (int k = 0; i < n; ++i, ++k) {
    const double x = static_cast<double>(g[i]);
    s[k] += x * x;
  }
  return std::sqrt((s[0] + s[1]) + (s[2] + s[3]));
}

template <class T>
void clip_gradients(T* g, Index n, const GradientClipping& clip) {
  if (clip.value) {
    // g = clamp(g, -v, v); NaN stays NaN, +-inf becomes +-v (torch's clamp_)
    const T v = static_cast<T>(*clip.value);
    for (Index i = 0; i < n; ++i) g[i] = g[i] > v ? v : (g[i] < -v ? -v : g[i]);
  }
  if (clip.norm) {
    // clip_coef = max_norm / (total_norm + 1e-6), clamped to at most 1; a NaN coefficient
    // stays NaN (torch.clamp), and multiplying by 1 changes nothing, so it is skipped
    const double coef = *clip.norm / (l2_norm(g, n) + 1e-6);
    if (coef >= 1) return;
    const T c = static_cast<T>(coef);
    for (Index i = 0; i < n; ++i) g[i] *= c;
  }
}

template double l2_norm<float>(const float*, Index);
template double l2_norm<double>(const double*, Index);
template void clip_gradients<float>(float*, Index, const GradientClipping&);
template void clip_gradients<double>(double*, Index, const GradientClipping&);

}  // namespace chainrule
