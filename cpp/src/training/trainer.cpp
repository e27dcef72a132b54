#include "chainrule/training/trainer.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>

#include "chainrule/error.hpp"
#include "chainrule/training/diagnostics.hpp"
#include "chainrule/training/small_step.hpp"
#include "chainrule/training/weight_scale.hpp"

namespace chainrule {

namespace {

// Epochs are counted from 1 in messages, as in fit's progress output.
std::string kept_note(Index epoch) {
  return epoch == 0 ? std::string("; the initial weights were kept (try a smaller lr)")
                    : "; the weights after epoch " + std::to_string(epoch) +
                          ", the last finite one, were kept (try a smaller lr)";
}

// Throws unless w holds n finite values >= 0 with a positive sum (unless !positive_sum: a
// data-parallel shard, whose rows may all weigh 0 when another shard's do not; fit checks the
// sum over every process); returns the sum.
template <class T>
double check_weights(ConstView<T> w, Index n, const std::string& what, bool positive_sum = true) {
  if (w.size() != n)
    throw ValueError(what + " has " + std::to_string(w.size()) + " values for " +
                     std::to_string(n) + " rows");
  double sum = 0;
  for (Index i = 0; i < n; ++i) {
    if (!(std::isfinite(w.data[i]) && w.data[i] >= T(0)))
      throw ValueError(what + " must be finite and >= 0, got " +
                       shortest_repr(static_cast<double>(w.data[i])) + " at row " +
                       std::to_string(i) + float32_inf_note(w.data[i]));
    sum += static_cast<double>(w.data[i]);
  }
  if (positive_sum && !(sum > 0))
    throw ValueError(what + " sums to 0: at least one row needs a positive weight");
  return sum;
}

}  // namespace

template <class T>
void Trainer<T>::check_batches(Index rows, const FitOptions& opts) const {
  const Index need = net_.min_training_rows();  // batch normalisation: 2
  if (need > 1 && opts.epochs > 0 && opts.batch_size >= 0 && rows > 0) {
    const Index N = rows;
    const Index bs = opts.batch_size == 0 ? N : std::min(opts.batch_size, N);
    const Index smallest = N % bs == 0 ? bs : N % bs;
    const std::string where = opts.global_rows > 0 ? " over every process" : "";
    if (N < need)  // no batch_size helps (validation_split holds out its rows before this)
      throw ValueError("fit: batch normalisation needs at least " + std::to_string(need) +
                       " rows per training batch, but there are " + std::to_string(N) +
                       " training row(s)" + where + " in all; give it more rows");
    if (smallest < need)
      throw ValueError("fit: batch normalisation needs at least " + std::to_string(need) +
                       " rows per training batch, but batch_size=" + std::to_string(bs) +
                       " leaves a batch of " + std::to_string(smallest) + " row(s) of the " +
                       std::to_string(N) + " rows" + where + "; choose another batch_size");
  }
}

template <class T>
void Trainer<T>::check(const FitData<T>& d, const FitOptions& opts, bool data_parallel) const {
  net_.check_XY(d.X, d.Y, "fit");
  check_lr(opts.lr);
  opts.clip.check();
  if (opts.epochs < 0) throw ValueError("epochs must be >= 0, got " + std::to_string(opts.epochs));
  if (opts.diagnostics.on) opts.diagnostics.check();
  if (opts.batch_size < 0)
    throw ValueError("batch_size must be >= 1, got " + std::to_string(opts.batch_size));
  if (!data_parallel) check_batches(d.X.rows, opts);
  if (d.sample_weight.data != nullptr)
    check_weights(d.sample_weight, d.X.rows, "fit: sample_weight", !data_parallel);
  const bool validate = d.X_val.data != nullptr || d.Y_val.data != nullptr;
  if (validate) {
    if (d.X_val.data == nullptr || d.Y_val.data == nullptr)
      throw ValueError("fit: validation data needs both X and Y");
    net_.check_XY(d.X_val, d.Y_val, "fit: validation_data");
    if (d.val_weight.data != nullptr)
      check_weights(d.val_weight, d.X_val.rows, "fit: validation sample_weight", !data_parallel);
  } else if (d.val_weight.data != nullptr) {
    throw ValueError("fit: validation sample_weight without validation data");
  }
  for (const auto& name : opts.metrics) make_metric<T>(name);
  if (opts.schedule != nullptr && opts.schedule->uses_monitor() &&
      opts.schedule->monitors_validation_loss() && !validate)
    throw ValueError("fit: " + opts.schedule->repr() +
                     " monitors the validation loss, but fit has no validation data (pass "
                     "validation_data or validation_split, or monitor='loss')");
}

// The binary exponent of the largest weight of w (kNoWeightExponent for none), over every
// process in data-parallel training: each adds its largest times 2^-64 and times 2^64, sums
// that lie between the largest and P times it, one of which neither overflows nor underflows;
// the exponent is then known to within log2(P), which is all weight_scale needs.
template <class T>
int Trainer<T>::weight_exponent(ConstView<T> w, bool across_processes) {
  const int e = largest_weight_exponent(w.data, w.data != nullptr ? w.size() : 0);
  // (float32 weights lie within [2^-149, 2^128], which weight_scale leaves as they are: no
  // collective call, on any process)
  if (!across_processes || std::is_same_v<T, float>) return e;
  const double largest = e == kNoWeightExponent ? 0.0 : std::ldexp(1.0, e);
  const auto [high, low] = reducer_->reduce_pair(largest * 0x1p-64, largest * 0x1p64);
  if (low == 0) return kNoWeightExponent;
  return std::isfinite(low) ? std::ilogb(low) - 64 : std::ilogb(high) + 64;
}

// X (m, n0), Y (m, nL), w (m) -> the (weighted) mean loss; every chunk is added to metrics
template <class T>
double Trainer<T>::evaluate(ConstView<T> X, ConstView<T> Y, const T* w, Index chunk,
                            std::vector<std::unique_ptr<Metric<T>>>& metrics, double* weight_out,
                            const std::function<void()>& poll) {
  for (auto& metric : metrics) metric->reset();
  net_.begin_inference();
  double total = 0, weight = 0;
  for (Index r = 0; r < X.rows; r += chunk) {
    if (r > 0 && poll) poll();
    const Index rows = std::min(chunk, X.rows - r);
    const ConstView<T> x = X.row_range(r, rows), y = Y.row_range(r, rows);
    const T* wr = w != nullptr ? w + r : nullptr;
    net_.forward_pass(x);
    total += net_.pass_loss_sum(y, wr, &weight);
    for (auto& metric : metrics) metric->accumulate(net_.output(), y, wr);
  }
  *weight_out = weight;
  return total / weight + net_.penalty();
}

template <class T>
Evaluation Trainer<T>::evaluate(ConstView<T> X, ConstView<T> Y, ConstView<T> w,
                                const std::vector<std::string>& names, Index batch_size,
                                const std::function<void()>& poll) {
  net_.check_XY(X, Y, "evaluate");
  if (batch_size < 0)
    throw ValueError("evaluate: batch_size must be >= 1, got " + std::to_string(batch_size));
  if (w.data != nullptr) check_weights(w, X.rows, "evaluate: sample_weight");
  Matrix<T> scaled;  // weights far from 1 scaled by a power of two (weight_scale.hpp)
  w = scaled_weights(w, weight_scale(weight_exponent(w, false)), scaled);
  std::vector<std::unique_ptr<Metric<T>>> metrics;
  for (const auto& name : names) {
    metrics.push_back(make_metric<T>(name));
    metrics.back()->prepare(net_.n_outputs());
  }
  const Index chunk = std::min(X.rows, batch_size == 0 ? Network<T>::kPredictChunk : batch_size);
  net_.prepare_batches(chunk, w.data != nullptr ? chunk : 0);
  Evaluation out;
  double weight = 0;
  out.loss = evaluate(X, Y, w.data, chunk, metrics, &weight, poll);
  for (const auto& metric : metrics) out.metrics.push_back(metric->result());
  return out;
}

template <class T>
FitResult Trainer<T>::fit(const FitData<T>& given, const FitOptions& opts, const FitHooks& hooks) {
  const bool distributed = reducer_->across_processes();
  check(given, opts, distributed);
  if (distributed) {
    if (!hooks.permutation)
      throw ValueError(
          "fit: data-parallel training needs a permutation hook (the global row order)");
    if (opts.row_offset < 0 || opts.global_rows < opts.row_offset + given.X.rows)
      throw ValueError("fit: this process's " + std::to_string(given.X.rows) + " rows from row " +
                       std::to_string(opts.row_offset) + " do not fit in the global data set of " +
                       std::to_string(opts.global_rows) + " rows");
    check_batches(opts.global_rows, opts);  // the batches span every process's rows
    if (!opts.metrics.empty() && !reducer_->sum_across())
      throw ValueError("fit: metrics in data-parallel training need the sum_across hook");
    if (net_.uses_batch_statistics() && !reducer_->sum_across())
      throw ValueError(
          "fit: data-parallel training with batch normalisation needs the "
          "sum_across hook (its statistics are over every process's rows)");
  }
  FitData<T> d = given;  // its weights scaled below (once the reducer is attached)
  Matrix<T> scaled_w, scaled_val_w;
  if (opts.shuffle && !hooks.permutation) throw ValueError("fit: shuffle needs a permutation hook");
  if (!(hooks.on_epoch_end_interval >= 0) || !std::isfinite(hooks.on_epoch_end_interval))
    throw ValueError(
        "fit: the interval between on_epoch_end calls must be a finite number of "
        "seconds >= 0, got " +
        shortest_repr(hooks.on_epoch_end_interval));
  if (distributed && opts.diagnostics.on && !reducer_->sum_across())
    throw ValueError("fit: diagnostics in data-parallel training need the sum_across hook");
  // data-parallel batch normalisation: the layers sum their statistics over the processes
  // (SyncBatchNorm), the one collective call below the training loop (see PassContext)
  const SumAcrossFn* sync =
      distributed && net_.uses_batch_statistics() ? &reducer_->sum_across() : nullptr;
  // the rows of each step are gathered in the order of a permutation (of the global rows)
  const bool ordered = opts.shuffle || distributed;
  const ConstView<T> X = d.X, Y = d.Y;
  const bool weighted = d.sample_weight.data != nullptr;
  const bool validate = d.X_val.data != nullptr;

  const Index n = X.rows;                              // this process's rows
  const Index N = distributed ? opts.global_rows : n;  // the rows an epoch visits
  const Index bs = opts.batch_size == 0 ? N : std::min(opts.batch_size, N);
  const Index eval_chunk =
      validate ? std::max(bs, std::min(d.X_val.rows, Network<T>::kPredictChunk)) : 0;
  // Everything the loop needs is allocated here, before the first step.
  net_.prepare_batches(std::max(bs, eval_chunk),
                       std::max(weighted ? bs : 0, d.val_weight.data != nullptr ? eval_chunk : 0));
  net_.forget_gradients();  // the steps below write (or skip) them
  std::vector<Index> perm(ordered ? static_cast<std::size_t>(N) : 0);
  Matrix<T> Xb(ordered ? bs : 0, X.cols), Yb(ordered ? bs : 0, Y.cols);
  Matrix<T> Wb(ordered && weighted ? bs : 0, 1);
  // a data-parallel step's rows: their positions in the step's global batch (dropout masks
  // are drawn per global row, so that the processes together draw what one process would)
  std::vector<Index> row_ids(distributed ? static_cast<std::size_t>(bs) : 0);
  std::vector<std::unique_ptr<Metric<T>>> train_metrics, val_metrics;
  for (const auto& name : opts.metrics) {
    train_metrics.push_back(make_metric<T>(name));
    train_metrics.back()->prepare(net_.n_outputs());
    if (validate) {
      val_metrics.push_back(make_metric<T>(name));
      val_metrics.back()->prepare(net_.n_outputs());
    }
  }
  net_.save_rollback();  // the weights a divergence in the first epoch goes back to
  // An optimizer whose update is p -= lr g without state runs it inside the backward pass,
  // block by block; not when the gradients must be summed across processes first, nor
  // clipped (clipping by norm needs every gradient first), nor when an activation from
  // outside the core may raise below a layer already updated (the step would be half done).
  // (The optimizer is asked at every step, never held: a callback may install another one
  // between epochs.)
  const bool clip = opts.clip.active();
  const bool may_fuse = !distributed && !clip && !net_.has_external_activations();
  const std::size_t n_metrics = opts.metrics.size();
  // (capped: a huge epoch count, stopped by Ctrl-C or a callback, must not reserve terabytes)
  const std::size_t capacity =
      static_cast<std::size_t>(std::min<Index>(opts.epochs, Index(1) << 16));
  FitResult result;
  result.loss.reserve(capacity);
  result.lr.reserve(capacity);
  if (validate) result.val_loss.reserve(capacity);
  result.metrics.resize(n_metrics);
  result.val_metrics.resize(validate ? n_metrics : 0);
  for (auto& v : result.metrics) v.reserve(capacity);
  for (auto& v : result.val_metrics) v.reserve(capacity);
  EpochLogs logs;
  logs.metrics.assign(n_metrics, 0.0);
  logs.val_metrics.assign(validate ? n_metrics : 0, 0.0);
  logs.val_loss = std::numeric_limits<double>::quiet_NaN();
  if (opts.schedule != nullptr) opts.schedule->start(opts.lr, opts.epochs);

  struct Attached {  // the reducer's set-up, undone however fit ends
    GradientReducer<T>& reducer;
    Network<T>& net;
    ~Attached() { reducer.detach(net); }
  };
  reducer_->attach(net_);
  const Attached attached{*reducer_, net_};
  // weights far from 1 scaled by a power of two (training/weight_scale.hpp), the same on
  // every process
  d.sample_weight =
      scaled_weights(given.sample_weight,
                     weight_scale(weight_exponent(given.sample_weight, distributed)), scaled_w);
  d.val_weight = scaled_weights(
      given.val_weight, weight_scale(weight_exponent(given.val_weight, distributed)), scaled_val_w);
  // a plain network of narrow dense layers: each step's gradients in one fused call, when
  // the shape policy (kernels/shape_policy.hpp) chooses it; nullptr: the layers' own passes
  // (always with diagnostics, which observe each layer's forward pass)
  const std::unique_ptr<SmallStep<T>> small =
      SmallStep<T>::make(net_, bs, !distributed && !weighted && !clip && !opts.diagnostics.on);

  // per-layer diagnostics: figures of each step's forward pass, and a record after the last
  // step of every k-th epoch (or every k-th step)
  std::optional<DiagnosticsRecorder<T>> diag;
  if (opts.diagnostics.on)
    diag.emplace(net_, opts.diagnostics, distributed ? &reducer_->sum_across() : nullptr);
  const Index every_steps = opts.diagnostics.every_steps;
  Index steps = 0;  // steps run by this fit

  // on_epoch_end at most every on_epoch_end_interval seconds (and after the last epoch);
  // data-parallel, after every epoch: a hook that stops training must stop every process at
  // the same epoch, and their clocks differ
  using clock = std::chrono::steady_clock;
  const bool throttled = hooks.on_epoch_end && hooks.on_epoch_end_interval > 0 && !distributed;
  const auto hook_interval =
      std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(
          throttled ? std::min(hooks.on_epoch_end_interval, 1e9) : 0.0));  // (1e9 s: no overflow)
  auto last_hook = clock::now();

  // Ctrl-C in a long validation pass (the epoch's training rows all done); made once a fit,
  // not once an epoch (a std::function of these captures allocates)
  Index val_epoch = 0;
  const std::function<void()> val_poll =
      hooks.poll ? std::function<void()>([&] { hooks.poll(val_epoch, N, N); })
                 : std::function<void()>();

  for (Index epoch = 0; epoch < opts.epochs; ++epoch) {
    const double lr = opts.schedule != nullptr ? opts.schedule->lr(epoch) : opts.lr;
    if (ordered) {
      hooks.permutation(epoch, N, perm.data());
      for (Index i = 0; i < N; ++i)
        if (perm[static_cast<std::size_t>(i)] < 0 || perm[static_cast<std::size_t>(i)] >= N)
          throw ValueError("fit: the permutation of epoch " + std::to_string(epoch) +
                           " has an index out of range");
    }
    for (auto& metric : train_metrics) metric->reset();
    double total = 0, total_weight = 0;
    const bool record_epoch =
        diag && every_steps == 0 && (epoch + 1) % opts.diagnostics.every_epochs == 0;
    bool recorded = false;
    for (Index start = 0; start < N; start += bs) {
      if (hooks.poll) hooks.poll(epoch, start, N);
      const Index gb = std::min(bs, N - start);  // rows of this step (over all processes)
      Index mb = gb;                             // this process's rows of this step
      ConstView<T> xb, yb;
      const T* wb = nullptr;
      if (ordered) {
        Xb.resize(gb, X.cols);
        Yb.resize(gb, Y.cols);
        if (weighted) Wb.resize(gb, 1);
        mb = 0;
        for (Index i = 0; i < gb; ++i) {  // gather rows perm[start + i] (those of this process)
          Index src = perm[static_cast<std::size_t>(start + i)];
          if (distributed) {
            src -= opts.row_offset;
            if (src < 0 || src >= n) continue;  // another process's row
          }
          if (distributed) row_ids[static_cast<std::size_t>(mb)] = i;
          std::copy(X.row(src), X.row(src) + X.cols, Xb.data() + mb * X.cols);
          std::copy(Y.row(src), Y.row(src) + Y.cols, Yb.data() + mb * Y.cols);
          if (weighted) Wb.data()[mb] = d.sample_weight.data[src];
          ++mb;
        }
        xb = ConstView<T>(Xb.data(), mb, X.cols);
        yb = ConstView<T>(Yb.data(), mb, Y.cols);
        if (weighted) wb = Wb.data();
      } else {
        xb = X.row_range(start, mb);
        yb = Y.row_range(start, mb);
        if (weighted) wb = d.sample_weight.data + start;
      }
      // a step that raises (an extension's error) leaves the dropout stream and the running
      // statistics as they were after the last step that ran
      typename Network<T>::PassUndo undo(net_);
      // every process counts every step's pass, rows or not
      net_.begin_training_pass(true, distributed ? row_ids.data() : nullptr, sync,
                               distributed ? gb : 0);
      double batch_weight = static_cast<double>(mb);
      if (weighted) {
        batch_weight = 0;
        for (Index i = 0; i < mb; ++i) batch_weight += static_cast<double>(wb[i]);
        if (batch_weight == 0 && !distributed) continue;  // all weights 0: nothing to learn
        if (sync != nullptr) {
          // a batch without weight on any process is skipped by all before its forward pass
          // (which would move the running statistics), as one process skips it
          double global_weight = batch_weight;
          (*sync)(&global_weight, 1);
          if (global_weight == 0) continue;
        }
      }
      const bool fuse_update = may_fuse && net_.optimizer().fuses_into_backward();
      // the step that ends a diagnostics record: its update is measured (not fused)
      const bool record_step = diag && (every_steps > 0 ? (steps + 1) % every_steps == 0
                                                        : record_epoch && start + bs >= N);
      if (record_step) diag->snapshot(net_);
      double batch_loss, step_weight = batch_weight;
      bool fused_sums = false;  // a data-parallel update from the gradients' sums
      if (distributed) {
        // this process's [sum_i w_i dW_i ...], sum_i w_i l_i and sum_i w_i, summed over every
        // process, then divided by the global weight
        double local_sum = 0;
        if (mb > 0 && (batch_weight > 0 || sync != nullptr)) {
          // (with batch normalisation, rows of weight 0 count in the statistics: they run too)
          net_.forward_pass(xb);
          if (diag) diag->observe_forward(net_, mb);
          // [dW; db] = sum_i w_i (dW_i; db_i): with w_sum = grad_scale = mb, each row's delta
          // is scaled by w_i alone and the gradients are sums over rows (GradientMode::scale
          // 1), which batch normalisation's backward pass adds up across the processes (the
          // penalties are added once, to the sum over the processes)
          const double rows = static_cast<double>(mb);
          const double local_loss =
              net_.backward_pass(xb, yb, wb, rows, T(0), rows, /*penalties=*/false);
          local_sum = local_loss * rows;  // sum_i w_i l_i
          // this process's rows of the batch, from the weights before the update
          for (auto& metric : train_metrics) metric->accumulate(net_.output(), yb, wb);
        } else if (sync != nullptr) {
          net_.pass_without_rows();  // batch normalisation's sums, with nothing of its own
          if (diag) diag->observe_forward(net_, 0);
        } else {
          net_.zero_gradients();
          if (diag) diag->observe_forward(net_, 0);
        }
        const auto [loss_sum, global_weight] = reducer_->reduce_step(net_, local_sum, batch_weight);
        if (global_weight == 0) continue;  // all weights 0 on every process: skipped by all
        batch_loss = loss_sum / global_weight + net_.penalty();
        step_weight = global_weight;
      } else if (small) {
        batch_loss = small->gradients(xb, yb);  // the update follows, below
      } else {
        net_.forward_pass(xb);
        if (diag) diag->observe_forward(net_, mb);
        batch_loss = net_.backward_pass(xb, yb, wb, batch_weight,
                                        fuse_update && !record_step ? static_cast<T>(lr) : T(0));
      }
      if (!std::isfinite(batch_loss)) {
        undo.keep();  // the rollback puts the last finite epoch's state back
        net_.rollback();
        throw DivergenceError("training diverged: the loss became " + shortest_repr(batch_loss) +
                                  " in epoch " + std::to_string(epoch + 1) + kept_note(epoch),
                              epoch);
      }
      if (distributed) {
        if (net_.optimizer().fuses_into_backward() && !net_.has_penalties() && !clip) {
          // W -= lr dW with dW = sum / global_weight: W -= (lr / global_weight) sum, one pass
          net_.apply_update(static_cast<T>(lr / step_weight));
          fused_sums = true;
        } else {
          net_.divide_gradients(static_cast<T>(step_weight));  // dW = sum_i w_i dW_i / sum_i w_i
          net_.add_penalty_gradients();
          net_.clip_gradients(opts.clip);  // of the global mean, as single-process training
          net_.apply_update(static_cast<T>(lr));
        }
      } else {
        // H[L] is the forward pass of this batch, from the weights before the update
        for (auto& metric : train_metrics)
          metric->accumulate(small ? small->output() : net_.output(), yb, wb);
        if (fuse_update && !small && !record_step) {
          net_.optimizer().begin_step();  // the update ran in backward_pass; count the step
        } else if (small) {
          small->update(static_cast<T>(lr));  // (no clipping: the fused step has none)
        } else {
          net_.clip_gradients(opts.clip);
          net_.apply_update(static_cast<T>(lr));
        }
      }
      undo.keep();  // the update ran: what follows (a diagnostics hook) cannot take it back
      total += batch_loss * step_weight;
      total_weight += step_weight;
      ++steps;
      if (record_step) {
        diag->step_applied();
        const DiagnosticsRecord rec =
            diag->record(net_, epoch, steps, fused_sums ? 1.0 / step_weight : 1.0);
        recorded = true;
        if (hooks.on_diagnostics) hooks.on_diagnostics(rec);
      }
    }
    if (record_epoch && !recorded) {  // the epoch's last step was skipped (weight 0)
      const DiagnosticsRecord rec = diag->record(net_, epoch, steps);
      if (hooks.on_diagnostics) hooks.on_diagnostics(rec);
    }
    if (!net_.params_finite()) {
      net_.rollback();
      throw DivergenceError(std::string("training diverged: a weight ") +
                                (net_.buffers().empty() ? "" : "or running statistic ") +
                                "became non-finite in epoch " + std::to_string(epoch + 1) +
                                kept_note(epoch),
                            epoch);
    }
    // the weights a divergence in the next epoch goes back to (after the last epoch, none)
    if (epoch + 1 < opts.epochs) net_.save_rollback();
    logs.loss = total / total_weight;
    logs.lr = lr;
    result.loss.push_back(logs.loss);
    result.lr.push_back(lr);
    for (std::size_t k = 0; k < n_metrics; ++k) {
      if (distributed) train_metrics[k]->combine(reducer_->sum_across());
      logs.metrics[k] = train_metrics[k]->result();
      result.metrics[k].push_back(logs.metrics[k]);
    }
    if (validate) {
      // sum of (weighted) losses and of weights over every process's validation rows
      double val_weight = 0;
      val_epoch = epoch;
      const double local = evaluate(d.X_val, d.Y_val, d.val_weight.data, eval_chunk, val_metrics,
                                    &val_weight, val_poll);
      if (distributed) {
        // (a process whose validation rows all weigh 0 adds nothing: its own mean is 0 / 0)
        const double local_sum = val_weight > 0 ? local * val_weight : 0.0;
        const auto [sum, weight] = reducer_->reduce_pair(local_sum, val_weight);
        logs.val_loss = sum / weight;
      } else {
        logs.val_loss = local;
      }
      result.val_loss.push_back(logs.val_loss);
      for (std::size_t k = 0; k < n_metrics; ++k) {
        if (distributed) val_metrics[k]->combine(reducer_->sum_across());
        logs.val_metrics[k] = val_metrics[k]->result();
        result.val_metrics[k].push_back(logs.val_metrics[k]);
      }
    }
    if (opts.schedule != nullptr)
      opts.schedule->epoch_end(
          epoch, opts.schedule->monitors_validation_loss() ? logs.val_loss : logs.loss);
    if (hooks.on_epoch_end) {
      if (throttled && epoch + 1 < opts.epochs && clock::now() - last_hook < hook_interval)
        continue;
      if (!hooks.on_epoch_end(epoch, logs)) break;
      if (throttled) last_hook = clock::now();
    }
  }
  return result;
}

template class Trainer<float>;
template class Trainer<double>;

}  // namespace chainrule
