// The register-blocked micro-kernel of the packed path (gemm_packed.hpp), generic over a
// vector type V (a struct of static intrinsic wrappers that each ISA file defines), so that one
// loop serves every ISA and tile shape; each ISA file instantiates it with its own V, MR and NV
// and compiles it with its own flags.
//
//   C (mr, nr) tile = alpha * Ap (kc, MR panel) @ Bp (kc, NR panel) + beta * C
//
// MR x NV accumulators stay in registers: per depth step, NV vector loads of B, MR broadcasts
// of A and MR * NV fused multiply-adds.
#pragma once

#include "chainrule/tensor.hpp"
#include "gemm_common.hpp"

namespace chainrule::kernels {
namespace {

template <class V, int MR_, int NV>
struct MicroKernel {
  using T = typename V::T;
  using Vec = V;
  static constexpr int MR = MR_;
  static constexpr int NR = NV * V::width;

  // A tile of few rows (the last of a product whose rows are not a multiple of MR) runs a
  // narrower kernel: the fewest multiple of kRowStep rows that holds them. Each element's sum is
  // the same FMA chain whichever kernel computes it.
  static constexpr int kRowStep = MR % 3 == 0 ? MR / 3 : MR % 2 == 0 ? MR / 2 : MR;

  // Ap (kc, MR), Bp (kc, NR) -> C (mr, nr), mr <= MR, nr <= NR (an edge tile stores its valid
  // part only); kc is at most the rounding block KC of the ISA's kernel (kernel_deep in
  // gemm_packed.hpp splits deeper packed blocks)
  template <int R = kRowStep>
  static void kernel(Index kc, const T* Ap, const T* Bp, T* C, Index ldc, T alpha, T beta, int mr,
                     int nr) {
    if constexpr (R >= MR) {
      rows<MR>(kc, Ap, Bp, C, ldc, alpha, beta, mr, nr);
    } else if (mr <= R) {
      rows<R>(kc, Ap, Bp, C, ldc, alpha, beta, mr, nr);
    } else {
      kernel<R + kRowStep>(kc, Ap, Bp, C, ldc, alpha, beta, mr, nr);
    }
  }

  // The kernel on the first R rows of the panel: Ap (kc, MR) -> C (mr, nr), mr <= R
  template <int R>
  static void rows(Index kc, const T* Ap, const T* Bp, T* C, Index ldc, T alpha, T beta, int mr,
                   int nr) {
    // C's tile is read (beta != 0) or at least written at the end: fetch its lines now so they
    // arrive during the depth loop (a large C lives in DRAM; a prefetch never faults)
    constexpr int kLine = 64 / static_cast<int>(sizeof(T));
    for (int i = 0; i < mr; ++i) {
      for (int j = 0; j < nr; j += kLine) __builtin_prefetch(C + i * ldc + j, 1, 3);
      __builtin_prefetch(C + i * ldc + nr - 1, 1, 3);  // a row need not start on a line
    }
    typename V::reg acc[R][NV];
#pragma GCC unroll 32
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[i][v] = V::zero();
    for (Index p = 0; p < kc; ++p) {
      typename V::reg b[NV];
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) b[v] = V::load(Bp + v * V::width);
#pragma GCC unroll 32
      for (int i = 0; i < R; ++i) {
        const typename V::reg a = V::broadcast(Ap[i]);
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v)
          acc[i][v] = V::fmadd(a, b[v], acc[i][v]);  // C[i, :] += A[i, p] B[p, :]
      }
      Ap += MR;
      Bp += NR;
    }
    const typename V::reg va = V::broadcast(alpha);
    if (mr == R && nr == NR) {
      const typename V::reg vb = V::broadcast(beta);
#pragma GCC unroll 32
      for (int i = 0; i < R; ++i)
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) {
          T* c = C + i * ldc + v * V::width;
          // C = alpha * acc + beta * C; beta == 0 never reads C (it may hold NaN)
          V::store(c, beta == T(0) ? V::mul(va, acc[i][v])
                                   : V::fmadd(vb, V::load(c), V::mul(va, acc[i][v])));
        }
      return;
    }
    alignas(64) T tile[R * NR];  // an edge tile: compute in full, store the valid part
#pragma GCC unroll 32
    for (int i = 0; i < R; ++i)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) V::store(tile + i * NR + v * V::width, V::mul(va, acc[i][v]));
    for (int i = 0; i < mr; ++i)
      for (int j = 0; j < nr; ++j)
        C[i * ldc + j] =
            beta == T(0) ? tile[i * NR + j] : fma1(beta, C[i * ldc + j], tile[i * NR + j]);
  }
};

}  // namespace
}  // namespace chainrule::kernels
