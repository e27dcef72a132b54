// Packing of the operands for the micro-kernel: op(A) into MR-tall panels and op(B) into
// NR-wide panels, both depth-major, so that the micro-kernel reads each with unit stride
// whatever the op (NN, TN, NT) and its edge tiles need no bounds checks (panels are padded).
// Rows of op(A) past a_rows are filled with ones: the row that turns a dW product into
// [dW; db]. Packing only moves values, so it never changes a result.
//
// Where op's rows run along the depth (op(A) in NN/NT, op(B) in NT) a plain copy would move
// one value per load; vector types with a register transpose (AVX-512) move W x W at a time.
#pragma once

#include <cstring>
#include <type_traits>

#include "chainrule/tensor.hpp"
#include "gemm_common.hpp"

namespace chainrule::kernels {
namespace {

// Whether the vector type has transpose_block (AVX-512): a W x W transpose in registers that
// packs rows running along the depth W values at a time, where the scalar loop moves one.
template <class V, class = void>
struct HasTranspose : std::false_type {};
template <class V>
struct HasTranspose<V, std::void_t<decltype(&V::transpose_block)>> : std::true_type {};

// src (rows, depth) -> dst (depth, rows):
// dst[p * ld_dst + i] = src[i * ld_src + p] for i < rows (<= W), p < depth: W x W register
// transposes where the vector type has them, the rest (and every value without them) one at
// a time.
template <class V, class T>
void transpose_rows(int rows, Index depth, const T* src, Index ld_src, T* dst, Index ld_dst) {
  constexpr Index W = V::width;
  Index p = 0;
  if constexpr (HasTranspose<V>::value)
    for (; p + W <= depth; p += W)
      V::transpose_block(rows, src + p, ld_src, dst + p * ld_dst, ld_dst);
  for (; p < depth; ++p)
    for (int i = 0; i < rows; ++i) dst[p * ld_dst + i] = src[i * ld_src + p];
}

// op(B) (kc, nr) -> Bp (kc, NR): one panel of op(B)[pc : pc + kc, j : j + nr], columns
// [nr, NR) zero-padded; op(B)(p, j) = B[p * rsb + j * csb].
template <class K, class T>
void pack_b_panel(Index kc, Index nr, const T* B, Index rsb, Index csb, T* Bp) {
  constexpr int NR = K::NR;
  using V = typename K::Vec;
  if constexpr (HasTranspose<V>::value && NR % V::width == 0) {
    if (csb != 1 && rsb == 1 && nr == NR) {  // op(B) = B.T, rows of B along the depth
      for (int j = 0; j < NR; j += V::width)
        transpose_rows<V>(V::width, kc, B + j * csb, csb, Bp + j, NR);
      return;
    }
  }
  if (csb == 1) {
    for (Index p = 0; p < kc; ++p) {
      const T* b = B + p * rsb;
      T* dst = Bp + p * NR;
      for (Index j = 0; j < nr; ++j) dst[j] = b[j];
      for (Index j = nr; j < NR; ++j) dst[j] = T(0);
    }
  } else {  // op(B) = B.T: read each row of B along the depth, write a column of the panel
    for (Index j = 0; j < NR; ++j) {
      if (j < nr) {
        const T* b = B + j * csb;
        for (Index p = 0; p < kc; ++p) Bp[p * NR + j] = b[p * rsb];
      } else {
        for (Index p = 0; p < kc; ++p) Bp[p * NR + j] = T(0);
      }
    }
  }
}

// op(B) (kc, nc) -> panels [jp_begin, jp_end) of Bp (each (kc, NR), panel jp at Bp + jp NR kc):
// as pack_b_panel on each, but where op(B)'s rows are contiguous (csb == 1) row by row across
// the panels, so that each row of B is read as one contiguous run (a prefetcher follows it)
// instead of NR values from each of kc rows per panel.
template <class K, class T>
void pack_b_panels(Index kc, Index nc, Index jp_begin, Index jp_end, const T* B, Index rsb,
                   Index csb, T* Bp) {
  constexpr int NR = K::NR;
  if (csb != 1) {
    for (Index jp = jp_begin; jp < jp_end; ++jp)
      pack_b_panel<K>(kc, nc - jp * NR < NR ? nc - jp * NR : NR, B + jp * NR * csb, rsb, csb,
                      Bp + jp * NR * kc);
    return;
  }
  // full panels by one fixed-size copy a row (a few vector moves, no loop over a run-time
  // count; the loop below is kept for a last, narrower panel): packing B took 28% less time in
  // a one-thread 512 x 4096 x 2048 float32 product (TSC-timed; about 1% of the product), and
  // on its own a 512 x 256 block of a 32 MB B moved at 0.34 ticks a value against 0.63
  const Index full_end = jp_end < nc / NR ? jp_end : nc / NR;
  for (Index p = 0; p < kc; ++p) {
    const T* b = B + p * rsb;
    Index jp = jp_begin;
    for (; jp < full_end; ++jp)
      std::memcpy(Bp + jp * NR * kc + p * NR, b + jp * NR, sizeof(T) * NR);
    for (; jp < jp_end; ++jp) {
      const Index nr = nc - jp * NR < NR ? nc - jp * NR : NR;
      const T* src = b + jp * NR;
      T* dst = Bp + jp * NR * kc + p * NR;
      for (Index j = 0; j < nr; ++j) dst[j] = src[j];
      for (Index j = nr; j < NR; ++j) dst[j] = T(0);
    }
  }
}

// op(A) (mr, kc) -> Ap (kc, MR): one MR-tall panel, rows [0, real) from A, [real, mr) ones,
// [mr, MR) zero-padded; op(A)(i, p) = A[i * rsa + p * csa].
template <class K, class T>
void pack_a_panel(Index kc, Index mr, Index real, const T* A, Index rsa, Index csa, T* Ap) {
  constexpr int MR = K::MR;
  using V = typename K::Vec;
  if constexpr (HasTranspose<V>::value && MR <= V::width) {
    if (rsa != 1 && csa == 1 && real == MR) {  // a full panel of rows along the depth
      transpose_rows<V>(MR, kc, A, rsa, Ap, MR);
      return;
    }
  }
  if (rsa == 1 && real == MR) {  // a full panel of A transposed (TN): MR values of each row
    // one fixed-size copy a row (two or three vector moves, no branch), so the loads of many
    // rows are in flight at once where the general loop below waits on each; a loop of MR
    // copies would be vectorised across the rows instead, one value per instruction. The
    // packing's share of a TN product halves (TN at 96-100% of NN's speed, from 91-97%).
    for (Index p = 0; p < kc; ++p) {
      const T* a = A + p * csa;
      T* dst = Ap + p * MR;
      std::memcpy(dst, a, MR * sizeof(T));
    }
    return;
  }
  if (rsa == 1) {  // op(A) columns are contiguous (A transposed)
    for (Index p = 0; p < kc; ++p) {
      const T* a = A + p * csa;
      T* dst = Ap + p * MR;
      for (Index i = 0; i < real; ++i) dst[i] = a[i];
      for (Index i = real; i < mr; ++i) dst[i] = T(1);
      for (Index i = mr; i < MR; ++i) dst[i] = T(0);
    }
  } else {
    for (Index i = 0; i < MR; ++i) {
      if (i < real) {
        const T* a = A + i * rsa;
        for (Index p = 0; p < kc; ++p) Ap[p * MR + i] = a[p * csa];
      } else {
        const T fill = i < mr ? T(1) : T(0);
        for (Index p = 0; p < kc; ++p) Ap[p * MR + i] = fill;
      }
    }
  }
}

}  // namespace
}  // namespace chainrule::kernels
