// The kernels submodule (matmul, kernel levels, CPU description), the thread count, check_lr
// and the element-wise activation helpers built-in activation objects call. No maths.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "areas.hpp"
#include "chainrule/activation.hpp"
#include "chainrule/kernels/cpu.hpp"
#include "chainrule/kernels/gemm.hpp"
#include "chainrule/kernels/small_step.hpp"
#include "chainrule/kernels/thread_pool.hpp"
#include "chainrule/network.hpp"
#include "numpy_views.hpp"
#include "specs.hpp"

namespace py = pybind11;
using namespace chainrule;
using chainrule::bindings::Array;
using chainrule::bindings::as_view;
using chainrule::bindings::to_numpy;
using chainrule::bindings::to_params;

namespace {

template <class T>
py::array_t<T> activation_forward(const std::string& name, const py::dict& params,
                                  const Array<T>& Z) {
  auto act = make_activation<T>(name, to_params(params));
  const ConstView<T> z = as_view(Z, "z");
  py::array_t<T> H(std::vector<py::ssize_t>(Z.shape(), Z.shape() + Z.ndim()));
  act->forward(z, MatrixView<T>(H.mutable_data(), z.rows, z.cols));
  return H;
}

template <class T>
py::array_t<T> activation_backward(const std::string& name, const py::dict& params,
                                   const Array<T>& Z, const Array<T>& H, const Array<T>& dH) {
  auto act = make_activation<T>(name, to_params(params));
  const ConstView<T> z = as_view(Z, "z"), h = as_view(H, "h"), g = as_view(dH, "dh");
  py::array_t<T> dZ(std::vector<py::ssize_t>(Z.shape(), Z.shape() + Z.ndim()));
  act->backward(z, h, g, MatrixView<T>(dZ.mutable_data(), z.rows, z.cols));
  return dZ;
}

/// op(A) @ op(B) through the core's GEMM kernels (for benchmarks and kernel tests).
template <class T>
py::array_t<T> matmul(const Array<T>& A, const Array<T>& B, bool trans_a, bool trans_b) {
  const ConstView<T> a = as_view(A, "A"), b = as_view(B, "B");
  const Index m = trans_a ? a.cols : a.rows, k = trans_a ? a.rows : a.cols;
  const Index kb = trans_b ? b.cols : b.rows, n = trans_b ? b.rows : b.cols;
  if (k != kb)
    throw ValueError("matmul: inner dimensions differ: op(A) is " + shape_str(m, k) +
                     ", op(B) is " + shape_str(kb, n));
  if (trans_a && trans_b) throw ValueError("matmul: TT is not a kernel of the core");
  py::array_t<T> C({m, n});
  T* c = C.mutable_data();
  py::gil_scoped_release nogil;
  if (trans_a)
    kernels::gemm_tn<T>(m, n, k, T(1), a.data, a.cols, b.data, b.cols, T(0), c, n);
  else if (trans_b)
    kernels::gemm_nt<T>(m, n, k, T(1), a.data, a.cols, b.data, b.cols, T(0), c, n);
  else
    kernels::gemm_nn<T>(m, n, k, T(1), a.data, a.cols, b.data, b.cols, T(0), c, n);
  return C;
}

}  // namespace

void chainrule::bindings::bind_kernels(py::module_& m) {
  m.def("check_lr", &check_lr, py::arg("lr"));
  py::module_ k = m.def_submodule("kernels", "the core's GEMM kernels, for tests and benchmarks");
  // Two float32 arrays stay float32, anything else is converted to float64. One entry point
  // that looks at the dtypes, not two overloads: a failed overload costs a float64 call
  // 0.2-0.4 us (a 64^3 product takes 5).
  k.def(
      "matmul",
      [](const py::object& A, const py::object& B, bool trans_a, bool trans_b) -> py::object {
        using F32 = py::array_t<float>;
        if (py::isinstance<F32>(A) && py::isinstance<F32>(B))
          return matmul<float>(A.cast<Array<float>>(), B.cast<Array<float>>(), trans_a, trans_b);
        return matmul<double>(A.cast<Array<double>>(), B.cast<Array<double>>(), trans_a, trans_b);
      },
      py::arg("A"), py::arg("B"), py::arg("trans_a") = false, py::arg("trans_b") = false);
  k.def("set_kernel_level", &kernels::set_kernel_level, py::arg("level"),
        "Force 'portable', 'avx2' or 'avx512' (for tests and benchmarks).");
  k.def("active_level", [] { return std::string(kernels::level_name(kernels::active_level())); });
  k.def("supported_levels", [] {
    std::vector<std::string> names;
    for (auto l : kernels::supported_levels()) names.emplace_back(kernels::level_name(l));
    return names;
  });
  k.def("cpu_description", &kernels::cpu_description);
  k.def("set_small_step_enabled", &kernels::set_small_step_enabled, py::arg("enabled"),
        "Allow (True) or forbid (False) the fused small-network training step.");
  k.def("small_step_enabled", &kernels::small_step_enabled);
  m.def("set_num_threads", &kernels::set_num_threads, py::arg("n"));
  m.def("thread_pool_stats", [] {
    const kernels::PoolStats s = kernels::pool_stats();
    py::dict d;
    d["jobs"] = s.jobs;
    d["worker_parts"] = s.worker_parts;
    d["worker_parts_run_by_caller"] = s.parts_run_by_caller;
    return d;
  });
  m.def("get_num_threads", &kernels::get_num_threads);
  m.def("activation_forward64", &activation_forward<double>, py::arg("name"), py::arg("params"),
        py::arg("Z"));
  m.def("activation_forward32", &activation_forward<float>, py::arg("name"), py::arg("params"),
        py::arg("Z"));
  m.def("activation_backward64", &activation_backward<double>, py::arg("name"), py::arg("params"),
        py::arg("Z"), py::arg("H"), py::arg("dH"));
  m.def("activation_backward32", &activation_backward<float>, py::arg("name"), py::arg("params"),
        py::arg("Z"), py::arg("H"), py::arg("dH"));
}
