// Per-layer training diagnostics: what the training loop measures of each layer while it runs
// (the statistics of H, dead and saturated units, the norms of W, dW, b, db, the update-to-
// weight ratio, optional histograms), and the same figures for one batch (diagnose).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "chainrule/collective.hpp"
#include "chainrule/network.hpp"
#include "chainrule/tensor.hpp"
#include "chainrule/training/diagnostics_options.hpp"

namespace chainrule {

/// A histogram over equal-width bins: edges (bins + 1 values) and counts (bins). The range is
/// [-2^e, 2^e] ([0, 2^e] when no value is negative), 2^e the smallest power of two >= every
/// |value| (e clamped to [-64, 63]); value x falls in bin floor((x - lo) / width) clamped to
/// [0, bins - 1], width = (hi - lo) / bins, so that the bins stay put from record to record.
struct Histogram {
  std::vector<double> edges, counts;
};

/// One layer's figures in a record. Optional figures are absent where they do not apply.
struct LayerDiagnostics {
  Index layer = 0;         ///< the 1-based layer number of messages
  std::string kind;        ///< the layer registry's class name ("Dense", "Dropout", ...)
  std::string activation;  ///< the activation's name; empty for a layer without one
  /// Mean and (population) standard deviation of the layer's output H over every value of
  /// every training row since the previous record (over every process).
  double h_mean = 0, h_std = 0;
  /// Units whose output was exactly 0 for every row since the previous record, as a fraction
  /// of the layer's units: for activations whose registry entry has "dead_at_zero" (outputs >= 0).
  std::optional<double> dead_fraction;
  /// Values of H within 3% of the activation's range of its bounds (registry properties
  /// "lower_bound", "upper_bound"): h <= lo + 0.03 (hi - lo) or h >= hi - 0.03 (hi - lo), as
  /// a fraction of the values since the previous record.
  std::optional<double> saturated_fraction;
  /// Dense layers: L2 norms of W and b after the record's last step, of the gradients dW and
  /// db that step's update used (after penalties and clipping), and ||W_after - W_before|| /
  /// ||W_before|| for that update (the optimizer's, lr included; NaN when the last step was
  /// skipped for a batch of weight 0).
  std::optional<double> w_norm, dw_norm, b_norm, db_norm, update_ratio;
  /// With histograms: of H (every layer), dZ and W (dense layers).
  std::optional<Histogram> hist_H, hist_dZ, hist_W;
};

/// One record: the 0-based epoch it was made in (as fit's callbacks count), the steps fit had
/// run when it was made, and every layer's figures (in network order).
struct DiagnosticsRecord {
  Index epoch = 0, step = 0;
  std::vector<LayerDiagnostics> layers;
};

/// Measures a network while a training loop runs it. The loop calls observe_forward after each
/// training forward pass (this process's rows of the step, maybe none), snapshot before the
/// step that ends a record, and record after that step's update. In data-parallel training
/// `sum_across` (the same on every process) combines the processes' figures, so that every
/// process makes the same record.
template <class T>
class DiagnosticsRecorder {
 public:
  /// Sizes everything for `net` (allocations happen here and in snapshot's first call).
  DiagnosticsRecorder(const Network<T>& net, const DiagnosticsOptions& opts,
                      const SumAcrossFn* sum_across = nullptr);
  /// Adds the output of every layer's last forward pass (`rows` rows) to the running figures:
  /// one pass over each H, per-unit sums in T over the step's rows (vectorised across units,
  /// four rows at a time), added to the record's sums in double.
  void observe_forward(const Network<T>& net, Index rows);
  /// Copies every dense layer's W (the update's starting point) before a record's last step.
  void snapshot(const Network<T>& net);
  /// The step whose snapshot was taken updated the weights.
  void step_applied() { snapshot_valid_ = true; }
  /// Makes the record of the figures since the previous one and starts anew. grad_scale
  /// multiplies the gradient buffer's values into the gradients (a data-parallel step that
  /// fused its update keeps the sums over rows: 1 / their weight).
  DiagnosticsRecord record(Network<T>& net, Index epoch, Index step, double grad_scale = 1);
  /// diagnose: the update ratio is that of plain SGD with this lr (lr * ||dW|| / ||W||); none
  /// when lr <= 0.
  void set_sgd_lr(double lr) { sgd_lr_ = lr; }

 private:
  struct LayerState {
    bool dead_check = false, bounded = false;
    double lo = 0, hi = 0;  // saturation thresholds
    T lo_t = 0, hi_t = 0;   // the same for values of T: h <= lo_t iff double(h) <= lo
    double shift = 0;       // the previous record's mean (shifted sums lose less); 0
                            // for dead_at_zero layers, whose column sums tell dead units
    T shift_t = 0;
    double rows = 0;                  // rows seen since the previous record
    double sum = 0, sq = 0, sat = 0;  // sum (h - shift), sum (h - shift)^2, saturated values
    std::vector<double> col;          // dead_at_zero: per unit, sum h (0 iff all h were 0)
    std::vector<T> s, q, c;           // one step's per-unit sums (scratch)
    Index last_rows = 0;              // rows of the last forward pass (histogram of H and dZ)
  };
  template <bool Bounded>
  static void accumulate(LayerState& s, ConstView<T> H, Index rows);
  Histogram histogram(const std::vector<std::pair<const T*, Index>>& parts, bool combine) const;

  DiagnosticsOptions opts_;
  const SumAcrossFn* sum_across_;
  std::vector<LayerState> layers_;
  std::vector<Matrix<T>> w_before_;
  bool snapshot_valid_ = false;
  double sgd_lr_ = 0;
};

/// The figures of one batch: a forward pass in training mode (running statistics not
/// updated) and a backward pass of X (m, n0) against Y (m, nL); the parameters, buffers,
/// gradients and random state are as they were after the call. With lr > 0, update_ratio is
/// lr ||dW|| / ||W|| (plain SGD's step).
template <class T>
DiagnosticsRecord diagnose(Network<T>& net, ConstView<T> X, ConstView<T> Y,
                           const DiagnosticsOptions& opts, double lr = 0);

}  // namespace chainrule
