// Translation between numpy arrays and core matrix views. No maths.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <optional>
#include <string>

#include "chainrule/error.hpp"
#include "chainrule/tensor.hpp"

namespace chainrule::bindings {

namespace py = pybind11;

/// A C-contiguous array of T; arrays of another dtype or layout are converted by pybind11.
template <class T>
using Array = py::array_t<T, py::array::c_style | py::array::forcecast>;

/// An Array<T> argument that skips numpy's conversion call when the object already is a
/// C-contiguous ndarray of T (that call costs about a tenth of a one-row predict of the demo's
/// networks); anything else is converted as Array<T> is. The same signature in the stubs.
template <class T>
struct InputArray {
  std::optional<Array<T>> array;  // set once loaded (an empty Array<T> would allocate one)
};

/// `obj` as an Array<T> when it already is exactly what the core reads (an ndarray, not a
/// subclass, of T, C-contiguous, 2-D and not empty), else nothing: the fast path of a one-row
/// predict, which leaves every other input to the Python side's conversion and checks.
template <class T>
std::optional<Array<T>> ready_matrix(py::handle obj) {
  if (Py_TYPE(obj.ptr()) != py::detail::npy_api::get().PyArray_Type_ || !Array<T>::check_(obj))
    return std::nullopt;
  auto a = py::reinterpret_borrow<Array<T>>(obj);
  if (a.ndim() != 2 || a.size() == 0) return std::nullopt;
  return a;
}

/// A 2-D array as a view (1-D arrays of n elements are seen as (1, n)).
template <class T>
ConstView<T> as_view(const Array<T>& a, const char* name) {
  if (a.ndim() == 2) return ConstView<T>(a.data(), a.shape(0), a.shape(1));
  if (a.ndim() == 1) return ConstView<T>(a.data(), 1, a.shape(0));
  throw ValueError(std::string(name) + " must be 2-D, got " + std::to_string(a.ndim()) + "-D");
}

/// A writable, C-contiguous 1-D array of T as a (1, n) view, without a copy (the caller
/// keeps the array alive while the view is used); TypeError for any other array.
template <class T>
MatrixView<T> writable_vector(const py::object& obj, const char* name) {
  auto a = py::cast<py::array>(obj);
  if (!a.dtype().is(py::dtype::of<T>()) || !(a.flags() & py::array::c_style) || !a.writeable() ||
      a.ndim() != 1)
    throw TypeError(std::string(name) + " must be a writable, contiguous 1-D " +
                    (sizeof(T) == 4 ? "float32" : "float64") + " array");
  return MatrixView<T>(static_cast<T*>(a.mutable_data()), 1, a.shape(0));
}

/// The data of a fresh (rows,) or (rows, cols) array as a core view to write into.
template <class T>
MatrixView<T> mutable_view(py::array_t<T>& a) {
  return MatrixView<T>(a.mutable_data(), a.shape(0), a.ndim() == 2 ? a.shape(1) : 1);
}

/// A fresh (rows, cols) array holding a copy of v.
template <class T>
py::array_t<T> to_numpy(ConstView<T> v) {
  py::array_t<T> out({v.rows, v.cols});
  std::copy(v.data, v.data + v.size(), out.mutable_data());
  return out;
}

/// Copies a Python callback's result into `out`, checking type and shape.
template <class T>
void copy_result(const py::handle& result, MatrixView<T> out, const std::string& where) {
  if (result.is_none())  // (NumPy reads None as a 0-d array of NaN)
    throw TypeError(where + " returned None, expected an array of shape " + shape_str(out) +
                    " (a missing return?)");
  // a complex array would be cast to its real part, with no more than NumPy's ComplexWarning
  if (py::isinstance<py::array>(result)) {
    const py::dtype dtype = py::reinterpret_borrow<py::array>(result).dtype();
    if (dtype.kind() == 'c')
      throw TypeError(where + " must return real values, got an array of dtype " +
                      std::string(py::str(dtype)));
  }
  py::array_t<T, py::array::c_style | py::array::forcecast> arr;
  try {
    arr = py::array_t<T, py::array::c_style | py::array::forcecast>::ensure(result);
  } catch (const py::error_already_set&) {
    arr = {};
  }
  if (!arr) {
    PyErr_Clear();
    throw TypeError(where + " must return a numeric array, got " +
                    std::string(py::str(py::type::of(result).attr("__name__"))));
  }
  if (arr.ndim() != 2 || arr.shape(0) != out.rows || arr.shape(1) != out.cols) {
    std::string shape = "(";
    for (py::ssize_t d = 0; d < arr.ndim(); ++d)
      shape += (d ? ", " : "") + std::to_string(arr.shape(d));
    shape += arr.ndim() == 1 ? ",)" : ")";
    throw ValueError(where + " returned an array of shape " + shape + ", expected " +
                     shape_str(out));
  }
  std::copy(arr.data(), arr.data() + out.size(), out.data);
}

}  // namespace chainrule::bindings

namespace pybind11::detail {
template <class T>
struct type_caster<chainrule::bindings::InputArray<T>> {
  using Arr = chainrule::bindings::Array<T>;
  PYBIND11_TYPE_CASTER(chainrule::bindings::InputArray<T>, handle_type_name<Arr>::name);
  bool load(handle src, bool convert) {
    if (Arr::check_(src)) {  // already what the core reads: borrow it
      value.array.emplace(reinterpret_borrow<Arr>(src));
      return true;
    }
    make_caster<Arr> other;
    if (!other.load(src, convert)) return false;
    value.array.emplace(cast_op<Arr&&>(std::move(other)));
    return true;
  }
  static handle cast(const chainrule::bindings::InputArray<T>& v, return_value_policy, handle) {
    return v.array ? v.array->inc_ref() : none().release();
  }
};
}  // namespace pybind11::detail
