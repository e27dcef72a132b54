// GEMM kernels (NN, TN, NT, and TN with the column sums) against the naive long-double
// reference on awkward sizes, several (alpha, beta), padded leading dimensions, both dtypes.
// (test_gemm_paths.cpp checks that the paths agree with each other bit for bit.)
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "chainrule/kernels/cpu.hpp"
#include "chainrule/kernels/gemm.hpp"
#include "chainrule/kernels/reference.hpp"
#include "gemm_ops.hpp"
#include "test_util.hpp"

using namespace chainrule;
using chainrule_test::dtype_name;
using chainrule_test::Op;
using chainrule_test::op_name;
using chainrule_test::Rng;
using chainrule_test::Shape;

namespace {

constexpr Index kPad = 3;                 // extra columns in every leading dimension
constexpr double kCSentinel = -12345.25;  // C's padding; must survive untouched

// A representative subset of {1, 2, 3, 7, 15, 17, 31, 33, 100, 257}^3: every size on every
// axis with the others small, mixed awkward triples, and a few that cross the kernels' cache
// blocks (k > 256, n > 512), so the whole test stays well under a second or two.
std::vector<Shape> shapes() {
  const Index sizes[] = {1, 2, 3, 7, 15, 17, 31, 33, 100, 257};
  std::vector<Shape> s;
  for (Index a : sizes) {
    s.push_back({a, 3, 7});
    s.push_back({2, a, 17});
    s.push_back({7, 1, a});
    s.push_back({a, a, 3});
  }
  const Shape mixed[] = {{1, 1, 1},
                         {2, 2, 2},
                         {3, 3, 3},
                         {15, 17, 31},
                         {17, 15, 33},
                         {31, 33, 15},
                         {33, 31, 17},
                         {100, 7, 33},
                         {7, 100, 31},
                         {33, 100, 15},
                         {100, 33, 100},
                         {17, 257, 31},
                         {257, 33, 17},
                         {31, 17, 257},
                         {3, 257, 100},
                         {100, 3, 257},
                         {257, 100, 7},
                         {33, 33, 257},
                         {5, 520, 260},
                         {2, 1025, 3},
                         {1, 513, 513},
                         {257, 257, 33},
                         // the packed path: depth past KC = 256, rows past MC, columns past
                         // the fp64 NC = 2048, and edge tiles on every side
                         {5, 2100, 40},
                         {257, 33, 300},
                         {181, 47, 513},
                         {29, 100, 257},
                         // the narrow loops with 5-8 vectors per row (op(B) within 32 KB)
                         {50, 40, 90},
                         {31, 57, 60},
                         {8, 64, 60},
                         {29, 81, 90},
                         {10, 127, 60}};
  s.insert(s.end(), std::begin(mixed), std::end(mixed));
  return s;
}

// One kernel call against the reference. Stored shapes: op(A) is (m, k), so A is (m, k) for
// NN/NT and (k, m) for TN; op(B) is (k, n), so B is (k, n) for NN/TN and (n, k) for NT. Every
// matrix has a leading dimension kPad larger than its width; A's and B's padding holds NaN
// (a kernel that reads it poisons its result), C's holds kCSentinel (must not be written).
template <class T>
void check_one(Op op, Shape sh, double alpha_d, double beta_d, Rng& rng, double& worst_ratio) {
  const Index m = sh.m, n = sh.n, k = sh.k;
  const bool ta = op == Op::TN, tb = op == Op::NT;
  const Index a_rows = ta ? k : m, a_cols = ta ? m : k;
  const Index b_rows = tb ? n : k, b_cols = tb ? k : n;
  const Index lda = a_cols + kPad, ldb = b_cols + kPad, ldc = n + kPad;
  const T nan = std::numeric_limits<T>::quiet_NaN();
  std::vector<T> A(static_cast<size_t>(a_rows * lda), nan);
  std::vector<T> B(static_cast<size_t>(b_rows * ldb), nan);
  std::vector<T> C0(static_cast<size_t>(m * ldc), static_cast<T>(kCSentinel));
  for (Index i = 0; i < a_rows; ++i) rng.fill_uniform(A.data() + i * lda, a_cols, -1.0, 1.0);
  for (Index i = 0; i < b_rows; ++i) rng.fill_uniform(B.data() + i * ldb, b_cols, -1.0, 1.0);
  const T alpha = static_cast<T>(alpha_d), beta = static_cast<T>(beta_d);
  for (Index i = 0; i < m; ++i) {
    // beta == 0 must ignore C entirely (BLAS convention): NaN there must not propagate.
    if (beta == T(0))
      std::fill(C0.data() + i * ldc, C0.data() + i * ldc + n, nan);
    else
      rng.fill_uniform(C0.data() + i * ldc, n, -1.0, 1.0);
  }
  std::vector<T> got = C0, want = C0;
  chainrule_test::gemm<T>(op, m, n, k, alpha, A.data(), lda, B.data(), ldb, beta, got.data(), ldc);
  kernels::reference::gemm<T>(ta, tb, m, n, k, alpha, A.data(), lda, B.data(), ldb, beta,
                              want.data(), ldc);

  // Error bound of a length-k dot product summed in T in any order, plus the alpha and beta
  // products and the final sum: |err| <= gamma_{k+3} (|alpha| sum_p |a_p b_p| + |beta c|),
  // gamma_j ~ j u. The reference (long double, rounded once) is within u of the exact value.
  // Test against twice that bound; a wrong index or a missing term is off by O(1).
  const double u = std::numeric_limits<T>::epsilon() / 2;
  double max_abs = 0, max_ratio = 0;
  Index bad = -1;
  Index bad_padding = 0;
  for (Index i = 0; i < m; ++i) {
    for (Index j = 0; j < n; ++j) {
      long double mag = 0;
      for (Index p = 0; p < k; ++p) {
        const T a = A[static_cast<size_t>(ta ? p * lda + i : i * lda + p)];
        const T b = B[static_cast<size_t>(tb ? j * ldb + p : p * ldb + j)];
        mag += std::fabs(static_cast<long double>(a) * b);
      }
      const double c0 =
          beta == T(0) ? 0.0 : std::fabs(double(C0[static_cast<size_t>(i * ldc + j)]));
      const double bound =
          2.0 * (k + 3) * u * (std::fabs(alpha_d) * double(mag) + std::fabs(beta_d) * c0) +
          std::numeric_limits<T>::min();
      const double g = got[static_cast<size_t>(i * ldc + j)];
      const double w = want[static_cast<size_t>(i * ldc + j)];
      const double d =
          std::isfinite(g) ? std::fabs(g - w) : std::numeric_limits<double>::infinity();
      if (d > max_abs) max_abs = d;
      const double ratio = d / bound;
      if (!(ratio <= max_ratio)) {
        max_ratio = ratio;
        bad = i * n + j;
      }
    }
    for (Index j = n; j < ldc; ++j)
      if (got[static_cast<size_t>(i * ldc + j)] != static_cast<T>(kCSentinel)) ++bad_padding;
  }
  worst_ratio = std::max(worst_ratio, max_ratio);
  char what[160];
  std::snprintf(what, sizeof what, "gemm_%s<%s> m=%td n=%td k=%td alpha=%g beta=%g", op_name(op),
                dtype_name<T>(), m, n, k, alpha_d, beta_d);
  if (max_ratio > 1.0) {
    ++chainrule_test::failures();
    std::fprintf(stderr,
                 "FAILED: %s: max |got - want| = %.3e, %.3g times the error bound (worst at "
                 "C[%td, %td])\n",
                 what, max_abs, max_ratio, bad / n, bad % n);
  } else {
    ++chainrule_test::passes();
  }
  chainrule_test::record(
      bad_padding == 0, __FILE__, __LINE__,
      std::string(what) + ": wrote " + std::to_string(bad_padding) + " elements of C's padding");
}

template <class T>
void run_gemm() {
  const double ab[][2] = {{1, 0}, {0.5, 1}, {-2, 0.25}};
  Rng rng(42);
  double worst = 0;
  for (Op op : {Op::NN, Op::TN, Op::NT})
    for (const auto& sh : shapes())
      for (const auto& p : ab) check_one<T>(op, sh, p[0], p[1], rng, worst);
  std::printf("gemm %s: worst error / bound = %.3g\n", dtype_name<T>(), worst);
}

// k == 0 is an empty sum: C = beta * C (and exactly 0 when beta == 0).
template <class T>
void run_empty_k() {
  for (Op op : {Op::NN, Op::TN, Op::NT}) {
    for (double beta : {0.0, 0.5}) {
      std::vector<T> C = {T(1), T(2), T(4), T(8)}, A(4, T(1)), B(4, T(1));
      if (op == Op::NN)
        kernels::gemm_nn<T>(2, 2, 0, T(1), A.data(), 1, B.data(), 2, T(beta), C.data(), 2);
      else if (op == Op::TN)
        kernels::gemm_tn<T>(2, 2, 0, T(1), A.data(), 2, B.data(), 2, T(beta), C.data(), 2);
      else
        kernels::gemm_nt<T>(2, 2, 0, T(1), A.data(), 1, B.data(), 1, T(beta), C.data(), 2);
      const T want[4] = {T(beta * 1), T(beta * 2), T(beta * 4), T(beta * 8)};
      chainrule_test::check_all_equal(std::string("gemm_") + op_name(op) + " k=0 beta=" +
                                          std::to_string(beta) + " " + dtype_name<T>(),
                                      C.data(), want, 4);
    }
  }
}

}  // namespace

// gemm_tn_sum: rows 0..m-1 are gemm_tn (beta = 0) bit for bit, row m is alpha times the column
// sums of B (within the summation bound), on the row-loop and packed paths.
template <class T>
void run_tn_sum() {
  Rng rng(9);
  const Shape shapes[] = {{1, 1, 1},
                          {2, 10, 100},
                          {3, 5, 7},
                          {10, 8, 100},
                          {784, 33, 128},
                          {100, 257, 300},
                          {13, 700, 600},
                          {1700, 100, 520},
                          // C's rows in the lanes, the row of ones by the narrow loops
                          {300, 1, 128},
                          {100, 3, 300},
                          {35, 4, 64}};
  const double u = std::numeric_limits<T>::epsilon() / 2;
  for (const auto& sh : shapes) {
    const Index m = sh.m, n = sh.n, k = sh.k;
    std::vector<T> A(static_cast<size_t>(k * m)), B(static_cast<size_t>(k * n));
    rng.fill_uniform(A.data(), k * m, -1.0, 1.0);
    rng.fill_uniform(B.data(), k * n, -1.0, 1.0);
    const T alpha = T(1) / static_cast<T>(k);
    std::vector<T> tn(static_cast<size_t>(m * n)), sum(static_cast<size_t>((m + 1) * n), T(-7));
    kernels::gemm_tn<T>(m, n, k, alpha, A.data(), m, B.data(), n, T(0), tn.data(), n);
    kernels::gemm_tn_sum<T>(m, n, k, alpha, A.data(), m, B.data(), n, sum.data(), n);
    const std::string what = std::string("gemm_tn_sum ") + dtype_name<T>() +
                             " m=" + std::to_string(m) + " n=" + std::to_string(n) +
                             " k=" + std::to_string(k);
    chainrule_test::check_all_equal(what + ": rows 0..m-1", sum.data(), tn.data(), m * n);
    Index bad = 0;
    for (Index j = 0; j < n; ++j) {
      long double s = 0, mag = 0;
      for (Index p = 0; p < k; ++p) {
        s += B[static_cast<size_t>(p * n + j)];
        mag += std::fabs(static_cast<long double>(B[static_cast<size_t>(p * n + j)]));
      }
      const double want = static_cast<double>(s * static_cast<long double>(alpha));
      const double bound =
          2.0 * (k + 3) * u * double(mag) * double(alpha) + std::numeric_limits<T>::min();
      if (!(std::fabs(double(sum[static_cast<size_t>(m * n + j)]) - want) <= bound)) ++bad;
    }
    chainrule_test::record(bad == 0, __FILE__, __LINE__,
                           what + ": " + std::to_string(bad) + " column sums out of bound");
  }
}

int main() {
  chainrule_test::for_each_kernel_level([] {
    RUN_TEST(run_gemm<double>);
    RUN_TEST(run_gemm<float>);
    RUN_TEST(run_empty_k<double>);
    RUN_TEST(run_empty_k<float>);
    RUN_TEST(run_tn_sum<double>);
    RUN_TEST(run_tn_sum<float>);
  });
  return chainrule_test::report();
}
