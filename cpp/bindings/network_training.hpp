// The training half of Network32 / Network64's bindings (network_training.cpp), added to the
// class that network.cpp binds.
#pragma once

#include <pybind11/pybind11.h>

#include "chainrule/network.hpp"

namespace chainrule::bindings {

/// Adds check_fit, check_batches, fit, diagnose, evaluate, one_hot, class_sample_weight,
/// reduction_buffer_size and gradient_check to the class of Network<T>.
template <class T>
void bind_network_training(pybind11::class_<Network<T>>& c);

extern template void bind_network_training<float>(pybind11::class_<Network<float>>&);
extern template void bind_network_training<double>(pybind11::class_<Network<double>>&);

}  // namespace chainrule::bindings
