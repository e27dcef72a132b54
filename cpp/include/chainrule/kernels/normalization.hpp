// The loops of batch normalisation over a range of columns: sums over the rows in double,
// the normalisation and its input gradient. Each column's sums run over the rows in order, so
// a loop over a column range gives the same bits whatever the range (the columns of a row
// are what the vector lanes take) and the layer may split the columns across threads.
#pragma once

#include <algorithm>

#include "chainrule/kernels/elementwise.hpp"
#include "chainrule/kernels/thread_pool.hpp"
#include "chainrule/tensor.hpp"

namespace chainrule::kernels {

/// f(j0, j1) over the columns [0, n) of an (m, n) matrix: in parallel when there is enough
/// work, in ranges of whole cache lines (16 floats) so that two threads never write one line.
template <class F>
void parallel_columns(Index m, Index n, F&& f) {
  constexpr Index kLine = 16, kGrain = Index(1) << 13;  // columns per line; elements per task
  const Index lines = (n + kLine - 1) / kLine;
  const Index grain = std::max<Index>(1, kGrain / (std::max<Index>(m, 1) * kLine));  // lines
  parallel_ranges(lines, grain, [&](Index b, Index e) { f(b * kLine, std::min(n, e * kLine)); });
}

/// X (m, n), columns [j0, j1) -> sum[j] = sum_i X[i, j], in double.
template <class T>
CHAINRULE_CLONES void column_sums(Index m, Index n, Index j0, Index j1, const T* X,
                                  double* __restrict sum) {
  for (Index j = j0; j < j1; ++j) sum[j] = 0;
  for (Index i = 0; i < m; ++i) {
    const T* __restrict x = X + i * n;
    for (Index j = j0; j < j1; ++j) sum[j] += static_cast<double>(x[j]);
  }
}

/// X (m, n), mean (n), columns [j0, j1) -> sq[j] = sum_i (X[i, j] - mean[j])^2, in double.
template <class T>
CHAINRULE_CLONES void column_square_deviations(Index m, Index n, Index j0, Index j1, const T* X,
                                               const double* mean, double* __restrict sq) {
  for (Index j = j0; j < j1; ++j) sq[j] = 0;
  for (Index i = 0; i < m; ++i) {
    const T* __restrict x = X + i * n;
    for (Index j = j0; j < j1; ++j) {
      const double d = static_cast<double>(x[j]) - mean[j];
      sq[j] += d * d;
    }
  }
}

/// X (m, n), per column mean, s (n, double) and gamma, beta (n), columns [j0, j1) ->
/// xhat = (x - mean) s, H = gamma xhat + beta (from xhat in double, each rounded to T once).
template <class T>
CHAINRULE_CLONES void normalize_columns(Index m, Index n, Index j0, Index j1, const T* X,
                                        const double* mean, const double* s, const T* gamma,
                                        const T* beta, T* __restrict xhat, T* __restrict H) {
  for (Index i = 0; i < m; ++i) {
    const T* __restrict x = X + i * n;
    T* __restrict xh = xhat + i * n;
    T* __restrict h = H + i * n;
    for (Index j = j0; j < j1; ++j) {
      const double v = (static_cast<double>(x[j]) - mean[j]) * s[j];
      xh[j] = static_cast<T>(v);
      h[j] = static_cast<T>(static_cast<double>(gamma[j]) * v + static_cast<double>(beta[j]));
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
/// gs = gamma s (gamma (n), s (n, double)): after a training pass, with a = mean_i(dH) and
/// b = mean_i(dH xhat) (n values each, double), dX = gs (dH - a - xhat b); after an
/// inference pass (a, b null) dX = gs dH.
template <class T>
CHAINRULE_CLONES void batch_norm_input_gradient(Index m, Index n, Index j0, Index j1,
                                                const T* dH, const T* xhat, const T* gamma,
                                                const double* s, const double* a,
                                                const double* b, T* __restrict dX) {
  for (Index i = 0; i < m; ++i) {
    const T* __restrict dh = dH + i * n;
    const T* __restrict xh = xhat + i * n;
    T* __restrict dx = dX + i * n;
    if (a != nullptr) {
      for (Index j = j0; j < j1; ++j) {
        const double gs = static_cast<double>(gamma[j]) * s[j];
        dx[j] = static_cast<T>(gs * (static_cast<double>(dh[j]) - a[j] -
                                     static_cast<double>(xh[j]) * b[j]));
      }
    } else {
      for (Index j = j0; j < j1; ++j)
        dx[j] = static_cast<T>(static_cast<double>(gamma[j]) * s[j] * static_cast<double>(dh[j]));
    }
  }
}

}  // namespace chainrule::kernels
