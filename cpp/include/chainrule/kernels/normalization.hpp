// The loops of the normalisation layers. Batch normalisation, over a range of columns: sums
// over the rows in double, the normalisation and its input gradient; each column's sums run
// over the rows in order, so a loop over a column range gives the same bits whatever the
// range (the columns of a row are what the vector lanes take) and the layer may split the
// columns across threads. Layer normalisation, one row at a time: sums over the row's
// features in eight interleaved partial sums (lanes), added in a fixed order, so that they
// vectorise and give the same bits on every instruction set; rows may go to any thread.
#pragma once

#include <algorithm>
#include <cmath>

#include "chainrule/kernels/elementwise.hpp"
#include "chainrule/kernels/thread_pool.hpp"
#include "chainrule/tensor.hpp"

namespace chainrule::kernels {

/// f(j0, j1) over the columns [0, n) of an (m, n) matrix: in parallel when there is enough
/// work, in ranges of whole cache lines (16 floats) so that two threads never write one line.
/// A task takes at least 2^16 values: a split of smaller matrices (a batch of 128 rows of
/// 512 features) costs more than it saves, since its columns were written by the threads of
/// the product before it, split another way, and move between the cores' caches.
template <class F>
void parallel_columns(Index m, Index n, F&& f) {
  constexpr Index kLine = 16, kGrain = Index(1) << 16;  // columns per line; values per task
  const Index lines = (n + kLine - 1) / kLine;
  const Index grain = std::max<Index>(1, kGrain / (std::max<Index>(m, 1) * kLine));  // lines
  parallel_ranges(lines, grain, [&](Index b, Index e) { f(b * kLine, std::min(n, e * kLine)); });
}

/// Columns a pass of the column sums below: their double accumulators stay in registers over
/// all the rows (four 512-bit vectors), instead of a load and a store of each per row. The
/// order of each column's sum is the same (its rows in order), so are the bits: 128 x 512
/// float32 sums took 4.8 -> 4.2 us, the square deviations 7.6 -> 6.3 us (one thread, Xeon).
constexpr Index kSumColumns = 32;

/// X (m, n), columns [j0, j1) -> sum[j] = sum_i X[i, j], in double.
template <class T>
CHAINRULE_CLONES void column_sums(Index m, Index n, Index j0, Index j1, const T* X,
                                  double* __restrict sum) {
  Index j = j0;
  for (; j + kSumColumns <= j1; j += kSumColumns) {
    double acc[kSumColumns] = {};
    for (Index i = 0; i < m; ++i) {
      const T* __restrict x = X + i * n + j;
      for (Index k = 0; k < kSumColumns; ++k) acc[k] += static_cast<double>(x[k]);
    }
    for (Index k = 0; k < kSumColumns; ++k) sum[j + k] = acc[k];
  }
  for (Index c = j; c < j1; ++c) sum[c] = 0;
  for (Index i = 0; i < m; ++i) {
    const T* __restrict x = X + i * n;
    for (Index c = j; c < j1; ++c) sum[c] += static_cast<double>(x[c]);
  }
}

/// X (m, n), mean (n), columns [j0, j1) -> sq[j] = sum_i (X[i, j] - mean[j])^2, in double.
template <class T>
CHAINRULE_CLONES void column_square_deviations(Index m, Index n, Index j0, Index j1, const T* X,
                                               const double* mean, double* __restrict sq) {
  Index j = j0;
  for (; j + kSumColumns <= j1; j += kSumColumns) {
    double acc[kSumColumns] = {}, mu[kSumColumns];
    for (Index k = 0; k < kSumColumns; ++k) mu[k] = mean[j + k];
    for (Index i = 0; i < m; ++i) {
      const T* __restrict x = X + i * n + j;
      for (Index k = 0; k < kSumColumns; ++k) {
        const double d = static_cast<double>(x[k]) - mu[k];
        acc[k] += d * d;
      }
    }
    for (Index k = 0; k < kSumColumns; ++k) sq[j + k] = acc[k];
  }
  for (Index c = j; c < j1; ++c) sq[c] = 0;
  for (Index i = 0; i < m; ++i) {
    const T* __restrict x = X + i * n;
    for (Index c = j; c < j1; ++c) {
      const double d = static_cast<double>(x[c]) - mean[c];
      sq[c] += d * d;
    }
  }
}

/// X (m, n), per column mean, s, gamma and beta (n each, in double: gamma and beta converted
/// once, not once a row), columns [j0, j1) -> xhat = (x - mean) s, H = gamma xhat + beta (from
/// xhat in double, each rounded to T once).
template <class T>
CHAINRULE_CLONES void normalize_columns(Index m, Index n, Index j0, Index j1, const T* X,
                                        const double* mean, const double* s, const double* gamma,
                                        const double* beta, T* __restrict xhat, T* __restrict H) {
  for (Index i = 0; i < m; ++i) {
    const T* __restrict x = X + i * n;
    T* __restrict xh = xhat + i * n;
    T* __restrict h = H + i * n;
    for (Index j = j0; j < j1; ++j) {
      const double v = (static_cast<double>(x[j]) - mean[j]) * s[j];
      xh[j] = static_cast<T>(v);
      h[j] = static_cast<T>(gamma[j] * v + beta[j]);
    }
  }
}

/// dH, xhat (m, n), columns [j0, j1) -> sum_dH[j] = sum_i dH[i, j],
/// sum_dHx[j] = sum_i dH[i, j] xhat[i, j], in double.
template <class T>
CHAINRULE_CLONES void column_sums_dH(Index m, Index n, Index j0, Index j1, const T* dH,
                                     const T* xhat, double* __restrict sum_dH,
                                     double* __restrict sum_dHx) {
  for (Index j = j0; j < j1; ++j) sum_dH[j] = 0, sum_dHx[j] = 0;
  for (Index i = 0; i < m; ++i) {
    const T* __restrict dh = dH + i * n;
    const T* __restrict xh = xhat + i * n;
    for (Index j = j0; j < j1; ++j) {
      sum_dH[j] += static_cast<double>(dh[j]);
      sum_dHx[j] += static_cast<double>(dh[j]) * static_cast<double>(xh[j]);
    }
  }
}

/// Batch normalisation's input gradient on columns [j0, j1) of dH, xhat (m, n), with
/// gs = gamma s per column (n, double: the double product of gamma and s, made once, not once
/// a row): after a training pass, with a = mean_i(dH) and b = mean_i(dH xhat) (n values each,
/// double), dX = gs (dH - a - xhat b); after an inference pass (a, b null) dX = gs dH.
template <class T>
CHAINRULE_CLONES void batch_norm_input_gradient(Index m, Index n, Index j0, Index j1, const T* dH,
                                                const T* xhat, const double* gs, const double* a,
                                                const double* b, T* __restrict dX) {
  for (Index i = 0; i < m; ++i) {
    const T* __restrict dh = dH + i * n;
    const T* __restrict xh = xhat + i * n;
    T* __restrict dx = dX + i * n;
    if (a != nullptr) {
      for (Index j = j0; j < j1; ++j)
        dx[j] = static_cast<T>(
            gs[j] * (static_cast<double>(dh[j]) - a[j] - static_cast<double>(xh[j]) * b[j]));
    } else {
      for (Index j = j0; j < j1; ++j) dx[j] = static_cast<T>(gs[j] * static_cast<double>(dh[j]));
    }
  }
}

/// Lanes of the row sums of layer normalisation: partial sum k takes the terms j = k mod 8.
constexpr Index kLanes = 8;

/// The eight partial sums, added in a fixed order.
inline double add_lanes(const double* acc) {
  return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

/// One row of layer normalisation, x (n) -> xhat, h (n): mean = sum_j x_j / n, the biased
/// var = sum_j (x_j - mean)^2 / n (two passes), s = 1 / sqrt(var + eps), xhat = (x - mean) s,
/// h = gamma xhat + beta (from xhat in double); returns s. Sums in double, by lanes.
template <class T>
CHAINRULE_CLONES double layer_norm_row(Index n, const T* __restrict x, const T* gamma,
                                       const T* beta, double eps, T* __restrict xhat,
                                       T* __restrict h) {
  const Index full = n - n % kLanes;
  double acc[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (Index j = 0; j < full; j += kLanes)
    for (Index k = 0; k < kLanes; ++k) acc[k] += static_cast<double>(x[j + k]);
  for (Index j = full; j < n; ++j) acc[j - full] += static_cast<double>(x[j]);
  const double mean = add_lanes(acc) / static_cast<double>(n);
  double sq[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (Index j = 0; j < full; j += kLanes)
    for (Index k = 0; k < kLanes; ++k) {
      const double d = static_cast<double>(x[j + k]) - mean;
      sq[k] += d * d;
    }
  for (Index j = full; j < n; ++j) {
    const double d = static_cast<double>(x[j]) - mean;
    sq[j - full] += d * d;
  }
  const double var = add_lanes(sq) / static_cast<double>(n);
  const double s = 1.0 / std::sqrt(var + eps);
  for (Index j = 0; j < n; ++j) {
    const double v = (static_cast<double>(x[j]) - mean) * s;
    xhat[j] = static_cast<T>(v);
    h[j] = static_cast<T>(static_cast<double>(gamma[j]) * v + static_cast<double>(beta[j]));
  }
  return s;
}

/// One row of layer normalisation's input gradient, dH, xhat (n) and s -> dX (n): with
/// dxhat = dH gamma, a = mean_j(dxhat), b = mean_j(dxhat xhat) (by lanes, in double),
/// dX = s (dxhat - a - xhat b).
template <class T>
CHAINRULE_CLONES void layer_norm_row_gradient(Index n, const T* __restrict dH,
                                              const T* __restrict xhat, const T* gamma, double s,
                                              T* __restrict dX) {
  const Index full = n - n % kLanes;
  double sa[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0}, sb[kLanes] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (Index j = 0; j < full; j += kLanes)
    for (Index k = 0; k < kLanes; ++k) {
      const double d = static_cast<double>(dH[j + k]) * static_cast<double>(gamma[j + k]);
      sa[k] += d;
      sb[k] += d * static_cast<double>(xhat[j + k]);
    }
  for (Index j = full; j < n; ++j) {
    const double d = static_cast<double>(dH[j]) * static_cast<double>(gamma[j]);
    sa[j - full] += d;
    sb[j - full] += d * static_cast<double>(xhat[j]);
  }
  const double inv_n = 1.0 / static_cast<double>(n);
  const double a = add_lanes(sa) * inv_n, b = add_lanes(sb) * inv_n;
  for (Index j = 0; j < n; ++j) {
    const double d = static_cast<double>(dH[j]) * static_cast<double>(gamma[j]);
    dX[j] = static_cast<T>(s * (d - a - static_cast<double>(xhat[j]) * b));
  }
}

}  // namespace chainrule::kernels
