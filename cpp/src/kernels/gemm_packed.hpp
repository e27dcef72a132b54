// BLIS-style packed GEMM driver, included by each ISA's source file (gemm_avx512.cpp,
// gemm_avx2.cpp) and compiled there with that ISA's flags. Everything here has internal linkage
// (anonymous namespace) and calls no out-of-line std:: templates, so code built for one ISA can
// never be picked by the linker for another.
//
//   C (m, n) = alpha * op(A) (m, k) @ op(B) (k, n) + beta * C,
//   op(A)(i, p) = A[i * rsa + p * csa] for i < a_rows and 1 for a_rows <= i < m (the row of
//   ones that turns a dW product into [dW; db]),  op(B)(p, j) = B[p * rsb + j * csb]
// and the epilogue, if any, runs on each finished (row block x NR) column panel of C right
// after its last store, while the panel is in L1.
//
// Loops (BLIS): jc over NC columns, pc over KC depth (sequential, so every element of C is
// summed in the same order whatever the thread count), ic over MC rows; B's KC x NC block is
// packed once into NR-wide panels and shared; each task packs its MC x KC block of A into
// MR-tall panels and runs the register-blocked micro-kernel over MR x NR tiles.
#pragma once

#include "chainrule/kernels/gemm.hpp"
#include "chainrule/kernels/thread_pool.hpp"
#include "chainrule/tensor.hpp"
#include "gemm_common.hpp"
#include "gemm_pack.hpp"
#include "gemm_workspace.hpp"

namespace chainrule::kernels {
namespace {

// Products of fewer multiply-adds run on the calling thread alone (see gemm_packed).
constexpr Index kThreadedWork = Index(1) << 20;

// parallel_for, or a plain loop on the caller when the product is too small for threads.
template <class F>
void run_tasks(int threads, Index n_tasks, F&& f) {
  if (threads == 1) {
    for (Index t = 0; t < n_tasks; ++t) f(t);
  } else {
    parallel_for(n_tasks, f);
  }
}

// The packed product on `threads` threads sharing the packed panels (1: the calling thread
// alone); j_base is the column of C's first column in the whole product (for the epilogue).
template <class K, class T>
void gemm_packed_shared(int threads, Index m, Index n, Index k, T alpha, const T* A, Index rsa,
                        Index csa, const T* B, Index rsb, Index csb, T beta, T* C, Index ldc,
                        const Epilogue<T>& ep, Index a_rows, Index j_base) {
  constexpr Index MR = K::MR, NR = K::NR, KC = K::KC, MC = K::MC, NC = K::NC;
  // Mid-sized products take one task per thread and job (each task claimed passes a cache
  // line between cores), big ones 4 for load balance.
  const Index per_thread = m * n * k < (Index(1) << 24) ? 1 : 4;
  // Depth blocks outside column blocks: op(A)[:, pc:pc+kc] is packed once per depth block and
  // serves every column block, so A is packed once in all (not n / NC times); each C element
  // still accumulates its depth blocks in increasing pc, so the order of its sums is unchanged.
  const Index m_panels = ceil_div(m, MR);
  for (Index pc = 0; pc < k; pc += KC) {
    const Index kc = imin(KC, k - pc);
    const T beta_pc = pc == 0 ? beta : T(1);  // later depth blocks accumulate
    T* Ap = thread_buffer<T>(1, m_panels * MR * kc);
    for (Index jc = 0; jc < n; jc += NC) {
      const Index nc = imin(NC, n - jc);
      const Index n_panels = ceil_div(nc, NR);
      T* Bp = thread_buffer<T>(0, n_panels * NR * kc);
      // 1. pack op(B)[pc:pc+kc, jc:jc+nc] (and, with the first column block, op(A)[:, pc:pc+kc])
      // once, shared by all tasks, in parallel by groups of panels (one pool job for both)
      const Index b_groups = imin(n_panels, threads * per_thread);
      const Index a_groups = jc == 0 ? imin(m_panels, threads * per_thread) : 0;
      run_tasks(threads, b_groups + a_groups, [&](Index g) {
        if (g < b_groups) {
          for (Index jp = g * n_panels / b_groups; jp < (g + 1) * n_panels / b_groups; ++jp)
            pack_b_panel<K>(kc, imin(NR, nc - jp * NR), B + pc * rsb + (jc + jp * NR) * csb,
                            rsb, csb, Bp + jp * NR * kc);
        } else {
          g -= b_groups;
          for (Index ip = g * m_panels / a_groups; ip < (g + 1) * m_panels / a_groups; ++ip)
            pack_a_panel<K>(kc, imin(MR, m - ip * MR), imin(MR, imax(a_rows - ip * MR, 0)),
                            A + ip * MR * rsa + pc * csa, rsa, csa, Ap + ip * MR * kc);
        }
      });
      // 2. tasks = row blocks x column groups. Row blocks are equal (a multiple of MR, at most
      // MC, from m alone) and keep their packed A in L2; column groups make at least 4 tasks
      // per thread so that the threads finish together. The partition never changes a result,
      // only who computes it.
      const Index row_blocks = ceil_div(m, MC);
      const Index mc_even = ceil_div(ceil_div(m, row_blocks), MR) * MR;
      const Index col_groups =
          threads == 1 ? 1 : imin(n_panels, ceil_div(static_cast<Index>(threads) * per_thread, row_blocks));
      const bool last_pc = pc + kc == k;
      // one depth block and nothing needed in C but the epilogue's result: the panels go to
      // scratch memory that stays in L1, and C (say dW before an SGD update) is never written
      const bool to_scratch = ep && ep.c_unused && pc == 0 && last_pc && beta == T(0);
      const WorkerScratch<T> scratch(2, to_scratch ? threads : 0, to_scratch ? mc_even * NR : 0);
      run_tasks(threads, row_blocks * col_groups, [&](Index t) {
        const Index ib = t / col_groups, g = t % col_groups;
        const Index ic = ib * mc_even, mc = imin(mc_even, m - ic);
        const Index a_panels = ceil_div(mc, MR);
        const T* Ablock = Ap + (ic / MR) * MR * kc;
        const Index jp_begin = g * n_panels / col_groups, jp_end = (g + 1) * n_panels / col_groups;
        T* panel = to_scratch ? scratch.get() : nullptr;  // (mc, NR), row stride NR
        for (Index jp = jp_begin; jp < jp_end; ++jp) {
          const Index j0 = jc + jp * NR, nr = imin(NR, n - j0);
          T* out = to_scratch ? panel : C + ic * ldc + j0;
          const Index ld = to_scratch ? NR : ldc;
          for (Index ip = 0; ip < a_panels; ++ip) {
            const Index i = ip * MR, mr = imin(MR, mc - i);
            K::kernel(kc, Ablock + ip * MR * kc, Bp + jp * NR * kc, out + i * ld, ld, alpha,
                      beta_pc, static_cast<int>(mr), static_cast<int>(nr));
          }
          if (ep && last_pc) ep(ic, j_base + j0, mc, nr, out, ld);
        }
      });
    }
  }
}

// The packed product. A pool job costs ~0.6-1 us: products under 2^20 multiply-adds (~2 us
// on one core) run on the caller alone. Larger ones with enough columns give each thread its
// own slice of columns of C (whole NR panels) and run the one-thread product on it, so every
// thread packs its own A and B and no packed panel moves between cores. That costs much when
// the cores sit on different dies, as this VM's two vCPUs often do: there W2 took 221 ms per
// 20,000 rows with shared panels and 138 with private ones, fp32 n = 4096 ran at 375 against
// 440 GFLOP/s; on one die the two are within a few percent. A is packed by every thread
// instead of once. Each element's sums are unchanged, so the bits equal one thread's.
template <class K, class T>
void gemm_packed(Index m, Index n, Index k, T alpha, const T* A, Index rsa, Index csa,
                 const T* B, Index rsb, Index csb, T beta, T* C, Index ldc, const Epilogue<T>& ep,
                 Index a_rows) {
  constexpr Index NR = K::NR;
  const int threads = m * n * k < kThreadedWork ? 1 : get_num_threads();
  if (threads > 1 && n >= 4 * NR * threads) {
    const Index slice = ceil_div(ceil_div(n, threads), NR) * NR;
    parallel_for(
        ceil_div(n, slice),
        [&](Index t) {
          const Index j0 = t * slice;
          gemm_packed_shared<K>(1, m, imin(slice, n - j0), k, alpha, A, rsa, csa,
                                B + j0 * csb, rsb, csb, beta, C + j0, ldc, ep, a_rows, j0);
        },
        /*pinned=*/true);
    return;
  }
  gemm_packed_shared<K>(threads, m, n, k, alpha, A, rsa, csa, B, rsb, csb, beta, C, ldc, ep,
                        a_rows, 0);
}

// The unpacked loops for small or skinny products (no packing cost), compiled for this ISA so
// the inner loops vectorise with its registers. They round exactly as the packed micro-kernel
// does (an FMA chain over each KC block of the depth, then C = alpha acc + beta C), so a row of
// C comes out bit-identical whichever path its product takes.
//   NT: C[i, j] = alpha * sum_p A[i, p] B[j, p] + beta * C[i, j], a sequential FMA chain per
//   KC block exactly as in the micro-kernel (for products too small to pack).
template <class K, class T>
void gemm_dots(Index m, Index n, Index k, T alpha, const T* A, Index lda, const T* B, Index ldb,
               T beta, T* C, Index ldc, const Epilogue<T>& ep) {
  constexpr Index U = 8;  // rows at a time: eight independent FMA chains hide the latency
  Index done = 0;         // rows before this one have had the epilogue
  for (Index i0 = 0; i0 < m; i0 += U) {
    const Index u_end = imin(U, m - i0);
    for (Index j = 0; j < n; ++j) {
      const T* b = B + j * ldb;
      T c[U];
      for (Index u = 0; u < u_end; ++u) c[u] = C[(i0 + u) * ldc + j];
      for (Index pc = 0; pc < k; pc += K::KC) {
        const T beta_pc = pc == 0 ? beta : T(1);
        T acc[U] = {};
        const Index p_end = imin(pc + K::KC, k);
        if (u_end == U) {
          for (Index p = pc; p < p_end; ++p)
#pragma GCC unroll 8
            for (Index u = 0; u < U; ++u) acc[u] = fma1(A[(i0 + u) * lda + p], b[p], acc[u]);
        } else {
          for (Index p = pc; p < p_end; ++p)
            for (Index u = 0; u < u_end; ++u) acc[u] = fma1(A[(i0 + u) * lda + p], b[p], acc[u]);
        }
        for (Index u = 0; u < u_end; ++u)
          c[u] = beta_pc == T(0) ? alpha * acc[u] : fma1(beta_pc, c[u], alpha * acc[u]);
      }
      for (Index u = 0; u < u_end; ++u) C[(i0 + u) * ldc + j] = c[u];
    }
    const Index rows = i0 + u_end - done;
    if (ep && (i0 + u_end == m || rows * n >= 4096)) {
      ep(done, 0, rows, n, C + done * ldc, ldc);
      done += rows;
    }
  }
}

//   NN/TN: acc[j0:j1] = sum_p op(A)[i, p] * B[p, j0:j1]   (requires csb == 1); rows
//   i >= a_rows of op(A) are ones. The epilogue runs on groups of finished rows (about 4096
//   elements, so they are still in L1).
template <class K, class T>
void gemm_rows_range(Index m, Index j0, Index j1, Index k, T alpha, const T* A, Index rsa,
                     Index csa, const T* B, Index rsb, T beta, T* C, Index ldc, T* acc,
                     const Epilogue<T>& ep, Index a_rows) {
  const Index n = j1 - j0;
  Index done = 0;  // rows before this one have had the epilogue
  for (Index i = 0; i < m; ++i) {
    T* c = C + i * ldc + j0;
    const bool ones = i >= a_rows;
    const auto a_at = [=](Index p) { return ones ? T(1) : A[i * rsa + p * csa]; };
    if (k == 0) {  // C = beta C
      for (Index j = 0; j < n; ++j) c[j] = beta == T(0) ? T(0) : beta * c[j];
    }
    for (Index pc = 0; pc < k; pc += K::KC) {
      const T beta_pc = pc == 0 ? beta : T(1);
      // With nothing to keep from C, C's row is the accumulator (one pass fewer).
      T* acc_row = beta_pc == T(0) ? c : acc;
      for (Index j = 0; j < n; ++j) acc_row[j] = T(0);
      const Index p_end = imin(pc + K::KC, k);
      Index p = pc;
      // four depth steps per pass over acc: the same FMA chain, in the same order, with a
      // quarter of the loads and stores of acc
      for (; p + 4 <= p_end; p += 4) {
        const T a0 = a_at(p), a1 = a_at(p + 1), a2 = a_at(p + 2), a3 = a_at(p + 3);
        const T* b0 = B + p * rsb + j0;
        const T* b1 = b0 + rsb;
        const T* b2 = b1 + rsb;
        const T* b3 = b2 + rsb;
        for (Index j = 0; j < n; ++j)
          acc_row[j] = fma1(a3, b3[j], fma1(a2, b2[j], fma1(a1, b1[j], fma1(a0, b0[j], acc_row[j]))));
      }
      for (; p < p_end; ++p) {
        const T a = a_at(p);
        const T* b = B + p * rsb + j0;
        for (Index j = 0; j < n; ++j) acc_row[j] = fma1(a, b[j], acc_row[j]);
      }
      if (beta_pc == T(0)) {
        if (alpha != T(1))
          for (Index j = 0; j < n; ++j) c[j] = alpha * c[j];
      } else {
        for (Index j = 0; j < n; ++j) c[j] = fma1(beta_pc, c[j], alpha * acc[j]);
      }
    }
    if (ep && (i + 1 == m || (i + 1 - done) * n >= 4096)) {
      ep(done, j0, i + 1 - done, n, C + done * ldc + j0, ldc);
      done = i + 1;
    }
  }
}

// The narrow row loops, for a C of at most two vectors per row (the small layers of a small
// network, an output layer of a few classes), NN/TN (csb == 1; rows i >= a_rows of op(A) are
// ones):
//   C[i0:i0+RB, 0:n] = alpha * op(A)[i0:i0+RB, :] @ B (k, n) + beta * C
// RB rows at a time keep RB x NV accumulators in registers (independent FMA chains), loading
// each row of B once for all of them; the last vector of a row is masked. Each element is the
// same FMA chain over each KC block, combined with C as in the micro-kernel, so the bits equal
// those of the other paths.
template <class K, class T, int NV, int RB, bool Ones>
inline void narrow_block_impl(Index i0, Index n, Index k, T alpha, const T* A, Index rsa, Index csa,
                         const T* B, Index rsb, T beta, T* C, Index ldc, Index a_rows) {
  using V = typename K::Vec;
  constexpr int W = V::width;
  const int tail = static_cast<int>(n) - (NV - 1) * W;  // valid lanes of the last vector
  const typename V::reg va = V::broadcast(alpha);
  // op(A)[i0 + r, p] = a_row[r][p * a_step[r]]: a row of ones reads one value with step 0,
  // so the depth loop has no branch (without rows of ones, plain indexing: no table to keep)
  const T one = T(1);
  const T* a_row[RB];
  Index a_step[RB];
  if constexpr (Ones)
    for (int r = 0; r < RB; ++r) {
      const bool real = i0 + r < a_rows;
      a_row[r] = real ? A + (i0 + r) * rsa : &one;
      a_step[r] = real ? csa : 0;
    }
  const auto a_at = [&](int r, Index p) -> T {
    if constexpr (Ones)
      return a_row[r][p * a_step[r]];
    else
      return A[(i0 + r) * rsa + p * csa];
  };
  for (Index pc = 0; pc < k; pc += K::KC) {
    const T beta_pc = pc == 0 ? beta : T(1);
    const Index p_end = imin(pc + K::KC, k);
    typename V::reg acc[RB][NV];
#pragma GCC unroll 8
    for (int r = 0; r < RB; ++r)
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) acc[r][v] = V::zero();
    for (Index p = pc; p < p_end; ++p) {
      const T* b = B + p * rsb;
      if constexpr (NV > 4) {  // RB x NV accumulators leave no room for NV loads of B
        typename V::reg a[RB];
#pragma GCC unroll 8
        for (int r = 0; r < RB; ++r)
          a[r] = V::broadcast(a_at(r, p));
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) {
          typename V::reg bv = v == NV - 1 ? V::load_n(b + v * W, tail) : V::load(b + v * W);
          asm("" : "+v"(bv));  // one load into a register, not one folded into each FMA
#pragma GCC unroll 8
          for (int r = 0; r < RB; ++r) acc[r][v] = V::fmadd(a[r], bv, acc[r][v]);
        }
        continue;
      }
      typename V::reg bv[NV];
#pragma GCC unroll 8
      for (int v = 0; v < NV - 1; ++v) bv[v] = V::load(b + v * W);
      bv[NV - 1] = V::load_n(b + (NV - 1) * W, tail);
#pragma GCC unroll 8
      for (int r = 0; r < RB; ++r) {
        const typename V::reg a = V::broadcast(a_at(r, p));
#pragma GCC unroll 8
        for (int v = 0; v < NV; ++v) acc[r][v] = V::fmadd(a, bv[v], acc[r][v]);
      }
    }
    const typename V::reg vb = V::broadcast(beta_pc);
#pragma GCC unroll 8
    for (int r = 0; r < RB; ++r) {
      T* c = C + (i0 + r) * ldc;
#pragma GCC unroll 8
      for (int v = 0; v < NV; ++v) {
        const int count = v == NV - 1 ? tail : W;
        // C = alpha * acc + beta * C; beta == 0 never reads C (it may hold NaN)
        const typename V::reg out = beta_pc == T(0)
                                        ? V::mul(va, acc[r][v])
                                        : V::fmadd(vb, V::load_n(c + v * W, count),
                                                   V::mul(va, acc[r][v]));
        V::store_n(c + v * W, out, count);
      }
    }
  }
}

// Dispatches to the loop with or without rows of ones in the block.
template <class K, class T, int NV, int RB>
inline void narrow_block(Index i0, Index n, Index k, T alpha, const T* A, Index rsa, Index csa,
                         const T* B, Index rsb, T beta, T* C, Index ldc, Index a_rows) {
  if (i0 + RB <= a_rows)
    narrow_block_impl<K, T, NV, RB, false>(i0, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc,
                                           a_rows);
  else
    narrow_block_impl<K, T, NV, RB, true>(i0, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc,
                                          a_rows);
}

// The last rows (fewer than a block): all of them in one block of R rows, so their FMA chains
// interleave (one row alone waits on its chain: 4 cycles per step, k = 100 of a dW product
// with a few rows took ~400 cycles a row).
template <class K, class T, int NV, int R>
inline void narrow_tail(Index rows, Index i, Index n, Index k, T alpha, const T* A, Index rsa,
                        Index csa, const T* B, Index rsb, T beta, T* C, Index ldc, Index a_rows) {
  if constexpr (R >= 1) {
    if (rows == R)
      narrow_block<K, T, NV, R>(i, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, a_rows);
    else
      narrow_tail<K, T, NV, R - 1>(rows, i, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc,
                                   a_rows);
  }
}

// Rows [r0, r1) of the narrow product in blocks of RB (then one block of the rest), with the
// epilogue on groups of finished rows (about 4096 elements, still in L1).
template <class K, class T, int NV>
void narrow_rows(Index r0, Index r1, Index n, Index k, T alpha, const T* A, Index rsa, Index csa,
                 const T* B, Index rsb, T beta, T* C, Index ldc, const Epilogue<T>& ep,
                 Index a_rows) {
  // 8 accumulators for 1-2 vectors, 12-16 for 3-4, 15-24 for 5-8 (and one register per row
  // for its broadcast value)
  constexpr int RB = NV <= 2 ? 8 / NV : NV <= 4 ? 4 : 3;
  Index done = r0, i = r0;
  while (i < r1) {
    if (i + RB <= r1) {
      narrow_block<K, T, NV, RB>(i, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, a_rows);
      i += RB;
    } else {
      narrow_tail<K, T, NV, RB - 1>(r1 - i, i, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc,
                                    a_rows);
      i = r1;
    }
    if (ep && (i == r1 || (i - done) * n >= 4096)) {
      ep(done, 0, i - done, n, C + done * ldc, ldc);
      done = i;
    }
  }
}

/// Up to this many bytes of op(B) (it then stays in L1 while every row block reads it), rows of
/// 5-8 vectors also take the narrow row loops: float64 64^3 69 -> 93 GFLOP/s (packing both
/// operands and a 24-wide panel of which the third is padding cost more than the product),
/// 4096 x 64 x 64 174 -> 230, float32 96^3 172 -> 231 (one thread; 128^3, with 64 KB of B,
/// stays packed).
/// Only with 32 vector registers (AVX-512): up to 24 accumulators, 3 broadcasts and a row of B.
constexpr Index kNarrowWideB = 32 * 1024;
template <class K>
constexpr bool kNarrowWide = sizeof(typename K::Vec::reg) == 64;

/// Whether C's rows are narrow enough for the narrow row loops: at most two vectors, or four
/// when op(A)'s rows are contiguous (NN, NT; in TN a pair of rows would use two values of each
/// cache line of A). They then beat packing at every size measured: packing op(A) costs as
/// much as the product itself when C has a few vectors per row, and a 32/24-wide panel would
/// be partly padding (2 threads, m = 4096, k = 512: float32 n = 10-32 about 2x faster,
/// float64 n = 10-16 2-4x, float32 NN/NT n = 64 1.4-2x; 1 thread float32 NN 64^3 1.9x).
template <class K>
constexpr bool is_narrow(bool rows_contiguous, Index m, Index n, Index k) {
  constexpr Index W = K::Vec::width;
  constexpr Index size = sizeof(typename K::T);
  if (n <= (rows_contiguous ? 4 : 2) * W) return true;
  return kNarrowWide<K> && n <= 8 * W && k * n * size <= kNarrowWideB &&
         (rows_contiguous || m * k * size <= kNarrowWideB);
}

// The narrow product: NN/TN directly; NT (C = op(A) @ B.T with B stored (n, k)) on a copy of
// B transposed to (k, n), which for n <= two vectors is small next to the product. Rows are
// split over threads in blocks when there is enough work (each row is summed by one thread).
template <class K, class T>
void gemm_narrow(Index m, Index n, Index k, T alpha, const T* A, Index rsa, Index csa,
                 const T* B, Index rsb, Index csb, T beta, T* C, Index ldc,
                 const Epilogue<T>& ep, Index a_rows) {
  if (csb != 1) {  // NT: op(B)[p, j] = B[j * csb + p] (rsb == 1): transpose into (k, n)
    T* Bt = thread_buffer<T>(0, k * n);
    constexpr Index W = K::Vec::width;
    for (Index j = 0; j < n; j += W)
      transpose_rows<typename K::Vec>(static_cast<int>(imin(W, n - j)), k, B + j * csb, csb,
                                      Bt + j, n);
    B = Bt;
    rsb = n;
  }
  const auto rows = [&](Index r0, Index r1) {
    constexpr Index W = K::Vec::width;
    if (n <= W)
      narrow_rows<K, T, 1>(r0, r1, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, ep, a_rows);
    else if (n <= 2 * W)
      narrow_rows<K, T, 2>(r0, r1, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, ep, a_rows);
    else if (n <= 3 * W)
      narrow_rows<K, T, 3>(r0, r1, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, ep, a_rows);
    else if (!kNarrowWide<K> || n <= 4 * W)
      narrow_rows<K, T, 4>(r0, r1, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, ep, a_rows);
    else if constexpr (!kNarrowWide<K>)
      return;
    else if (n <= 5 * W)
      narrow_rows<K, T, 5>(r0, r1, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, ep, a_rows);
    else if (n <= 6 * W)
      narrow_rows<K, T, 6>(r0, r1, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, ep, a_rows);
    else if (n <= 7 * W)
      narrow_rows<K, T, 7>(r0, r1, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, ep, a_rows);
    else
      narrow_rows<K, T, 8>(r0, r1, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, ep, a_rows);
  };
  const int threads = m * n * k < kThreadedWork ? 1 : get_num_threads();
  if (threads == 1) {
    rows(0, m);
    return;
  }
  const Index chunk = ceil_div(ceil_div(m, threads * 4), 24) * 24;  // whole blocks of rows
  parallel_for(ceil_div(m, chunk), [&](Index t) { rows(t * chunk, imin(m, (t + 1) * chunk)); });
}

// Rows 0..m-1 (m <= 4, say a one-sample predict), columns [j0, j1): each row in chunks of up
// to eight vectors whose accumulators stay in registers over the whole depth (eight
// independent FMA chains, one load of B per FMA, no accumulator traffic), then the epilogue on
// the range. The same chains as gemm_rows_range, so the same bits.
template <class K, class T, int NV>
inline void wide_chunk(Index i, Index w, Index k, T alpha, const T* A, Index rsa, Index csa,
                       const T* B, Index rsb, T beta, T* C, Index ldc, Index a_rows) {
  constexpr int W = K::Vec::width;
  if constexpr (NV > 1) {
    if (w <= (NV - 1) * W) {
      wide_chunk<K, T, NV - 1>(i, w, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, a_rows);
      return;
    }
  }
  narrow_block<K, T, NV, 1>(i, w, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, a_rows);
}

template <class K, class T>
void rows_wide(Index m, Index j0, Index j1, Index k, T alpha, const T* A, Index rsa, Index csa,
               const T* B, Index rsb, T beta, T* C, Index ldc, const Epilogue<T>& ep,
               Index a_rows) {
  constexpr Index kChunk = 8 * K::Vec::width;
  for (Index i = 0; i < m; ++i)
    for (Index j = j0; j < j1; j += kChunk)
      wide_chunk<K, T, 8>(i, imin(kChunk, j1 - j), k, alpha, A, rsa, csa, B + j, rsb, beta,
                          C + j, ldc, a_rows);
  if (ep) ep(0, j0, m, j1 - j0, C + j0, ldc);
}

// The row loops, split over column ranges (64-byte aligned) when there is enough work: a
// one-sample predict streams every weight once, so both cores' caches and bandwidth count.
template <class K, class T>
void gemm_rows(Index m, Index n, Index k, T alpha, const T* A, Index rsa, Index csa, const T* B,
               Index rsb, T beta, T* C, Index ldc, const Epilogue<T>& ep, Index a_rows) {
  constexpr Index kAlign = 64 / sizeof(T);
  const int threads = get_num_threads();
  const Index chunks = imin(threads, n / (4 * kAlign));
  const bool wide = m <= 4 && k > 0;  // accumulators in registers (rows_wide)
  if (threads == 1 || chunks < 2 || m * n * k < (1 << 16)) {
    if (wide)
      rows_wide<K>(m, 0, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, ep, a_rows);
    else
      gemm_rows_range<K>(m, 0, n, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc,
                         thread_buffer<T>(1, n), ep, a_rows);
    return;
  }
  const Index width = ceil_div(ceil_div(n, chunks), kAlign) * kAlign;
  const WorkerScratch<T> acc(1, threads, wide ? 0 : width);
  parallel_for(
      ceil_div(n, width),
      [&](Index t) {
        const Index j0 = t * width, j1 = imin(n, (t + 1) * width);
        if (wide)
          rows_wide<K>(m, j0, j1, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, ep, a_rows);
        else
          gemm_rows_range<K>(m, j0, j1, k, alpha, A, rsa, csa, B, rsb, beta, C, ldc, acc.get(),
                             ep, a_rows);
      },
      /*pinned=*/true);
}

}  // namespace
}  // namespace chainrule::kernels
