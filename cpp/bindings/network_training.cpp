// Network32 / Network64, the calls that run the Trainer (check_fit, fit, evaluate), the
// diagnostics, the class-target helpers of targets.hpp and gradient_check: argument
// conversion and GIL release. No maths.
#include "network_training.hpp"

#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "chainrule/error.hpp"
#include "chainrule/targets.hpp"
#include "chainrule/training/diagnostics.hpp"
#include "chainrule/training/gradient_reducer.hpp"
#include "chainrule/training/trainer.hpp"
#include "diagnostics.hpp"
#include "fit_call.hpp"
#include "numpy_views.hpp"

namespace py = pybind11;
using namespace chainrule;
using chainrule::bindings::Array;
using chainrule::bindings::as_view;
using chainrule::bindings::batch_poll;
using chainrule::bindings::FitCall;
using chainrule::bindings::mutable_view;
using chainrule::bindings::optional_view;
using chainrule::bindings::python_allreduce;
using chainrule::bindings::python_sum_across;
using chainrule::bindings::signal_poll;
using chainrule::bindings::writable_vector;

template <class T>
void chainrule::bindings::bind_network_training(py::class_<Network<T>>& c) {
  using Net = Network<T>;
  c.def(
       "check_fit",
       [](Net& n, const Array<T>& X, const Array<T>& Y, Index epochs, double lr, Index batch_size,
          const std::optional<Array<T>>& sample_weight, const std::optional<Array<T>>& X_val,
          const std::optional<Array<T>>& Y_val, const std::optional<Array<T>>& val_weight,
          py::object schedule_spec, const std::vector<std::string>& metrics,
          std::optional<double> clip_norm, std::optional<double> clip_value, bool data_parallel,
          py::object diagnostics) {
         FitCall<T> call(X, Y, epochs, lr, batch_size, false, sample_weight, X_val, Y_val,
                         val_weight, schedule_spec, metrics);
         call.opts.clip = GradientClipping{clip_norm, clip_value};
         call.opts.diagnostics = chainrule::bindings::diagnostics_options(diagnostics);
         check_fit(n, call.data, call.opts, data_parallel);
       },
       py::arg("X"), py::arg("Y"), py::arg("epochs"), py::arg("lr"), py::arg("batch_size"),
       py::arg("sample_weight"), py::arg("X_val"), py::arg("Y_val"), py::arg("val_weight"),
       py::arg("schedule"), py::arg("metrics"), py::arg("clip_norm") = py::none(),
       py::arg("clip_value") = py::none(), py::arg("data_parallel") = false,
       py::arg("diagnostics") = py::none())
      // data-parallel: the batches over the global rows (batch normalisation's rows per batch)
      .def(
          "check_batches",
          [](Net& n, Index global_rows, Index epochs, Index batch_size) {
            FitOptions opts;
            opts.epochs = epochs;
            opts.batch_size = batch_size;
            opts.global_rows = global_rows;
            Trainer<T>(n).check_batches(global_rows, opts);
          },
          py::arg("global_rows"), py::arg("epochs"), py::arg("batch_size"))
      // Returns (loss, val_loss, lr, metrics, val_metrics), one entry per epoch run.
      .def(
          "fit",
          [](Net& n, const Array<T>& X, const Array<T>& Y, Index epochs, double lr,
             Index batch_size, py::object permutation, py::object on_epoch_end,
             const std::optional<Array<T>>& sample_weight, const std::optional<Array<T>>& X_val,
             const std::optional<Array<T>>& Y_val, const std::optional<Array<T>>& val_weight,
             py::object schedule_spec, const std::vector<std::string>& metrics,
             py::object allreduce, Index global_rows, Index row_offset, py::object sum_across,
             py::object on_progress, py::object reduce_buffer, std::optional<double> clip_norm,
             std::optional<double> clip_value, py::object diagnostics, py::object on_diagnostics,
             double on_epoch_end_interval) {
            // data-parallel: the permutation orders the global rows and is always given
            const bool shuffle = !permutation.is_none() && allreduce.is_none();
            FitCall<T> call(X, Y, epochs, lr, batch_size, shuffle, sample_weight, X_val, Y_val,
                            val_weight, schedule_spec, metrics);
            call.opts.global_rows = global_rows;
            call.opts.row_offset = row_offset;
            call.opts.clip = GradientClipping{clip_norm, clip_value};
            call.opts.diagnostics = chainrule::bindings::diagnostics_options(diagnostics);
            FitHooks hooks;
            hooks.poll = batch_poll(on_progress);
            hooks.on_epoch_end_interval = on_epoch_end_interval;  // checked by the core
            if (!on_diagnostics.is_none()) {
              const bool histograms = call.opts.diagnostics.histograms;
              hooks.on_diagnostics = [on_diagnostics, histograms](const DiagnosticsRecord& r) {
                py::gil_scoped_acquire gil;
                on_diagnostics(chainrule::bindings::record_dict(r, histograms));
              };
            }
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
          py::arg("on_progress") = py::none(), py::arg("reduce_buffer") = py::none(),
          py::arg("clip_norm") = py::none(), py::arg("clip_value") = py::none(),
          py::arg("diagnostics") = py::none(), py::arg("on_diagnostics") = py::none(),
          py::arg("on_epoch_end_interval") = 0.0)
      // The per-layer figures of one batch (a record's dict); the model does not change.
      .def(
          "diagnose",
          [](Net& n, const Array<T>& X, const Array<T>& Y, py::object spec, double lr) {
            const DiagnosticsOptions opts = chainrule::bindings::diagnostics_options(spec);
            const ConstView<T> x = as_view(X, "X"), y = as_view(Y, "Y");
            DiagnosticsRecord r;
            {
              py::gil_scoped_release nogil;
              r = diagnose(n, x, y, opts, lr);
            }
            return chainrule::bindings::record_dict(r, opts.histograms);
          },
          py::arg("X"), py::arg("Y"), py::arg("diagnostics"), py::arg("lr") = 0.0)
      // Returns (loss, [metric values]) in the order of `metrics`; the parameters do not change.
      .def(
          "evaluate",
          [](Net& n, const Array<T>& X, const Array<T>& Y,
             const std::optional<Array<T>>& sample_weight, const std::vector<std::string>& metrics,
             Index batch_size) {
            const ConstView<T> x = as_view(X, "X"), y = as_view(Y, "Y");
            const ConstView<T> w = optional_view(sample_weight, "sample_weight");
            // Ctrl-C stops a long evaluation between two chunks (a look at the signals every
            // ~20 ms, with the GIL)
            const std::function<void()> poll = signal_poll();
            Evaluation r;
            {
              py::gil_scoped_release nogil;
              r = Trainer<T>(n).evaluate(x, y, w, metrics, batch_size, poll);
            }
            return py::make_tuple(r.loss, r.metrics);
          },
          py::arg("X"), py::arg("Y"), py::arg("sample_weight"), py::arg("metrics"),
          py::arg("batch_size"))
      // Class labels (m,) as one-hot targets (m, n_outputs), checked by the core.
      .def(
          "one_hot",
          [](const Net& n, const Array<double>& labels, const std::string& what) {
            py::array_t<T> out({static_cast<Index>(labels.size()), n.n_outputs()});
            one_hot<T>(labels.data(), mutable_view(out), what);
            return out;
          },
          py::arg("labels"), py::arg("what"))
      // fit's class_weight, "balanced" or [(class, weight), ...], as one weight per row of Y
      // (times sample_weight, float64, when given).
      .def(
          "class_sample_weight",
          [](const Net&, const Array<T>& Y, const py::object& class_weight,
             const std::optional<Array<double>>& sample_weight, const std::string& what) {
            const ConstView<T> y = as_view(Y, "Y");
            std::vector<double> per_class;
            if (py::isinstance<py::str>(class_weight)) {
              if (class_weight.cast<std::string>() != "balanced")
                throw ValueError(what + " must be 'balanced' or {class: weight}");
              per_class = balanced_class_weights(class_counts(y, what));
            } else {
              per_class = class_weights(class_weight.cast<std::vector<std::pair<Index, double>>>(),
                                        class_count(y.cols), what);
            }
            py::array_t<T> out(y.rows);
            class_sample_weights(y, per_class, sample_weight ? sample_weight->data() : nullptr,
                                 out.mutable_data(), what);
            return out;
          },
          py::arg("Y"), py::arg("class_weight"), py::arg("sample_weight"), py::arg("what"))
      // The values a data-parallel step sums: the gradients, the loss sum and the weight.
      .def("reduction_buffer_size", &AllreduceReducer<T>::buffer_size)
      .def(
          "gradient_check",
          [](Net& n, const Array<T>& X, const Array<T>& Y, double eps) {
            // Ctrl-C stops a long check (every ~20 ms a look at the signals, with the GIL)
            const std::function<void()> poll = signal_poll();
            py::gil_scoped_release nogil;
            return n.gradient_check(as_view(X, "X"), as_view(Y, "Y"), eps, poll);
          },
          py::arg("X"), py::arg("Y"), py::arg("eps"));
}

template void chainrule::bindings::bind_network_training<float>(py::class_<Network<float>>&);
template void chainrule::bindings::bind_network_training<double>(py::class_<Network<double>>&);
