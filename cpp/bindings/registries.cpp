// The registries as Python sees them: every entry of every family as plain data (names,
// aliases, parameters with defaults and ranges, properties), name lookup and parameter
// checks. Translation only; the checks and their messages are the core's.
#include "registries.hpp"

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <functional>
#include <string>
#include <vector>

#include "chainrule/activation.hpp"
#include "chainrule/layer.hpp"
#include "chainrule/loss.hpp"
#include "chainrule/metric.hpp"
#include "chainrule/optimizer.hpp"
#include "chainrule/registry.hpp"
#include "chainrule/schedule.hpp"

namespace py = pybind11;
using namespace chainrule;

namespace {

NamedParams to_named(const py::dict& d) {
  NamedParams p;
  for (auto item : d)
    p.emplace_back(py::cast<std::string>(item.first), py::cast<double>(item.second));
  return p;
}

/// What the bindings need of one family.
struct FamilyAccess {
  const RegistryBase& (*registry)();
  /// Builds the entry with these parameters and drops it (ValueError naming what is wrong).
  std::function<void(const std::string&, const NamedParams&)> check;
  /// Properties read from a default-built object ({"elementwise": ...}), added to the data.
  std::function<void(const std::string&, py::dict&)> derived;
};

const FamilyAccess& family(const std::string& key) {
  static const std::vector<std::pair<std::string, FamilyAccess>> families = {
      {"activations",
       {[]() -> const RegistryBase& { return ActivationRegistry::instance(); },
        [](const std::string& n, const NamedParams& p) { make_activation<double>(n, p); },
        [](const std::string& n, py::dict& props) {
          props["elementwise"] = make_activation<double>(n)->elementwise();
        }}},
      {"losses",
       {[]() -> const RegistryBase& { return LossRegistry::instance(); },
        [](const std::string& n, const NamedParams& p) { make_loss<double>(n, p); },
        [](const std::string& n, py::dict& props) {
          props["required_activation"] = make_loss<double>(n)->required_activation();
        }}},
      {"optimizers",
       {[]() -> const RegistryBase& { return OptimizerRegistry::instance(); },
        [](const std::string& n, const NamedParams& p) { make_optimizer<double>(n, p); }, nullptr}},
      {"schedules",
       {[]() -> const RegistryBase& { return ScheduleRegistry::instance(); },
        [](const std::string& n, const NamedParams& p) { make_schedule(n, p); }, nullptr}},
      {"layers",
       {[]() -> const RegistryBase& { return LayerRegistry::instance(); },
        [](const std::string& n, const NamedParams& p) {
          // checks the parameters only (a layer is built with its position and input width)
          const RegistryBase& r = LayerRegistry::instance();
          r.read(r.info(n), p);
        },
        nullptr}},
      {"metrics",
       {[]() -> const RegistryBase& { return MetricRegistry::instance(); },
        [](const std::string& n, const NamedParams& p) {
          MetricRegistry::instance().make<double>(n, p);
        },
        nullptr}},
  };
  for (const auto& [k, access] : families)
    if (k == key) return access;
  throw ValueError("no registry '" + key +
                   "' (valid: activations, losses, optimizers, schedules, layers, metrics)");
}

const char* kind_name(ParamKind k) {
  switch (k) {
    case ParamKind::Integer:
      return "integer";
    case ParamKind::Flag:
      return "flag";
    default:
      return "real";
  }
}

py::dict param_data(const ParamSpec& p) {
  py::dict d;
  d["name"] = p.name();
  d["label"] = p.label();
  d["kind"] = kind_name(p.kind());
  d["default"] = p.has_default() ? py::cast(p.default_value()) : py::none();
  d["required"] = p.required();
  d["lo"] = p.lo();
  d["hi"] = p.hi();
  d["lo_open"] = p.lo_open();
  d["hi_open"] = p.hi_open();
  d["range"] = p.range_text();
  return d;
}

py::dict entry_data(const FamilyAccess& access, const EntryInfo& e) {
  py::dict d;
  d["name"] = e.name;
  d["class_name"] = e.class_name;
  d["doc"] = e.doc;
  d["aliases"] = e.aliases;
  py::list params;
  bool buildable = true;
  for (const auto& p : e.params) {
    params.append(param_data(p));
    buildable = buildable && !p.required();
  }
  d["params"] = params;
  py::dict props;
  for (const auto& [key, value] : e.properties)
    props[py::str(key)] = std::visit([](const auto& v) { return py::cast(v); }, value);
  if (access.derived && buildable) access.derived(e.name, props);
  d["properties"] = props;
  return d;
}

}  // namespace

namespace chainrule::bindings {

void bind_registries(py::module_& m) {
  m.def(
      "registry_entries",
      [](const std::string& key) {
        const FamilyAccess& access = family(key);
        py::list out;
        for (const EntryInfo* e : access.registry().entries()) out.append(entry_data(access, *e));
        return out;
      },
      py::arg("family"),
      "Every entry of a family ('activations', 'losses', 'optimizers', 'schedules', 'metrics'), "
      "sorted by name, as dicts: name, class_name, doc, aliases, params, properties.");
  m.def(
      "registry_names",
      [](const std::string& key, bool with_aliases) {
        return family(key).registry().names(with_aliases);
      },
      py::arg("family"), py::arg("with_aliases") = false);
  m.def(
      "registry_lookup",
      [](const std::string& key, const std::string& name) {
        return family(key).registry().info(name).name;
      },
      py::arg("family"), py::arg("name"),
      "The factory name of a name or alias; ValueError listing the valid names otherwise.");
  m.def(
      "registry_check",
      [](const std::string& key, const std::string& name, const py::dict& params) {
        family(key).check(name, to_named(params));
      },
      py::arg("family"), py::arg("name"), py::arg("params"),
      "Build and drop: raises ValueError naming what is wrong with a configuration.");
  m.def(
      "registry_check_value",
      [](const std::string& key, const std::string& name, const std::string& param, double value,
         const std::string& shown_as) {
        const EntryInfo& e = family(key).registry().info(name);
        const auto& specs = e.params;
        for (const auto& p : specs)
          if (p.name() == param) return p.label(shown_as).check("", value);
        throw ValueError(family(key).registry().noun() + " '" + e.name + "' has no parameter '" +
                         param + "'");
      },
      py::arg("family"), py::arg("name"), py::arg("param"), py::arg("value"), py::arg("shown_as"),
      "Checks one value against a parameter's range; the message calls it `shown_as`.");
}

}  // namespace chainrule::bindings
