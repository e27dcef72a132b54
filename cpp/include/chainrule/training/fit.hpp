// What a training run takes and gives: its options, data, hooks, and what each epoch measured.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "chainrule/clipping.hpp"
#include "chainrule/schedule.hpp"
#include "chainrule/tensor.hpp"
#include "chainrule/training/diagnostics_options.hpp"

namespace chainrule {

/// Options of fit.
struct FitOptions {
  Index epochs = 1;
  double lr = 0.01;      ///< the base learning rate (a schedule starts from it)
  Index batch_size = 0;  ///< 0: the whole data set in one batch
  bool shuffle = false;  ///< when true, FitHooks::permutation orders each epoch
  /// The learning rate of each epoch; nullptr keeps lr constant. Restarted by every fit.
  LRSchedule* schedule = nullptr;
  /// Metric names ("accuracy", "r2") measured every epoch on the training data (over its
  /// batches, from each forward pass before the update) and on the validation data.
  std::vector<std::string> metrics;
  /// Each step's gradients clipped (by value, then by their global norm) before the update;
  /// data-parallel, the mean gradient over every process, so the result is single-process
  /// training's. An update that plain SGD would fuse into the backward pass then runs after it.
  GradientClipping clip;
  /// Data-parallel training (with a reducer that sums across processes): the number of rows
  /// of the global data set, the concatenation of every process's shard, and where this
  /// process's rows (X) start in it. batch_size counts global rows, and so does batch
  /// normalisation's need of rows per batch; see fit.
  Index global_rows = 0;
  Index row_offset = 0;
  /// Per-layer diagnostics (training/diagnostics.hpp), delivered to FitHooks::on_diagnostics.
  /// A fast path of the training loop that cannot make them must give way when `on` is set.
  DiagnosticsOptions diagnostics;
};

/// The data of fit. Views that are left empty (data == nullptr) are absent.
template <class T>
struct FitData {
  ConstView<T> X, Y;           ///< (n, n0), (n, nL)
  ConstView<T> sample_weight;  ///< n values >= 0 (any shape); absent: every row weighs 1
  ConstView<T> X_val, Y_val;   ///< a validation set (nv, n0), (nv, nL), evaluated after each epoch
  ConstView<T> val_weight;     ///< nv values >= 0; absent: 1
};

/// What one epoch measured.
struct EpochLogs {
  double loss = 0;      ///< mean (weighted) training loss, each batch's before its update
  double val_loss = 0;  ///< (weighted) loss on the validation set after the epoch; NaN if none
  double lr = 0;        ///< the learning rate of the epoch
  std::vector<double> metrics, val_metrics;  ///< in FitOptions::metrics order
};

/// Everything fit measured, one entry per epoch run.
struct FitResult {
  std::vector<double> loss, val_loss, lr;
  std::vector<std::vector<double>> metrics, val_metrics;  ///< [metric][epoch]
};

/// What Trainer::evaluate measured.
struct Evaluation {
  double loss = 0;              ///< the (weighted) mean loss
  std::vector<double> metrics;  ///< in the order of the names asked for
};

struct DiagnosticsRecord;

/// Points where the training loop calls out; each may be empty.
struct FitHooks {
  /// Fills perm (n,) with the sample order of `epoch` (a permutation of 0..n-1).
  std::function<void(Index epoch, Index n, Index* perm)> permutation;
  /// Called after each epoch with what it measured; returning false stops training.
  /// With on_epoch_end_interval > 0, only after epochs that end at least that many seconds
  /// (steady clock) after the previous call returned (or after fit started), and always after
  /// the last epoch; FitResult still holds every epoch.
  std::function<bool(Index epoch, const EpochLogs& logs)> on_epoch_end;
  /// Seconds between calls of on_epoch_end: 0 calls it after every epoch. For hooks that
  /// only observe (a live dashboard), so that re-entering the caller (Python) after each of
  /// many tiny epochs does not slow training; the check is one clock read per epoch.
  double on_epoch_end_interval = 0;
  /// Called before each batch with the epoch and the rows of it done so far (of rows in all,
  /// over every process); may throw to stop at this batch boundary (Ctrl-C) and may report
  /// progress within the epoch.
  std::function<void(Index epoch, Index rows_done, Index rows)> poll;
  /// With FitOptions::diagnostics on: each record as it is made (before on_epoch_end of its
  /// epoch).
  std::function<void(const DiagnosticsRecord& record)> on_diagnostics;
};

}  // namespace chainrule
