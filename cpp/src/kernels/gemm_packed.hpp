// The BLIS-style packed product: the blocking loops around the micro-kernel, for products
// big enough to repay packing (gemm_policy.hpp decides which). Blocking keeps each operand in
// the cache level that suits its reuse: a KP x NC block of packed B in L2 (read by every row
// block), an MR x NR tile of C in registers for each rounding block KC of the depth, and either
// (K::kStreamB) one MR-tall panel of A in L1 while the NR-wide panels of B stream from L2, or an
// MC x KP block of packed A in L2 while one NR-wide panel of B stays in L1.
//
//   C (m, n) = alpha * op(A) (m, k) @ op(B) (k, n) + beta * C,
//   op(A)(i, p) = A[i * rsa + p * csa] for i < a_rows and 1 for a_rows <= i < m (the row of
//   ones that turns a dW product into [dW; db]),  op(B)(p, j) = B[p * rsb + j * csb]
// and the epilogue, if any, runs on each finished block of C right after its last store, while
// the block is in cache: (MR x the task's columns) strips with kStreamB, else (row block x NR)
// panels; its prefetch hint, if any, is given each block before the product computes it.
//
// Loops (BLIS), inside row chunks of a tall product (each packs at most kPackedABytes of A;
// gemm_policy.hpp): pc over KP depth (sequential, so every element of C is summed in the same order
// whatever the thread count; the micro-kernel rounds each KC-deep chunk of it as a product of
// its own, so KP changes no bit), jc over NC columns, ic over MC rows; B's KP x NC block is
// packed once into NR-wide panels and shared; op(A)'s KP-deep slice is packed once into MR-tall
// panels; tasks run the register-blocked micro-kernel (micro_kernel.hpp) over MR x NR tiles.
#pragma once

#include "chainrule/kernels/gemm.hpp"
#include "chainrule/kernels/thread_pool.hpp"
#include "chainrule/tensor.hpp"
#include "gemm_common.hpp"
#include "gemm_pack.hpp"
#include "gemm_policy.hpp"
#include "gemm_workspace.hpp"

namespace chainrule::kernels {
namespace {

// Ap (kc, MR), Bp (kc, NR) -> C (mr, nr) with micro-kernel K for a packed block deeper than
// its rounding block K::KC: each KC-deep chunk is one FMA chain added to C as a product of its
// own (C = alpha acc + beta C for the first, C = alpha acc + C after it), exactly as one call
// per depth block of KC would round, while the tile stays in L1 between chunks.
template <class K, class T>
void kernel_deep(Index kc, const T* Ap, const T* Bp, T* C, Index ldc, T alpha, T beta, int mr,
                 int nr) {
  for (Index p0 = 0; p0 < kc; p0 += K::KC) {
    const Index chunk = kc - p0 < K::KC ? kc - p0 : K::KC;
    K::kernel(chunk, Ap + p0 * K::MR, Bp + p0 * K::NR, C, ldc, alpha, p0 == 0 ? beta : T(1), mr,
              nr);
  }
}

// parallel_for, or a plain loop on the caller when the product is too small for threads.
template <class F>
void run_tasks(int threads, Index n_tasks, F&& f) {
  if (threads == 1) {
    for (Index t = 0; t < n_tasks; ++t) f(t);
  } else {
    parallel_for(n_tasks, f);
  }
}

// The buffers of one thread's slice of a sliced product (gemm_packed), carved by the caller
// from its own before the tasks start, so that a worker's task never allocates: packed A,
// packed B and the epilogue's scratch panels, each at least packed_buffer_sizes' size.
template <class T>
struct SliceBuffers {
  T* a = nullptr;
  T* b = nullptr;
  T* scratch = nullptr;
};

// The sizes gemm_packed_shared(threads, m, n, k, ...) needs of its packed A, packed B and (per
// thread) scratch: their largest row chunk, depth block and column block.
template <class K>
void packed_buffer_sizes(Index m, Index n, Index k, Index sizes[3]) {
  constexpr Index MR = K::MR, NR = K::NR;
  const Index kc = imin(K::KP, k), b_cols = ceil_div(imin(K::NC, n), NR) * NR;
  sizes[0] = ceil_div(row_chunk<K>(m, k), MR) * MR * kc;
  sizes[1] = b_cols * kc;
  sizes[2] = K::kStreamB ? MR * b_cols : ceil_div(imin(K::MC, m), MR) * MR * NR;
}

// op(A) (m, k), op(B) (k, n) -> C (m, n), on `threads` threads sharing the packed panels (1:
// the calling thread alone); (i_base, j_base) is the position of C's first element in the
// whole product (for the epilogue); `bufs`, given only with one thread, replaces the thread's
// own buffers.
template <class K, class T>
void gemm_packed_shared(int threads, Index m, Index n, Index k, T alpha, const T* A, Index rsa,
                        Index csa, const T* B, Index rsb, Index csb, T beta, T* C, Index ldc,
                        const Epilogue<T>& ep, Index a_rows, Index i_base, Index j_base,
                        const SliceBuffers<T>& bufs = {}) {
  constexpr Index MR = K::MR, NR = K::NR, KP = K::KP, MC = K::MC, NC = K::NC;
  const Index chunk = row_chunk<K>(m, k);
  if (chunk < m) {  // row chunks, each the product of its rows (gemm_policy.hpp: row_chunk)
    for (Index at = 0; at < m; at += chunk) {
      const Index rows = imin(chunk, m - at), real = imin(imax(a_rows - at, 0), rows);
      gemm_packed_shared<K>(threads, rows, n, k, alpha, A + imin(at, a_rows) * rsa, rsa, csa, B,
                            rsb, csb, beta, C + at * ldc, ldc, ep, real, i_base + at, j_base, bufs);
    }
    return;
  }
  static_assert(KP % K::KC == 0, "a packed depth block holds whole rounding blocks");
  const Index per_thread = m * n * k < kPackedBalancedWork ? 1 : 4;
  // Depth blocks outside column blocks: op(A)[:, pc:pc+kc] is packed once per depth block and
  // serves every column block, so A is packed once in all (not n / NC times); each C element
  // still accumulates its depth blocks in increasing pc, so the order of its sums is unchanged.
  const Index m_panels = ceil_div(m, MR);
  Index sizes[3];
  packed_buffer_sizes<K>(m, n, k, sizes);
  T* const Ap = bufs.a ? bufs.a : thread_buffer<T>(1, sizes[0]);
  T* const Bp = bufs.b ? bufs.b : thread_buffer<T>(0, sizes[1]);
  for (Index pc = 0; pc < k; pc += KP) {
    const Index kc = imin(KP, k - pc);
    const T beta_pc = pc == 0 ? beta : T(1);  // later depth blocks accumulate
    for (Index jc = 0; jc < n; jc += NC) {
      const Index nc = imin(NC, n - jc);
      const Index n_panels = ceil_div(nc, NR);
      // 1. pack op(B)[pc:pc+kc, jc:jc+nc] (and, with the first column block, op(A)[:, pc:pc+kc])
      // once, shared by all tasks, in parallel by groups of panels (one pool job for both)
      const Index b_groups = imin(n_panels, threads * per_thread);
      const Index a_groups = jc == 0 ? imin(m_panels, threads * per_thread) : 0;
      run_tasks(threads, b_groups + a_groups, [&](Index g) {
        if (g < b_groups) {
          pack_b_panels<K>(kc, nc, g * n_panels / b_groups, (g + 1) * n_panels / b_groups,
                           B + pc * rsb + jc * csb, rsb, csb, Bp);
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
          threads == 1
              ? 1
              : imin(n_panels, ceil_div(static_cast<Index>(threads) * per_thread, row_blocks));
      const bool last_pc = pc + kc == k;
      // one depth block and nothing needed in C but the epilogue's result: the panels go to
      // scratch memory that stays in L1, and C (say dW before an SGD update) is never written
      const bool to_scratch = ep && ep.c_unused && pc == 0 && last_pc && beta == T(0);
      // scratch: a (mc, NR) panel, or with the A panel held in L1 a (MR, nc) strip
      const bool own_scratch = to_scratch && !bufs.scratch;
      const WorkerScratch<T> scratch(2, own_scratch ? threads : 0, own_scratch ? sizes[2] : 0);
      run_tasks(threads, row_blocks * col_groups, [&](Index t) {
        const Index ib = t / col_groups, g = t % col_groups;
        const Index ic = ib * mc_even, mc = imin(mc_even, m - ic);
        const Index a_panels = ceil_div(mc, MR);
        const T* Ablock = Ap + (ic / MR) * MR * kc;
        const Index jp_begin = g * n_panels / col_groups, jp_end = (g + 1) * n_panels / col_groups;
        T* panel = !to_scratch ? nullptr : own_scratch ? scratch.get() : bufs.scratch;
        if constexpr (K::kStreamB) {
          // each MR-tall panel of A stays in L1 while the NR-wide panels of B stream from L2;
          // the epilogue then gets (mr, columns of the group) strips: whole rows of cache lines
          const Index j0 = jc + jp_begin * NR, cols = imin(nc, jp_end * NR) - jp_begin * NR;
          for (Index ip = 0; ip < a_panels; ++ip) {
            const Index i = ip * MR, mr = imin(MR, mc - i);
            T* out = to_scratch ? panel : C + (ic + i) * ldc + j0;  // (mr, cols)
            const Index ld = to_scratch ? n_panels * NR : ldc;
            if (ep && last_pc) ep.hint(i_base + ic + i, j_base + j0, mr, cols);
            for (Index jp = jp_begin; jp < jp_end; ++jp)
              kernel_deep<K>(kc, Ablock + ip * MR * kc, Bp + jp * NR * kc,
                             out + (jp - jp_begin) * NR, ld, alpha, beta_pc, static_cast<int>(mr),
                             static_cast<int>(imin(NR, nc - jp * NR)));
            if (ep && last_pc) ep(i_base + ic + i, j_base + j0, mr, cols, out, ld);
          }
        } else {
          // each NR-wide panel of B stays in L1 while the MR-tall panels of A stream from L2;
          // the epilogue gets (mc, NR) panels
          for (Index jp = jp_begin; jp < jp_end; ++jp) {
            const Index j0 = jc + jp * NR, nr = imin(NR, n - j0);
            T* out = to_scratch ? panel : C + ic * ldc + j0;  // (mc, nr), row stride ld
            const Index ld = to_scratch ? NR : ldc;
            if (ep && last_pc) ep.hint(i_base + ic, j_base + j0, mc, nr);
            for (Index ip = 0; ip < a_panels; ++ip) {
              const Index i = ip * MR, mr = imin(MR, mc - i);
              kernel_deep<K>(kc, Ablock + ip * MR * kc, Bp + jp * NR * kc, out + i * ld, ld, alpha,
                             beta_pc, static_cast<int>(mr), static_cast<int>(nr));
            }
            if (ep && last_pc) ep(i_base + ic, j_base + j0, mc, nr, out, ld);
          }
        }
      });
    }
  }
}

// The packed product: op(A) (m, k), op(B) (k, n) -> C (m, n). A small product runs on the
// caller alone; a large one gives each thread its own slice of C, whole NR panels of columns
// or whole MR panels of rows (gemm_policy.hpp: packed_split), and runs the one-thread product
// on it, so no packed panel moves between cores; otherwise the threads share the packed
// panels. Each element's sums are the same either way, so the bits equal one thread's.
template <class K, class T>
void gemm_packed(Index m, Index n, Index k, T alpha, const T* A, Index rsa, Index csa, const T* B,
                 Index rsb, Index csb, T beta, T* C, Index ldc, const Epilogue<T>& ep,
                 Index a_rows) {
  const int threads = m * n * k < packed_threaded_work<T>() ? 1 : get_num_threads();
  const PackedSplit split = threads > 1 ? packed_split<K>(m, n, k, threads) : PackedSplit::shared;
  if (split == PackedSplit::shared) {
    gemm_packed_shared<K>(threads, m, n, k, alpha, A, rsa, csa, B, rsb, csb, beta, C, ldc, ep,
                          a_rows, 0, 0);
    return;
  }
  const bool by_rows = split == PackedSplit::rows;
  const Index slice = slice_size<K>(split, m, n, threads);
  const Index tasks = ceil_div(by_rows ? m : n, slice);
  // every slice's buffers carved from the caller's (the first slice is the largest), each 64
  // bytes apart: packed A from slot 1, packed B from slot 0, scratch from slot 2 (only for an
  // epilogue that may take it)
  Index sizes[3];
  packed_buffer_sizes<K>(by_rows ? slice : m, by_rows ? n : slice, k, sizes);
  if (!(ep && ep.c_unused)) sizes[2] = 0;
  const int slots[3] = {1, 0, 2};
  Index strides[3];
  T* bases[3];
  for (int b = 0; b < 3; ++b) {
    strides[b] = ceil_div(sizes[b], 16) * 16;
    bases[b] = thread_buffer<T>(slots[b], tasks * strides[b]);
  }
  parallel_for(
      tasks,
      [&](Index t) {
        const Index at = t * slice;
        SliceBuffers<T> bufs;
        bufs.a = bases[0] + t * strides[0];
        bufs.b = bases[1] + t * strides[1];
        bufs.scratch = sizes[2] > 0 ? bases[2] + t * strides[2] : nullptr;
        if (by_rows) {  // rows [at, at + slice) of op(A) and C; the rows of ones past a_rows
          const Index rows = imin(slice, m - at), real = imin(imax(a_rows - at, 0), rows);
          gemm_packed_shared<K>(1, rows, n, k, alpha, A + imin(at, a_rows) * rsa, rsa, csa, B, rsb,
                                csb, beta, C + at * ldc, ldc, ep, real, at, 0, bufs);
        } else {  // columns [at, at + slice) of op(B) and C
          gemm_packed_shared<K>(1, m, imin(slice, n - at), k, alpha, A, rsa, csa, B + at * csb, rsb,
                                csb, beta, C + at, ldc, ep, a_rows, 0, at, bufs);
        }
      },
      /*pinned=*/true);
}

}  // namespace
}  // namespace chainrule::kernels
