// The registries: parameter specs and their messages, names and aliases, reading parameters,
// and every entry of every family (built with its defaults in both dtypes, named as its
// entry, its defaults inside their ranges), so a new entry is covered without editing a list.
#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "chainrule/activations/all.hpp"
#include "chainrule/losses/all.hpp"
#include "chainrule/metrics/all.hpp"
#include "chainrule/optimizers/all.hpp"
#include "chainrule/registry.hpp"
#include "chainrule/schedules/all.hpp"
#include "test_util.hpp"

using namespace chainrule;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

void param_specs() {
  CHECK_STR_EQ(ParamSpec("a", 1).range_text(), std::string("finite"));
  CHECK_STR_EQ(ParamSpec("a", 1).at_least(0).range_text(), std::string("a finite number >= 0"));
  CHECK_STR_EQ(ParamSpec("a", 1).above(0).range_text(), std::string("a finite number > 0"));
  CHECK_STR_EQ(ParamSpec("a", 0.5).in(0, 1, "[)").range_text(),
               std::string("a finite number in [0, 1)"));
  CHECK_STR_EQ(ParamSpec("a", 0.5).in(0, 1, "(]").range_text(),
               std::string("a finite number in (0, 1]"));
  CHECK_STR_EQ(ParamSpec("a").integer(1).range_text(), std::string("an integer >= 1"));
  CHECK_STR_EQ(ParamSpec("a", 0).flag().range_text(), std::string("true or false"));
  CHECK_THROWS(ParamSpec("a", 0).in(0, 1, "[["), std::logic_error);

  CHECK_THROWS_MSG(ParamSpec("alpha", 1).check("ELU", kNaN), ValueError,
                   "ELU: alpha must be finite, got nan");
  CHECK_THROWS_MSG(ParamSpec("beta1", 0.9).in(0, 1, "[)").label("betas[0]").check("Adam", 1),
                   ValueError, "Adam: betas[0] must be a finite number in [0, 1), got 1");
  CHECK_THROWS_MSG(ParamSpec("n").integer(1).check("X", 2.5), ValueError,
                   "X: n must be an integer >= 1, got 2.5");
  CHECK_THROWS_MSG(ParamSpec("n").integer(0).check("X", kInf), ValueError, "got inf");
  CHECK_THROWS_MSG(ParamSpec("f", 0).flag().check("X", 0.5), ValueError,
                   "X: f must be true or false, got 0.5");
  CHECK_THROWS_MSG(ParamSpec("lr", 1).above(0).check("", 0), ValueError,
                   "lr must be a finite number > 0, got 0");
  ParamSpec("a", 0.5).in(0, 1, "()").check("X", 0.25);  // no throw
  ParamSpec("f", 0).flag().check("X", 1);

  CHECK(ParamSpec("a").required());
  CHECK(!ParamSpec("a").optional().required());
  CHECK(std::isnan(ParamSpec("a").optional().default_value()));
  CHECK(!ParamSpec("a", 2).required() && ParamSpec("a", 2).default_value() == 2);
  CHECK_STR_EQ(ParamSpec("beta1", 0).label("betas[0]").label(), std::string("betas[0]"));
  CHECK_STR_EQ(ParamSpec("beta1", 0).label(), std::string("beta1"));
}

// A family of its own, so that registering, aliases and reading are tested apart from the
// built-ins.
struct Widget {
  virtual ~Widget() = default;
  double a = 0;
  long long n = 0;
  bool f = false;
  int bits = 0;
};
template <class T>
struct WidgetOf : Widget {
  WidgetOf(double a_, Index n_, bool f_) {
    a = a_;
    n = n_;
    f = f_;
    bits = static_cast<int>(8 * sizeof(T));
  }
};
struct WidgetFamily {
  static constexpr const char* noun = "widget";
  template <class>
  using Product = Widget;
};
using WidgetRegistry = Registry<WidgetFamily>;

void own_family() {
  auto& r = WidgetRegistry::instance();
  WidgetRegistry::add(EntryInfo("gear", "Gear", "a gear")
                          .alias("cog")
                          .param(ParamSpec("a", 0.5).in(0, 1, "[]"))
                          .param(ParamSpec("n").integer(1))
                          .param(ParamSpec("f", 0).flag())
                          .property("round", true)
                          .property("teeth", 12.0),
                      construct<WidgetOf>([](const ParamValues& v) {
                        return std::tuple(v["a"], v.integer("n"), v.flag("f"));
                      }));
  WidgetRegistry::add(
      EntryInfo("axle", "Axle", "an axle").param(ParamSpec("n").integer(0).optional()),
      construct<WidgetOf>([](const ParamValues& v) {
        return std::tuple(0.0, v.given("n") ? v.integer("n") : Index(-1), false);
      }));
  CHECK(r.names() == std::vector<std::string>({"axle", "gear"}));
  CHECK(r.names(true) == std::vector<std::string>({"axle", "cog", "gear"}));
  CHECK(r.entries().size() == 2 && r.entries()[0]->name == "axle");
  CHECK_STR_EQ(r.info("cog").name, std::string("gear"));
  CHECK(r.info("gear").flag("round") && !r.info("gear").flag("teeth") &&
        !r.info("gear").flag("none"));

  const auto g32 = r.make<float>("cog", {{"n", 3}, {"f", 1}});
  const auto g64 = r.make<double>("gear", {{"n", 4}, {"a", 0.25}});
  CHECK(g32->bits == 32 && g32->n == 3 && g32->f && g32->a == 0.5);
  CHECK(g64->bits == 64 && g64->n == 4 && !g64->f && g64->a == 0.25);
  CHECK(r.make<double>("axle")->n == -1 && r.make<double>("axle", {{"n", 0}})->n == 0);

  CHECK_THROWS_MSG(r.make<double>("wheel"), ValueError,
                   "unknown widget 'wheel'; valid names: axle, cog, gear");
  CHECK_THROWS_MSG(r.make<double>("gear"), ValueError, "widget 'gear' needs n");
  CHECK_THROWS_MSG(r.make<double>("gear", {{"m", 1}}), ValueError,
                   "widget 'gear' has no parameter 'm' (valid: a, n, f)");
  CHECK_THROWS_MSG(r.make<double>("gear", {{"n", 0}}), ValueError,
                   "Gear: n must be an integer >= 1, got 0");
  CHECK_THROWS_MSG(r.make<double>("gear", {{"n", 1}, {"a", 2}}), ValueError,
                   "Gear: a must be a finite number in [0, 1], got 2");
  CHECK_THROWS_MSG(r.make<double>("gear", {{"n", 1}, {"f", 2}}), ValueError,
                   "Gear: f must be true");
  // a name or alias taken twice, and a default outside its own range, are programming errors
  const auto no_args =
      construct<WidgetOf>([](const ParamValues&) { return std::tuple(0.0, Index(0), false); });
  CHECK_THROWS(WidgetRegistry::add(EntryInfo("cog", "Cog", ""), no_args), std::logic_error);
  CHECK_THROWS(
      WidgetRegistry::add(EntryInfo("pin", "Pin", "").param(ParamSpec("a", 5).in(0, 1)), no_args),
      std::logic_error);
  CHECK(r.names().size() == 2);
}

// The parameters of an entry given with their defaults (those without: left out).
NamedParams defaults(const EntryInfo& e) {
  NamedParams p;
  for (const auto& s : e.params)
    if (s.has_default()) p.emplace_back(s.name(), s.default_value());
  return p;
}

// Each family: names sorted and unique, every default inside its range, every entry without
// required parameters built in both dtypes and named as its entry, an unknown name listing
// every valid one, and each required parameter reported when left out.
template <class Family, class Name>
void family(const std::string& noun, Name name_of) {
  const auto& r = Registry<Family>::instance();
  CHECK_STR_EQ(r.noun(), noun);
  const auto names = r.names(true);
  CHECK(!names.empty() && std::is_sorted(names.begin(), names.end()));
  CHECK(std::adjacent_find(names.begin(), names.end()) == names.end());
  try {
    r.template make<double>("no such name");
    CHECK(false);
  } catch (const ValueError& e) {
    const std::string what = e.what();
    CHECK(what.find("unknown " + noun + " 'no such name'; valid names: ") == 0);
    for (const auto& n : names) CHECK(what.find(n) != std::string::npos);
  }
  for (const EntryInfo* info : r.entries()) {
    CHECK(!info->class_name.empty() && !info->doc.empty());
    for (const auto& p : info->params)
      if (p.has_default()) p.check(info->class_name, p.default_value());
    bool needs = false;
    for (const auto& p : info->params)
      if (p.required()) {
        needs = true;
        CHECK_THROWS_MSG(r.template make<double>(info->name), ValueError,
                         noun + " '" + info->name + "' needs " + p.name());
      }
    if (needs) continue;
    const auto a = r.template make<float>(info->name);
    const auto b = r.template make<double>(info->name, defaults(*info));
    CHECK_STR_EQ(name_of(*a), info->name);
    CHECK_STR_EQ(name_of(*b), info->name);
  }
}

void every_family() {
  family<ActivationFamily>("activation", [](const auto& a) { return a.name(); });
  family<LossFamily>("loss", [](const auto& l) { return l.name(); });
  family<OptimizerFamily>("optimizer", [](const auto& o) { return o.name(); });
  family<ScheduleFamily>("lr_schedule", [](const auto& s) { return s.name(); });
  family<MetricFamily>("metric", [](const auto& m) { return m.name(); });
  // every optimizer names its default learning rate
  for (const EntryInfo* info : OptimizerRegistry::instance().entries()) {
    bool has_lr = false;
    for (const auto& [key, value] : info->properties)
      has_lr |= key == "lr" && std::holds_alternative<double>(value) && std::get<double>(value) > 0;
    CHECK(has_lr);
  }
  // the factories' names are the registries'
  CHECK(activation_names() == ActivationRegistry::instance().names());
  CHECK(loss_names() == LossRegistry::instance().names(true));
  CHECK(optimizer_names() == OptimizerRegistry::instance().names());
  CHECK(schedule_names() == ScheduleRegistry::instance().names());
  CHECK(metric_names() == MetricRegistry::instance().names());
}

}  // namespace

int main() {
  RUN_TEST(param_specs);
  RUN_TEST(own_family);
  RUN_TEST(every_family);
  return chainrule_test::report();
}
