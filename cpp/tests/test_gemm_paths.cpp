// The GEMM paths agree bit for bit: for every thread count, for a few rows of a product
// against the whole product (row loops, narrow loops, C's rows in the lanes, dot loops, packed
// tiles and row chunks), between the ops, and with an epilogue, which sees every element once.
// (test_kernels.cpp checks each op against the long-double reference.)
#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "chainrule/kernels/cpu.hpp"
#include "chainrule/kernels/gemm.hpp"
#include "chainrule/kernels/thread_pool.hpp"
#include "gemm_ops.hpp"
#include "test_util.hpp"

using namespace chainrule;
using chainrule_test::dtype_name;
using chainrule_test::Op;
using chainrule_test::op_name;
using chainrule_test::Rng;
using chainrule_test::Shape;

// Every op at this level gives bit-identical results for 1, 2 and 3 threads: each element of C
// is summed by one task in a fixed order.
template <class T>
void run_thread_invariance() {
  Rng rng(7);
  // packed (4 and 1 tasks per thread), narrow (n <= two vectors), few-row register loops, and
  // packed and narrow products on either side of their threaded sizes (gemm_policy.hpp)
  const Shape shapes[] = {{300, 260, 270}, {7, 1030, 300},  {128, 512, 784},  {33, 17, 600},
                          {3000, 12, 100}, {3000, 20, 300}, {1, 2048, 300},   {3, 1000, 500},
                          {3000, 64, 60},  {3001, 128, 60}, {1700, 100, 520}, {64, 64, 64},
                          {97, 53, 41},    {96, 96, 96},    {513, 1, 128},    {1001, 4, 64},
                          {4000, 1, 200},  {3000, 3, 100}};
  for (Op op : {Op::NN, Op::TN, Op::NT}) {
    for (const auto& sh : shapes) {
      const Index m = sh.m, n = sh.n, k = sh.k;
      const auto [A, B, lda, ldb] = chainrule_test::random_operands<T>(op, sh, rng);
      std::vector<T> first;
      for (int threads : {1, 2, 3}) {
        kernels::set_num_threads(threads);
        std::vector<T> C(static_cast<size_t>(m * n), T(0.5));
        chainrule_test::gemm<T>(op, m, n, k, T(1), A.data(), lda, B.data(), ldb, T(0.5), C.data(),
                                n);
        if (first.empty())
          first = C;
        else
          chainrule_test::check_all_equal(std::string("gemm_") + op_name(op) + " " +
                                              dtype_name<T>() + " " + std::to_string(threads) +
                                              " threads == 1 thread, m=" + std::to_string(m),
                                          C.data(), first.data(), m * n);
      }
    }
  }
  kernels::set_num_threads(2);
}

// A row of C does not depend on how many other rows are in the product (predict in chunks
// equals one forward pass): rows [r, r + s) of a big product equal the product of those rows,
// for every op. The shapes send the big product through the packed path and the small ones
// through the row loops, the narrow row loops (n up to eight vectors, masked tails) or the dot
// loops, and k = 300 spans two depth blocks, so this also proves the paths agree bit for bit.
// A few rows of one or two vectors run whole depth blocks side by side (k from 520 to 1100).
// With SIMD kernels the three ops also agree with each other on the same values: TN takes the
// narrow loops only up to two vectors, so for wider n it checks them against the packed path.
template <class T>
void run_row_independence() {
  Rng rng(11);
  const Index m = 300;
  const std::pair<Index, Index> shapes[] = {{70, 90},
                                            {1, 90},
                                            {5, 300},
                                            {8, 90},
                                            {16, 90},
                                            {17, 300},
                                            {24, 90},
                                            {31, 300},
                                            {32, 90},
                                            {33, 90},
                                            {48, 90},
                                            {64, 300},
                                            {70, 300},
                                            {200, 300},
                                            {300, 40},
                                            // 5-8 vectors with op(B) in 32 KB (float64 and float32)
                                            {40, 90},
                                            {48, 80},
                                            {56, 70},
                                            {64, 60},
                                            {80, 100},
                                            {96, 80},
                                            {100, 80},
                                            {128, 60},
                                            // one or two vectors over 2-4 whole depth blocks
                                            // at a time (and a last block, whole or not)
                                            {10, 784},
                                            {6, 1100},
                                            {16, 520},
                                            {32, 1024},
                                            {12, 768},
                                            // up to half a vector: C's rows in the lanes
                                            {2, 300},
                                            {3, 90},
                                            {4, 300},
                                            {6, 90},
                                            {7, 300}};
  for (auto [n, k] : shapes) {
    std::vector<T> first_op;  // the full product of op 0
    // A (m, k) for NN/NT and At (k, m) for TN; B (k, n) for NN/TN and Bt (n, k) for NT
    std::vector<T> A(static_cast<size_t>(m * k)), At(static_cast<size_t>(m * k));
    std::vector<T> B(static_cast<size_t>(k * n)), Bt(static_cast<size_t>(k * n));
    rng.fill_uniform(A.data(), m * k, -1.0, 1.0);
    rng.fill_uniform(B.data(), k * n, -1.0, 1.0);
    for (Index i = 0; i < m; ++i)
      for (Index p = 0; p < k; ++p)
        At[static_cast<size_t>(p * m + i)] = A[static_cast<size_t>(i * k + p)];
    for (Index p = 0; p < k; ++p)
      for (Index j = 0; j < n; ++j)
        Bt[static_cast<size_t>(j * k + p)] = B[static_cast<size_t>(p * n + j)];
    for (int op = 0; op < 3; ++op) {
      // rows [r, r + rows) of op(A) @ op(B), into C with row stride n
      const auto product = [&](Index r, Index rows, T* C) {
        if (op == 0)
          kernels::gemm_nn<T>(rows, n, k, T(1), A.data() + r * k, k, B.data(), n, T(0), C, n);
        else if (op == 1)
          kernels::gemm_tn<T>(rows, n, k, T(1), At.data() + r, m, B.data(), n, T(0), C, n);
        else
          kernels::gemm_nt<T>(rows, n, k, T(1), A.data() + r * k, k, Bt.data(), k, T(0), C, n);
      };
      std::vector<T> full(static_cast<size_t>(m * n));
      product(0, m, full.data());
      if (op == 0)
        first_op = full;
      else if (kernels::active_level() != kernels::KernelLevel::portable)  // (its NT: 8 sums)
        chainrule_test::check_all_equal(std::string("gemm op ") + std::to_string(op) +
                                            " == op 0, " + dtype_name<T>() +
                                            " n=" + std::to_string(n) + " k=" + std::to_string(k),
                                        full.data(), first_op.data(), m * n);
      // the packed path's last tile of 13, 20, 21, 100 or 110 rows runs each of the narrower
      // micro-kernels (micro_kernel.hpp: kRowStep) on AVX-512 and AVX2
      for (Index rows : {1, 2, 3, 5, 13, 20, 21, 100, 110}) {
        const Index r = 17;
        std::vector<T> part(static_cast<size_t>(rows * n));
        product(r, rows, part.data());
        chainrule_test::check_all_equal(std::string("gemm op ") + std::to_string(op) + " " +
                                            dtype_name<T>() + " n=" + std::to_string(n) +
                                            " k=" + std::to_string(k) + " rows " +
                                            std::to_string(rows) + " of 300",
                                        part.data(), full.data() + r * n, rows * n);
      }
    }
  }
}

// With beta != 0, C's rows in the lanes (whole row vectors) combine with C as the narrow loops
// do (a product of fewer rows than a vector takes those): alpha acc + beta C, over one depth
// block and two, with C's column contiguous (n = 1: the vector path) or strided.
template <class T>
void run_lanes_beta() {
  Rng rng(17);
  const Index m = 300;
  for (Op op : {Op::NN, Op::TN, Op::NT})
    for (Index n : {1, 3})
      for (Index k : {90, 300}) {
        const auto ab = chainrule_test::random_operands<T>(op, {m, n, k}, rng);
        std::vector<T> C0(static_cast<size_t>(m * n));
        rng.fill_uniform(C0.data(), m * n, -1.0, 1.0);
        const auto product = [&](Index r, Index rows, T* C) {  // rows [r, r + rows) of C
          chainrule_test::gemm<T>(op, rows, n, k, T(0.75), ab.A_rows(op, r), ab.lda, ab.B.data(),
                                  ab.ldb, T(0.5), C, n);
        };
        std::vector<T> whole = C0, rows = C0;
        product(0, m, whole.data());
        for (Index r = 0; r < m; r += 3) product(r, std::min<Index>(3, m - r), rows.data() + r * n);
        chainrule_test::check_all_equal(std::string("lanes beta gemm_") + op_name(op) + " " +
                                            dtype_name<T>() + " n=" + std::to_string(n) + " k=" +
                                            std::to_string(k) + ": whole == 3 rows at a time",
                                        whole.data(), rows.data(), m * n);
      }
}

// A product whose packed depth block of op(A) outgrows kPackedABytes (gemm_policy.hpp) runs in
// row chunks (1700 rows here: 3.4 MB of float32 at depth 512 or float64 at 256): rows that a
// chunk boundary splits (at row 852 or 856 on AVX-512) and the last rows equal, bit for bit,
// products of just those rows, which are not chunked; k = 520 spans two depth blocks.
template <class T>
void run_row_chunks() {
  Rng rng(13);
  const Index m = 1700, n = 100, k = 520;
  for (Op op : {Op::NN, Op::TN, Op::NT}) {
    const auto ab = chainrule_test::random_operands<T>(op, {m, n, k}, rng);
    const auto product = [&](Index r, Index rows, T* C) {  // rows [r, r + rows) of C
      chainrule_test::gemm<T>(op, rows, n, k, T(1), ab.A_rows(op, r), ab.lda, ab.B.data(), ab.ldb,
                              T(0), C, n);
    };
    std::vector<T> full(static_cast<size_t>(m * n));
    product(0, m, full.data());
    for (auto [r, rows] : {std::pair<Index, Index>{820, 60}, {1650, 50}, {0, 30}}) {
      std::vector<T> part(static_cast<size_t>(rows * n));
      product(r, rows, part.data());
      chainrule_test::check_all_equal(std::string("row chunks gemm_") + op_name(op) + " " +
                                          dtype_name<T>() + " rows " + std::to_string(r) + ".." +
                                          std::to_string(r + rows) + " of " + std::to_string(m),
                                      part.data(), full.data() + r * n, rows * n);
    }
  }
}

// The epilogue sees every element of C exactly once, after its last update: the values it is
// handed equal the product without an epilogue, bit for bit, on every path (row loops, dot
// products, packed with one or several depth blocks, scratch tiles when C is unused), for any
// thread count.
template <class T>
struct Recorder {
  std::vector<int>* visits;  // (m, n)
  std::vector<T>* seen;      // (m, n): the block values handed over
  Index n;
  static void run(const void* ctx, Index i0, Index j0, Index rows, Index cols, T* block, Index ld) {
    const auto& r = *static_cast<const Recorder*>(ctx);
    for (Index i = 0; i < rows; ++i)
      for (Index j = 0; j < cols; ++j) {
        const auto at = static_cast<size_t>((i0 + i) * r.n + j0 + j);
        ++(*r.visits)[at];
        (*r.seen)[at] = block[i * ld + j];
      }
  }
};

template <class T>
void run_epilogue() {
  Rng rng(5);
  const Shape shapes[] = {{1, 10, 2},       {100, 10, 2},   {3, 700, 40},    {20, 20, 20},
                          {300, 70, 90},    {77, 130, 257}, {128, 512, 100}, {40, 33, 600},
                          {1700, 100, 520},  // (in row chunks: run_row_chunks)
                          {300, 1, 90},     {5000, 1, 20},  {1500, 3, 40}};  // the lanes loops
  for (Op op : {Op::NN, Op::TN, Op::NT}) {
    for (const auto& sh : shapes) {
      const Index m = sh.m, n = sh.n, k = sh.k;
      const auto [A, B, lda, ldb] = chainrule_test::random_operands<T>(op, sh, rng);
      const auto call = [&](T* C, const kernels::Epilogue<T>& ep) {
        chainrule_test::gemm<T>(op, m, n, k, T(0.5), A.data(), lda, B.data(), ldb, T(0), C, n, ep);
      };
      std::vector<T> plain(static_cast<size_t>(m * n));
      call(plain.data(), {});
      for (int threads : {1, 2}) {
        kernels::set_num_threads(threads);
        for (bool c_unused : {false, true}) {
          std::vector<int> visits(static_cast<size_t>(m * n), 0);
          std::vector<T> seen(static_cast<size_t>(m * n), T(-7));
          std::vector<T> C(static_cast<size_t>(m * n), T(-7));
          const Recorder<T> rec{&visits, &seen, n};
          call(C.data(), {&Recorder<T>::run, &rec, c_unused});
          const std::string what =
              std::string("epilogue gemm_") + op_name(op) + " " + dtype_name<T>() +
              " m=" + std::to_string(m) + " n=" + std::to_string(n) + " k=" + std::to_string(k) +
              " threads=" + std::to_string(threads) + (c_unused ? " (C unused)" : "");
          const auto once = std::count(visits.begin(), visits.end(), 1);
          chainrule_test::record(
              once == m * n, __FILE__, __LINE__,
              what + ": " + std::to_string(m * n - once) + " elements not visited exactly once");
          chainrule_test::check_all_equal(what + ": values seen", seen.data(), plain.data(), m * n);
          if (!c_unused)
            chainrule_test::check_all_equal(what + ": C", C.data(), plain.data(), m * n);
        }
      }
    }
  }
  kernels::set_num_threads(2);
}

int main() {
  chainrule_test::for_each_kernel_level([] {
    RUN_TEST(run_thread_invariance<double>);
    RUN_TEST(run_thread_invariance<float>);
    RUN_TEST(run_row_independence<double>);
    RUN_TEST(run_row_independence<float>);
    RUN_TEST(run_lanes_beta<double>);
    RUN_TEST(run_lanes_beta<float>);
    RUN_TEST(run_row_chunks<double>);
    RUN_TEST(run_row_chunks<float>);
    RUN_TEST(run_epilogue<double>);
    RUN_TEST(run_epilogue<float>);
  });
  return chainrule_test::report();
}
