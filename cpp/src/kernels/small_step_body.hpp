// The bodies of the small-step kernels (declared in chainrule/kernels/small_step.hpp), written
// once over a 64-byte vector type V that each ISA file names (small_step_avx2.cpp: two ymm,
// small_step_avx512.cpp: one zmm; the types are simd_avx2.hpp's and simd_avx512.hpp's) with
// zero, load, store, broadcast, fmadd (one rounding), add and mul, and `block`, the outputs a
// pass computes at once (independent FMA chains that hide the FMA's latency, as many as the
// registers hold). Every row tile is one V, so the lanes, the order of every sum and the bits
// are the same on every ISA.
#pragma once

#include <type_traits>

#include "chainrule/kernels/small_step.hpp"

// Always inlined: the blocks of a product are small functions called from one loop, which
// GCC would otherwise call out of line for some shapes (2.5x slower on a 64 x 1 dH product).
#if defined(__GNUC__)
#define CHAINRULE_STEP_INLINE inline __attribute__((always_inline))
#else
#define CHAINRULE_STEP_INLINE inline
#endif

namespace chainrule::kernels {
namespace {

/// A SIMD type S (simd_avx*.hpp) as the kernels below use it: `lanes` rows a tile, `block`
/// outputs a pass, `row_block` rows of dW a pass (block x row_block accumulators), `tile_block`
/// row tiles a pass in the forward and dH products (block x tile_block accumulators).
template <class S, Index Block, Index RowBlock, Index TileBlock>
struct SmallStepVector : S {
  static constexpr Index lanes = S::width;
  static constexpr Index block = Block;
  static constexpr Index row_block = RowBlock;
  static constexpr Index tile_block = TileBlock;
  static typename S::reg fma(typename S::reg a, typename S::reg b, typename S::reg c) {
    return S::fmadd(a, b, c);
  }
  static typename S::reg load_n(const typename S::T* p, Index count) {
    return S::load_n(p, static_cast<int>(count));
  }
  static void store_n(typename S::T* p, typename S::reg v, Index count) {
    S::store_n(p, v, static_cast<int>(count));
  }
};

// OUT rows [o, o + NB) on the row tiles [t, t + TB lanes) = sum over s < n_sum, in order (FMA),
// of w(o + u, s) * IN[s], then + bias[o + u] where bias is given; W row-major with n_out
// columns, read by columns for the forward product (o = j, s = i: w = W[i][j]) and by rows for
// dH (o = i, s = j: w = W[i][j]). Each broadcast weight serves TB FMAs; NB x TB accumulators.
template <class V, int NB, int TB, bool ByColumns>
CHAINRULE_STEP_INLINE void product_block(Index n_sum, Index n_out, Index mp, const typename V::T* W,
                                         const typename V::T* bias, const typename V::T* IN,
                                         typename V::T* OUT, Index o, Index t) {
  constexpr Index L = V::lanes;
  typename V::reg acc[NB][TB];
  for (int u = 0; u < NB; ++u)
    for (int k = 0; k < TB; ++k) acc[u][k] = V::zero();
  for (Index s = 0; s < n_sum; ++s) {
    typename V::reg x[TB];
    for (int k = 0; k < TB; ++k) x[k] = V::load(IN + s * mp + t + k * L);
    for (int u = 0; u < NB; ++u) {
      const typename V::reg wu =
          V::broadcast(ByColumns ? W[s * n_out + o + u] : W[(o + u) * n_out + s]);
      for (int k = 0; k < TB; ++k) acc[u][k] = V::fma(wu, x[k], acc[u][k]);
    }
  }
  for (int u = 0; u < NB; ++u)
    for (int k = 0; k < TB; ++k) {
      typename V::reg z = acc[u][k];
      if (bias) z = V::add(z, V::broadcast(bias[o + u]));
      V::store(OUT + (o + u) * mp + t + k * L, z);
    }
}

// OUT (n, mp) on the row tiles [t, t + TB lanes): product_block over the outputs, V::block a
// pass, then one at a time. The forward product with one tile a pass takes twice V::block
// outputs a pass first, so that as many FMA chains run at once (each accumulator waits on its
// last FMA: V::block chains alone leave the FMA units idle a quarter of the time); the dH
// product would read those outputs' weights from as many rows of W, and its pointers would no
// longer fit the registers. The blocking changes no sum's order.
template <class V, int TB, bool ByColumns>
inline void product_tiles(Index n_sum, Index n, Index n_out, Index mp, const typename V::T* W,
                          const typename V::T* bias, const typename V::T* IN, typename V::T* OUT,
                          Index t) {
  constexpr int B = static_cast<int>(V::block);
  Index o = 0;
  if constexpr (TB == 1 && ByColumns)
    for (; o + 2 * B <= n; o += 2 * B)
      product_block<V, 2 * B, 1, true>(n_sum, n_out, mp, W, bias, IN, OUT, o, t);
  for (; o + B <= n; o += B)
    product_block<V, B, TB, ByColumns>(n_sum, n_out, mp, W, bias, IN, OUT, o, t);
  for (; o < n; ++o) product_block<V, 1, TB, ByColumns>(n_sum, n_out, mp, W, bias, IN, OUT, o, t);
}

// OUT (n, mp) = the product above on every row tile, TB tiles a pass where they fill it
template <class V, bool ByColumns>
void small_product(Index n_sum, Index n, Index n_out, Index mp, const typename V::T* W,
                   const typename V::T* bias, const typename V::T* IN, typename V::T* OUT) {
  constexpr Index TB = V::tile_block, L = V::lanes;
  Index t = 0;
  if constexpr (TB > 1)
    for (; t + TB * L <= mp; t += TB * L)
      product_tiles<V, TB, ByColumns>(n_sum, n, n_out, mp, W, bias, IN, OUT, t);
  for (; t < mp; t += L) product_tiles<V, 1, ByColumns>(n_sum, n, n_out, mp, W, bias, IN, OUT, t);
}

// [W; b] (n_in + 1, n_out), HT (n_in, mp) -> ZT (n_out, mp) = W.T @ HT + b: each output the
// sum over i in order (FMA), then + b, however many tiles a pass takes
template <class V>
void small_affine(Index n_in, Index n_out, Index mp, const typename V::T* Wb,
                  const typename V::T* HT, typename V::T* ZT) {
  small_product<V, true>(n_in, n_out, n_out, mp, Wb, Wb + n_in * n_out, HT, ZT);
}

// acc (lanes) -> their sum, pairwise: lanes k and k + w for w = lanes/2, lanes/4, ..., 1
template <class V>
typename V::T lane_sum(typename V::reg acc) {
  typename V::T a[V::lanes];
  V::store(a, acc);
  for (Index w = V::lanes / 2; w >= 1; w /= 2)
    for (Index k = 0; k < w; ++k) a[k] += a[k + w];
  return a[0];
}

template <class S, class = void>
struct HasSums8 : std::false_type {};
template <class S>  // (sizeof: a vector type as a template argument loses its attributes)
struct HasSums8<
    S, std::void_t<decltype(sizeof(S::lane_sums8(static_cast<const typename S::reg*>(nullptr))))>>
    : std::true_type {};

// acc[0..block) -> out[u] = scale * lane_sum(acc[u]), or scale * (first[u] + lane_sum(acc[u]))
// given the first part's sums, for u < count (the others are not written): in registers where
// the vector type has lane_sums8 (the same pairwise order, eight sums at once), else one at a
// time
template <class V>
void lane_sums(const typename V::reg* acc, typename V::T scale, typename V::T* out,
               const typename V::T* first = nullptr, Index count = V::block) {
  if constexpr (HasSums8<V>::value && V::block == 8) {  // (the vector's first 8 lanes)
    typename V::reg sums = V::lane_sums8(acc);
    if (first != nullptr) sums = V::add(V::load_n(first, 8), sums);
    V::store_n(out, V::mul(sums, V::broadcast(scale)), static_cast<int>(count));
  } else {
    for (Index u = 0; u < count; ++u) {
      const typename V::T sum = lane_sum<V>(acc[u]);
      out[u] = scale * (first != nullptr ? first[u] + sum : sum);
    }
  }
}

// The batch's two parts in a sum over its rows (row tiles for the lane-wise sums): rows
// [0, split) and [split, end), or one part [0, end) when split >= end (training/small_step.hpp)
struct RowParts {
  Index split, end;
  int count() const { return split < end ? 2 : 1; }
  Index begin(int part) const { return part == 0 ? 0 : split; }
  Index stop(int part) const { return part == 0 && split < end ? split : end; }
};

// The end of part `part` of block sums over rows: the first part's lane sums kept, unscaled,
// in first[0..block); the last part's added to them and scaled into out[0..count)
template <class V>
void finish_part(RowParts parts, int part, const typename V::reg* acc, typename V::T scale,
                 typename V::T* first, typename V::T* out, Index count = V::block) {
  if (part + 1 < parts.count())
    lane_sums<V>(acc, typename V::T(1), first);
  else
    lane_sums<V>(acc, scale, out, part > 0 ? first : nullptr, count);
}

// [dW] rows [i, i + BI) x columns [j, j + count) = scale * the lane sums over the row tiles of
// HT[i + r] * dZT[j + u] (each part's, added): each tile of dZ loaded once for the BI rows.
// Full: count = block; otherwise count < block, the last outputs of a layer (the lanes' sums
// past count are of zeros, and not written). Row i = n_in (Ones) is db's row of ones under
// H_prev.T: its terms are added (an FMA by 1 rounds as the sum does).
template <class V, int BI, bool Full, bool Ones = false>
CHAINRULE_STEP_INLINE void weight_grads_block(Index n_out, RowParts parts, Index mp,
                                              typename V::T scale, const typename V::T* HT,
                                              const typename V::T* dZT, typename V::T* dWb, Index i,
                                              Index j, Index count = V::block) {
  constexpr Index B = V::block;
  typename V::T first[BI][B];  // the first part's sums
  for (int part = 0; part < parts.count(); ++part) {
    typename V::reg acc[BI][B];
    for (int r = 0; r < BI; ++r)
      for (Index u = 0; u < B; ++u) acc[r][u] = V::zero();
    for (Index t = parts.begin(part); t < parts.stop(part); t += V::lanes) {
      typename V::reg d[B];
      for (Index u = 0; u < B; ++u)
        d[u] = Full || u < count ? V::load(dZT + (j + u) * mp + t) : V::zero();
      for (int r = 0; r < BI; ++r) {
        if constexpr (Ones) {
          for (Index u = 0; u < B; ++u) acc[r][u] = V::add(acc[r][u], d[u]);
        } else {
          const typename V::reg h = V::load(HT + (i + r) * mp + t);
          for (Index u = 0; u < B; ++u) acc[r][u] = V::fma(h, d[u], acc[r][u]);
        }
      }
    }
    for (int r = 0; r < BI; ++r)
      finish_part<V>(parts, part, acc[r], scale, first[r], dWb + (i + r) * n_out + j,
                     Full ? B : count);
  }
}

// [dW; db] rows [i, i + count) of output j (count <= block; row n_in, db's, may be among them)
// = scale * the lane sums over the row tiles of HT[i + u] * dZT[j] (each part's, added): a
// narrow layer's outputs, each tile of dZ loaded once for count rows of dW
template <class V>
CHAINRULE_STEP_INLINE void weight_grads_column(Index n_in, Index n_out, RowParts parts, Index mp,
                                               typename V::T scale, const typename V::T* HT,
                                               const typename V::T* dZT, typename V::T* dWb,
                                               Index i, Index j, Index count) {
  constexpr Index B = V::block;
  const Index from_h = i + count > n_in ? n_in - i : count;  // rows of HT; then db's, if any
  typename V::T first[B], sums[B];
  for (int part = 0; part < parts.count(); ++part) {
    typename V::reg acc[B];
    for (Index u = 0; u < B; ++u) acc[u] = V::zero();
    for (Index t = parts.begin(part); t < parts.stop(part); t += V::lanes) {
      const typename V::reg d = V::load(dZT + j * mp + t);
      for (Index u = 0; u < B; ++u) {
        if (u < from_h)
          acc[u] = V::fma(V::load(HT + (i + u) * mp + t), d, acc[u]);
        else if (u < count)
          acc[u] = V::add(acc[u], d);  // db
      }
    }
    finish_part<V>(parts, part, acc, scale, first, sums, count);
  }
  for (Index u = 0; u < count; ++u) dWb[(i + u) * n_out + j] = sums[u];
}

// HT (n_in, mp), dZT (n_out, mp) -> [dW; db] (n_in + 1, n_out) = scale [HT; 1] @ dZT.T. Each
// entry: lane-wise sums over the row tiles of each part in order, then the lanes summed
// pairwise, the two parts' sums added (then scaled), however the loops are blocked (V::block
// outputs and V::row_block rows of dW a pass).
template <class V>
void small_weight_grads(Index n_in, Index n_out, Index mp, Index split, typename V::T scale,
                        const typename V::T* HT, const typename V::T* dZT, typename V::T* dWb) {
  constexpr Index B = V::block, RB = V::row_block;
  const RowParts parts{split, mp};
  // outputs [j, j + count): V::row_block rows of dW a pass, then one, then db
  const auto outputs = [&](Index j, auto full, Index count) {
    constexpr bool Full = decltype(full)::value;
    Index i = 0;
    for (; i + RB <= n_in; i += RB)
      weight_grads_block<V, RB, Full>(n_out, parts, mp, scale, HT, dZT, dWb, i, j, count);
    for (; i < n_in; ++i)
      weight_grads_block<V, 1, Full>(n_out, parts, mp, scale, HT, dZT, dWb, i, j, count);
    weight_grads_block<V, 1, Full, true>(n_out, parts, mp, scale, HT, dZT, dWb, n_in, j, count);
  };
  Index j = 0;
  for (; j + B <= n_out; j += B) outputs(j, std::true_type(), B);
  if (j == n_out) return;
  // the last outputs, fewer than V::block: one block of them, with a lane sum for each of the
  // n_in + 1 rows of [dW; db], or each output on its own, V::block rows a pass (a narrow layer
  // on a wider one), whichever takes fewer lane sums
  const Index rest = n_out - j, passes = (n_in + B) / B;  // passes: ceil((n_in + 1) / B)
  if (rest * passes > n_in + 1) {
    outputs(j, std::false_type(), rest);
    return;
  }
  for (; j < n_out; ++j)
    for (Index i = 0; i <= n_in; i += B)
      weight_grads_column<V>(n_in, n_out, parts, mp, scale, HT, dZT, dWb, i, j,
                             n_in + 1 - i < B ? n_in + 1 - i : B);
}

// [dW] rows [i, i + block) x outputs [j, j + TB vectors) = scale * sum over the rows r of
// HT[i + u][r] * dZ[r][j..] (each part's sum, added): each broadcast of H serves TB FMAs.
// count < lanes (TB = 1 only): the last outputs, lanes past count read as 0 and are not written.
// The first part's sums wait, unscaled, in dWb.
template <class V, int TB>
inline void weight_grads_rows_block(Index n_out, RowParts parts, Index mp, typename V::T scale,
                                    const typename V::T* HT, const typename V::T* dZ,
                                    typename V::T* dWb, Index i, Index j, Index count) {
  constexpr Index B = V::block, W = V::lanes;
  const bool full = count == W;  // (TB > 1: always)
  for (int part = 0; part < parts.count(); ++part) {
    typename V::reg acc[B][TB];
    for (Index u = 0; u < B; ++u)
      for (int k = 0; k < TB; ++k) acc[u][k] = V::zero();
    for (Index r = parts.begin(part); r < parts.stop(part); ++r) {
      typename V::reg d[TB];
      for (int k = 0; k < TB; ++k)
        d[k] = full ? V::load(dZ + r * n_out + j + k * W) : V::load_n(dZ + r * n_out + j, count);
      for (Index u = 0; u < B; ++u) {
        const typename V::reg h = V::broadcast(HT[(i + u) * mp + r]);
        for (int k = 0; k < TB; ++k) acc[u][k] = V::fma(h, d[k], acc[u][k]);
      }
    }
    const bool last = part + 1 == parts.count();
    for (Index u = 0; u < B; ++u)
      for (int k = 0; k < TB; ++k) {
        typename V::T* out = dWb + (i + u) * n_out + j + k * W;
        typename V::reg g = acc[u][k];
        if (part > 0) g = V::add(full ? V::load(out) : V::load_n(out, count), g);
        if (last) g = V::mul(g, V::broadcast(scale));
        if (full)
          V::store(out, g);
        else
          V::store_n(out, g, count);
      }
  }
}

// HT (n_in, mp), dZ (m, n_out) row-major -> [dW; db] (n_in + 1, n_out) = scale [HT; 1] @ dZ:
// vectors across the outputs j, each sum over the rows of each part in order (FMA), the two
// parts' sums added (then scaled)
template <class V>
void small_weight_grads_rows(Index n_in, Index n_out, Index m, Index mp, Index split,
                             typename V::T scale, const typename V::T* HT, const typename V::T* dZ,
                             typename V::T* dWb) {
  using T = typename V::T;
  constexpr Index W = V::lanes, TB = V::tile_block;
  const RowParts parts{split, m};
  Index i = 0;
  for (; i + V::block <= n_in; i += V::block) {  // V::block rows of dW per pass over dZ
    Index j = 0;
    for (; j + TB * W <= n_out; j += TB * W)
      weight_grads_rows_block<V, TB>(n_out, parts, mp, scale, HT, dZ, dWb, i, j, W);
    for (; j < n_out; j += W)
      weight_grads_rows_block<V, 1>(n_out, parts, mp, scale, HT, dZ, dWb, i, j,
                                    n_out - j < W ? n_out - j : W);
  }
  for (; i <= n_in; ++i) {  // the last rows, and row n_in (ones under H_prev.T): db
    for (Index j = 0; j < n_out; j += W) {
      const Index count = n_out - j < W ? n_out - j : W;
      typename V::reg sum = V::zero();
      for (int part = 0; part < parts.count(); ++part) {
        typename V::reg acc = V::zero();
        for (Index r = parts.begin(part); r < parts.stop(part); ++r) {
          const typename V::reg d = V::load_n(dZ + r * n_out + j, count);
          acc = i < n_in ? V::fma(V::broadcast(HT[i * mp + r]), d, acc) : V::add(acc, d);
        }
        sum = part > 0 ? V::add(sum, acc) : acc;
      }
      V::store_n(dWb + i * n_out + j, V::mul(sum, V::broadcast(T(scale))), count);
    }
  }
}

// W (n_in, n_out), dZT (n_out, mp) -> dHT (n_in, mp) = W @ dZT: each sum over j in order (FMA)
template <class V>
void small_backprop(Index n_in, Index n_out, Index mp, const typename V::T* W,
                    const typename V::T* dZT, typename V::T* dHT) {
  small_product<V, false>(n_out, n_in, n_out, mp, W, nullptr, dZT, dHT);
}

template <class S, class = void>
struct HasTransposeBlock : std::false_type {};
template <class S>
struct HasTransposeBlock<S, std::void_t<decltype(&S::transpose_block)>> : std::true_type {};

// AT (n, mp) -> A (mp, n) = AT.T: lanes x lanes blocks transposed in registers where the vector
// type has transpose_block, else element by element
template <class V>
void small_untranspose(Index n, Index mp, const typename V::T* AT, typename V::T* A) {
  if constexpr (HasTransposeBlock<V>::value) {
    constexpr Index L = V::lanes;
    for (Index i = 0; i < mp; i += L)
      for (Index j = 0; j < n; j += L)
        V::transpose_block(static_cast<int>(n - j < L ? n - j : L), AT + j * mp + i, mp,
                           A + i * n + j, n);
  } else {
    for (Index i = 0; i < mp; ++i)
      for (Index j = 0; j < n; ++j) A[i * n + j] = AT[j * mp + i];
  }
}

template <class V>
SmallStepKernels<typename V::T> small_step_table() {
  static_assert(V::lanes == small_step_lanes<typename V::T>, "one 64-byte vector per row tile");
  SmallStepKernels<typename V::T> k;
  k.affine = &small_affine<V>;
  k.weight_grads = &small_weight_grads<V>;
  k.weight_grads_rows = &small_weight_grads_rows<V>;
  k.backprop = &small_backprop<V>;
  k.untranspose = &small_untranspose<V>;
  return k;
}

}  // namespace
}  // namespace chainrule::kernels
