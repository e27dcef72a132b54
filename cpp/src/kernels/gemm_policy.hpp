// Shape policy: which path a product takes and when threads share it. Every size threshold of
// the ISA-compiled GEMM lives here, next to the reason for it; the paths (gemm_narrow,
// gemm_dots, gemm_rows, gemm_packed) compare against these constants and compute. A threshold
// decides speed, never a result: every path rounds each element of C the same way (see
// gemm_common.hpp), and no thread split changes the order of any element's sums.
// The measurements behind the thresholds are in the git log (of gemm_packed.hpp, which held
// them before the split into these files) and in benchmarks/.
#pragma once

#include "chainrule/tensor.hpp"
#include "gemm_common.hpp"
#include "gemm_isa.hpp"
#include "gemm_pack.hpp"

namespace chainrule::kernels {
namespace {

// ---- Threads ------------------------------------------------------------------------------

/// Narrow products (gemm_narrow.hpp) of fewer vector FMAs than this (narrow_fmas, lanes_fmas: in
/// the narrow loops m k ceil(n / lanes), one FMA per row, depth step and vector of C's row, as a
/// row of C narrower than a vector leaves lanes idle and multiply-adds would misstate the time) run
/// on the calling thread alone, about 10 us on one core. Above it two threads gain with the vCPUs
/// close and far apart, where a hand-off costs about 1 us and the narrow path's chunks are claimed
/// through a shared line. Measured (Zen 4, 2 vCPUs, kernels.matmul, 1 thread -> 2 threads, round
/// trip about 195 ns / 400 ns): float64 64 x 64 x 64 (2^15 FMAs) 10.3 -> 7.1 / 8.4 us, float32 128
/// x 784 x 10 33.7 -> 19.6 / 21.0, 512 x 128 x 1 20.9 -> 12.4. At 2^14 float32 64 x 64 x 64
/// took 5.3 -> 3.8 / 5.2-5.5 us, and 0.94x NumPy's one-thread time in a benchmark run with the
/// vCPUs far apart, so it stays on one thread. (Before, 2^20 multiply-adds: a batch of 128 rows
/// through a 784-10 layer ran on one thread.)
constexpr Index kNarrowThreadedFmas = Index(1) << 15;

/// Packed products (gemm_packed.hpp) of fewer multiply-adds than this run on the calling thread
/// alone: 2^18 of float32, 2^17 of float64 (each takes about twice as long), about 6 us on one
/// core. Measured as above: float64 72 x 26 x 72 (2^17) 6.9 -> 4.5 us, 80 x 80 x 80 25.3 ->
/// 14.4 / 20.1, 96 x 96 x 96 35.4 -> 19.4 / 25.1; float32 80 x 41 x 80 (2^18) 5.7 -> 4.0, 80 x
/// 80 x 80 10.4 -> 6.8 / 8.2, 96 x 96 x 96 18.4 -> 10.6 / 14.2. (Before, 2^20, set when a
/// threaded product shared its packed panels between the cores; packed_split's slices now keep
/// them apart.)
template <class T>
constexpr Index packed_threaded_work() {
  return sizeof(T) >= 8 ? Index(1) << 17 : Index(1) << 18;
}

/// Tasks per thread in the shared packed product: below this many multiply-adds one per thread
/// and job (each task claimed passes a cache line between cores), above it 4 for load balance.
constexpr Index kPackedBalancedWork = Index(1) << 24;

/// With threads, the packed product gives each thread its own slice of C, of columns (whole NR
/// panels) or of rows (whole MR panels), when there are at least this many panels per thread
/// along the slice: then every thread packs its own A and B and no packed panel moves between
/// cores, which costs much when the cores sit on different dies (on one die they are even or
/// a little ahead). The operand that the slices do not divide is packed by every thread: all of A
/// for column slices, all of B for row slices.
constexpr Index kSlicePanelsPerThread = 4;

/// The cost of packing one value, in the micro-kernel's multiply-adds per vector lane: about
/// half a cycle for a value of B (its NR-wide panels take whole cache lines of op(B)'s rows)
/// and a cycle for A (MR-wide panels, register transposes), against two vector FMAs a cycle.
constexpr Index kPackCostB = 1;
constexpr Index kPackCostA = 2;

/// The row loops split the columns over threads only above this many multiply-adds (and with
/// at least two chunks of four cache lines of columns): a one-sample predict streams every
/// weight once, so both cores' caches and bandwidth count, but not for a tiny product.
constexpr Index kRowsThreadedWork = Index(1) << 16;

/// How the threads of a packed product share it.
enum class PackedSplit { shared, columns, rows };

/// One thread's work in a sliced product, in multiply-adds: its C (rows, cols) rounded up to
/// the tiles the micro-kernels compute (rows in steps of K::kRowStep, columns in whole
/// panels), times the depth, plus the packing of its rows of op(A) and columns of op(B).
template <class K>
Index slice_cost(Index rows, Index cols, Index k) {
  constexpr Index W = K::Vec::width;
  return ceil_div(rows, K::kRowStep) * K::kRowStep * ceil_div(cols, K::NR) * K::NR * k +
         W * k * (kPackCostA * rows + kPackCostB * cols);
}

/// The rows (split == rows) or columns (split == columns) of each thread's slice: rows in
/// steps of the narrowest micro-kernel (K::kRowStep), so that 256 rows split 128 and 128, each
/// ten panels of 12 and one of 8; columns in whole panels.
template <class K>
Index slice_size(PackedSplit split, Index m, Index n, int threads) {
  return split == PackedSplit::rows ? ceil_div(ceil_div(m, threads), K::kRowStep) * K::kRowStep
                                    : ceil_div(ceil_div(n, K::NR), threads) * K::NR;
}

/// The split of a threaded packed product: slices where a dimension has enough panels for
/// them, along whichever costs the busiest thread less when both have (slice_cost: the
/// unsliced operand is packed by every thread, so a tall product slices its rows and a wide
/// one its columns, a square one its rows, as A's panels cost more to pack); shared panels
/// only for a product small both ways. Measured on two threads (float32, AVX-512, one die):
/// rows over columns +1-3% on square products of 256-4096 (+11% at 264 and 288, whose 9
/// column panels split 5 and 4), +6% on TN 4096x512x1024 (W3's dW), -5% on NN 512x1024x4096
/// (W3's forward), which the cost keeps on columns; rows over shared panels +2-18% for n <= 192
/// (128 to 2048 rows), and on two dies shared panels ran at one thread's speed (n = 128: 223
/// GFLOP/s against 345 for slices).
template <class K>
PackedSplit packed_split(Index m, Index n, Index k, int threads) {
  const bool by_cols = n >= kSlicePanelsPerThread * K::NR * threads;
  const bool by_rows = m >= kSlicePanelsPerThread * K::MR * threads;
  if (by_cols && by_rows) {
    const Index rows = slice_size<K>(PackedSplit::rows, m, n, threads);
    const Index cols = slice_size<K>(PackedSplit::columns, m, n, threads);
    return slice_cost<K>(rows, n, k) < slice_cost<K>(m, cols, k) ? PackedSplit::rows
                                                                 : PackedSplit::columns;
  }
  if (by_cols) return PackedSplit::columns;
  return by_rows ? PackedSplit::rows : PackedSplit::shared;
}

// ---- Packed blocks -------------------------------------------------------------------------

/// The packed product packs a depth block of op(A) whole (rows x KP) and every column block of
/// B re-reads it, from L3 when it outgrows L2. Beyond about this many bytes of it those re-reads
/// slowed the product markedly, so a product of more rows (one thread's, or one thread's slice)
/// runs in row chunks of at most this many bytes of packed A, each packing its own blocks of B
/// (rows are independent: no sum changes). Measured, not derived: on one thread (float32,
/// AVX-512, TN m x 512 x 4096, B from memory) 85% of the peak for 768 to 1536 rows (3 MB),
/// 79% at 2052 (4.2 MB); chunks against the earlier whole block (with twice as wide column
/// blocks from 4096 rows on), one thread: square 4096 products float32 82-85% -> 86-89%,
/// float64 82% -> 85-86%, TN 4097 x 512 x 4096 (W3's dW) 78% -> 83%; two threads (slices of
/// 2049 rows, two chunks each): W3's TN 4097 x 512 x 4096 and x 1024 +3-6%, square float64
/// 4096 +3-5% (operands streamed from memory before each call; with hot operands, as the
/// benchmark's GEMM section calls them, two-thread squares were within its spread). A cap of
/// 1024 rows or 2048 did no better.
constexpr Index kPackedABytes = Index(3) << 20;

/// Rows of each row chunk of a packed product of m rows and depth k: m when its packed depth
/// block of op(A) (m x min(KP, k)) fits kPackedABytes, else equal chunks (whole MR panels, the
/// last one shorter) that do.
template <class K>
Index row_chunk(Index m, Index k) {
  const Index kc = k < K::KP ? k : K::KP;
  const Index cap = kPackedABytes / (imax(kc, 1) * static_cast<Index>(sizeof(typename K::T)));
  if (m <= cap) return m;
  const Index chunks = ceil_div(m, cap);
  return ceil_div(ceil_div(m, chunks), K::MR) * K::MR;
}

// ---- Paths --------------------------------------------------------------------------------

/// Up to this many bytes of op(B) (it then stays in L1 while every row block reads it), rows of
/// 5-8 vectors also take the narrow row loops: packing both operands, and a panel of which a
/// third is padding, cost more than such a product (a 64 KB op(B) stays packed).
/// Only with 32 vector registers (AVX-512): up to 24 accumulators, 3 broadcasts and a row of B.
constexpr Index kNarrowWideB = 32 * 1024;
template <class K>
constexpr bool kNarrowWide = sizeof(typename K::Vec::reg) == 64;

/// Whether C's rows are narrow enough for the narrow row loops: at most two vectors, or four
/// when op(A)'s rows are contiguous (NN, NT; in TN a pair of rows would use two values of each
/// cache line of A). They then beat packing at every size measured: packing op(A) costs as
/// much as the product itself when C has a few vectors per row, and a 32/24-wide panel would
/// be partly padding.
template <class K>
constexpr bool is_narrow(bool rows_contiguous, Index m, Index n, Index k) {
  constexpr Index W = K::Vec::width;
  constexpr Index size = sizeof(typename K::T);
  if (n <= (rows_contiguous ? 4 : 2) * W) return true;
  return kNarrowWide<K> && n <= 8 * W && k * n * size <= kNarrowWideB &&
         (rows_contiguous || m * k * size <= kNarrowWideB);
}

/// Whether a narrow product of n columns takes the lanes loops (gemm_lanes.hpp: C's rows in the
/// vector lanes) rather than the narrow loops (a row of C in a vector, so n of its W lanes
/// busy): for n up to half a vector, where op(A)'s columns are contiguous (TN) or A's blocks can
/// be transposed in registers (AVX-512; `rows_along_depth`: NN and NT). A depth step of W rows
/// then costs n FMAs, plus about kLanesTransposeCost in the transpose, against W. Measured
/// (Zen 4, AVX-512, one thread, kernels.matmul; NumPy's OpenBLAS in brackets): float32 TN 512 x
/// 128 x 1 20.9 -> 2.9 us (3.4), NN 512 x 128 x 1 20.8 -> 8.2 (4.0), NN 1000 x 64 x 4 22.5 ->
/// 13.6 (7.3), NN 300 x 256 x 8 24.4 -> 16.4 (12.8); float64 TN 512 x 128 x 1 22.2 -> 9.2
/// (7.1), NN 21.6 -> 12.6 (6.1). NN stays behind NumPy's dot products (which sum in another
/// order): a 16 x 16 transpose (64 shuffles) takes about as long as 64 FMAs, against 16 n FMAs
/// of work. (A transpose whose first round is done by 128-bit loads ran twice as fast alone
/// but made these products 10-40% slower.) A product of fewer rows than a vector (a one-row
/// predict) has no row vector to fill.
template <class K>
constexpr bool lanes_fit(bool rows_along_depth, Index m, Index n) {
  using V = typename K::Vec;
  return m >= V::width && n <= V::width / 2 && (!rows_along_depth || HasTranspose<V>::value);
}

/// The lanes loops' transpose of a W x W block of A, in vector FMAs per row vector and depth
/// step, as lanes_fmas counts it for the thread threshold: W / 4 shuffles, a load and a store,
/// and in place the transposes took as long as the FMAs of four columns. Measured (Zen 4,
/// float32, vCPUs close; NumPy's OpenBLAS in brackets): NN 512 x 128 x 1 (37k) 8.2 us on one
/// thread -> 4.3 on two (3.9), NN 1000 x 64 x 4 (48k) 13.5 -> 8.4 (7.2); at 4 both stayed on
/// one thread.
constexpr Index kLanesTransposeCost = 8;

/// A narrow product's vector FMAs, the measure of kNarrowThreadedFmas: m k ceil(n / W), one
/// per row, depth step and vector of C's row.
template <class K>
constexpr Index narrow_fmas(Index m, Index n, Index k) {
  return m * k * ceil_div(n, Index(K::Vec::width));
}

/// The same measure for the lanes loops: ceil(m / W) k n, one per row vector, depth step and
/// column, and the transpose's cost per row vector and depth step where A's rows run along the
/// depth (NN/NT).
template <class K>
constexpr Index lanes_fmas(bool rows_along_depth, Index m, Index n, Index k) {
  return ceil_div(m, Index(K::Vec::width)) * k * (n + (rows_along_depth ? kLanesTransposeCost : 0));
}

/// A product of this few rows (a one-sample predict, a tiny batch) reads each value of B once
/// or a few times: packing B would cost more than the product. The row loops then keep each
/// row's accumulators in registers over the whole depth (rows_wide).
constexpr Index kFewRows = 4;

/// Products this small (or this skinny) skip packing: its cost would not be repaid. NT's
/// unpacked loop is dot products (unvectorised), so a few-row NT still packs.
inline bool use_unpacked(GemmOp op, Index m, Index n, Index k) {
  if (op == GemmOp::NT) return m * n * k <= 32 * 32 * 32;
  return m <= kFewRows || m * n * k <= 32 * 32 * 32;
}

/// Whether the row loops keep the accumulators in registers (rows_wide) rather than in a row
/// of memory (gemm_rows_range).
inline bool rows_in_registers(Index m, Index k) { return m <= kFewRows && k > 0; }

enum class GemmPath { narrow, dots, rows, packed };

/// The path of a product, in order of precedence: the narrow row loops for a narrow C, the dot
/// loops for a small NT, the row loops for a small NN/TN (or k = 0: C = beta C), else packing.
template <class K>
GemmPath choose_path(GemmOp op, Index m, Index n, Index k) {
  if (k > 0 && is_narrow<K>(op != GemmOp::TN, m, n, k)) return GemmPath::narrow;
  if (op == GemmOp::NT && k > 0 && use_unpacked(op, m, n, k)) return GemmPath::dots;
  if (k == 0 || use_unpacked(op, m, n, k)) return GemmPath::rows;
  return GemmPath::packed;
}

}  // namespace
}  // namespace chainrule::kernels
