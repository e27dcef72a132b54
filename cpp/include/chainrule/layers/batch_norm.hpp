// Batch normalisation over the rows of a batch, as torch.nn.BatchNorm1d on (m, n) input.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "chainrule/layer.hpp"
#include "chainrule/layers/feature_affine.hpp"
#include "chainrule/tensor.hpp"

namespace chainrule {

/// Per feature j, over the M rows of a training batch: mean_j, the biased variance var_j,
/// xhat = (x - mean) / sqrt(var + eps), H = gamma * xhat + beta. A training pass that
/// updates statistics (PassContext::update_statistics) also moves the running statistics:
/// running_mean = momentum * mean + (1 - momentum) * running_mean, running_var =
/// momentum * var * M / (M - 1) + (1 - momentum) * running_var (the unbiased variance). In
/// inference xhat = (x - running_mean) / sqrt(running_var + eps).
///
/// Backward, with dH m times dL/dH (the per-sample convention) and s = 1 / sqrt(var + eps):
/// in training dH_prev = gamma s (dH - mean_i(dH) - xhat mean_i(dH xhat)); after an inference
/// pass dH_prev = gamma s dH; dgamma = mean_i(dH xhat), dbeta = mean_i(dH) (FeatureAffine).
/// Sums over rows are accumulated in double. Parameters "gamma" (1) and "beta" (0), buffers
/// "running_mean" (0) and "running_var" (1), cache "xhat"; all but xhat are 1-D (n,).
///
/// Data-parallel (a training pass whose PassContext has sum_across), as
/// torch.nn.SyncBatchNorm: the batch is the step's M = ctx.global_rows rows over every
/// process, this process holding m of them (possibly none). Forward: the sums of x, then the
/// sums of (x - mean)^2 with the global mean, each summed over the processes (two calls of n
/// values, so the variance is as exact as one process's two passes); every process then
/// holds the same mean, var and running statistics. Backward: with mode.scale = c (the
/// process's gradients are c times its sums over rows, a share of the whole batch's), the
/// sums over rows of c dH and c dH xhat are summed over the processes (one call of 2n values),
/// which gives the means over the M rows in dH_prev's formula; dgamma and dbeta are c times
/// this process's sums, which the gradient reducer adds up.
///
/// The loops (kernels/normalization.hpp) are vectorised over columns and split over columns
/// across threads, each column summed by one thread in row order: any thread count gives
/// the same bits. When the layer below offers an element-wise activation, its delta
/// dZ = dH_prev * act'(Z) is computed in the backward pass's last loop.
template <class T>
class BatchNorm final : public Layer<T> {
 public:
  BatchNorm(Index index, Index n, double momentum = entry().default_of("momentum"),
            double eps = entry().default_of("eps"));

  /// The registry's description of a batch normalisation layer.
  static const EntryInfo& entry() {
    static const EntryInfo e =
        EntryInfo("batch_norm", "BatchNorm",
                  "H = gamma (H_prev - mean) / sqrt(var + eps) + beta, the statistics of the "
                  "batch's rows in training, running ones in inference")
            .alias("batchnorm")
            .param(ParamSpec("momentum", 0.1).in(0, 1, "[]"))
            .param(ParamSpec("eps", 1e-5).above(0));
    return e;
  }

  std::string kind() const override { return "batch_norm"; }
  std::string repr() const override;
  bool has_training_behaviour() const override { return true; }
  bool uses_batch_statistics() const override { return true; }
  Index min_training_rows() const override { return 2; }
  double momentum() const { return momentum_; }
  double eps() const { return eps_; }

  MatrixView<T> gamma() { return affine_.gamma(); }                         // (1, n)
  MatrixView<T> beta() { return affine_.beta(); }                           // (1, n)
  MatrixView<T> dgamma() { return affine_.dgamma(); }                       // (1, n)
  MatrixView<T> dbeta() { return affine_.dbeta(); }                         // (1, n)
  MatrixView<T> running_mean() { return running_.view().row_range(0, 1); }  // (1, n)
  MatrixView<T> running_var() { return running_.view().row_range(1, 1); }   // (1, n)
  ConstView<T> xhat() const { return xhat_.cview(); }                       // (m, n)
  MatrixView<T> dH() { return dH_.view(); }                                 // (m, n)

 private:
  ConstView<T> forward_impl(ConstView<T> H_prev, const PassContext& ctx) override;
  ConstView<T> output_impl() const override { return H_.cview(); }
  OutputGradient<T> output_gradient_impl() override { return {dH_.view(), nullptr, {}, {}, {}}; }
  void backward_impl(ConstView<T> H_prev, Layer<T>* below, const GradientMode<T>& mode) override;
  std::vector<Parameter<T>> parameters_impl() override { return affine_.parameters(); }
  std::vector<Parameter<T>> buffers_impl() override;
  std::vector<Parameter<T>> caches_impl() override;
  void use_gradient_storage_impl(T* storage) override { affine_.use_gradient_storage(storage); }
  void reserve_impl(Index m) override;

  double momentum_, eps_;
  FeatureAffine<T> affine_;  // gamma, beta and their gradients
  Matrix<T> running_;        // [running_mean; running_var], (2, n)
  Matrix<T> xhat_, H_, dH_;  // per-batch buffers (m, n)
  bool training_ = false;    // the mode of the last forward pass
  // data-parallel, of the last training pass: the sum over the processes and the batch's
  // rows over all of them (nullptr, 0 when this process holds the whole batch)
  const SumAcrossFn* sum_across_ = nullptr;
  Index global_rows_ = 0;
  // per feature (n), allocated once: 1 / sqrt(var + eps) of the last forward pass, two
  // scratch sums over rows (the forward's mean and variance, the backward's sums) and the
  // backward's means over the batch [mean(dH); mean(dH xhat)] (2n), and the loops' per-column
  // factors in double (2n: the forward's [gamma; beta], the backward's gamma s)
  std::vector<double> inv_std_, sum_, sum2_, means_, factors_;
};

namespace registered {
inline const bool batch_norm = LayerRegistry::add(
    BatchNorm<double>::entry(),
    [](auto tag, const ParamValues& v, LayerArgs<typename decltype(tag)::type>&& a) {
      using T = typename decltype(tag)::type;
      return std::unique_ptr<Layer<T>>(
          std::make_unique<BatchNorm<T>>(a.index, a.n_in, v["momentum"], v["eps"]));
    });
}  // namespace registered

}  // namespace chainrule
