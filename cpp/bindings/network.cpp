// Network32 / Network64: construction, the parameters (live views), the optimizer's state,
// forward, predict, backward and step. Argument conversion and GIL release, no maths: every
// call goes to Network<T>. The calls that run the Trainer are network_training.cpp's.
#include "chainrule/network.hpp"

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
#include "fit_call.hpp"
#include "gil.hpp"
#include "network_lock.hpp"
#include "network_training.hpp"
#include "numpy_views.hpp"
#include "specs.hpp"

namespace py = pybind11;
using namespace chainrule;
using chainrule::bindings::Array;
using chainrule::bindings::as_view;
using chainrule::bindings::HeldLock;
using chainrule::bindings::InputArray;
using chainrule::bindings::make_layer_spec;
using chainrule::bindings::make_loss_from_spec;
using chainrule::bindings::make_optimizer_from_spec;
using chainrule::bindings::mutable_view;
using chainrule::bindings::NetworkLock;
using chainrule::bindings::ready_matrix;
using chainrule::bindings::ReleaseGilFor;
using chainrule::bindings::to_numpy;

namespace {

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

/// Yhat for X, in a fresh array. Ctrl-C stops a predict of several chunks between two (a look at
/// the signals every ~20 ms, with the GIL); a call of one chunk pays nothing for it.
template <class T>
py::array_t<T> predict_array(Network<T>& n, const Array<T>& X) {
  const ConstView<T> x = as_view(X, "X");
  py::array_t<T> out({x.rows, n.n_outputs()});
  MatrixView<T> o = mutable_view(out);
  if (x.rows <= Network<T>::kPredictChunk) {
    const ReleaseGilFor nogil(x.rows * inference_width(n));
    n.predict(x, o);
    return out;
  }
  const std::function<void()> poll = chainrule::bindings::signal_poll();
  py::gil_scoped_release nogil;
  n.predict(x, o, poll);
  return out;
}

template <class T>
void bind_network(py::module_& m, const char* cls) {
  using Net = Network<T>;
  py::class_<Net> c(m, cls);
  c.def(py::init([](Index n_inputs, const std::vector<py::tuple>& layer_specs,
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
          py::arg("clip_value") = py::none());
  chainrule::bindings::bind_network_training<T>(c);
}

}  // namespace

void chainrule::bindings::bind_networks(py::module_& m) {
  py::class_<NetworkLock>(m, "NetworkLock",
                          "A network's lock: threading.RLock's interface, also taken by the core's "
                          "bindings without a Python call (predict_ready).")
      .def(py::init<>())
      .def("acquire", &NetworkLock::acquire, py::arg("blocking") = true, py::arg("timeout") = -1.0)
      .def("release", &NetworkLock::release)
      .def("_at_fork_reinit", &NetworkLock::at_fork_reinit)
      .def("__enter__", [](NetworkLock& l) { return l.acquire(true, -1); })
      .def(
          "__exit__", [](NetworkLock& l, py::handle, py::handle, py::handle) { l.release(); },
          py::arg("exc_type"), py::arg("exc"), py::arg("traceback"));
  bind_network<float>(m, "Network32");
  bind_network<double>(m, "Network64");
}
