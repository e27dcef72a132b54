#include "chainrule/layers/dropout.hpp"

#include <algorithm>
#include <string>

#include "chainrule/error.hpp"
#include "chainrule/kernels/elementwise.hpp"

namespace chainrule {

namespace {

// Rows per task past which the loops below are split across threads: hashing a row costs
// more than a plain element-wise loop, so a smaller share of work repays waking the pool.
constexpr Index kDropoutGrain = Index(1) << 13;  // elements

// Values per block of the backward pass's two loops (dH_prev, then below's delta from it).
constexpr Index kCacheBlock = 2048;

// Columns hashed at a time: their 32-bit draws wait in a stack buffer for the compare loop.
constexpr Index kHashColumns = 256;

// One row of a training pass, x (n) -> mask, h (n): keep iff dropout_bits(key, j) >= t, with
// t < 2^32 (the caller handles t = 2^32, which keeps nothing). Two loops over each stretch of
// columns: the 64-bit hashes (one per pair of columns, split into their two halves), then the
// compare and the selects; both vectorise.
template <class T>
CHAINRULE_CLONES void dropout_row(Index n, std::uint64_t key, std::uint32_t t, T s,
                                  const T* __restrict x, T* __restrict mask, T* __restrict h) {
  std::uint32_t bits[kHashColumns];
  for (Index c0 = 0; c0 < n; c0 += kHashColumns) {
    const Index cn = std::min(kHashColumns, n - c0);
    const std::uint64_t pair0 = static_cast<std::uint64_t>(c0) >> 1;  // c0 is even
    for (Index k = 0; k < (cn + 1) / 2; ++k) {
      // columns c0 + 2k (low half) and c0 + 2k + 1 (high half): dropout_bits
      const std::uint64_t hash = splitmix64(key ^ (pair0 + static_cast<std::uint64_t>(k)));
      bits[2 * k] = static_cast<std::uint32_t>(hash);
      bits[2 * k + 1] = static_cast<std::uint32_t>(hash >> 32);
    }
    for (Index j = 0; j < cn; ++j) {
      // keep iff u >= p; H = H_prev * noise with noise = mask / (1 - p)
      const bool keep = bits[j] >= t;
      mask[c0 + j] = keep ? T(1) : T(0);
      h[c0 + j] = x[c0 + j] * (keep ? s : T(0));
    }
  }
}

// rows (of n values): dH_prev = dH * (mask * s)
template <class T>
CHAINRULE_CLONES void dropout_back_rows(Index count, T s, const T* __restrict dH,
                                        const T* __restrict mask, T* __restrict dH_prev) {
  for (Index k = 0; k < count; ++k) dH_prev[k] = dH[k] * (mask[k] * s);
}

}  // namespace

template <class T>
Dropout<T>::Dropout(Index index, Index n, double p) : Layer<T>(index, n, n), p_(p) {
  with_layer_context(index, [&] { entry().checked("p", p); });
  threshold_ = dropout_threshold(p_);
  // torch: noise = bernoulli(1 - p) / (1 - p) in the tensor's dtype
  scale_ = T(1) / static_cast<T>(1.0 - p_);
}

template <class T>
std::string Dropout<T>::repr() const {
  return entry().class_name + "(p=" + shortest_repr(p_) + ")";
}

template <class T>
std::vector<Parameter<T>> Dropout<T>::caches_impl() {
  return {{"mask", MatrixView<T>(mask_.data(), mask_rows_, this->n_out()), {}, false}};
}

template <class T>
void Dropout<T>::reserve_impl(Index m) {
  const Index n = this->n_out();
  H_.resize(m, n);
  dH_.resize(m, n);
  if (m * n > mask_.capacity()) {
    // grow, keeping the mask of the last training pass (a larger inference batch may come
    // between a training pass and its inspection)
    Matrix<T> grown(m, n);
    std::copy(mask_.data(), mask_.data() + mask_rows_ * n, grown.data());
    mask_ = std::move(grown);
  }
}

// H_prev (m, n) -> H (m, n), mask (m, n) in training; H = H_prev in inference
template <class T>
ConstView<T> Dropout<T>::forward_impl(ConstView<T> H_prev, const PassContext& ctx) {
  training_ = ctx.training;
  if (!ctx.training) {
    out_ = H_prev;  // the identity: no copy (below's dH is below's own buffer, not this)
    return out_;
  }
  const Index m = H_prev.rows, n = this->n_out();
  const T s = scale_;
  const std::uint64_t threshold = threshold_;
  const std::uint64_t seed = ctx.seed, pass = ctx.pass;
  const std::uint64_t layer = static_cast<std::uint64_t>(this->index());
  const Index* row_ids = ctx.row_ids;
  T* mask = mask_.data();
  T* H = H_.data();
  // rows split across threads: each row's values depend on its id and columns alone
  kernels::parallel_ranges(m, std::max<Index>(1, kDropoutGrain / n), [=](Index b, Index e) {
    for (Index i = b; i < e; ++i) {
      const Index row = row_ids != nullptr ? row_ids[i] : i;
      const std::uint64_t key = dropout_row_key(seed, pass, layer, static_cast<std::uint64_t>(row));
      if (threshold > 0xFFFFFFFFull) {  // p > 1 - 2^-32: no draw is >= p
        std::fill(mask + i * n, mask + (i + 1) * n, T(0));
        std::fill(H + i * n, H + (i + 1) * n, T(0));
        continue;
      }
      dropout_row(n, key, static_cast<std::uint32_t>(threshold), s, H_prev.row(i), mask + i * n,
                  H + i * n);
    }
  });
  mask_rows_ = m;
  out_ = ConstView<T>(H, m, n);
  return out_;
}

// dH (m, n) -> below's dH = dH * mask / (1 - p) (training) or dH (inference), and below's
// delta in the same pass when below offers an element-wise activation
template <class T>
void Dropout<T>::backward_impl(ConstView<T>, Layer<T>* below, const GradientMode<T>&) {
  if (below == nullptr) return;  // nothing to learn
  const Index m = out_.rows, n = this->n_out();
  const OutputGradient<T> g = below->output_gradient();
  const Activation<T>* act =
      g.activation != nullptr && g.activation->elementwise() ? g.activation : nullptr;
  const T* dH = dH_.data();
  T* dH_prev = g.dH.data;
  const bool training = training_;
  const T s = scale_;
  const T* mask = mask_.data();
  // a few rows at a time (about kCacheBlock values), so that below's delta reads dH_prev
  // from the first-level cache
  const Index block = std::max<Index>(1, kCacheBlock / n);
  kernels::parallel_ranges(m, std::max<Index>(1, kDropoutGrain / n), [=](Index b, Index e) {
    for (Index r = b; r < e; r += block) {
      const Index rows = std::min(block, e - r), off = r * n, count = rows * n;
      if (training) {
        dropout_back_rows(count, s, dH + off, mask + off, dH_prev + off);
      } else {
        std::copy(dH + off, dH + off + count, dH_prev + off);
      }
      // below's dZ = dH_prev * act'(Z) on these rows
      if (act != nullptr)
        act->backward_block(rows, n, g.Z.data + off, g.H.data + off, dH_prev + off, n,
                            g.dZ.data + off, n);
    }
  });
  if (act != nullptr) {
    below->set_delta_ready();
  } else {
    below->complete_delta();
  }
}

template class Dropout<float>;
template class Dropout<double>;

}  // namespace chainrule
