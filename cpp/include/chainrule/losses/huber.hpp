#pragma once

#include <cmath>

#include "chainrule/loss.hpp"

namespace chainrule {

/// Huber: L = sum h(Yhat - Y) / m with h(r) = r^2 / 2 for |r| <= delta, else
/// delta (|r| - delta / 2); dH[L] = clip(Yhat - Y, -delta, delta).
template <class T>
class Huber : public Loss<T> {
 public:
  static const EntryInfo& entry() {
    static const EntryInfo e =
        EntryInfo("huber", "Huber", "sum h(Yhat - Y) / m, h(r) = r^2/2 or delta (|r| - delta/2)")
            .param(ParamSpec("delta", 1.0).above(0));
    return e;
  }
  explicit Huber(double delta = entry().default_of("delta"))
      : delta_(entry().checked("delta", delta)) {}
  std::string name() const override { return entry().name; }
  std::string repr() const override {
    return entry().class_name + "(delta=" + shortest_repr(delta_) + ")";
  }

 private:
  // L = sum h(H - Y) / m
  double value_impl(ConstView<T>, ConstView<T> H, ConstView<T> Y) const override {
    double sum = 0;
    for (Index i = 0; i < H.size(); ++i) {
      const double r = static_cast<double>(H.data[i]) - static_cast<double>(Y.data[i]);
      const double a = std::fabs(r);
      sum += a <= delta_ ? 0.5 * r * r : delta_ * (a - 0.5 * delta_);
    }
    return sum / static_cast<double>(H.rows);
  }
  // dH = clip(H - Y, -delta, delta)
  void gradient_impl(ConstView<T> H, ConstView<T> Y, MatrixView<T> dH) const override {
    const T d = static_cast<T>(delta_);
    for (Index i = 0; i < H.size(); ++i) {
      const T r = H.data[i] - Y.data[i];
      dH.data[i] = r > d ? d : (r < -d ? -d : r);
    }
  }
  double delta_;
};

namespace registered {
inline const bool huber = LossRegistry::add(
    Huber<double>::entry(),
    construct<Huber>([](const ParamValues& v) { return std::tuple(v["delta"]); }));
}  // namespace registered

}  // namespace chainrule
