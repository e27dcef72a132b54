// PYBIND11_MODULE(_core): argument conversion, GIL release, exception mapping. No maths.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "chainrule/activation.hpp"
#include "chainrule/error.hpp"
#include "chainrule/kernels/cpu.hpp"
#include "chainrule/kernels/gemm.hpp"
#include "chainrule/kernels/thread_pool.hpp"
#include "chainrule/loss.hpp"
#include "chainrule/metric.hpp"
#include "chainrule/network.hpp"
#include "chainrule/optimizer.hpp"
#include "chainrule/schedule.hpp"
#include "chainrule/training/gradient_reducer.hpp"
#include "chainrule/training/trainer.hpp"
#include "numpy_views.hpp"
#include "python_callbacks.hpp"
#include "registries.hpp"

namespace py = pybind11;
using namespace chainrule;
using chainrule::bindings::Array;
using chainrule::bindings::as_view;
using chainrule::bindings::writable_vector;
using chainrule::bindings::to_numpy;

namespace {

using Params = std::vector<std::pair<std::string, double>>;

Params to_params(const py::dict& d) {
  Params p;
  for (auto item : d) p.emplace_back(py::cast<std::string>(item.first), py::cast<double>(item.second));
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

/// An optimizer spec from Python: (name, {hyper-parameter: value}).
template <class T>
std::unique_ptr<Optimizer<T>> make_optimizer_from_spec(const py::tuple& spec) {
  return make_optimizer<T>(py::cast<std::string>(spec[0]), to_params(py::cast<py::dict>(spec[1])));
}

template <class T>
ConstView<T> optional_view(const std::optional<Array<T>>& a, const char* name) {
  return a ? as_view(*a, name) : ConstView<T>();
}

/// The arguments of a fit call as the core takes them; owns the schedule.
template <class T>
struct FitCall {
  FitData<T> data;
  FitOptions opts;
  std::unique_ptr<LRSchedule> schedule;

  FitCall(const Array<T>& X, const Array<T>& Y, Index epochs, double lr, Index batch_size,
          bool shuffle, const std::optional<Array<T>>& sample_weight,
          const std::optional<Array<T>>& X_val, const std::optional<Array<T>>& Y_val,
          const std::optional<Array<T>>& val_weight, const py::object& schedule_spec,
          const std::vector<std::string>& metrics) {
    opts.epochs = epochs;
    opts.lr = lr;
    opts.batch_size = batch_size;
    opts.shuffle = shuffle;
    opts.metrics = metrics;
    if (!schedule_spec.is_none()) {  // (name, {hyper-parameter: value})
      const auto spec = py::cast<py::tuple>(schedule_spec);
      schedule = make_schedule(py::cast<std::string>(spec[0]), to_params(py::cast<py::dict>(spec[1])));
      opts.schedule = schedule.get();
    }
    data.X = as_view(X, "X");
    data.Y = as_view(Y, "Y");
    data.sample_weight = optional_view(sample_weight, "sample_weight");
    data.X_val = optional_view(X_val, "validation X");
    data.Y_val = optional_view(Y_val, "validation Y");
    data.val_weight = optional_view(val_weight, "validation sample_weight");
  }
};

/// The all-reduce hook of a data-parallel fit: calls fn(a) with a numpy view `a` of the
/// buffer (no copy), which fn sums over every process in place (mpi4py's Allreduce). The view
/// is made once per buffer, so a step creates no Python objects beyond the call.
template <class T>
AllreduceFn<T> python_allreduce(py::object fn) {
  struct Cache {
    T* data = nullptr;
    Index n = -1;
    py::object array;
  };
  // deleted with the GIL held, as it holds a Python object
  auto cache = std::shared_ptr<Cache>(new Cache, [](Cache* c) {
    py::gil_scoped_acquire gil;
    delete c;
  });
  return [fn, cache](T* data, Index n) {
    py::gil_scoped_acquire gil;
    if (cache->data != data || cache->n != n) {
      const py::capsule no_owner(data, [](void*) {});  // the network owns the buffer
      cache->array = py::array_t<T>({n}, {static_cast<py::ssize_t>(sizeof(T))}, data, no_owner);
      cache->data = data;
      cache->n = n;
    }
    fn(cache->array);
  };
}

/// The metric sums of a data-parallel fit: calls fn(a) with a float64 numpy view `a` of the
/// values, which fn sums over every process in place.
SumAcrossFn python_sum_across(py::object fn) {
  auto holder = std::shared_ptr<py::object>(new py::object(std::move(fn)), [](py::object* o) {
    py::gil_scoped_acquire gil;
    delete o;
  });
  return [holder](double* data, Index n) {
    py::gil_scoped_acquire gil;
    const py::capsule no_owner(data, [](void*) {});  // the metric owns the values
    (*holder)(py::array_t<double>({n}, {static_cast<py::ssize_t>(sizeof(double))}, data, no_owner));
  };
}

template <class T>
MatrixView<T> mutable_view(py::array_t<T>& a) {
  return MatrixView<T>(a.mutable_data(), a.shape(0), a.ndim() == 2 ? a.shape(1) : 1);
}

/// A live numpy view of a parameter; `owner` (the Python network) is kept alive by it.
template <class T>
py::array_t<T> live_view(MatrixView<T> p, const py::handle& owner, bool as_vector) {
  if (as_vector) return py::array_t<T>({p.size()}, {static_cast<py::ssize_t>(sizeof(T))}, p.data, owner);
  return py::array_t<T>({p.rows, p.cols},
                        {static_cast<py::ssize_t>(p.cols * sizeof(T)), static_cast<py::ssize_t>(sizeof(T))},
                        p.data, owner);
}

/// Before each batch. Ctrl-C: at most every 20 ms, take the GIL and let Python run its signal
/// handlers; a KeyboardInterrupt raised there unwinds the training loop at a batch boundary.
/// Progress: when `on_progress` is given, call on_progress(epoch, rows_done, rows) at most
/// every 250 ms, so a progress bar moves within long epochs.
std::function<void(Index, Index, Index)> batch_poll(py::object on_progress) {
  using clock = std::chrono::steady_clock;
  struct Times { clock::time_point signals, progress; };
  auto last = std::make_shared<Times>(Times{clock::now(), clock::now()});
  return [last, on_progress](Index epoch, Index done, Index rows) {
    const auto now = clock::now();
    if (now - last->signals < std::chrono::milliseconds(20)) return;
    last->signals = now;
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    if (!on_progress.is_none() && now - last->progress >= std::chrono::milliseconds(250)) {
      last->progress = now;
      on_progress(epoch, done, rows);
    }
  };
}

template <class T>
void bind_network(py::module_& m, const char* cls) {
  using Net = Network<T>;
  py::class_<Net>(m, cls)
      .def(py::init([](const std::vector<Index>& sizes, const std::vector<py::tuple>& act_specs,
                       const py::tuple& loss_spec, const py::tuple& optimizer_spec) {
             std::vector<std::unique_ptr<Activation<T>>> acts;
             for (const auto& s : act_specs) acts.push_back(make_activation_from_spec<T>(s));
             return std::make_unique<Net>(sizes, std::move(acts), make_loss_from_spec<T>(loss_spec),
                                          make_optimizer_from_spec<T>(optimizer_spec));
           }),
           py::arg("sizes"), py::arg("activations"), py::arg("loss"), py::arg("optimizer"))
      .def("set_optimizer", [](Net& n, const py::tuple& spec) {
        n.set_optimizer(make_optimizer_from_spec<T>(spec));
      })
      .def_property_readonly("optimizer_repr", [](const Net& n) { return n.optimizer().repr(); })
      .def_property_readonly("fuses_into_backward", [](const Net& n) { return n.optimizer().fuses_into_backward(); })
      // (step, [(buffer name, [one array per W1, b1, W2, ... shaped like it])])
      .def("get_optimizer_state", [](const Net& n) {
        const Optimizer<T>& opt = n.optimizer();
        py::list buffers;
        for (std::size_t k = 0; k < opt.buffer_names().size(); ++k) {
          py::list arrays;
          for (Index s = 0; s < opt.num_slots(); ++s) {
            const Parameter<T>& p = n.parameters()[static_cast<std::size_t>(s)];
            py::array_t<T> a = to_numpy<T>(opt.buffer(k, s));
            arrays.append(p.vector ? a.reshape({p.value.size()})
                                   : a.reshape({p.value.rows, p.value.cols}));
          }
          buffers.append(py::make_tuple(opt.buffer_names()[k], arrays));
        }
        return py::make_tuple(opt.step_count(), buffers);
      })
      .def("set_optimizer_state",
           [](Net& n, Index step, const std::vector<std::pair<std::string, std::vector<Array<T>>>>& given) {
             std::vector<std::pair<std::string, std::vector<ConstView<T>>>> views;
             for (const auto& [name, arrays] : given) {
               std::vector<ConstView<T>> v;
               for (const auto& a : arrays) v.push_back(as_view(a, name.c_str()));
               views.emplace_back(name, std::move(v));
             }
             n.set_optimizer_state(step, views);
           })
      .def_property_readonly("n_layers", &Net::num_layers)
      .def_property_readonly("n_inputs", &Net::n_inputs)
      .def_property_readonly("n_outputs", &Net::n_outputs)
      .def("layer_shape", [](const Net& n, Index l) {
        return py::make_tuple(n.layer(l).n_in(), n.layer(l).n_out());
      })
      // Whether array `a`'s memory overlaps the parameters (its extent from data, shape and
      // strides); the facade copies such data before training on it.
      .def("aliases_parameters", [](const Net& n, const py::array& a) {
        if (a.size() == 0) return false;
        auto lo = reinterpret_cast<std::uintptr_t>(a.data());
        auto hi = lo;
        for (py::ssize_t d = 0; d < a.ndim(); ++d) {
          const auto reach = static_cast<std::uintptr_t>(std::abs(a.strides(d)) * (a.shape(d) - 1));
          if (a.strides(d) < 0) lo -= reach; else hi += reach;
        }
        hi += static_cast<std::uintptr_t>(a.itemsize());
        return n.overlaps_parameters(reinterpret_cast<const void*>(lo),
                                     reinterpret_cast<const void*>(hi));
      })
      // The named parameter list: names in order (W1, b1, W2, ...) and live views.
      .def("parameter_names", [](const Net& n) {
        std::vector<std::string> names;
        for (const Parameter<T>& p : n.parameters()) names.push_back(p.name);
        return names;
      })
      .def("parameter", [](py::object self, Index k) {
        const auto& params = self.cast<const Net&>().parameters();
        if (k < 0 || k >= static_cast<Index>(params.size()))
          throw py::index_error("parameter index " + std::to_string(k) + " out of range");
        const Parameter<T>& p = params[static_cast<std::size_t>(k)];
        return live_view<T>(p.value, self, p.vector);
      })
      .def("weight", [](py::object self, Index l) {
        return live_view<T>(self.cast<Net&>().dense(l).W(), self, false);
      })
      .def("bias", [](py::object self, Index l) {
        return live_view<T>(self.cast<Net&>().dense(l).b(), self, true);
      })
      // Copies of the last backward pass's buffers.
      .def("grad_weight", [](Net& n, Index l) { return to_numpy<T>(n.dense(l).dW()); })
      .def("grad_bias", [](Net& n, Index l) {
        auto a = to_numpy<T>(n.dense(l).db());
        return a.reshape({n.layer(l).n_out()});
      })
      .def("delta", [](Net& n, Index l) { return to_numpy<T>(n.dense(l).dZ()); })
      .def("forward", [](Net& n, const Array<T>& X) {
        ConstView<T> out;
        {
          py::gil_scoped_release nogil;
          out = n.forward(as_view(X, "X"));
        }
        return to_numpy<T>(out);
      })
      .def("backward", [](Net& n, const Array<T>& Y) {
        py::gil_scoped_release nogil;
        return n.backward(as_view(Y, "Y"));
      })
      .def("predict", [](Net& n, const Array<T>& X) {
        const ConstView<T> x = as_view(X, "X");
        py::array_t<T> out({x.rows, n.n_outputs()});
        MatrixView<T> o = mutable_view(out);
        py::gil_scoped_release nogil;
        n.predict(x, o);
        return out;
      })
      .def("loss", [](Net& n, const Array<T>& X, const Array<T>& Y) {
        py::gil_scoped_release nogil;
        return n.loss_value(as_view(X, "X"), as_view(Y, "Y"));
      })
      .def("gradients", [](Net& n, const Array<T>& X, const Array<T>& Y) {
        py::gil_scoped_release nogil;
        return n.compute_gradients(as_view(X, "X"), as_view(Y, "Y"));
      })
      .def("step", [](Net& n, double lr) { n.step(lr); }, py::arg("lr"))
      .def("step_with", [](Net& n, const std::vector<Array<T>>& dW, const std::vector<Array<T>>& db,
                           double lr) {
        std::vector<ConstView<T>> w, b;
        for (const auto& a : dW) w.push_back(as_view(a, "dW"));
        for (const auto& a : db) b.push_back(as_view(a, "db"));
        n.step(w, b, lr);
      })
      .def("check_fit",
           [](Net& n, const Array<T>& X, const Array<T>& Y, Index epochs, double lr,
              Index batch_size, const std::optional<Array<T>>& sample_weight,
              const std::optional<Array<T>>& X_val, const std::optional<Array<T>>& Y_val,
              const std::optional<Array<T>>& val_weight, py::object schedule_spec,
              const std::vector<std::string>& metrics) {
             FitCall<T> call(X, Y, epochs, lr, batch_size, false, sample_weight, X_val, Y_val,
                             val_weight, schedule_spec, metrics);
             check_fit(n, call.data, call.opts);
           })
      // Returns (loss, val_loss, lr, metrics, val_metrics), one entry per epoch run.
      .def("fit",
           [](Net& n, const Array<T>& X, const Array<T>& Y, Index epochs, double lr,
              Index batch_size, py::object permutation, py::object on_epoch_end,
              const std::optional<Array<T>>& sample_weight, const std::optional<Array<T>>& X_val,
              const std::optional<Array<T>>& Y_val, const std::optional<Array<T>>& val_weight,
              py::object schedule_spec, const std::vector<std::string>& metrics,
              py::object allreduce, Index global_rows, Index row_offset, py::object sum_across,
              py::object on_progress, py::object reduce_buffer) {
             // data-parallel: the permutation orders the global rows and is always given
             const bool shuffle = !permutation.is_none() && allreduce.is_none();
             FitCall<T> call(X, Y, epochs, lr, batch_size, shuffle, sample_weight,
                             X_val, Y_val, val_weight, schedule_spec, metrics);
             call.opts.global_rows = global_rows;
             call.opts.row_offset = row_offset;
             FitHooks hooks;
             hooks.poll = batch_poll(on_progress);
             // data-parallel: the all-reduce (and the metrics' sums) in a reducer, over the
             // caller's buffer (a shared-memory window) or one of the reducer's own
             std::unique_ptr<AllreduceReducer<T>> reducer;
             if (!allreduce.is_none())
               reducer = std::make_unique<AllreduceReducer<T>>(
                   python_allreduce<T>(allreduce),
                   sum_across.is_none() ? SumAcrossFn() : python_sum_across(sum_across),
                   reduce_buffer.is_none() ? MatrixView<T>()
                                           : writable_vector<T>(reduce_buffer, "reduce_buffer"));
             if (!permutation.is_none()) {
               hooks.permutation = [permutation](Index epoch, Index count, Index* perm) {
                 py::gil_scoped_acquire gil;
                 auto p = py::array_t<Index, py::array::c_style | py::array::forcecast>::ensure(
                     permutation(epoch));
                 if (!p || p.size() != count)
                   throw ValueError("fit: the permutation of epoch " + std::to_string(epoch) +
                                    " must have " + std::to_string(count) + " integers");
                 std::copy(p.data(), p.data() + count, perm);
               };
             }
             if (!on_epoch_end.is_none()) {
               // on_epoch_end(epoch, loss, val_loss, lr, metrics, val_metrics) -> bool
               hooks.on_epoch_end = [on_epoch_end](Index epoch, const EpochLogs& logs) {
                 py::gil_scoped_acquire gil;
                 py::object r = on_epoch_end(epoch, logs.loss, logs.val_loss, logs.lr,
                                             py::tuple(py::cast(logs.metrics)),
                                             py::tuple(py::cast(logs.val_metrics)));
                 return r.is_none() || r.cast<bool>();
               };
             }
             FitResult r;
             {
               py::gil_scoped_release nogil;
               r = fit(n, call.data, call.opts, hooks, reducer.get());
             }
             return py::make_tuple(r.loss, r.val_loss, r.lr, r.metrics, r.val_metrics);
           },
           py::arg("X"), py::arg("Y"), py::arg("epochs"), py::arg("lr"), py::arg("batch_size"),
           py::arg("permutation"), py::arg("on_epoch_end"), py::arg("sample_weight"),
           py::arg("X_val"), py::arg("Y_val"), py::arg("val_weight"), py::arg("schedule"),
           py::arg("metrics"), py::arg("allreduce") = py::none(), py::arg("global_rows") = 0,
           py::arg("row_offset") = 0, py::arg("sum_across") = py::none(),
           py::arg("on_progress") = py::none(), py::arg("reduce_buffer") = py::none())
      // The values a data-parallel step sums: the gradients, the loss sum and the weight.
      .def("reduction_buffer_size", &AllreduceReducer<T>::buffer_size)
      .def("gradient_check", [](Net& n, const Array<T>& X, const Array<T>& Y, double eps) {
        py::gil_scoped_release nogil;
        return n.gradient_check(as_view(X, "X"), as_view(Y, "Y"), eps);
      });
}

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

PYBIND11_MODULE(_core, m) {
  m.doc() = "chainrule's C++ core";
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const chainrule::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    }
  });
  py::register_exception<DivergenceError>(m, "DivergenceError", PyExc_FloatingPointError);
  bind_network<float>(m, "Network32");
  bind_network<double>(m, "Network64");
  bindings::bind_registries(m);
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
        return matmul<double>(A.cast<Array<double>>(), B.cast<Array<double>>(), trans_a,
                              trans_b);
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
  m.def("set_num_threads", &kernels::set_num_threads, py::arg("n"));
  m.def("get_num_threads", &kernels::get_num_threads);
  m.def("activation_forward64", &activation_forward<double>);
  m.def("activation_forward32", &activation_forward<float>);
  m.def("activation_backward64", &activation_backward<double>);
  m.def("activation_backward32", &activation_backward<float>);
}
