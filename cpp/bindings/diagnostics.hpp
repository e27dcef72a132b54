// Per-layer diagnostics between the core and Python: fit's options from a tuple, and each
// record as the dict history.diagnostics holds (absent figures as None). No maths.
#pragma once

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>

#include "chainrule/training/diagnostics.hpp"

namespace chainrule::bindings {

namespace py = pybind11;

/// None (off) or (every_epochs, every_steps, histograms, bins).
inline DiagnosticsOptions diagnostics_options(const py::object& spec) {
  DiagnosticsOptions d;
  if (spec.is_none()) return d;
  const auto t = py::cast<py::tuple>(spec);
  d.on = true;
  d.every_epochs = py::cast<Index>(t[0]);
  d.every_steps = py::cast<Index>(t[1]);
  d.histograms = py::cast<bool>(t[2]);
  d.bins = py::cast<Index>(t[3]);
  return d;
}

inline py::object histogram_dict(const std::optional<Histogram>& h) {
  if (!h) return py::none();
  py::dict d;
  d["edges"] = py::cast(h->edges);
  py::list counts;
  for (double c : h->counts) counts.append(static_cast<long long>(c));  // counts are integers
  d["counts"] = counts;
  return std::move(d);
}

/// {"epoch", "step", "layers": [{"layer", "kind", "activation", "h_mean", ...}]}.
inline py::dict record_dict(const DiagnosticsRecord& r, bool histograms) {
  py::list layers;
  for (const LayerDiagnostics& l : r.layers) {
    py::dict d;
    d["layer"] = l.layer;
    d["kind"] = l.kind;
    d["activation"] = l.activation.empty() ? py::object(py::none()) : py::cast(l.activation);
    d["h_mean"] = l.h_mean;
    d["h_std"] = l.h_std;
    d["dead_fraction"] = py::cast(l.dead_fraction);
    d["saturated_fraction"] = py::cast(l.saturated_fraction);
    d["w_norm"] = py::cast(l.w_norm);
    d["dw_norm"] = py::cast(l.dw_norm);
    d["b_norm"] = py::cast(l.b_norm);
    d["db_norm"] = py::cast(l.db_norm);
    d["update_ratio"] = py::cast(l.update_ratio);
    if (histograms) {
      py::dict h;
      h["H"] = histogram_dict(l.hist_H);
      h["dZ"] = histogram_dict(l.hist_dZ);
      h["W"] = histogram_dict(l.hist_W);
      d["histograms"] = h;
    }
    layers.append(d);
  }
  py::dict out;
  out["epoch"] = r.epoch;
  out["step"] = r.step;
  out["layers"] = layers;
  return out;
}

}  // namespace chainrule::bindings
