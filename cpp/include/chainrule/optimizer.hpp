// The parameter update rule. Plain SGD is the derivation's `W -= lr * dW`; stateful
// optimizers (momentum, Adam, ...) plug in behind the same interface.
#pragma once

#include <memory>
#include <string>

#include "chainrule/kernels/elementwise.hpp"
#include "chainrule/tensor.hpp"

namespace chainrule {

/// Updates one parameter tensor at a time from its gradient.
template <class T>
class Optimizer {
 public:
  virtual ~Optimizer() = default;

  /// p (n,) -= update(g (n,), lr). `slot` numbers the parameter tensors of a network
  /// (W1, b1, W2, b2, ...) so a stateful optimizer can keep state per tensor.
  void update(Index slot, Index n, T lr, const T* g, T* p) { update_impl(slot, n, lr, g, p); }

  /// The factory name ("sgd").
  virtual std::string name() const = 0;

  /// True for the derivation's plain update p -= lr * g and nothing else (no state, no decay):
  /// the training loop may then apply it inside the gradient GEMM without keeping g.
  virtual bool is_plain_sgd() const { return false; }

 private:
  virtual void update_impl(Index slot, Index n, T lr, const T* g, T* p) = 0;
};

/// Plain stochastic gradient descent: p -= lr * g.
template <class T>
class SGD : public Optimizer<T> {
 public:
  std::string name() const override { return "sgd"; }
  bool is_plain_sgd() const override { return true; }

 private:
  void update_impl(Index, Index n, T lr, const T* g, T* p) override {
    kernels::axpy_update(n, lr, g, p);
  }
};

}  // namespace chainrule
