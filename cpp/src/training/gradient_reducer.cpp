#include "chainrule/training/gradient_reducer.hpp"

#include <string>

#include "chainrule/error.hpp"

namespace chainrule {

template <class T>
void AllreduceReducer<T>::attach(Network<T>& net) {
  if (!allreduce_) throw ValueError("fit: data-parallel training needs an all-reduce");
  n_grads_ = net.gradient_size();
  if (storage_.data != nullptr) {
    if (storage_.size() != buffer_size(net))
      throw ValueError("fit: the reduction buffer must hold " + std::to_string(buffer_size(net)) +
                       " values, got " + std::to_string(storage_.size()));
    buffer_ = storage_.data;
  } else {
    own_.resize(1, buffer_size(net));
    buffer_ = own_.data();
  }
  net.use_gradient_storage(buffer_);  // the gradients are the buffer's first n_grads_ values
}

template <class T>
void AllreduceReducer<T>::detach(Network<T>& net) {
  net.use_gradient_storage(nullptr);
  buffer_ = nullptr;
}

// [sum_i w_i dW_i ...; sum_i w_i l_i; sum_i w_i] summed over every process in one call
template <class T>
std::pair<double, double> AllreduceReducer<T>::reduce_step(Network<T>&, double loss_sum,
                                                           double weight) {
  buffer_[n_grads_] = static_cast<T>(loss_sum);
  buffer_[n_grads_ + 1] = static_cast<T>(weight);
  allreduce_(buffer_, n_grads_ + 2);
  return {static_cast<double>(buffer_[n_grads_]), static_cast<double>(buffer_[n_grads_ + 1])};
}

template <class T>
std::pair<double, double> AllreduceReducer<T>::reduce_pair(double loss_sum, double weight) {
  T* g = buffer_ + n_grads_;
  g[0] = static_cast<T>(loss_sum);
  g[1] = static_cast<T>(weight);
  allreduce_(g, 2);
  return {static_cast<double>(g[0]), static_cast<double>(g[1])};
}

template class AllreduceReducer<float>;
template class AllreduceReducer<double>;

}  // namespace chainrule
