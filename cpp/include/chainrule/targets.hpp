// Classification targets: integer class labels as one-hot rows, and fit's class weights as
// per-row weights. The checks of labels and class weights live here; the Python facade only
// converts types.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "chainrule/tensor.hpp"

namespace chainrule {

/// The classes of classification targets with `cols` columns: 0 and 1 for one column (binary
/// targets), else one per column.
inline Index class_count(Index cols) { return cols > 1 ? cols : 2; }

/// Class labels (m,) -> one-hot targets Y (m, n_classes): Y[i, labels[i]] = 1, 0 elsewhere.
/// ValueError naming the first row whose label is not an integer in [0, n_classes), its
/// message prefixed with `what` ("fit: Y"); Y is written only when every label is valid.
template <class T>
void one_hot(const double* labels, MatrixView<T> Y, const std::string& what);

/// How many rows of Y (m, n) belong to each class (class_count(n) values). A row's class is its
/// value, 0 or 1, for one column, and the column of its 1 for several (a one-hot row);
/// ValueError naming the first row that has no class.
template <class T>
std::vector<double> class_counts(ConstView<T> Y, const std::string& what);

/// scikit-learn's "balanced" class weights (sklearn.utils.class_weight.compute_class_weight):
/// n / (k count_c) for each class with count_c > 0, k such classes and n rows in all; 1 for a
/// class without rows (no row takes it).
std::vector<double> balanced_class_weights(const std::vector<double>& counts);

/// Per-class weights from {class, weight} pairs, classes not named weighing 1. ValueError for
/// a class outside [0, n_classes) or a weight that is not finite and >= 0.
std::vector<double> class_weights(const std::vector<std::pair<Index, double>>& given,
                                  Index n_classes, const std::string& what);

/// Per-row weights: out[i] = class_weight[class of row i of Y] (class_count(Y.cols) of them),
/// times sample_weight[i] when sample_weight is given, computed in double and rounded to T
/// once (as the product given as sample weights would be). ValueError naming the first row of
/// Y that has no class.
template <class T>
void class_sample_weights(ConstView<T> Y, const std::vector<double>& class_weight,
                          const double* sample_weight, T* out, const std::string& what);

}  // namespace chainrule
