// Integer class labels as one-hot rows; class weights as row weights.
#include "chainrule/targets.hpp"

#include <algorithm>
#include <cmath>

#include "chainrule/error.hpp"

namespace chainrule {

namespace {

// The class of row i of Y (m, n): its value (0 or 1) for one column, the column of its 1 for
// several; ValueError otherwise.
template <class T>
Index class_of_row(ConstView<T> Y, Index i, const std::string& what) {
  const T* y = Y.row(i);
  if (Y.cols == 1) {
    if (y[0] == T(0) || y[0] == T(1)) return y[0] == T(1) ? 1 : 0;
    throw ValueError(what + " needs class targets, 0 or 1 in one column: Y[" + std::to_string(i) +
                     ", 0] = " + shortest_repr(static_cast<double>(y[0])) + " is neither");
  }
  Index one = -1;
  bool hot = true;
  for (Index j = 0; j < Y.cols && hot; ++j) {
    if (y[j] == T(1) && one < 0)
      one = j;
    else if (y[j] != T(0))
      hot = false;
  }
  if (!hot || one < 0)
    throw ValueError(what + " needs one-hot rows of Y (or integer class labels): row " +
                     std::to_string(i) + " is not one-hot");
  return one;
}

}  // namespace

// labels (m) -> Y (m, n): Y[i, labels[i]] = 1
template <class T>
void one_hot(const double* labels, MatrixView<T> Y, const std::string& what) {
  const double n = static_cast<double>(Y.cols);
  for (Index i = 0; i < Y.rows; ++i) {
    const double c = labels[i];
    if (!(std::isfinite(c) && c == std::floor(c)))
      throw ValueError(what + ": the class label at row " + std::to_string(i) + " is " +
                       shortest_repr(c) + ", not an integer class index");
    if (c < 0 || c >= n)
      throw ValueError(what + ": the class label at row " + std::to_string(i) + " is " +
                       shortest_repr(c) + ", not in [0, " + std::to_string(Y.cols) + ") (" +
                       std::to_string(Y.cols) + " classes, one per output column)");
  }
  std::fill(Y.data, Y.data + Y.size(), T(0));
  for (Index i = 0; i < Y.rows; ++i) Y(i, static_cast<Index>(labels[i])) = T(1);
}

template <class T>
std::vector<double> class_counts(ConstView<T> Y, const std::string& what) {
  std::vector<double> counts(static_cast<std::size_t>(class_count(Y.cols)), 0.0);
  for (Index i = 0; i < Y.rows; ++i)
    counts[static_cast<std::size_t>(class_of_row(Y, i, what))] += 1;
  return counts;
}

// w_c = n / (k count_c), as compute_class_weight("balanced"): len(y) / (n_classes * bincount)
std::vector<double> balanced_class_weights(const std::vector<double>& counts) {
  double n = 0, k = 0;
  for (double c : counts) {
    n += c;
    if (c > 0) k += 1;
  }
  std::vector<double> w(counts.size(), 1.0);
  for (std::size_t c = 0; c < counts.size(); ++c)
    if (counts[c] > 0) w[c] = n / (k * counts[c]);
  return w;
}

std::vector<double> class_weights(const std::vector<std::pair<Index, double>>& given,
                                  Index n_classes, const std::string& what) {
  std::vector<double> w(static_cast<std::size_t>(n_classes), 1.0);
  for (const auto& [c, weight] : given) {
    if (c < 0 || c >= n_classes)
      throw ValueError(what + ": unknown class " + std::to_string(c) + " (the classes are 0 to " +
                       std::to_string(n_classes - 1) + ")");
    if (!(std::isfinite(weight) && weight >= 0))
      throw ValueError(what + ": the weight of class " + std::to_string(c) +
                       " must be finite and >= 0, got " + shortest_repr(weight));
    w[static_cast<std::size_t>(c)] = weight;
  }
  return w;
}

// out[i] = class_weight[class of row i] (* sample_weight[i])
template <class T>
void class_sample_weights(ConstView<T> Y, const std::vector<double>& class_weight,
                          const double* sample_weight, T* out, const std::string& what) {
  if (static_cast<Index>(class_weight.size()) != class_count(Y.cols))
    throw ValueError(what + ": " + std::to_string(class_weight.size()) + " class weights for " +
                     std::to_string(class_count(Y.cols)) + " classes");
  for (Index i = 0; i < Y.rows; ++i) {
    const double c = class_weight[static_cast<std::size_t>(class_of_row(Y, i, what))];
    out[i] = static_cast<T>(sample_weight == nullptr ? c : c * sample_weight[i]);
  }
}

template void one_hot<float>(const double*, MatrixView<float>, const std::string&);
template void one_hot<double>(const double*, MatrixView<double>, const std::string&);
template std::vector<double> class_counts<float>(ConstView<float>, const std::string&);
template std::vector<double> class_counts<double>(ConstView<double>, const std::string&);
template void class_sample_weights<float>(ConstView<float>, const std::vector<double>&,
                                          const double*, float*, const std::string&);
template void class_sample_weights<double>(ConstView<double>, const std::vector<double>&,
                                           const double*, double*, const std::string&);

}  // namespace chainrule
