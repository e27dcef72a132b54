// The few-row path of predict (kernels::gemm_nn_few_rows, chosen by src/kernels/shape_policy.hpp)
// forced on shapes on both sides of the policy's threshold, against the general product
// (gemm_nn, alpha 1, beta 0) bit for bit: both tile orders, 1, 2 and 3 threads, with and without
// an epilogue, padded leading dimensions, every kernel level; and a Dense network's one-row
// predict (which takes the path) against the same row predicted in a batch.
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "chainrule/activation.hpp"
#include "chainrule/kernels/cpu.hpp"
#include "chainrule/kernels/gemm.hpp"
#include "chainrule/kernels/thread_pool.hpp"
#include "chainrule/loss.hpp"
#include "chainrule/network.hpp"
#include "test_util.hpp"

using namespace chainrule;
using chainrule_test::check_all_equal;
using chainrule_test::dtype_name;
using chainrule_test::Rng;

namespace {

struct Shape {
  Index m, n, k;
};

// (m <= 4 rows) x awkward widths and depths: one chunk or several, a last chunk partly full,
// depths inside one KC block, on a boundary, and past several; the last rows are W4's layers.
const Shape kShapes[] = {{1, 1, 1},     {1, 3, 7},     {2, 17, 33},   {1, 129, 255}, {3, 100, 256},
                         {4, 257, 257}, {1, 513, 513}, {2, 300, 700}, {1, 64, 1025}, {3, 1030, 40},
                         {1, 512, 784}, {1, 256, 512}, {4, 512, 784}, {1, 10, 256}};

// The epilogue of a forward product: Z += 0.5, H = Z * Z (written to a separate array).
template <class T>
struct SquarePlusHalf {
  T* H;
  Index ldh;
  static void run(const void* ctx, Index i0, Index j0, Index rows, Index cols, T* Z, Index ld) {
    const auto& c = *static_cast<const SquarePlusHalf*>(ctx);
    for (Index i = 0; i < rows; ++i)
      for (Index j = 0; j < cols; ++j) {
        T& z = Z[i * ld + j];
        z += T(0.5);
        c.H[(i0 + i) * c.ldh + j0 + j] = z * z;
      }
  }
};

template <class T>
void run_few_rows_match_general() {
  Rng rng(7);
  constexpr Index kPad = 3;
  for (const Shape& s : kShapes) {
    const Index lda = s.k + kPad, ldb = s.n + kPad, ldc = s.n + kPad;
    const T nan = std::numeric_limits<T>::quiet_NaN();
    std::vector<T> A(static_cast<size_t>(s.m * lda), nan), B(static_cast<size_t>(s.k * ldb), nan);
    for (Index i = 0; i < s.m; ++i) rng.fill_uniform(A.data() + i * lda, s.k, -1.0, 1.0);
    for (Index p = 0; p < s.k; ++p) rng.fill_uniform(B.data() + p * ldb, s.n, -1.0, 1.0);
    const auto compact = [&](const std::vector<T>& C) {
      std::vector<T> out;
      for (Index i = 0; i < s.m; ++i)
        out.insert(out.end(), C.begin() + i * ldc, C.begin() + i * ldc + s.n);
      return out;
    };
    kernels::set_num_threads(1);
    std::vector<T> want(static_cast<size_t>(s.m * ldc), T(-7)), want_h(want.size(), T(-7));
    const SquarePlusHalf<T> want_ctx{want_h.data(), ldc};
    kernels::gemm_nn<T>(s.m, s.n, s.k, T(1), A.data(), lda, B.data(), ldb, T(0), want.data(), ldc,
                        {&SquarePlusHalf<T>::run, &want_ctx});
    const std::string shape = std::string(dtype_name<T>()) + " " + std::to_string(s.m) + "x" +
                              std::to_string(s.n) + "x" + std::to_string(s.k);
    // 3 threads (more than this machine may have: the split is by thread count) cut the
    // depth-major tile order at other places, inside a block's chunks
    for (int threads : {1, 2, 3}) {
      kernels::set_num_threads(threads);
      for (bool reverse : {false, true}) {
        const std::string what =
            shape + (reverse ? " reversed" : " in order") + ", threads " + std::to_string(threads);
        std::vector<T> C(want.size(), T(-7)), H(want.size(), T(-7));
        const SquarePlusHalf<T> ctx{H.data(), ldc};
        kernels::gemm_nn_few_rows<T>(s.m, s.n, s.k, A.data(), lda, B.data(), ldb, C.data(), ldc,
                                     {&SquarePlusHalf<T>::run, &ctx}, reverse);
        check_all_equal("Z " + what, compact(C).data(), compact(want).data(), s.m * s.n);
        check_all_equal("H " + what, compact(H).data(), compact(want_h).data(), s.m * s.n);
        // without an epilogue; C's padding is never written
        std::vector<T> plain(want.size(), T(-7));
        std::vector<T> plain_want(want.size(), T(-7));
        kernels::gemm_nn<T>(s.m, s.n, s.k, T(1), A.data(), lda, B.data(), ldb, T(0),
                            plain_want.data(), ldc);
        kernels::gemm_nn_few_rows<T>(s.m, s.n, s.k, A.data(), lda, B.data(), ldb, plain.data(), ldc,
                                     {}, reverse);
        check_all_equal("C " + what + " (with padding)", plain.data(), plain_want.data(),
                        static_cast<std::ptrdiff_t>(plain.size()));
      }
    }
  }
  kernels::set_num_threads(2);
}

// The policy: a few rows against large weights only.
template <class T>
void run_policy() {
  CHECK(kernels::use_few_rows<T>(1, 512, 784));
  CHECK(kernels::use_few_rows<T>(4, 512, 784));
  CHECK(!kernels::use_few_rows<T>(5, 512, 784));
  CHECK(!kernels::use_few_rows<T>(1, 10, 256));  // W4's output layer: 10 KB of weights
  CHECK(!kernels::use_few_rows<T>(1, 10, 8));    // the demo networks
}

// A network's one-row predict (the few-row path in its first two layers) equals the same row
// predicted in a batch of 9 (the general product), with 1 and 2 threads, call after call (the
// tile order alternates).
template <class T>
void run_network_rows() {
  std::vector<std::unique_ptr<Activation<T>>> acts;
  for (const char* a : {"tanh", "relu", "softmax"}) acts.push_back(make_activation<T>(a));
  Network<T> net({300, 520, 130, 7}, std::move(acts), make_loss<T>("cross_entropy"));
  CHECK(kernels::use_few_rows<T>(1, 520, 300));
  CHECK(kernels::use_few_rows<T>(1, 130, 520));
  Rng rng(11);
  for (Index l = 0; l < 3; ++l) {
    MatrixView<T> W = net.dense(l).W();
    rng.fill_uniform(W.data, W.size(), -0.1, 0.1);
  }
  std::vector<T> X(9 * 300);
  rng.fill_uniform(X.data(), static_cast<Index>(X.size()), -1.0, 1.0);
  std::vector<T> batch(9 * 7);
  kernels::set_num_threads(1);
  net.predict(ConstView<T>(X.data(), 9, 300), MatrixView<T>(batch.data(), 9, 7));
  for (int threads : {1, 2}) {
    kernels::set_num_threads(threads);
    for (int call = 0; call < 3; ++call)
      for (Index r = 0; r < 9; r += 4) {
        std::vector<T> one(7);
        net.predict(ConstView<T>(X.data() + r * 300, 1, 300), MatrixView<T>(one.data(), 1, 7));
        check_all_equal(std::string(dtype_name<T>()) + " row " + std::to_string(r) + " threads " +
                            std::to_string(threads),
                        one.data(), batch.data() + r * 7, 7);
      }
  }
  kernels::set_num_threads(2);
}

}  // namespace

int main() {
  for (auto level : kernels::supported_levels()) {
    kernels::set_kernel_level(kernels::level_name(level));
    std::printf("kernel level %s\n", kernels::level_name(level));
    RUN_TEST(run_few_rows_match_general<double>);
    RUN_TEST(run_few_rows_match_general<float>);
    RUN_TEST(run_network_rows<double>);
    RUN_TEST(run_network_rows<float>);
  }
  RUN_TEST(run_policy<double>);
  RUN_TEST(run_policy<float>);
  return chainrule_test::report();
}
