#include "chainrule/training/diagnostics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <variant>

#include "chainrule/error.hpp"
#include "chainrule/layers/dense.hpp"

namespace chainrule {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kMinExp = -64, kMaxExp = 63;  // histogram ranges 2^-64 .. 2^63
constexpr double kSaturation = 0.03;        // "within 3% of the bounds"

// A number property of an activation's registry entry (absent: nullopt). Activations outside
// the registry (Python callbacks) have none.
std::optional<double> number_property(const std::string& activation, const char* key) {
  const auto& reg = ActivationRegistry::instance();
  const auto names = reg.names(true);
  if (std::find(names.begin(), names.end(), activation) == names.end()) return std::nullopt;
  for (const auto& [k, v] : reg.info(activation).properties)
    if (k == key && std::holds_alternative<double>(v)) return std::get<double>(v);
  return std::nullopt;
}

bool flag_property(const std::string& activation, const char* key) {
  const auto& reg = ActivationRegistry::instance();
  const auto names = reg.names(true);
  return std::find(names.begin(), names.end(), activation) != names.end() &&
         reg.info(activation).flag(key);
}

// sqrt(sum x^2) of n values (times scale), in double
template <class T>
double norm(const T* x, Index n, double scale = 1) {
  double q = 0;
  for (Index i = 0; i < n; ++i) {
    const double v = static_cast<double>(x[i]) * scale;
    q += v * v;
  }
  return std::sqrt(q);
}

// The smallest e in [kMinExp, kMaxExp] with 2^e >= a (a >= 0).
int cover_exponent(double a) {
  int e = kMinExp;
  while (e < kMaxExp && std::ldexp(1.0, e) < a) ++e;
  return e;
}

}  // namespace

void DiagnosticsOptions::check() const {
  if (every_epochs < 1)
    throw ValueError("diagnostics: every must be >= 1 (epochs), got " + std::to_string(every_epochs));
  if (every_steps < 0)
    throw ValueError("diagnostics: every_steps must be >= 1, got " + std::to_string(every_steps));
  if (bins < 1 || bins > 10000)
    throw ValueError("diagnostics: bins must be in [1, 10000], got " + std::to_string(bins));
}

template <class T>
DiagnosticsRecorder<T>::DiagnosticsRecorder(const Network<T>& net, const DiagnosticsOptions& opts,
                                            const SumAcrossFn* sum_across)
    : opts_(opts), sum_across_(sum_across != nullptr && *sum_across ? sum_across : nullptr) {
  opts_.check();
  layers_.resize(static_cast<std::size_t>(net.num_layers()));
  w_before_.resize(layers_.size());
  for (Index l = 0; l < net.num_layers(); ++l) {
    LayerState& s = layers_[static_cast<std::size_t>(l)];
    const Layer<T>& layer = net.layer(l);
    const auto n = static_cast<std::size_t>(layer.n_out());
    s.sum.assign(n, 0.0);
    s.sq.assign(n, 0.0);
    if (const Activation<T>* act = layer.activation()) {
      const std::string name = act->name();
      s.dead_check = flag_property(name, "dead_at_zero");
      const auto lo = number_property(name, "lower_bound"), hi = number_property(name, "upper_bound");
      s.bounded = lo.has_value() && hi.has_value();
      if (s.bounded) {
        s.lo = *lo + kSaturation * (*hi - *lo);
        s.hi = *hi - kSaturation * (*hi - *lo);
      }
    }
    if (s.dead_check) s.nonzero.assign(n, 0.0);
    if (s.bounded) s.saturated.assign(n, 0.0);
  }
}

// every layer's H (rows, n_out) -> per unit: sum (h - shift), sum (h - shift)^2, nonzero and
// saturated counts. Column-wise sums: the loops run along rows of H while they are in cache and
// vectorise across units.
template <class T>
void DiagnosticsRecorder<T>::observe_forward(const Network<T>& net, Index rows) {
  for (Index l = 0; l < net.num_layers(); ++l) {
    LayerState& s = layers_[static_cast<std::size_t>(l)];
    s.last_rows = rows;
    if (rows == 0) continue;
    const ConstView<T> H = net.layer(l).output();
    const Index n = H.cols;
    double* __restrict sum = s.sum.data();
    double* __restrict sq = s.sq.data();
    const double shift = s.shift;
    for (Index i = 0; i < rows; ++i) {
      const T* __restrict h = H.row(i);
      for (Index j = 0; j < n; ++j) {
        const double v = static_cast<double>(h[j]) - shift;
        sum[j] += v;
        sq[j] += v * v;
      }
    }
    if (s.dead_check) {
      double* __restrict nz = s.nonzero.data();
      for (Index i = 0; i < rows; ++i) {
        const T* __restrict h = H.row(i);
        for (Index j = 0; j < n; ++j) nz[j] += h[j] != T(0) ? 1.0 : 0.0;
      }
    }
    if (s.bounded) {
      double* __restrict sat = s.saturated.data();
      const double lo = s.lo, hi = s.hi;
      for (Index i = 0; i < rows; ++i) {
        const T* __restrict h = H.row(i);
        for (Index j = 0; j < n; ++j) {
          const double v = static_cast<double>(h[j]);
          sat[j] += (v <= lo) | (v >= hi) ? 1.0 : 0.0;
        }
      }
    }
    s.rows += static_cast<double>(rows);
  }
}

template <class T>
void DiagnosticsRecorder<T>::snapshot(const Network<T>& net) {
  for (Index l = 0; l < net.num_layers(); ++l) {
    const auto* dense = dynamic_cast<const Dense<T>*>(&net.layer(l));
    if (dense == nullptr) continue;
    const ConstView<T> W = dense->W();
    Matrix<T>& copy = w_before_[static_cast<std::size_t>(l)];
    copy.resize(W.rows, W.cols);
    std::copy(W.data, W.data + W.size(), copy.data());
  }
  snapshot_valid_ = false;
}

// parts: (values, count) pieces of one quantity on this process -> its histogram over every
// process (combine: summed across them)
template <class T>
Histogram DiagnosticsRecorder<T>::histogram(const std::vector<std::pair<const T*, Index>>& parts,
                                            bool combine) const {
  double top = 0, negative = 0;
  for (const auto& [x, n] : parts)
    for (Index i = 0; i < n; ++i) {
      const double v = static_cast<double>(x[i]);
      top = std::max(top, std::fabs(v));
      negative += v < 0 ? 1.0 : 0.0;
    }
  const Index bins = opts_.bins;
  int e = cover_exponent(top);
  bool has_negative = negative > 0;
  if (combine && sum_across_ != nullptr) {
    // the largest exponent over the processes, as a sum of one-hot slots, and the negatives
    std::vector<double> slots(static_cast<std::size_t>(kMaxExp - kMinExp + 2), 0.0);
    slots[static_cast<std::size_t>(e - kMinExp)] = 1;
    slots.back() = negative;
    (*sum_across_)(slots.data(), static_cast<Index>(slots.size()));
    for (int k = kMaxExp; k >= kMinExp; --k)
      if (slots[static_cast<std::size_t>(k - kMinExp)] > 0) {
        e = k;
        break;
      }
    has_negative = slots.back() > 0;
  }
  const double hi = std::ldexp(1.0, e), lo = has_negative ? -hi : 0.0;
  const double width = (hi - lo) / static_cast<double>(bins);
  Histogram h;
  h.edges.resize(static_cast<std::size_t>(bins + 1));
  for (Index k = 0; k <= bins; ++k) h.edges[static_cast<std::size_t>(k)] = lo + static_cast<double>(k) * width;
  h.counts.assign(static_cast<std::size_t>(bins), 0.0);
  for (const auto& [x, n] : parts)
    for (Index i = 0; i < n; ++i) {
      const double b = std::floor((static_cast<double>(x[i]) - lo) / width);
      const Index k = b < 0 ? 0 : (b >= static_cast<double>(bins) ? bins - 1 : static_cast<Index>(b));
      h.counts[static_cast<std::size_t>(k)] += 1;  // (NaN: bin 0)
    }
  if (combine && sum_across_ != nullptr) (*sum_across_)(h.counts.data(), bins);
  return h;
}

template <class T>
DiagnosticsRecord DiagnosticsRecorder<T>::record(Network<T>& net, Index epoch, Index step,
                                                 double grad_scale) {
  DiagnosticsRecord rec;
  rec.epoch = epoch;
  rec.step = step;
  // this process's sums, then one sum over the processes: per layer [rows, sum, sq,
  // saturated] and the nonzero counts per unit
  std::vector<double> packed;
  for (const LayerState& s : layers_) {
    double sum = 0, sq = 0, sat = 0;
    for (std::size_t j = 0; j < s.sum.size(); ++j) {
      sum += s.sum[j];
      sq += s.sq[j];
    }
    for (double c : s.saturated) sat += c;
    packed.insert(packed.end(), {s.rows, sum, sq, sat});
    packed.insert(packed.end(), s.nonzero.begin(), s.nonzero.end());
  }
  if (sum_across_ != nullptr) (*sum_across_)(packed.data(), static_cast<Index>(packed.size()));
  const double* p = packed.data();
  for (Index l = 0; l < net.num_layers(); ++l) {
    LayerState& s = layers_[static_cast<std::size_t>(l)];
    Layer<T>& layer = net.layer(l);
    const double n_units = static_cast<double>(layer.n_out());
    const double rows = p[0], values = rows * n_units;
    LayerDiagnostics d;
    d.layer = layer.index();
    d.kind = LayerRegistry::instance().info(layer.kind()).class_name;
    if (const Activation<T>* act = layer.activation()) d.activation = act->name();
    // mean = shift + S / N, var = Q / N - (S / N)^2 with S, Q the shifted sums
    const double m1 = p[1] / values;
    d.h_mean = s.shift + m1;
    d.h_std = std::sqrt(std::max(0.0, p[2] / values - m1 * m1));
    if (s.bounded) d.saturated_fraction = p[3] / values;
    p += 4;
    if (s.dead_check) {
      double dead = 0;
      for (std::size_t j = 0; j < s.nonzero.size(); ++j) dead += p[j] == 0 ? 1.0 : 0.0;
      d.dead_fraction = rows > 0 ? dead / n_units : kNaN;
      p += s.nonzero.size();
    }
    if (opts_.histograms) {
      const ConstView<T> H = layer.output();
      d.hist_H = histogram({{H.data, s.last_rows * H.cols}}, true);
    }
    if (auto* dense = dynamic_cast<Dense<T>*>(&layer)) {
      const ConstView<T> W = std::as_const(*dense).W(), b = std::as_const(*dense).b();
      const MatrixView<T> dW = dense->dW(), db = dense->db();
      d.w_norm = norm(W.data, W.size());
      d.b_norm = norm(b.data, b.size());
      d.dw_norm = norm(dW.data, dW.size(), grad_scale);
      d.db_norm = norm(db.data, db.size(), grad_scale);
      if (sgd_lr_ > 0) {
        d.update_ratio = sgd_lr_ * *d.dw_norm / *d.w_norm;
      } else if (snapshot_valid_) {
        const Matrix<T>& before = w_before_[static_cast<std::size_t>(l)];
        double q = 0;
        for (Index i = 0; i < W.size(); ++i) {
          const double v = static_cast<double>(W.data[i]) - static_cast<double>(before.data()[i]);
          q += v * v;
        }
        d.update_ratio = std::sqrt(q) / norm(before.data(), before.size());
      } else {
        d.update_ratio = kNaN;
      }
      if (opts_.histograms) {
        const ConstView<T> dZ = dense->dZ();
        d.hist_dZ = histogram({{dZ.data, s.last_rows * dZ.cols}}, true);
        d.hist_W = histogram({{W.data, W.size()}}, false);  // the same on every process
      }
    }
    rec.layers.push_back(std::move(d));
    // start anew, shifted by this record's mean
    s.shift = std::isfinite(rec.layers.back().h_mean) ? rec.layers.back().h_mean : 0.0;
    s.rows = 0;
    std::fill(s.sum.begin(), s.sum.end(), 0.0);
    std::fill(s.sq.begin(), s.sq.end(), 0.0);
    std::fill(s.nonzero.begin(), s.nonzero.end(), 0.0);
    std::fill(s.saturated.begin(), s.saturated.end(), 0.0);
  }
  snapshot_valid_ = false;
  return rec;
}

template <class T>
DiagnosticsRecord diagnose(Network<T>& net, ConstView<T> X, ConstView<T> Y,
                           const DiagnosticsOptions& opts, double lr) {
  net.check_XY(X, Y, "diagnose");
  opts.check();
  if (lr != 0) check_lr(lr);
  // what the passes change besides the figures: the gradients and the count of passes
  std::vector<T> grads;
  for (const Parameter<T>& p : net.parameters())
    grads.insert(grads.end(), p.grad.data, p.grad.data + p.grad.size());
  const std::uint64_t passes = net.passes();
  DiagnosticsRecorder<T> recorder(net, opts);
  recorder.set_sgd_lr(lr);
  DiagnosticsRecord rec;
  try {
    net.prepare_batches(X.rows, 0);
    net.begin_training_pass(/*update_statistics=*/false);
    net.forward_pass(X);
    recorder.observe_forward(net, X.rows);
    net.backward_pass(X, Y);
    rec = recorder.record(net, 0, 0);
    if (lr <= 0)
      for (LayerDiagnostics& d : rec.layers)
        if (d.update_ratio) d.update_ratio.reset();  // no update without an lr
  } catch (...) {
    net.set_random_state(net.seed(), passes);
    throw;
  }
  net.set_random_state(net.seed(), passes);
  const T* from = grads.data();
  for (const Parameter<T>& p : net.parameters()) {
    std::copy(from, from + p.grad.size(), p.grad.data);
    from += p.grad.size();
  }
  return rec;
}

template class DiagnosticsRecorder<float>;
template class DiagnosticsRecorder<double>;
template DiagnosticsRecord diagnose(Network<float>&, ConstView<float>, ConstView<float>,
                                    const DiagnosticsOptions&, double);
template DiagnosticsRecord diagnose(Network<double>&, ConstView<double>, ConstView<double>,
                                    const DiagnosticsOptions&, double);

}  // namespace chainrule
