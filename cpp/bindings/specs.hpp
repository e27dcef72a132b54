// The specs Python sends for activations, losses and optimizers ((name, parameters, Python
// object or None, ...)), turned into core objects: built-ins from their registry, Python
// subclasses wrapped behind the abstract interfaces. No maths.
#pragma once

#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chainrule/activation.hpp"
#include "chainrule/layer.hpp"
#include "chainrule/loss.hpp"
#include "chainrule/optimizer.hpp"
#include "python_callbacks.hpp"

namespace chainrule::bindings {

namespace py = pybind11;

using Params = std::vector<std::pair<std::string, double>>;

inline Params to_params(const py::dict& d) {
  Params p;
  for (auto item : d)
    p.emplace_back(py::cast<std::string>(item.first), py::cast<double>(item.second));
  return p;
}

/// An activation spec from Python: (name, params, python_object_or_None, repr, has_backward).
template <class T>
std::unique_ptr<Activation<T>> make_activation_from_spec(const py::tuple& spec) {
  const auto name = py::cast<std::string>(spec[0]);
  py::object obj = spec[2];
  if (obj.is_none()) return make_activation<T>(name, to_params(py::cast<py::dict>(spec[1])));
  return bindings::python_activation<T>(obj, name, py::cast<std::string>(spec[3]),
                                        py::cast<bool>(spec[4]));
}

/// A loss spec from Python: (name, python_object_or_None, repr, params).
template <class T>
std::unique_ptr<Loss<T>> make_loss_from_spec(const py::tuple& spec) {
  const auto name = py::cast<std::string>(spec[0]);
  py::object obj = spec[1];
  if (obj.is_none()) return make_loss<T>(name, to_params(py::cast<py::dict>(spec[3])));
  return bindings::python_loss<T>(obj, name, py::cast<std::string>(spec[2]));
}

/// A layer spec from Python: (kind, {parameter: value}, activation spec or None).
template <class T>
LayerSpec<T> make_layer_spec(const py::tuple& spec) {
  LayerSpec<T> out;
  out.kind = py::cast<std::string>(spec[0]);
  out.params = to_params(py::cast<py::dict>(spec[1]));
  if (!spec[2].is_none())
    out.activation = make_activation_from_spec<T>(py::cast<py::tuple>(spec[2]));
  return out;
}

/// An optimizer spec from Python: (name, {hyper-parameter: value}).
template <class T>
std::unique_ptr<Optimizer<T>> make_optimizer_from_spec(const py::tuple& spec) {
  return make_optimizer<T>(py::cast<std::string>(spec[0]), to_params(py::cast<py::dict>(spec[1])));
}

}  // namespace chainrule::bindings
