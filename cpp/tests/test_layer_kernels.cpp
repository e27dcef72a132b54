// The fast paths of Dropout, BatchNorm and LayerNorm: the dropout mask function pinned to
// literal values, every thread count giving the same bits on sizes that split the loops across
// threads, and the delta of the layer below computed in the layer's backward pass (fused)
// equal bit for bit to the layer below computing it itself (Dense::backward_activation).
#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "chainrule/activation.hpp"
#include "chainrule/kernels/thread_pool.hpp"
#include "chainrule/layer.hpp"
#include "chainrule/layers/all.hpp"
#include "test_util.hpp"

using namespace chainrule;
using chainrule_test::check_all_equal;
using chainrule_test::dtype_name;
using chainrule_test::Rng;

namespace {

// splitmix64 and the draws of a row, as literals: a change of the mask function (which a
// seed's fits depend on) must be deliberate.
void test_mask_function_pinned() {
  CHECK(splitmix64(0) == 0xE220A8397B1DCDAFull);  // SplitMix64's first output from state 0
  CHECK(dropout_bits(0, 0) == 0x7B1DCDAFu);       // the low half serves column 0,
  CHECK(dropout_bits(0, 1) == 0xE220A839u);       // the high half column 1
  const std::uint64_t key = dropout_row_key(42, 3, 2, 5);
  CHECK(key == 0x0272E67E7466B1C8ull);
  const std::uint32_t want[4] = {0xBA1AE52Du, 0x5FCC8EEBu, 0xA1308ED4u, 0xF088229Au};
  for (std::uint64_t c = 0; c < 4; ++c) {
    CHECK(dropout_bits(key, c) == want[c]);
    CHECK(dropout_uniform(key, c) == static_cast<double>(want[c]) / 4294967296.0);
  }
  // u >= p iff bits >= ceil(p 2^32)
  CHECK(dropout_threshold(0) == 0);
  CHECK(dropout_threshold(0.5) == 0x80000000ull);
  CHECK(dropout_threshold(0x1.0p-33) == 1);                   // a draw of 0 is < p, 1 / 2^32 is not
  CHECK(dropout_threshold(1 - 0x1.0p-40) == 0x100000000ull);  // keeps nothing
  for (double p : {0.1, 0.25, 0.3, 0.5, 0.9}) {
    const std::uint64_t t = dropout_threshold(p);
    for (std::uint64_t c = 0; c < 64; ++c)
      CHECK((dropout_uniform(key, c) >= p) == (dropout_bits(key, c) >= t));
  }
}

// What a layer's training step produced: its output, caches, parameter gradients, and the
// dH and dZ of the dense layer below.
template <class T>
struct Outcome {
  std::vector<T> H, caches, grads, below_dH, below_dZ;
};

template <class T>
std::vector<T> copy(ConstView<T> v) {
  return std::vector<T>(v.data, v.data + v.size());
}

// Below: Dense(k -> n, act) on X; the layer under test on its H; dH given; one training pass
// (or an inference pass) forward and backward with the given thread count.
template <class T>
Outcome<T> run(const std::string& kind, const NamedParams& params, const std::string& act, Index m,
               Index n, int threads, bool training, bool keep_unfused_check = true) {
  const int before = kernels::get_num_threads();
  kernels::set_num_threads(threads);
  Rng rng(7);
  const Index k = 5;
  Dense<T> below(1, k, n, make_activation<T>(act));
  rng.fill_normal(below.W().data, below.W().size(), 0.0, 1.0);
  rng.fill_normal(below.b().data, below.b().size(), 0.1, 0.5);
  LayerSpec<T> spec;
  spec.kind = kind;
  spec.params = params;
  auto layer = make_layer<T>(std::move(spec), 2, n);
  for (const Parameter<T>& p : layer->parameters())  // gamma, beta away from 1, 0
    rng.fill_normal(p.value.data, p.value.size(), p.name == "gamma" ? 1.0 : 0.0, 0.3);
  Matrix<T> X(m, k), dH(m, n);
  rng.fill_normal(X);
  rng.fill_normal(dH);
  PassContext ctx;
  ctx.training = training;
  ctx.update_statistics = training;
  ctx.seed = 11;
  ctx.pass = 4;
  below.forward(X.cview(), ctx);
  layer->forward(below.H(), ctx);
  MatrixView<T> g = layer->output_gradient().dH;
  std::copy(dH.data(), dH.data() + dH.size(), g.data);
  layer->backward(below.H(), &below, GradientMode<T>());
  Outcome<T> out;
  out.H = copy(layer->output());
  for (const Parameter<T>& c : layer->caches()) {
    const auto v = copy(ConstView<T>(c.value));
    out.caches.insert(out.caches.end(), v.begin(), v.end());
  }
  for (const Parameter<T>& p : layer->parameters()) {
    const auto v = copy(ConstView<T>(p.grad));
    out.grads.insert(out.grads.end(), v.begin(), v.end());
  }
  out.below_dH = copy(ConstView<T>(below.dH()));
  out.below_dZ = copy(ConstView<T>(below.dZ()));
  if (keep_unfused_check) {
    // the unfused reference: below computes its delta from the dH the layer wrote
    below.backward_activation();
    const std::string what = kind + " backward: below's " + act + " delta, fused == unfused (" +
                             dtype_name<T>() + ", " + std::to_string(m) + "x" + std::to_string(n) +
                             (training ? ", training" : ", inference") + ", " +
                             std::to_string(threads) + " threads)";
    check_all_equal(what, out.below_dZ.data(), below.dZ().data, m * n);
  }
  kernels::set_num_threads(before);
  return out;
}

struct Case {
  std::string kind;
  NamedParams params;
};

std::vector<Case> cases() {
  return {{"dropout", {{"p", 0.3}}}, {"batch_norm", {}}, {"layer_norm", {}}};
}

// Sizes that split the loops across threads (and ones too small to), awkward widths included:
// every thread count gives the bits of one thread. The fused delta of below equals the
// unfused one in every case (checked inside run).
template <class T>
void test_threads_and_fusion() {
  const std::string dt = dtype_name<T>();
  const std::vector<std::pair<Index, Index>> sizes = {{128, 512},  {130, 300}, {300, 700},
                                                      {1030, 100}, {3, 17},    {257, 33}};
  for (const Case& c : cases())
    for (const std::string act : {"relu", "tanh"})
      for (bool training : {true, false})
        for (const auto& [m, n] : sizes) {
          const Outcome<T> one = run<T>(c.kind, c.params, act, m, n, 1, training);
          for (int threads : {2, 3}) {
            const Outcome<T> many = run<T>(c.kind, c.params, act, m, n, threads, training);
            const std::string what = c.kind + " " + dt + " " + std::to_string(m) + "x" +
                                     std::to_string(n) + ", " + std::to_string(threads) +
                                     " threads == 1 thread";
            CHECK(many.H == one.H);
            CHECK(many.caches == one.caches);
            CHECK(many.grads == one.grads);
            CHECK(many.below_dH == one.below_dH);
            CHECK(many.below_dZ == one.below_dZ);
            if (many.H != one.H || many.below_dZ != one.below_dZ)
              chainrule_test::record(false, __FILE__, __LINE__, what);
          }
        }
}

// A dropout p so close to 1 that no 32-bit draw is kept (threshold 2^32): every value drops.
template <class T>
void test_dropout_keeps_nothing() {
  const Index m = 40, n = 70;
  const Outcome<T> out = run<T>("dropout", {{"p", 1 - 0x1.0p-40}}, "relu", m, n, 2, true);
  CHECK(std::all_of(out.H.begin(), out.H.end(), [](T v) { return v == T(0); }));
  CHECK(std::all_of(out.caches.begin(), out.caches.end(), [](T v) { return v == T(0); }));
  CHECK(std::all_of(out.below_dH.begin(), out.below_dH.end(), [](T v) { return v == T(0); }));
}

}  // namespace

int main() {
  RUN_TEST(test_mask_function_pinned);
  RUN_TEST(test_threads_and_fusion<double>);
  RUN_TEST(test_threads_and_fusion<float>);
  RUN_TEST(test_dropout_keeps_nothing<double>);
  RUN_TEST(test_dropout_keeps_nothing<float>);
  return chainrule_test::report();
}
