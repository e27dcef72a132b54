// The areas of the _core module, each bound by its own source file: the networks
// (network.cpp), the kernels and element-wise helpers (kernels.cpp), the registries
// (registries.cpp). module.cpp puts them together.
#pragma once

#include <pybind11/pybind11.h>

namespace chainrule::bindings {

/// Network32 and Network64: construction, parameters, forward/backward, fit, state; and
/// NetworkLock, the lock a network's Python methods take (network_lock.hpp).
void bind_networks(pybind11::module_& m);
/// The kernels submodule (matmul, kernel levels, CPU), threads and the activation helpers.
void bind_kernels(pybind11::module_& m);

}  // namespace chainrule::bindings
