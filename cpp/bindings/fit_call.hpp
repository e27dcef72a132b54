// A fit call from Python as the core's Trainer takes it: the data as views (no copy), the
// options and the schedule, and the hooks that call back into Python (the permutation, the
// epoch callback, Ctrl-C and progress, the data-parallel all-reduce). No maths.
#pragma once

#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "chainrule/error.hpp"
#include "chainrule/metric.hpp"
#include "chainrule/schedule.hpp"
#include "chainrule/training/fit.hpp"
#include "chainrule/training/gradient_reducer.hpp"
#include "numpy_views.hpp"
#include "specs.hpp"

namespace chainrule::bindings {

namespace py = pybind11;

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
      schedule =
          make_schedule(py::cast<std::string>(spec[0]), to_params(py::cast<py::dict>(spec[1])));
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
inline SumAcrossFn python_sum_across(py::object fn) {
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

/// Before each batch. Ctrl-C: at most every 20 ms, take the GIL and let Python run its signal
/// handlers; a KeyboardInterrupt raised there unwinds the training loop at a batch boundary.
/// Progress: when `on_progress` is given, call on_progress(epoch, rows_done, rows) at most
/// every 250 ms, so a progress bar moves within long epochs.
inline std::function<void(Index, Index, Index)> batch_poll(py::object on_progress) {
  using clock = std::chrono::steady_clock;
  struct Times {
    clock::time_point signals, progress;
  };
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

/// batch_poll without progress, for the calls that are not a fit (predict, evaluate,
/// gradient_check): at most every 20 ms a look at the signals, with the GIL.
inline std::function<void()> signal_poll() {
  return [signals = batch_poll(py::none())] { signals(0, 0, 0); };
}

}  // namespace chainrule::bindings
