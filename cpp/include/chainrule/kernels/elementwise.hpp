// Element-wise and reduction loops on contiguous buffers. Inline templates so that the
// functor of each activation is inlined into a loop the compiler can vectorise.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "chainrule/kernels/thread_pool.hpp"
#include "chainrule/tensor.hpp"

// Function multiversioning for the activations' loops: with GCC on x86-64 Linux (glibc's
// ifunc), each loop below is compiled three times, for the base ISA, x86-64-v3 (AVX2, FMA) and
// x86-64-v4 (AVX-512 F, BW, CD, DQ, VL: 64-bit integer multiplies for dropout's hashes), and
// the loader picks the widest the CPU has; elsewhere there is one version. The build keeps
// a*b+c unfused (-ffp-contract=off) but for explicit fma calls (kernels/vmath.hpp), which the
// base version makes through the C library, so every version gives the same bits.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && \
    defined(__GLIBC__) && !defined(CHAINRULE_NO_CLONES)
#define CHAINRULE_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CHAINRULE_CLONES
#endif

// The loops that apply an activation's functor: everything they call inlined (flatten), so
// that the functor's maths, however large, vectorises in each clone instead of being called
// once per element.
#if defined(__GNUC__) && !defined(__clang__)
#define CHAINRULE_FUNCTOR_LOOP CHAINRULE_CLONES __attribute__((flatten))
#else
#define CHAINRULE_FUNCTOR_LOOP CHAINRULE_CLONES
#endif

namespace chainrule::kernels {

/// Element-wise loops split across threads past this many elements (no reductions, so the
/// result is the same for any split).
constexpr Index kParallelGrain = Index(1) << 15;

/// H[i] = f(Z[i]) for i in [b, e).
template <class T, class F>
CHAINRULE_FUNCTOR_LOOP void map_range(Index b, Index e, const T* __restrict Z, T* __restrict H,
                                      F f) {
  for (Index i = b; i < e; ++i) H[i] = f(Z[i]);
}

/// dZ[i] = dH[i] * df(Z[i], H[i]) for i in [b, e).
template <class T, class DF>
CHAINRULE_FUNCTOR_LOOP void chain_range(Index b, Index e, const T* Z, const T* H, const T* dH,
                                        T* __restrict dZ, DF df) {
  for (Index i = b; i < e; ++i) dZ[i] = dH[i] * df(Z[i], H[i]);
}

/// (rows, cols) blocks of row stride ld: Z += b (cols,) on every row, then H = f(Z).
template <class T, class F>
CHAINRULE_FUNCTOR_LOOP void bias_map_block(Index rows, Index cols, const T* b, T* Z, T* H, Index ld,
                                           F f) {
  for (Index i = 0; i < rows; ++i) {
    T* __restrict z = Z + i * ld;
    T* __restrict h = H + i * ld;
    for (Index j = 0; j < cols; ++j) {
      z[j] += b[j];
      h[j] = f(z[j]);
    }
  }
}

/// (rows, cols) blocks: dZ = dH * df(Z, H), dH of row stride ld_dh, the others ld.
template <class T, class DF>
CHAINRULE_FUNCTOR_LOOP void chain_block(Index rows, Index cols, const T* Z, const T* H, const T* dH,
                                        Index ld_dh, T* dZ, Index ld, DF df) {
  for (Index i = 0; i < rows; ++i) {
    const T* z = Z + i * ld;
    const T* h = H + i * ld;
    const T* g = dH + i * ld_dh;
    T* __restrict d = dZ + i * ld;
    for (Index j = 0; j < cols; ++j) d[j] = g[j] * df(z[j], h[j]);
  }
}

/// H[i] = f(Z[i]) for n elements.
template <class T, class F>
inline void map(Index n, const T* Z, T* H, F f) {
  // pointers captured by value: a store through a captured reference could, for all the
  // compiler knows, change the pointer itself, which blocks vectorisation
  parallel_ranges(n, kParallelGrain, [=](Index b, Index e) { map_range(b, e, Z, H, f); });
}

/// dZ[i] = dH[i] * df(Z[i], H[i]) for n elements: the element-wise chain rule.
template <class T, class DF>
inline void chain(Index n, const T* Z, const T* H, const T* dH, T* dZ, DF df) {
  parallel_ranges(n, kParallelGrain,
                  [=](Index b, Index e) { chain_range(b, e, Z, H, dH, dZ, df); });
}

/// Z (m, n) += b (n,) broadcast over rows.
template <class T>
inline void add_row_vector(Index m, Index n, const T* b, T* Z) {
  for (Index i = 0; i < m; ++i) {
    T* z = Z + i * n;
    for (Index j = 0; j < n; ++j) z[j] += b[j];
  }
}

/// db (n,) = scale * sum over rows of dZ (m, n).
/// Columns are split across threads; each column is summed by one thread, in row order.
template <class T>
inline void column_sum(Index m, Index n, const T* dZ, T scale, T* db) {
  parallel_ranges(n, m * n >= kParallelGrain ? 64 : n, [=](Index b, Index e) {
    for (Index j = b; j < e; ++j) db[j] = T(0);
    for (Index i = 0; i < m; ++i) {
      const T* d = dZ + i * n;
      for (Index j = b; j < e; ++j) db[j] += d[j];
    }
    for (Index j = b; j < e; ++j) db[j] *= scale;
  });
}

/// out = a - b for n elements.
template <class T>
inline void subtract(Index n, const T* a, const T* b, T* out) {
  for (Index i = 0; i < n; ++i) out[i] = a[i] - b[i];
}

/// out = a * b for n elements (out may alias a or b).
template <class T>
inline void multiply(Index n, const T* a, const T* b, T* out) {
  for (Index i = 0; i < n; ++i) out[i] = a[i] * b[i];
}

/// p -= lr * g on a (rows, cols) block, row strides ldp and ldg, on the calling thread: the SGD
/// update of plain SGD's ranges (optimizer.cpp, one row) and of a dW product's epilogue
/// (layers/dense.cpp), in each clone (with the update compiled for the base ISA alone,
/// W3's 4096 x 512 x 4096 dW product took 39.1 ms against 37.5-38.1 ms, and 36.6 ms without
/// any update).
template <class T>
CHAINRULE_CLONES void axpy_update_block(Index rows, Index cols, T lr, const T* g, Index ldg, T* p,
                                        Index ldp) {
  for (Index i = 0; i < rows; ++i) {
    T* __restrict pi = p + i * ldp;
    const T* __restrict gi = g + i * ldg;
    for (Index j = 0; j < cols; ++j) pi[j] -= lr * gi[j];
  }
}

/// Whether any of x[0..n) is NaN or infinite: its exponent bits all set. No branch per
/// element, so the loop vectorises (an early exit would keep it scalar).
template <class T>
CHAINRULE_CLONES bool any_non_finite(Index n, const T* x) {
  using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  constexpr U kExponent = sizeof(T) == 4 ? U(0x7f800000u) : U(0x7ff0000000000000ull);
  U any = 0;
  for (Index i = 0; i < n; ++i) {
    U bits;
    std::memcpy(&bits, x + i, sizeof bits);
    any |= U((bits & kExponent) == kExponent);
  }
  return any != 0;
}

/// Index of the first non-finite element, or -1: blocks of 1024 are tested with
/// any_non_finite (float32 ~10x faster than a scalar search; every fit and predict checks its
/// data), and only a block that holds one is searched element by element.
template <class T>
inline Index first_non_finite(Index n, const T* x) {
  constexpr Index kBlock = 1024;
  for (Index b = 0; b < n; b += kBlock) {
    const Index e = b + kBlock < n ? b + kBlock : n;
    if (!any_non_finite(e - b, x + b)) continue;
    for (Index i = b; i < e; ++i)
      if (!std::isfinite(x[i])) return i;
  }
  return -1;
}

}  // namespace chainrule::kernels
