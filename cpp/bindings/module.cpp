// PYBIND11_MODULE(_core): the exception mapping, then each area bound by its own file
// (areas.hpp). Argument conversion, GIL release, exception mapping only; no maths.
#include <pybind11/pybind11.h>

#include <exception>

#include "areas.hpp"
#include "chainrule/error.hpp"
#include "registries.hpp"

namespace py = pybind11;
using namespace chainrule;

PYBIND11_MODULE(_core, m) {
  m.doc() = "chainrule's C++ core";
  // pyproject.toml's version, passed by CMakeLists.txt (chainrule.__version__ reads it)
  m.attr("__version__") = CHAINRULE_VERSION;
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const chainrule::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    }
  });
  py::register_exception<DivergenceError>(m, "DivergenceError", PyExc_FloatingPointError);
  bindings::bind_networks(m);
  bindings::bind_registries(m);
  bindings::bind_kernels(m);
}
