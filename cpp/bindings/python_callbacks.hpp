// Core callback activations and losses that call methods of Python objects (subclasses of
// chainrule.Activation and chainrule.Loss). Each call takes the GIL, hands the method fresh
// numpy copies (so Python can keep them safely), and copies the result back. No maths.
#pragma once

#include <memory>
#include <string>

#include "chainrule/activations/callback.hpp"
#include "chainrule/losses/callback.hpp"
#include "numpy_views.hpp"

namespace chainrule::bindings {

template <class T>
std::unique_ptr<Activation<T>> python_activation(py::object obj, const std::string& name,
                                                 const std::string& repr, bool has_backward) {
  // shared_ptr so that the last reference is dropped with the GIL held
  auto holder = std::shared_ptr<py::object>(new py::object(std::move(obj)), [](py::object* p) {
    py::gil_scoped_acquire gil;
    delete p;
  });
  typename CallbackActivation<T>::ForwardFn forward = [holder, repr](ConstView<T> Z,
                                                                     MatrixView<T> H) {
    py::gil_scoped_acquire gil;
    py::object r = holder->attr("forward")(to_numpy(Z));
    copy_result(r, H, repr + ".forward");
  };
  typename CallbackActivation<T>::DerivativeFn derivative;
  typename CallbackActivation<T>::BackwardFn backward;
  if (has_backward) {
    backward = [holder, repr](ConstView<T> Z, ConstView<T> H, ConstView<T> dH, MatrixView<T> dZ) {
      py::gil_scoped_acquire gil;
      py::object r = holder->attr("backward")(to_numpy(Z), to_numpy(H), to_numpy(dH));
      copy_result(r, dZ, repr + ".backward");
    };
  } else {
    derivative = [holder, repr](ConstView<T> Z, ConstView<T> H, MatrixView<T> D) {
      py::gil_scoped_acquire gil;
      py::object r = holder->attr("derivative")(to_numpy(Z), to_numpy(H));
      copy_result(r, D, repr + ".derivative");
    };
  }
  return std::make_unique<CallbackActivation<T>>(name, repr, std::move(forward),
                                                 std::move(derivative), std::move(backward));
}

template <class T>
std::unique_ptr<Loss<T>> python_loss(py::object obj, const std::string& name,
                                     const std::string& repr) {
  auto holder = std::shared_ptr<py::object>(new py::object(std::move(obj)), [](py::object* p) {
    py::gil_scoped_acquire gil;
    delete p;
  });
  typename CallbackLoss<T>::ValueFn value = [holder, repr](ConstView<T> H, ConstView<T> Y) {
    py::gil_scoped_acquire gil;
    py::object r = holder->attr("value")(to_numpy(H), to_numpy(Y));
    try {
      return r.cast<double>();
    } catch (const py::cast_error&) {
      throw TypeError(repr + ".value must return a number, got " +
                      std::string(py::str(py::type::of(r).attr("__name__"))));
    }
  };
  typename CallbackLoss<T>::GradientFn gradient = [holder, repr](ConstView<T> H, ConstView<T> Y,
                                                                 MatrixView<T> dH) {
    py::gil_scoped_acquire gil;
    py::object r = holder->attr("gradient")(to_numpy(H), to_numpy(Y));
    copy_result(r, dH, repr + ".gradient");
  };
  return std::make_unique<CallbackLoss<T>>(name, repr, std::move(value), std::move(gradient));
}

}  // namespace chainrule::bindings
