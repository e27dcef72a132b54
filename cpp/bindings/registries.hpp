// The registries' bindings (registries.cpp), called from PYBIND11_MODULE in module.cpp.
#pragma once

#include <pybind11/pybind11.h>

namespace chainrule::bindings {

/// Adds registry_entries, registry_names, registry_lookup, registry_check and
/// registry_check_value to the module.
void bind_registries(pybind11::module_& m);

}  // namespace chainrule::bindings
