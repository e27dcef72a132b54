// Network::gradient_check: backpropagation against central finite differences of the loss,
// one parameter value at a time (the parameters are restored exactly).
#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "chainrule/error.hpp"
#include "chainrule/network.hpp"

namespace chainrule {

template <class T>
std::vector<double> Network<T>::gradient_check(ConstView<T> X, ConstView<T> Y, double eps,
                                               const std::function<void()>& poll) {
  check_XY(X, Y, "gradient_check");
  if (!(std::isfinite(eps) && eps > 0))
    throw ValueError("gradient_check: eps must be a finite number > 0, got " + shortest_repr(eps));
  // one training pass (no running statistics updated), evaluated again for every
  // perturbation with the same draws: those of the next training pass, since the count of
  // passes goes back afterwards (a check leaves the dropout stream where it was)
  forward_rows_ = -1;
  const PassesBack passes_back(*this);  // however the check ends (an extension's exception too)
  begin_training_pass(/*update_statistics=*/false);
  forward_pass(X);
  backward_pass(X, Y);
  const std::vector<Parameter<T>>& params = parameters();
  std::vector<Matrix<T>> analytic;  // dW1, db1, dW2, db2, ...
  for (const Parameter<T>& p : params) {
    Matrix<T> copy(p.grad.rows, p.grad.cols);
    std::copy(p.grad.data, p.grad.data + p.grad.size(), copy.data());
    analytic.push_back(std::move(copy));
  }
  std::vector<double> errors;
  for (std::size_t t = 0; t < analytic.size(); ++t) {
    MatrixView<T> p = params[t].value;
    double diff2 = 0, a2 = 0, n2 = 0;
    for (Index i = 0; i < p.size(); ++i) {
      const T saved = p.data[i];
      T up, down;
      double lp, lm;
      try {  // the parameter goes back even if a pass raises (a user's activation)
        p.data[i] = static_cast<T>(saved + eps);
        up = p.data[i];
        lp = loss_of_forward(X, Y);
        p.data[i] = static_cast<T>(saved - eps);
        down = p.data[i];
        lm = loss_of_forward(X, Y);
      } catch (...) {
        p.data[i] = saved;
        throw;
      }
      p.data[i] = saved;
      if (poll) poll();  // (the parameter is back: a stop here leaves the network as it was)
      // dL/dp ~ (L(p + eps) - L(p - eps)) / (2 eps), with the step actually taken in T
      const double numeric = (lp - lm) / (static_cast<double>(up) - static_cast<double>(down));
      const double a = analytic[t].data()[i];
      diff2 += (a - numeric) * (a - numeric);
      a2 += a * a;
      n2 += numeric * numeric;
    }
    const double denom = std::sqrt(a2) + std::sqrt(n2);
    errors.push_back(denom == 0 ? 0.0 : std::sqrt(diff2) / denom);
  }
  // The perturbed passes above only ran forward: dW, db and dZ still hold the backprop
  // gradients of (X, Y), and the Z/H caches are not offered to backward().
  forward_rows_ = -1;
  grads_ready_ = true;
  return errors;
}

template std::vector<double> Network<float>::gradient_check(ConstView<float>, ConstView<float>,
                                                            double, const std::function<void()>&);
template std::vector<double> Network<double>::gradient_check(ConstView<double>, ConstView<double>,
                                                             double, const std::function<void()>&);

}  // namespace chainrule
