// Inverted dropout, as torch.nn.Dropout: in training H = H_prev * mask / (1 - p) with a
// counter-based random mask; in inference H = H_prev.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "chainrule/layer.hpp"
#include "chainrule/tensor.hpp"

namespace chainrule {

/// SplitMix64's finaliser (Steele, Lea, Flood 2014): a bijection of 64-bit words whose
/// output bits each depend on every input bit.
inline std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/// The key of one row's dropout draws: a function of (seed, pass, layer, row id) only.
inline std::uint64_t dropout_row_key(std::uint64_t seed, std::uint64_t pass, std::uint64_t layer,
                                     std::uint64_t row) {
  return splitmix64(splitmix64(splitmix64(splitmix64(seed) ^ pass) ^ layer) ^ row);
}

/// The 32 random bits of column `col` of a row: one splitmix64 serves two columns, the low
/// half of splitmix64(row_key ^ (col / 2)) going to the even column and the high half to the
/// odd one (a vector of 64-bit hashes then yields the draws of twice as many columns).
inline std::uint32_t dropout_bits(std::uint64_t row_key, std::uint64_t col) {
  return static_cast<std::uint32_t>(splitmix64(row_key ^ (col >> 1)) >> (32 * (col & 1)));
}

/// The uniform draw in [0, 1) of column `col` of a row: dropout_bits(row_key, col) / 2^32
/// (exact in double). No state: the same arguments give the same draw.
inline double dropout_uniform(std::uint64_t row_key, std::uint64_t col) {
  return static_cast<double>(dropout_bits(row_key, col)) * 0x1.0p-32;
}

/// The integer form of the test u >= p: bits / 2^32 >= p iff bits >= ceil(p 2^32), exactly
/// (p 2^32 is exact in double). 2^32 (keep nothing) only for p > 1 - 2^-32.
inline std::uint64_t dropout_threshold(double p) {
  return static_cast<std::uint64_t>(std::ceil(p * 0x1.0p32));
}

/// Inverted dropout with drop probability p in [0, 1). In a training pass each value is
/// kept (mask 1) iff u >= p, u = dropout_uniform(dropout_row_key(seed, pass, layer index,
/// row id), column), with (seed, pass, row ids) from the PassContext (a row's id is its
/// index in the pass unless the context gives ids): a seed reproduces a fit, a pass can be
/// evaluated again with the same mask (gradient checks), and data-parallel processes draw
/// per global row. H = H_prev * (mask / (1 - p)), the factor computed in T as torch does;
/// backward: dH_prev = dH * (mask / (1 - p)), and when the layer below offers an
/// element-wise activation its delta dZ = dH_prev * act'(Z) in the same loop. In inference H
/// is H_prev itself (no copy) and backward is the identity. No parameters; cache "mask"
/// (m, n): the 0/1 mask of the last training pass.
///
/// The loops are vectorised (the draws of a stretch of columns are hashed in one loop, then
/// compared as integers with dropout_threshold(p)) and split over rows across threads; every
/// value depends on its own row and column only, so any thread count gives the same bits.
template <class T>
class Dropout final : public Layer<T> {
 public:
  Dropout(Index index, Index n, double p = entry().default_of("p"));

  /// The registry's description of a dropout layer: its drop probability.
  static const EntryInfo& entry() {
    static const EntryInfo e =
        EntryInfo("dropout", "Dropout",
                  "H = H_prev * mask / (1 - p) in training (mask ~ Bernoulli(1 - p)), H_prev in "
                  "inference")
            .param(ParamSpec("p", 0.5).in(0, 1, "[)"));
    return e;
  }

  std::string kind() const override { return "dropout"; }
  std::string repr() const override;
  bool has_training_behaviour() const override { return true; }
  double p() const { return p_; }
  /// The mask (m, n) of the last training pass, values 0 or 1.
  ConstView<T> mask() const { return ConstView<T>(mask_.data(), mask_rows_, this->n_out()); }
  /// Whether the last forward pass was a training pass.
  bool last_pass_training() const { return training_; }

 private:
  ConstView<T> forward_impl(ConstView<T> H_prev, const PassContext& ctx) override;
  ConstView<T> output_impl() const override { return out_; }
  OutputGradient<T> output_gradient_impl() override { return {dH_.view(), nullptr, {}, {}, {}}; }
  void backward_impl(ConstView<T> H_prev, Layer<T>* below, const GradientMode<T>& mode) override;
  std::vector<Parameter<T>> parameters_impl() override { return {}; }
  std::vector<Parameter<T>> caches_impl() override;
  void use_gradient_storage_impl(T*) override {}
  void reserve_impl(Index m) override;

  double p_;
  std::uint64_t threshold_;  // keep iff dropout_bits >= threshold_ (u >= p)
  T scale_;                  // 1 / (1 - p), in T
  bool training_ = false;    // the mode of the last forward pass
  ConstView<T> out_;         // H of the last forward pass: H_ or, in inference, H_prev
  Matrix<T> H_, dH_;         // per-batch buffers (m, n)
  Matrix<T> mask_;           // (mask_rows_, n) of the last training pass; kept by reserve()
  Index mask_rows_ = 0;
};

namespace registered {
inline const bool dropout = LayerRegistry::add(
    Dropout<double>::entry(),
    [](auto tag, const ParamValues& v, LayerArgs<typename decltype(tag)::type>&& a) {
      using T = typename decltype(tag)::type;
      return std::unique_ptr<Layer<T>>(std::make_unique<Dropout<T>>(a.index, a.n_in, v["p"]));
    });
}  // namespace registered

}  // namespace chainrule
