// The built-in metrics and the name -> metric factory.
#include "chainrule/metric.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "chainrule/error.hpp"
#include "chainrule/metrics/all.hpp"

namespace chainrule {

// ---- accuracy -------------------------------------------------------------------------------

// H, Y (m, n) -> correct += sum w [row i is classified correctly], total += sum w
template <class T>
void Accuracy<T>::accumulate_impl(ConstView<T> H, ConstView<T> Y, const T* w) {
  for (Index i = 0; i < H.rows; ++i) {
    const bool ok = row_class(H.row(i), H.cols) == row_class(Y.row(i), Y.cols);
    const double wi = w != nullptr ? static_cast<double>(w[i]) : 1.0;
    if (ok) correct_ += wi;
    total_ += wi;
  }
}

template <class T>
double Accuracy<T>::result_impl() const {
  return total_ > 0 ? correct_ / total_ : std::numeric_limits<double>::quiet_NaN();
}

// {correct, total} summed over every process
template <class T>
void Accuracy<T>::combine_impl(const SumAcrossFn& sum_across) {
  double totals[2] = {correct_, total_};
  sum_across(totals, 2);
  correct_ = totals[0];
  total_ = totals[1];
}

// ---- R^2 ------------------------------------------------------------------------------------

template <class T>
void R2<T>::prepare_impl(Index n_out) {
  for (auto* v : {&weight_, &mean_, &m2_, &ss_res_, &batch_mean_, &batch_m2_})
    v->assign(static_cast<std::size_t>(n_out), 0.0);
}

template <class T>
void R2<T>::reset_impl() {
  for (auto* v : {&weight_, &mean_, &m2_, &ss_res_}) std::fill(v->begin(), v->end(), 0.0);
  rows_ = 0;
}

// H, Y (m, n), w (m) -> per column: weight, mean, m2 and ss_res merged with the batch's
template <class T>
void R2<T>::accumulate_impl(ConstView<T> H, ConstView<T> Y, const T* w) {
  const std::size_t n = static_cast<std::size_t>(Y.cols);
  if (weight_.size() != n) prepare_impl(Y.cols);  // only when used before prepare()
  rows_ += static_cast<double>(Y.rows);
  double wb = 0;  // the batch's weight (the same for every column)
  std::fill(batch_mean_.begin(), batch_mean_.end(), 0.0);
  std::fill(batch_m2_.begin(), batch_m2_.end(), 0.0);
  for (Index i = 0; i < Y.rows; ++i) {
    const double wi = w != nullptr ? static_cast<double>(w[i]) : 1.0;
    wb += wi;
    for (std::size_t j = 0; j < n; ++j) batch_mean_[j] += wi * static_cast<double>(Y(i, j));
  }
  if (wb == 0) return;
  for (std::size_t j = 0; j < n; ++j) batch_mean_[j] /= wb;  // mean_b = sum w y / sum w
  for (Index i = 0; i < Y.rows; ++i) {
    const double wi = w != nullptr ? static_cast<double>(w[i]) : 1.0;
    for (std::size_t j = 0; j < n; ++j) {
      const double y = static_cast<double>(Y(i, j));
      const double d = y - batch_mean_[j];
      const double r = y - static_cast<double>(H(i, j));
      batch_m2_[j] += wi * d * d;  // m2_b = sum w (y - mean_b)^2
      ss_res_[j] += wi * r * r;    // ss_res += sum w (y - yhat)^2
    }
  }
  for (std::size_t j = 0; j < n; ++j) {
    // merge (W, mean, m2) with (wb, mean_b, m2_b):
    // delta = mean_b - mean; mean += delta wb / (W + wb); m2 += m2_b + delta^2 W wb / (W + wb)
    const double total = weight_[j] + wb;
    const double delta = batch_mean_[j] - mean_[j];
    mean_[j] += delta * wb / total;
    m2_[j] += batch_m2_[j] + delta * delta * weight_[j] * wb / total;
    weight_[j] = total;
  }
}

template <class T>
double R2<T>::result_impl() const {
  if (weight_.empty() || weight_[0] == 0 || rows_ < 2)
    return std::numeric_limits<double>::quiet_NaN();
  double sum = 0;
  for (std::size_t j = 0; j < weight_.size(); ++j) {
    // R^2 = 1 - ss_res / ss_tot; a constant column scores 1 when predicted exactly, else 0
    if (m2_[j] == 0)
      sum += ss_res_[j] == 0 ? 1.0 : 0.0;
    else
      sum += 1.0 - ss_res_[j] / m2_[j];
  }
  return sum / static_cast<double>(weight_.size());
}

// per column over processes p: W = sum W_p; mean = sum W_p mean_p / W;
// m2 = sum (m2_p + W_p (mean_p - mean)^2) (each process's sum of squares moved to the global
// mean, without the cancellation of sum w y^2 - W mean^2); ss_res = sum ss_res_p
template <class T>
void R2<T>::combine_impl(const SumAcrossFn& sum_across) {
  const std::size_t n = weight_.size();
  if (n == 0) return;
  std::vector<double> buf(2 * n + 1);
  for (std::size_t j = 0; j < n; ++j) {
    buf[j] = weight_[j] * mean_[j];
    buf[n + j] = weight_[j];
  }
  buf[2 * n] = rows_;
  sum_across(buf.data(), static_cast<Index>(2 * n + 1));
  rows_ = buf[2 * n];
  for (std::size_t j = 0; j < n; ++j) {
    const double total = buf[n + j];
    const double mean = total > 0 ? buf[j] / total : 0.0;
    const double delta = mean_[j] - mean;
    buf[j] = m2_[j] + weight_[j] * delta * delta;
    buf[n + j] = ss_res_[j];
    mean_[j] = mean;
    weight_[j] = total;
  }
  sum_across(buf.data(), static_cast<Index>(2 * n));
  for (std::size_t j = 0; j < n; ++j) {
    m2_[j] = buf[j];
    ss_res_[j] = buf[n + j];
  }
}

// ---- precision, recall, F1: per-class counts ------------------------------------------------

template <class T>
void ClassCounts<T>::prepare_impl(Index n_out) {
  cols_ = n_out;
  classes_ = n_out > 1 ? n_out : 2;
  counts_.assign(static_cast<std::size_t>(4 * classes_ + 1), 0.0);
}

template <class T>
void ClassCounts<T>::reset_impl() {
  std::fill(counts_.begin(), counts_.end(), 0.0);
}

// H, Y (m, n), w (m) -> per class c: tp[c] += w where both say c, fp[c] += w where only the
// prediction does, fn[c] += w where only the target does; seen[c] += 1 where either does
template <class T>
void ClassCounts<T>::accumulate_impl(ConstView<T> H, ConstView<T> Y, const T* w) {
  if (cols_ != H.cols) prepare_impl(H.cols);  // only when used before prepare()
  const std::size_t k = static_cast<std::size_t>(classes_);
  double* tp = counts_.data();
  double* fp = tp + k;
  double* fn = fp + k;
  double* seen = fn + k;
  for (Index i = 0; i < H.rows; ++i) {
    const std::size_t p = static_cast<std::size_t>(row_class(H.row(i), H.cols));
    const std::size_t t = static_cast<std::size_t>(row_class(Y.row(i), Y.cols));
    const double wi = w != nullptr ? static_cast<double>(w[i]) : 1.0;
    if (p == t) {
      tp[p] += wi;
      seen[p] += 1;
    } else {
      fp[p] += wi;
      fn[t] += wi;
      seen[p] += 1;
      seen[t] += 1;
    }
  }
  counts_.back() += static_cast<double>(H.rows);
}

// one column: class 1's score; several: the mean score of the classes seen
template <class T>
double ClassCounts<T>::result_impl() const {
  if (counts_.empty() || counts_.back() == 0) return std::numeric_limits<double>::quiet_NaN();
  const std::size_t k = static_cast<std::size_t>(classes_);
  const double* tp = counts_.data();
  const double* fp = tp + k;
  const double* fn = fp + k;
  const double* seen = fn + k;
  if (cols_ == 1) return score(tp[1], fp[1], fn[1]);
  double sum = 0;
  Index present = 0;
  for (std::size_t c = 0; c < k; ++c) {
    if (seen[c] == 0) continue;
    sum += score(tp[c], fp[c], fn[c]);
    ++present;
  }
  return sum / static_cast<double>(present);
}

// every count summed over every process
template <class T>
void ClassCounts<T>::combine_impl(const SumAcrossFn& sum_across) {
  if (!counts_.empty()) sum_across(counts_.data(), static_cast<Index>(counts_.size()));
}

// ---- factory --------------------------------------------------------------------------------

// (the registry, filled by the headers that metrics/all.hpp includes)

std::vector<std::string> metric_names() { return MetricRegistry::instance().names(); }

template <class T>
std::unique_ptr<Metric<T>> make_metric(const std::string& name) {
  return MetricRegistry::instance().make<T>(name);
}

template class Accuracy<float>;
template class Accuracy<double>;
template class R2<float>;
template class R2<double>;
template class ClassCounts<float>;
template class ClassCounts<double>;
template std::unique_ptr<Metric<float>> make_metric<float>(const std::string&);
template std::unique_ptr<Metric<double>> make_metric<double>(const std::string&);

}  // namespace chainrule
