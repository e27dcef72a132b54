#include "chainrule/training/diagnostics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <variant>

#include "chainrule/error.hpp"
#include "chainrule/kernels/elementwise.hpp"
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

// H (rows, n) -> per unit: s = sum (h - k), q = sum (h - k)^2 and, when Bounded, c = the count
// of h <= lo or h >= hi. Four rows at a time, so that the sums are loaded and stored once per
// four rows; vectorised across units (the same bits for every ISA: no sum is reordered).
template <class T, bool Bounded>
CHAINRULE_CLONES void column_sums(Index rows, Index n, const T* H, T k, T lo, T hi, T* __restrict s,
                                  T* __restrict q, T* __restrict c) {
  for (Index j = 0; j < n; ++j) s[j] = q[j] = T(0);
  if (Bounded)
    for (Index j = 0; j < n; ++j) c[j] = T(0);
  Index i = 0;
  for (; i + 4 <= rows; i += 4) {
    const T* __restrict h0 = H + i * n;
    const T* __restrict h1 = h0 + n;
    const T* __restrict h2 = h1 + n;
    const T* __restrict h3 = h2 + n;
    for (Index j = 0; j < n; ++j) {
      const T a0 = h0[j] - k, a1 = h1[j] - k, a2 = h2[j] - k, a3 = h3[j] - k;
      s[j] += (a0 + a1) + (a2 + a3);
      q[j] += (a0 * a0 + a1 * a1) + (a2 * a2 + a3 * a3);
      if (Bounded) {
        const T b0 = (h0[j] <= lo) | (h0[j] >= hi) ? T(1) : T(0);
        const T b1 = (h1[j] <= lo) | (h1[j] >= hi) ? T(1) : T(0);
        const T b2 = (h2[j] <= lo) | (h2[j] >= hi) ? T(1) : T(0);
        const T b3 = (h3[j] <= lo) | (h3[j] >= hi) ? T(1) : T(0);
        c[j] += (b0 + b1) + (b2 + b3);
      }
    }
  }
  for (; i < rows; ++i) {
    const T* __restrict h = H + i * n;
    for (Index j = 0; j < n; ++j) {
      const T a = h[j] - k;
      s[j] += a;
      q[j] += a * a;
      if (Bounded) c[j] += (h[j] <= lo) | (h[j] >= hi) ? T(1) : T(0);
    }
  }
}

}  // namespace

void DiagnosticsOptions::check() const {
  if (every_epochs < 1)
    throw ValueError("diagnostics: every must be >= 1 (epochs), got " +
                     std::to_string(every_epochs));
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
    const Activation<T>* act = layer.activation();
    if (act != nullptr && act->registered()) {  // a custom activation has no properties
      const std::string name = act->name();
      s.dead_check = flag_property(name, "dead_at_zero");
      const auto lo = number_property(name, "lower_bound"),
                 hi = number_property(name, "upper_bound");
      s.bounded = lo.has_value() && hi.has_value();
      if (s.bounded) {
        s.lo = *lo + kSaturation * (*hi - *lo);
        s.hi = *hi - kSaturation * (*hi - *lo);
        // the values of T on each side of the thresholds: compared in T, as in double
        s.lo_t = static_cast<T>(s.lo);
        if (static_cast<double>(s.lo_t) > s.lo)
          s.lo_t = std::nextafter(s.lo_t, -std::numeric_limits<T>::infinity());
        s.hi_t = static_cast<T>(s.hi);
        if (static_cast<double>(s.hi_t) < s.hi)
          s.hi_t = std::nextafter(s.hi_t, std::numeric_limits<T>::infinity());
      }
    }
    s.s.assign(n, T(0));
    s.q.assign(n, T(0));
    if (s.bounded) s.c.assign(n, T(0));
    if (s.dead_check) s.col.assign(n, 0.0);
  }
}

// H (rows, n) -> the step's per-unit sums of (h - shift), (h - shift)^2 and, when Bounded, of
// the values beyond the saturation thresholds (column_sums), added to the record's sums.
template <class T>
template <bool Bounded>
void DiagnosticsRecorder<T>::accumulate(LayerState& st, ConstView<T> H, Index rows) {
  const Index n = H.cols;
  const T* s = st.s.data();
  const T* q = st.q.data();
  const T* c = st.c.data();
  column_sums<T, Bounded>(rows, n, H.data, st.shift_t, st.lo_t, st.hi_t, st.s.data(), st.q.data(),
                          Bounded ? st.c.data() : nullptr);
  double sum = 0, sq = 0, sat = 0;
  for (Index j = 0; j < n; ++j) {
    sum += static_cast<double>(s[j]);
    sq += static_cast<double>(q[j]);
    if (Bounded) sat += static_cast<double>(c[j]);
  }
  // dead_at_zero layers (shift 0, outputs >= 0): a unit's sum is 0 iff all its outputs were
  if (!st.col.empty())
    for (Index j = 0; j < n; ++j) st.col[static_cast<std::size_t>(j)] += static_cast<double>(s[j]);
  st.sum += sum;
  st.sq += sq;
  st.sat += sat;
  st.rows += static_cast<double>(rows);
}

template <class T>
void DiagnosticsRecorder<T>::observe_forward(const Network<T>& net, Index rows) {
  for (Index l = 0; l < net.num_layers(); ++l) {
    LayerState& s = layers_[static_cast<std::size_t>(l)];
    s.last_rows = rows;
    if (rows == 0) continue;
    const ConstView<T> H = net.layer(l).output();
    if (s.bounded)
      accumulate<true>(s, H, rows);
    else
      accumulate<false>(s, H, rows);
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
  for (Index k = 0; k <= bins; ++k)
    h.edges[static_cast<std::size_t>(k)] = lo + static_cast<double>(k) * width;
  h.counts.assign(static_cast<std::size_t>(bins), 0.0);
  for (const auto& [x, n] : parts)
    for (Index i = 0; i < n; ++i) {
      const double b = std::floor((static_cast<double>(x[i]) - lo) / width);
      // (below the range or NaN: bin 0; above it: the last bin)
      const Index k =
          !(b >= 0) ? 0 : (b >= static_cast<double>(bins) ? bins - 1 : static_cast<Index>(b));
      h.counts[static_cast<std::size_t>(k)] += 1;
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
    packed.insert(packed.end(), {s.rows, s.sum, s.sq, s.sat});
    packed.insert(packed.end(), s.col.begin(), s.col.end());
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
      for (std::size_t j = 0; j < s.col.size(); ++j) dead += p[j] == 0 ? 1.0 : 0.0;
      d.dead_fraction = rows > 0 ? dead / n_units : kNaN;
      p += s.col.size();
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
    // start anew, shifted by this record's mean (but dead_at_zero layers)
    const double mean = rec.layers.back().h_mean;
    s.shift = !s.dead_check && std::isfinite(mean) ? mean : 0.0;
    s.shift_t = static_cast<T>(s.shift);
    s.shift = static_cast<double>(s.shift_t);  // exactly what is subtracted
    s.rows = s.sum = s.sq = s.sat = 0;
    std::fill(s.col.begin(), s.col.end(), 0.0);
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
  const bool ready = net.gradients_ready();
  DiagnosticsRecorder<T> recorder(net, opts);
  recorder.set_sgd_lr(lr);
  DiagnosticsRecord rec;
  {
    const typename Network<T>::PassesBack passes_back(net);  // however the passes end
    net.prepare_batches(X.rows, 0);
    net.begin_training_pass(/*update_statistics=*/false);
    net.forward_pass(X);
    recorder.observe_forward(net, X.rows);
    net.backward_pass(X, Y);
    rec = recorder.record(net, 0, 0);
    if (lr <= 0)
      for (LayerDiagnostics& d : rec.layers)
        if (d.update_ratio) d.update_ratio.reset();  // no update without an lr
  }
  const T* from = grads.data();
  for (const Parameter<T>& p : net.parameters()) {
    std::copy(from, from + p.grad.size(), p.grad.data);
    from += p.grad.size();
  }
  net.set_gradients_ready(ready);  // the gradients are back: step() applies them as before
  return rec;
}

template class DiagnosticsRecorder<float>;
template class DiagnosticsRecorder<double>;
template DiagnosticsRecord diagnose(Network<float>&, ConstView<float>, ConstView<float>,
                                    const DiagnosticsOptions&, double);
template DiagnosticsRecord diagnose(Network<double>&, ConstView<double>, ConstView<double>,
                                    const DiagnosticsOptions&, double);

}  // namespace chainrule
