// Network32 / Network64: argument conversion, GIL release and live views of the parameters.
// No maths: every call goes to Network<T>, to fit / check_fit / evaluate of the Trainer, or to
// the class-target helpers of targets.hpp.
#include "chainrule/network.hpp"

#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "areas.hpp"
#include "chainrule/error.hpp"
#include "chainrule/optimizer.hpp"
#include "chainrule/targets.hpp"
#include "chainrule/training/diagnostics.hpp"
#include "chainrule/training/gradient_reducer.hpp"
#include "chainrule/training/trainer.hpp"
#include "diagnostics.hpp"
#include "fit_call.hpp"
#include "gil.hpp"
#include "network_lock.hpp"
#include "numpy_views.hpp"
#include "specs.hpp"

namespace py = pybind11;
using namespace chainrule;
using chainrule::bindings::Array;
using chainrule::bindings::as_view;
using chainrule::bindings::batch_poll;
using chainrule::bindings::FitCall;
using chainrule::bindings::HeldLock;
using chainrule::bindings::InputArray;
using chainrule::bindings::make_activation_from_spec;
using chainrule::bindings::make_layer_spec;
using chainrule::bindings::make_loss_from_spec;
using chainrule::bindings::make_optimizer_from_spec;
using chainrule::bindings::NetworkLock;
using chainrule::bindings::optional_view;
using chainrule::bindings::python_allreduce;
using chainrule::bindings::python_sum_across;
using chainrule::bindings::ready_matrix;
using chainrule::bindings::ReleaseGilFor;
using chainrule::bindings::to_numpy;
using chainrule::bindings::writable_vector;

namespace {

template <class T>
MatrixView<T> mutable_view(py::array_t<T>& a) {
  return MatrixView<T>(a.mutable_data(), a.shape(0), a.ndim() == 2 ? a.shape(1) : 1);
}

/// A live numpy view of a parameter; `owner` (the Python network) is kept alive by it.
template <class T>
py::array_t<T> live_view(MatrixView<T> p, const py::handle& owner, bool as_vector) {
  if (as_vector)
    return py::array_t<T>({p.size()}, {static_cast<py::ssize_t>(sizeof(T))}, p.data, owner);
  return py::array_t<T>(
      {p.rows, p.cols},
      {static_cast<py::ssize_t>(p.cols * sizeof(T)), static_cast<py::ssize_t>(sizeof(T))}, p.data,
      owner);
}

/// A forward pass's values per row: every parameter and every layer's output (what
/// ReleaseGilFor weighs, times the rows).
template <class T>
long long inference_width(const Network<T>& n) {
  long long width = 0;
  for (const auto& p : n.parameters()) width += p.value.size();
  for (Index l = 0; l < n.num_layers(); ++l) width += n.layer(l).n_out();
  return width;
}

/// Yhat for X, in a fresh array.
template <class T>
py::array_t<T> predict_array(Network<T>& n, const Array<T>& X) {
  const ConstView<T> x = as_view(X, "X");
  py::array_t<T> out({x.rows, n.n_outputs()});
  MatrixView<T> o = mutable_view(out);
  const ReleaseGilFor nogil(x.rows * inference_width(n));
  n.predict(x, o);
  return out;
}

template <class T>
void bind_network(py::module_& m, const char* cls) {
  using Net = Network<T>;
  py::class_<Net>(m, cls)
      .def(py::init([](Index n_inputs, const std::vector<py::tuple>& layer_specs,
                       const py::tuple& loss_spec, const py::tuple& optimizer_spec) {
             std::vector<LayerSpec<T>> layers;
             for (const auto& s : layer_specs) layers.push_back(make_layer_spec<T>(s));
             return std::make_unique<Net>(n_inputs, std::move(layers),
                                          make_loss_from_spec<T>(loss_spec),
                                          make_optimizer_from_spec<T>(optimizer_spec));
           }),
           py::arg("n_inputs"), py::arg("layers"), py::arg("loss"), py::arg("optimizer"))
      .def(
          "set_optimizer",
          [](Net& n, const py::tuple& spec) { n.set_optimizer(make_optimizer_from_spec<T>(spec)); },
          py::arg("spec"))
      .def_property_readonly("optimizer_repr", [](const Net& n) { return n.optimizer().repr(); })
      .def_property_readonly("fuses_into_backward",
                             [](const Net& n) { return n.optimizer().fuses_into_backward(); })
      // (step, [(buffer name, [one array per W1, b1, W2, ... shaped like it])])
      .def("get_optimizer_state",
           [](const Net& n) {
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
      .def(
          "set_optimizer_state",
          [](Net& n, Index step,
             const std::vector<std::pair<std::string, std::vector<Array<T>>>>& given) {
            std::vector<std::pair<std::string, std::vector<ConstView<T>>>> views;
            for (const auto& [name, arrays] : given) {
              std::vector<ConstView<T>> v;
              for (const auto& a : arrays) v.push_back(as_view(a, name.c_str()));
              views.emplace_back(name, std::move(v));
            }
            n.set_optimizer_state(step, views);
          },
          py::arg("step"), py::arg("buffers"))
      .def_property_readonly("n_layers", &Net::num_layers)
      .def_property_readonly("n_inputs", &Net::n_inputs)
      .def_property_readonly("n_outputs", &Net::n_outputs)
      .def(
          "layer_shape",
          [](const Net& n, Index l) {
            return py::make_tuple(n.layer(l).n_in(), n.layer(l).n_out());
          },
          py::arg("layer"))
      // (kind, repr) of layer l (0-based)
      .def(
          "layer_kind", [](const Net& n, Index l) { return n.layer(l).kind(); }, py::arg("layer"))
      .def(
          "layer_repr", [](const Net& n, Index l) { return n.layer(l).repr(); }, py::arg("layer"))
      // A layer's tensors by group: "parameters", "buffers" (live, writable views) or
      // "caches" (copies of the last forward pass): [(name, array)], names without the number.
      .def(
          "layer_tensors",
          [](py::object self, Index l, const std::string& group) {
            Layer<T>& layer = self.cast<Net&>().layer(l);
            std::vector<Parameter<T>> list;
            if (group == "parameters")
              list = layer.parameters();
            else if (group == "buffers")
              list = layer.buffers();
            else if (group == "caches")
              list = layer.caches();
            else
              throw ValueError("no tensor group '" + group + "'");
            py::list out;
            for (const Parameter<T>& p : list) {
              py::array_t<T> a = group == "caches" ? to_numpy<T>(ConstView<T>(p.value))
                                                   : live_view<T>(p.value, self, p.vector);
              if (group == "caches" && p.vector) a = a.reshape({p.value.size()});
              out.append(py::make_tuple(p.name, a));
            }
            return out;
          },
          py::arg("layer"), py::arg("group"))
      .def("buffer_names",
           [](const Net& n) {
             std::vector<std::string> names;
             for (const Parameter<T>& p : n.buffers()) names.push_back(p.name);
             return names;
           })
      // The names of the buffers whose values must be >= 0 (running variances): the
      // network's (running_var2), or with a layer index that layer's (running_var).
      .def(
          "non_negative_buffers",
          [](Net& n, Index l) {
            const std::vector<Parameter<T>> list = l < 0 ? n.buffers() : n.layer(l).buffers();
            std::vector<std::string> names;
            for (const Parameter<T>& p : list)
              if (p.non_negative) names.push_back(p.name);
            return names;
          },
          py::arg("layer") = -1)
      .def(
          "buffer",
          [](py::object self, Index k) {
            const auto& list = self.cast<const Net&>().buffers();
            if (k < 0 || k >= static_cast<Index>(list.size()))
              throw py::index_error("buffer index " + std::to_string(k) + " out of range");
            const Parameter<T>& p = list[static_cast<std::size_t>(k)];
            return live_view<T>(p.value, self, p.vector);
          },
          py::arg("index"))
      .def_property_readonly("penalty", &Net::penalty)
      .def_property_readonly("has_training_behaviour", &Net::has_training_behaviour)
      // (seed, passes): the key of the layers' random streams and the training passes so far
      .def("get_random_state", [](const Net& n) { return py::make_tuple(n.seed(), n.passes()); })
      .def("set_random_state", &Net::set_random_state, py::arg("seed"), py::arg("passes"))
      // Whether array `a`'s memory overlaps the parameters (its extent from data, shape and
      // strides); the facade copies such data before training on it.
      .def(
          "aliases_parameters",
          [](const Net& n, const py::array& a) {
            if (a.size() == 0) return false;
            auto lo = reinterpret_cast<std::uintptr_t>(a.data());
            auto hi = lo;
            for (py::ssize_t d = 0; d < a.ndim(); ++d) {
              const auto reach =
                  static_cast<std::uintptr_t>(std::abs(a.strides(d)) * (a.shape(d) - 1));
              if (a.strides(d) < 0)
                lo -= reach;
              else
                hi += reach;
            }
            hi += static_cast<std::uintptr_t>(a.itemsize());
            return n.overlaps_parameters(reinterpret_cast<const void*>(lo),
                                         reinterpret_cast<const void*>(hi));
          },
          py::arg("array"))
      // The named parameter list: names in order (W1, b1, W2, ...) and live views.
      .def("parameter_names",
           [](const Net& n) {
             std::vector<std::string> names;
             for (const Parameter<T>& p : n.parameters()) names.push_back(p.name);
             return names;
           })
      .def(
          "parameter",
          [](py::object self, Index k) {
            const auto& params = self.cast<const Net&>().parameters();
            if (k < 0 || k >= static_cast<Index>(params.size()))
              throw py::index_error("parameter index " + std::to_string(k) + " out of range");
            const Parameter<T>& p = params[static_cast<std::size_t>(k)];
            return live_view<T>(p.value, self, p.vector);
          },
          py::arg("index"))
      // A copy of parameter k's gradient from the last backward pass, shaped like it.
      .def(
          "parameter_grad",
          [](const Net& n, Index k) {
            const auto& params = n.parameters();
            if (k < 0 || k >= static_cast<Index>(params.size()))
              throw py::index_error("parameter index " + std::to_string(k) + " out of range");
            const Parameter<T>& p = params[static_cast<std::size_t>(k)];
            py::array_t<T> a = to_numpy<T>(ConstView<T>(p.grad));
            return p.vector ? a.reshape({p.value.size()}) : a;
          },
          py::arg("index"))
      .def(
          "weight",
          [](py::object self, Index l) {
            return live_view<T>(self.cast<Net&>().dense(l).W(), self, false);
          },
          py::arg("layer"))
      .def(
          "bias",
          [](py::object self, Index l) {
            return live_view<T>(self.cast<Net&>().dense(l).b(), self, true);
          },
          py::arg("layer"))
      // Copies of the last backward pass's buffers.
      .def(
          "grad_weight", [](Net& n, Index l) { return to_numpy<T>(n.dense(l).dW()); },
          py::arg("layer"))
      .def(
          "grad_bias",
          [](Net& n, Index l) {
            auto a = to_numpy<T>(n.dense(l).db());
            return a.reshape({n.layer(l).n_out()});
          },
          py::arg("layer"))
      .def(
          "delta", [](Net& n, Index l) { return to_numpy<T>(n.dense(l).dZ()); }, py::arg("layer"))
      .def(
          "forward",
          [](Net& n, const Array<T>& X) {
            ConstView<T> out;
            {
              py::gil_scoped_release nogil;
              out = n.forward(as_view(X, "X"));
            }
            return to_numpy<T>(out);
          },
          py::arg("X"))
      .def(
          "backward",
          [](Net& n, const Array<T>& Y) {
            py::gil_scoped_release nogil;
            return n.backward(as_view(Y, "Y"));
          },
          py::arg("Y"))
      .def(
          "predict", [](Net& n, const InputArray<T>& X) { return predict_array(n, *X.array); },
          py::arg("X"))
      .def(
          "predict_ready",
          [](Net& n, py::handle X, NetworkLock& lock) -> py::object {
            const std::optional<Array<T>> x = ready_matrix<T>(X);
            // None: the caller converts X, or waits for another thread's call, and then
            // calls predict
            if (!x || !lock.try_acquire()) return py::none();
            const HeldLock held(lock);
            return predict_array(n, *x);
          },
          py::arg("X"), py::arg("lock"))
      .def(
          "loss",
          [](Net& n, const Array<T>& X, const Array<T>& Y) {
            py::gil_scoped_release nogil;
            return n.loss_value(as_view(X, "X"), as_view(Y, "Y"));
          },
          py::arg("X"), py::arg("Y"))
      .def(
          "gradients",
          [](Net& n, const Array<T>& X, const Array<T>& Y) {
            py::gil_scoped_release nogil;
            return n.compute_gradients(as_view(X, "X"), as_view(Y, "Y"));
          },
          py::arg("X"), py::arg("Y"))
      .def(
          "step",
          [](Net& n, double lr, std::optional<double> clip_norm, std::optional<double> clip_value) {
            n.step(lr, GradientClipping{clip_norm, clip_value});
          },
          py::arg("lr"), py::arg("clip_norm") = py::none(), py::arg("clip_value") = py::none())
      // one (dW, db) pair per layer, every layer a dense one
      .def(
          "step_pairs",
          [](Net& n, const std::vector<Array<T>>& dW, const std::vector<Array<T>>& db, double lr,
             std::optional<double> clip_norm, std::optional<double> clip_value) {
            std::vector<ConstView<T>> w, b;
            for (const auto& a : dW) w.push_back(as_view(a, "dW"));
            for (const auto& a : db) b.push_back(as_view(a, "db"));
            n.step(w, b, lr, GradientClipping{clip_norm, clip_value});
          },
          py::arg("dW"), py::arg("db"), py::arg("lr"), py::arg("clip_norm") = py::none(),
          py::arg("clip_value") = py::none())
      // one gradient per parameter tensor, in the order of parameter_names()
      .def(
          "step_with",
          [](Net& n, const std::vector<Array<T>>& grads, double lr, std::optional<double> clip_norm,
             std::optional<double> clip_value) {
            std::vector<ConstView<T>> g;
            for (const auto& a : grads) g.push_back(as_view(a, "gradient"));
            n.step(g, lr, GradientClipping{clip_norm, clip_value});
          },
          py::arg("grads"), py::arg("lr"), py::arg("clip_norm") = py::none(),
          py::arg("clip_value") = py::none())
      .def(
          "check_fit",
          [](Net& n, const Array<T>& X, const Array<T>& Y, Index epochs, double lr,
             Index batch_size, const std::optional<Array<T>>& sample_weight,
             const std::optional<Array<T>>& X_val, const std::optional<Array<T>>& Y_val,
             const std::optional<Array<T>>& val_weight, py::object schedule_spec,
             const std::vector<std::string>& metrics, std::optional<double> clip_norm,
             std::optional<double> clip_value, bool data_parallel, py::object diagnostics) {
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
            Evaluation r;
            {
              py::gil_scoped_release nogil;
              r = Trainer<T>(n).evaluate(x, y, w, metrics, batch_size);
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
            py::gil_scoped_release nogil;
            return n.gradient_check(as_view(X, "X"), as_view(Y, "Y"), eps);
          },
          py::arg("X"), py::arg("Y"), py::arg("eps"));
}

}  // namespace

void chainrule::bindings::bind_networks(py::module_& m) {
  py::class_<NetworkLock>(m, "NetworkLock",
                          "A network's lock: threading.RLock's interface, also taken by the core's "
                          "bindings without a Python call (predict_ready).")
      .def(py::init<>())
      .def("acquire", &NetworkLock::acquire, py::arg("blocking") = true, py::arg("timeout") = -1.0)
      .def("release", &NetworkLock::release)
      .def("__enter__", [](NetworkLock& l) { return l.acquire(true, -1); })
      .def(
          "__exit__", [](NetworkLock& l, py::handle, py::handle, py::handle) { l.release(); },
          py::arg("exc_type"), py::arg("exc"), py::arg("traceback"));
  bind_network<float>(m, "Network32");
  bind_network<double>(m, "Network64");
}
