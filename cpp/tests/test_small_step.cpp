// The fused small-network step: its kernels against naive loops on awkward sizes (both dtypes,
// every vector kernel level, the same bits on each), SmallStep's gradients against the
// network's own (unfused) backward pass, and its training steps on one thread and on two.
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "chainrule/activations/all.hpp"
#include "chainrule/kernels/cpu.hpp"
#include "chainrule/kernels/small_step.hpp"
#include "chainrule/kernels/thread_pool.hpp"
#include "chainrule/losses/all.hpp"
#include "chainrule/network.hpp"
#include "chainrule/optimizers/all.hpp"
#include "chainrule/training/small_step.hpp"
#include "test_util.hpp"

using namespace chainrule;
using chainrule_test::check_all_close;
using chainrule_test::check_all_equal;

namespace {

template <class T>
double tol() {
  return sizeof(T) == 8 ? 1e-12 : 1e-5;
}

// the vector kernel levels this CPU and build support
std::vector<std::string> vector_levels() {
  std::vector<std::string> out;
  for (auto l : kernels::supported_levels())
    if (l != kernels::KernelLevel::portable) out.emplace_back(kernels::level_name(l));
  return out;
}

struct Outputs {
  std::vector<double> Z, dW_lanes, dW_rows, dH;
};

// Random H_prev (transposed, (n_in, mp)) and dZ (transposed, (n_out, mp), and row-major,
// (m, n_out)) for the kernels: rows m..mp-1 of the transposed blocks are padding, zero
template <class T>
struct GradOperands {
  std::vector<T> HT, dZT, dZ;
  GradOperands(Index n_in, Index n_out, Index m, Index mp, std::uint64_t seed)
      : HT(n_in * mp, T(0)), dZT(n_out * mp, T(0)), dZ(m * n_out) {
    chainrule_test::Rng rng(seed);
    for (Index i = 0; i < n_in; ++i)
      for (Index r = 0; r < m; ++r) HT[i * mp + r] = static_cast<T>(rng.uniform(-1, 1));
    for (Index j = 0; j < n_out; ++j)
      for (Index r = 0; r < m; ++r)
        dZ[r * n_out + j] = dZT[j * mp + r] = static_cast<T>(rng.uniform(-1, 1));
  }
};

// "avx512 3x5 m=17": where a check on one kernel level (or comparison) and shape is
std::string shape_where(const std::string& level, Index n_in, Index n_out, Index m) {
  return level + " " + std::to_string(n_in) + "x" + std::to_string(n_out) +
         " m=" + std::to_string(m);
}

// Every kernel on (n_in, n_out, m) with the active level; naive double sums in `want`.
template <class T>
Outputs run_kernels(Index n_in, Index n_out, Index m, Outputs* want) {
  constexpr Index V = kernels::small_step_lanes<T>;
  const Index mp = (m + V - 1) / V * V;
  const std::uint64_t seed = static_cast<std::uint64_t>(n_in * 1000 + n_out * 10 + m);
  chainrule_test::Rng rng(seed);
  std::vector<T> Wb((n_in + 1) * n_out);
  rng.fill_uniform(Wb.data(), static_cast<std::ptrdiff_t>(Wb.size()), -1, 1);
  const GradOperands<T> ops(n_in, n_out, m, mp, seed + 1);
  const std::vector<T>&HT = ops.HT, &dZT = ops.dZT, &dZ = ops.dZ;
  const auto k = kernels::small_step_kernels<T>();
  std::vector<T> ZT(n_out * mp), dWa((n_in + 1) * n_out), dWr((n_in + 1) * n_out), dHT(n_in * mp);
  const T scale = T(1) / static_cast<T>(m);
  k.affine(n_in, n_out, mp, Wb.data(), HT.data(), ZT.data());
  // the batch's two parts as the step splits them (one part below two tiles)
  const Index split = kernels::small_step_split(mp / V) * V;
  k.weight_grads(n_in, n_out, mp, split, scale, HT.data(), dZT.data(), dWa.data());
  k.weight_grads_rows(n_in, n_out, m, mp, std::min(split, m), scale, HT.data(), dZ.data(),
                      dWr.data());
  k.backprop(n_in, n_out, mp, Wb.data(), dZT.data(), dHT.data());
  Outputs got;
  for (Index j = 0; j < n_out; ++j)
    for (Index r = 0; r < m; ++r) {
      got.Z.push_back(ZT[j * mp + r]);
      double z = Wb[n_in * n_out + j];
      for (Index i = 0; i < n_in; ++i) z += double(Wb[i * n_out + j]) * double(HT[i * mp + r]);
      want->Z.push_back(z);
    }
  for (Index i = 0; i <= n_in; ++i)
    for (Index j = 0; j < n_out; ++j) {
      got.dW_lanes.push_back(dWa[i * n_out + j]);
      got.dW_rows.push_back(dWr[i * n_out + j]);
      double s = 0;
      for (Index r = 0; r < m; ++r)
        s += (i < n_in ? double(HT[i * mp + r]) : 1.0) * double(dZ[r * n_out + j]);
      want->dW_lanes.push_back(s / double(m));
    }
  for (Index i = 0; i < n_in; ++i)
    for (Index r = 0; r < m; ++r) {
      got.dH.push_back(dHT[i * mp + r]);
      double s = 0;
      for (Index j = 0; j < n_out; ++j) s += double(Wb[i * n_out + j]) * double(dZT[j * mp + r]);
      want->dH.push_back(s);
    }
  want->dW_rows = want->dW_lanes;
  return got;
}

template <class T>
void kernels_match_naive_loops_on_every_level() {
  const std::string before = kernels::level_name(kernels::active_level());
  const Index sizes[] = {1, 2, 3, 7, 15, 17, 33};
  const Index rows[] = {1, 7, 8, 9, 17, 33, 100};
  for (Index n_in : sizes)
    for (Index n_out : sizes)
      for (Index m : rows) {
        std::vector<Outputs> per_level;
        Outputs want;
        for (const auto& level : vector_levels()) {
          kernels::set_kernel_level(level);
          want = Outputs();
          per_level.push_back(run_kernels<T>(n_in, n_out, m, &want));
          const Outputs& got = per_level.back();
          const std::string where = shape_where(level, n_in, n_out, m);
          // floors: entries that nearly cancel are compared to the sums' scale
          check_all_close(where + " Z", got.Z.data(), want.Z.data(),
                          static_cast<std::ptrdiff_t>(got.Z.size()), tol<T>(), 1.0);
          check_all_close(where + " dW (lanes)", got.dW_lanes.data(), want.dW_lanes.data(),
                          static_cast<std::ptrdiff_t>(got.dW_lanes.size()), tol<T>(), 1.0);
          check_all_close(where + " dW (rows)", got.dW_rows.data(), want.dW_rows.data(),
                          static_cast<std::ptrdiff_t>(got.dW_rows.size()), tol<T>(), 1.0);
          check_all_close(where + " dH", got.dH.data(), want.dH.data(),
                          static_cast<std::ptrdiff_t>(got.dH.size()), tol<T>(), 1.0);
        }
        for (std::size_t l = 1; l < per_level.size(); ++l) {  // the same bits on every ISA
          const std::string where = shape_where("levels agree", n_in, n_out, m);
          check_all_equal(where + " Z", per_level[l].Z.data(), per_level[0].Z.data(),
                          static_cast<std::ptrdiff_t>(per_level[0].Z.size()));
          check_all_equal(where + " dW", per_level[l].dW_lanes.data(), per_level[0].dW_lanes.data(),
                          static_cast<std::ptrdiff_t>(per_level[0].dW_lanes.size()));
          check_all_equal(where + " dW rows", per_level[l].dW_rows.data(),
                          per_level[0].dW_rows.data(),
                          static_cast<std::ptrdiff_t>(per_level[0].dW_rows.size()));
          check_all_equal(where + " dH", per_level[l].dH.data(), per_level[0].dH.data(),
                          static_cast<std::ptrdiff_t>(per_level[0].dH.size()));
        }
      }
  kernels::set_kernel_level(before);
}

// SmallStep's loss and [dW; db] against Network::compute_gradients (the general path)
template <class T>
void step_matches_the_networks_backward_pass() {
  if (!kernels::small_step_kernels<T>()) return;  // portable build: nothing to test
  struct Case {
    std::vector<Index> sizes;
    std::vector<std::string> acts;
    std::string loss;
    Index m;
  };
  const Case cases[] = {
      {{2, 10, 8, 5, 1}, {"relu", "tanh", "relu", "linear"}, "mse", 100},
      {{2, 15, 1}, {"sigmoid", "linear"}, "mse", 9},
      {{8, 40, 40, 3}, {"tanh", "gelu", "linear"}, "huber", 33},
      {{5, 7, 1}, {"elu", "sigmoid"}, "binary_cross_entropy", 17},
      {{3, 4}, {"linear"}, "mae", 1},
  };
  for (const Case& c : cases) {
    std::vector<std::unique_ptr<Activation<T>>> acts;
    for (const auto& a : c.acts) acts.push_back(make_activation<T>(a));
    Network<T> net(c.sizes, std::move(acts), make_loss<T>(c.loss));
    chainrule_test::Rng rng(7);
    for (const auto& p : net.parameters())
      rng.fill_uniform(p.value.data, p.value.size(), -0.8, 0.8);
    Matrix<T> X(c.m, c.sizes.front()), Y(c.m, c.sizes.back());
    rng.fill_uniform(X.data(), X.size(), -2, 2);
    for (Index i = 0; i < Y.size(); ++i)
      Y.data()[i] = c.loss == "binary_cross_entropy" ? T(rng.index(2)) : T(rng.uniform(-1, 1));
    const double want_loss = net.compute_gradients(X.cview(), Y.cview());
    std::vector<std::vector<T>> want;
    for (const auto& p : net.parameters())
      want.emplace_back(p.grad.data, p.grad.data + p.grad.size());
    for (const auto& p : net.parameters())
      std::fill(p.grad.data, p.grad.data + p.grad.size(), T(0));
    SmallStep<T> step(net, c.m + 5, kernels::small_step_kernels<T>());  // capacity > rows
    const double loss = step.gradients(X.cview(), Y.cview());
    const std::string where = std::to_string(c.sizes.size() - 1) + "-layer " + c.loss;
    CHECK_CLOSE(loss, want_loss, tol<T>());
    for (std::size_t k = 0; k < want.size(); ++k) {
      const auto& p = net.parameters()[k];
      check_all_close(where + " d" + p.name, p.grad.data, want[k].data(), p.grad.size(),
                      tol<T>() * 10, 1e-3);
    }
    check_all_close(where + " Yhat", step.output().data, net.output().data, step.output().size(),
                    tol<T>(), 1e-3);
  }
}

// The kernels' sums over two parts of the rows are the parts' own sums (each part's kernel
// call with scale 1), added, then scaled: the bits the step's two threads produce
template <class T>
void split_sums_are_the_parts_sums_added() {
  constexpr Index V = kernels::small_step_lanes<T>;
  const std::string before = kernels::level_name(kernels::active_level());
  for (const auto& level : vector_levels()) {
    kernels::set_kernel_level(level);
    const auto k = kernels::small_step_kernels<T>();
    for (Index n_in : {Index(1), Index(3), Index(9), Index(17)})
      for (Index n_out : {Index(1), Index(5), Index(8), Index(33), Index(40)})
        for (Index m : {V + 1, 2 * V, 3 * V - 2, Index(100)}) {
          const Index mp = (m + V - 1) / V * V, split = kernels::small_step_split(mp / V) * V;
          const GradOperands<T> ops(n_in, n_out, m, mp,
                                    static_cast<std::uint64_t>(n_in * 7 + n_out * 131 + m));
          const std::vector<T>&HT = ops.HT, &dZT = ops.dZT, &dZ = ops.dZ;
          // each part on its own, as a part's thread holds it (rows from 0, padded)
          const Index rows[2] = {split, m - split}, mps[2] = {split, mp - split};
          std::vector<T> lanes[2], by_rows[2];
          for (int s = 0; s < 2; ++s) {
            std::vector<T> pHT(n_in * mps[s]), pdZT(n_out * mps[s]);
            for (Index i = 0; i < n_in; ++i)
              for (Index r = 0; r < mps[s]; ++r) pHT[i * mps[s] + r] = HT[i * mp + s * split + r];
            for (Index j = 0; j < n_out; ++j)
              for (Index r = 0; r < mps[s]; ++r) pdZT[j * mps[s] + r] = dZT[j * mp + s * split + r];
            lanes[s].resize((n_in + 1) * n_out);
            by_rows[s].resize((n_in + 1) * n_out);
            k.weight_grads(n_in, n_out, mps[s], mps[s], T(1), pHT.data(), pdZT.data(),
                           lanes[s].data());
            k.weight_grads_rows(n_in, n_out, rows[s], mps[s], rows[s], T(1), pHT.data(),
                                dZ.data() + s * split * n_out, by_rows[s].data());
          }
          const T scale = T(1) / static_cast<T>(m);
          std::vector<T> whole_lanes((n_in + 1) * n_out), whole_rows((n_in + 1) * n_out);
          k.weight_grads(n_in, n_out, mp, split, scale, HT.data(), dZT.data(), whole_lanes.data());
          k.weight_grads_rows(n_in, n_out, m, mp, split, scale, HT.data(), dZ.data(),
                              whole_rows.data());
          std::vector<T> want_lanes(whole_lanes.size()), want_rows(whole_rows.size());
          for (std::size_t e = 0; e < want_lanes.size(); ++e) {
            want_lanes[e] = (lanes[0][e] + lanes[1][e]) * scale;
            want_rows[e] = (by_rows[0][e] + by_rows[1][e]) * scale;
          }
          const std::string where = shape_where(level, n_in, n_out, m);
          check_all_equal(where + " dW (lanes), split", whole_lanes.data(), want_lanes.data(),
                          static_cast<std::ptrdiff_t>(want_lanes.size()));
          check_all_equal(where + " dW (rows), split", whole_rows.data(), want_rows.data(),
                          static_cast<std::ptrdiff_t>(want_rows.size()));
        }
  }
  kernels::set_kernel_level(before);
}

// The order of dW's sums as kernels/small_step.hpp states it, in scalar code: weight_grads in
// lane-wise FMA sums over each part's row tiles, the lanes then added pairwise (k + lanes/2,
// ..., k + 1); weight_grads_rows over each part's rows in order; then (part 0 + part 1) *
// scale. db's row of ones adds dZ's terms. Every kernel level, on every blocking's edges
// (full and partial blocks of outputs, narrow layers' columns, one part or two), bit for bit.
template <class T>
void weight_grads_sum_in_the_stated_order() {
  constexpr Index V = kernels::small_step_lanes<T>;
  const std::string before = kernels::level_name(kernels::active_level());
  for (const auto& level : vector_levels()) {
    kernels::set_kernel_level(level);
    const auto k = kernels::small_step_kernels<T>();
    for (Index n_in : {1, 2, 3, 7, 8, 9, 15, 17})
      for (Index n_out : {1, 2, 5, 7, 8, 9, 15, 16, 17, 33})
        for (Index m : {Index(1), V - 1, V + 1, 2 * V, 3 * V - 2, Index(100)}) {
          const Index mp = (m + V - 1) / V * V, split = kernels::small_step_split(mp / V) * V;
          const GradOperands<T> ops(n_in, n_out, m, mp,
                                    static_cast<std::uint64_t>(n_in * 3 + n_out * 101 + m));
          const std::vector<T>&HT = ops.HT, &dZT = ops.dZT, &dZ = ops.dZ;
          const T scale = T(1) / static_cast<T>(m);
          std::vector<T> lanes((n_in + 1) * n_out), by_rows((n_in + 1) * n_out);
          k.weight_grads(n_in, n_out, mp, split, scale, HT.data(), dZT.data(), lanes.data());
          k.weight_grads_rows(n_in, n_out, m, mp, std::min(split, m), scale, HT.data(), dZ.data(),
                              by_rows.data());
          std::vector<T> want_lanes, want_rows;
          for (Index i = 0; i <= n_in; ++i)
            for (Index j = 0; j < n_out; ++j) {
              const auto h = [&](Index r) { return i < n_in ? HT[i * mp + r] : T(1); };
              const auto term = [&](T acc, Index r) {
                return i < n_in ? std::fma(h(r), dZT[j * mp + r], acc) : acc + dZT[j * mp + r];
              };
              T part_lanes[2] = {0, 0}, part_rows[2] = {0, 0};
              // one part: split >= mp, so bounds[1] is mp
              const Index bounds[3] = {0, std::min(split, mp), mp};
              const int parts = split < mp ? 2 : 1;
              for (int q = 0; q < parts; ++q) {
                T a[V] = {};
                for (Index t = bounds[q]; t < bounds[q + 1]; t += V)
                  for (Index l = 0; l < V; ++l) a[l] = term(a[l], t + l);
                for (Index w = V / 2; w >= 1; w /= 2)
                  for (Index l = 0; l < w; ++l) a[l] += a[l + w];
                part_lanes[q] = a[0];
                T acc = 0;
                for (Index r = bounds[q]; r < std::min(bounds[q + 1], m); ++r) acc = term(acc, r);
                part_rows[q] = acc;
              }
              want_lanes.push_back(parts == 2 ? (part_lanes[0] + part_lanes[1]) * scale
                                              : part_lanes[0] * scale);
              want_rows.push_back(parts == 2 && split < m ? (part_rows[0] + part_rows[1]) * scale
                                                          : part_rows[0] * scale);
            }
          const std::string where = shape_where(level, n_in, n_out, m);
          check_all_equal(where + " dW (lanes)", lanes.data(), want_lanes.data(),
                          static_cast<std::ptrdiff_t>(lanes.size()));
          check_all_equal(where + " dW (rows)", by_rows.data(), want_rows.data(),
                          static_cast<std::ptrdiff_t>(by_rows.size()));
        }
  }
  kernels::set_kernel_level(before);
}

// Training steps (gradients(), then update() with a stateful optimizer) on one thread and on
// two: the same loss, output, gradients and weights after every step, for batches of one tile
// up to many, narrow (lane-wise sums) and wide (row sums) layers. On two threads the timed
// choice runs both ways (training/timed_choice.hpp: the first blocks of calls alternate), and
// on the two-thread way each thread adds and updates its part of every parameter tensor.
template <class T>
void steps_give_the_same_bits_on_one_thread_and_two() {
  if (!kernels::small_step_kernels<T>()) return;
  const int threads_before = kernels::get_num_threads();
  const std::vector<std::vector<Index>> nets = {{2, 10, 8, 5, 1}, {8, 64, 64, 1}, {3, 40, 4}};
  const std::vector<std::pair<std::string, OptimizerParams>> optimizers = {
      {"adam", {}},
      {"sgd", {{"momentum", 0.9}, {"nesterov", 1}}},
      {"rmsprop", {{"centered", 1}}},
      {"sgd", {}}};
  constexpr int kSteps = 2 * TimedChoice::kBlock + 2;
  std::size_t which = 0;
  for (const auto& sizes : nets)
    for (Index m : {Index(5), Index(16), Index(32), Index(33), Index(100), Index(250)}) {
      const auto& [opt_name, opt_params] = optimizers[which++ % optimizers.size()];
      std::vector<std::unique_ptr<Activation<T>>> acts;
      for (std::size_t l = 1; l < sizes.size(); ++l)
        acts.push_back(make_activation<T>(l + 1 < sizes.size() ? "tanh" : "linear"));
      Network<T> net(sizes, std::move(acts), make_loss<T>("mse"));
      chainrule_test::Rng rng(11);
      for (const auto& p : net.parameters())
        rng.fill_uniform(p.value.data, p.value.size(), -0.8, 0.8);
      std::vector<Matrix<T>> start;
      net.copy_params(start);
      Matrix<T> X(m, sizes.front()), Y(m, sizes.back());
      rng.fill_uniform(X.data(), X.size(), -2, 2);
      rng.fill_uniform(Y.data(), Y.size(), -1, 1);
      struct After {  // one step's results
        double loss;
        std::vector<T> output, grads, params;
      };
      const auto train = [&](int threads) {
        kernels::set_num_threads(threads);
        net.restore_params(start);
        net.set_optimizer(make_optimizer<T>(opt_name, opt_params));
        SmallStep<T> step(net, m, kernels::small_step_kernels<T>());
        std::vector<After> steps;
        for (int s = 0; s < kSteps; ++s) {
          After a;
          a.loss = step.gradients(X.cview(), Y.cview());
          a.output.assign(step.output().data, step.output().data + step.output().size());
          step.update(T(0.01));
          for (const auto& p : net.parameters()) {
            a.grads.insert(a.grads.end(), p.grad.data, p.grad.data + p.grad.size());
            a.params.insert(a.params.end(), p.value.data, p.value.data + p.value.size());
          }
          steps.push_back(std::move(a));
        }
        return steps;
      };
      const std::vector<After> one = train(1), two = train(2);
      for (int s = 0; s < kSteps; ++s) {
        const std::string where = std::to_string(sizes[1]) + "-wide, m=" + std::to_string(m) +
                                  ", " + opt_name + ", step " + std::to_string(s);
        const After &a = two[static_cast<std::size_t>(s)], &b = one[static_cast<std::size_t>(s)];
        CHECK(a.loss == b.loss);
        check_all_equal(where + " output", a.output.data(), b.output.data(),
                        static_cast<std::ptrdiff_t>(b.output.size()));
        check_all_equal(where + " gradients", a.grads.data(), b.grads.data(),
                        static_cast<std::ptrdiff_t>(b.grads.size()));
        check_all_equal(where + " parameters", a.params.data(), b.params.data(),
                        static_cast<std::ptrdiff_t>(b.params.size()));
      }
    }
  kernels::set_num_threads(threads_before);
}

}  // namespace

int main() {
  RUN_TEST(kernels_match_naive_loops_on_every_level<double>);
  RUN_TEST(kernels_match_naive_loops_on_every_level<float>);
  RUN_TEST(step_matches_the_networks_backward_pass<double>);
  RUN_TEST(step_matches_the_networks_backward_pass<float>);
  RUN_TEST(weight_grads_sum_in_the_stated_order<double>);
  RUN_TEST(weight_grads_sum_in_the_stated_order<float>);
  RUN_TEST(split_sums_are_the_parts_sums_added<double>);
  RUN_TEST(split_sums_are_the_parts_sums_added<float>);
  RUN_TEST(steps_give_the_same_bits_on_one_thread_and_two<double>);
  RUN_TEST(steps_give_the_same_bits_on_one_thread_and_two<float>);
  return chainrule_test::report();
}
