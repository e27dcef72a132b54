// The registries: one per family (activations, losses, optimizers, schedules, metrics). An
// entry is a factory name with its aliases, its parameters (defaults and valid ranges), its
// properties and a factory per dtype. Each entry is registered at the bottom of its own
// header, next to its implementation; the factories (make_activation, ...) build from the
// registry, the bindings expose it, and Python builds its classes, defaults and messages
// from it. Unknown names, unknown parameters and values out of range are rejected here, once,
// in words that name the entry ("SGD: momentum must be a finite number >= 0, got -0.1").
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "chainrule/error.hpp"
#include "chainrule/tensor.hpp"

namespace chainrule {

/// Parameters by name, as the factories take them (integers and flags as numbers).
using NamedParams = std::vector<std::pair<std::string, double>>;

/// The values a parameter takes.
enum class ParamKind { Real, Integer, Flag };

/// One parameter of a registry entry: name, default and valid range, built fluently:
///
///     ParamSpec("alpha", 0.01)                        any finite number, default 0.01
///     ParamSpec("momentum", 0).at_least(0)            a finite number >= 0
///     ParamSpec("gamma").above(0)                     required (no default), > 0
///     ParamSpec("beta1", 0.9).in(0, 1, "[)").label("betas[0]")   in [0, 1)
///     ParamSpec("step_size").integer(1)               required, an integer >= 1
///     ParamSpec("T_max").integer(1).optional()        may be left out (no default)
///     ParamSpec("nesterov", 0).flag()                 0 or 1 (false or true)
class ParamSpec {
 public:
  /// A required parameter: it has no default and must be given.
  explicit ParamSpec(std::string name);
  /// A parameter with a default (any finite number until a range is set).
  ParamSpec(std::string name, double default_value);

  /// v >= lo.
  ParamSpec at_least(double lo) const;
  /// v > lo.
  ParamSpec above(double lo) const;
  /// v in [lo, hi]; `ends` says which ends belong to the range: "[]", "[)", "(]" or "()".
  ParamSpec in(double lo, double hi, const char* ends = "[]") const;
  /// An integer >= lo.
  ParamSpec integer(long long lo) const;
  /// 0 or 1, false or true.
  ParamSpec flag() const;
  /// A parameter without a default that may be left out (the factory then decides).
  ParamSpec optional() const;
  /// The name shown in messages when it is not the factory name ("betas[0]" for beta1).
  ParamSpec label(std::string text) const;

  const std::string& name() const { return name_; }
  const std::string& label() const { return label_.empty() ? name_ : label_; }
  ParamKind kind() const { return kind_; }
  /// Must be given: no default, not optional.
  bool required() const { return !has_default_ && !optional_; }
  bool optional_without_default() const { return optional_; }
  bool has_default() const { return has_default_; }
  /// The default (NaN when there is none).
  double default_value() const { return default_; }
  double lo() const { return lo_; }
  double hi() const { return hi_; }
  bool lo_open() const { return lo_open_; }
  bool hi_open() const { return hi_open_; }

  /// What a valid value is, as messages say it: "finite", "a finite number in [0, 1)",
  /// "a finite number >= 0", "an integer >= 1", "true or false".
  std::string range_text() const;
  /// Throws ValueError "owner: label must be <range_text>, got v" (no "owner: " when owner is
  /// empty) unless v is valid.
  void check(const std::string& owner, double v) const;

 private:
  std::string name_, label_;
  ParamKind kind_ = ParamKind::Real;
  bool has_default_ = false, optional_ = false;
  double default_;
  double lo_, hi_;
  bool lo_open_ = false, hi_open_ = false;
};

/// A property of an entry: a flag ("he_init": ReLU-like, drawn with He initialisation), a
/// number or a text ("example": "step_size=10, gamma=0.5").
using PropertyValue = std::variant<bool, double, std::string>;

/// Everything a registry knows about an entry but its factory.
struct EntryInfo {
  /// The factory name ("leaky_relu").
  std::string name;
  /// The class name used in reprs, in messages (as the owner of a parameter) and by Python's
  /// class ("LeakyReLU").
  std::string class_name;
  /// One line: the formula ("z if z > 0 else alpha z").
  std::string doc;
  /// Other names the factory accepts ("bce").
  std::vector<std::string> aliases;
  /// In constructor order.
  std::vector<ParamSpec> params;
  std::vector<std::pair<std::string, PropertyValue>> properties;

  EntryInfo(std::string name, std::string class_name, std::string doc);
  EntryInfo alias(std::string other) &&;
  EntryInfo param(ParamSpec spec) &&;
  EntryInfo property(std::string key, PropertyValue value) &&;

  /// The parameter of that name (std::logic_error when there is none: a programming error).
  const ParamSpec& spec(const std::string& param) const;
  /// The default of a parameter (for constructors' default arguments).
  double default_of(const std::string& param) const { return spec(param).default_value(); }
  /// Checks a constructor argument against its spec; returns it.
  double checked(const std::string& param, double value) const;
  /// A flag property (false when absent).
  bool flag(const std::string& property) const;
};

/// A factory's arguments: every parameter of an entry, given or defaulted, already checked.
class ParamValues {
 public:
  ParamValues(const EntryInfo& info, std::vector<double> values, std::vector<bool> given)
      : info_(&info), values_(std::move(values)), given_(std::move(given)) {}
  /// The value (the default when not given; NaN for an optional one left out).
  double operator[](const std::string& param) const { return values_[index(param)]; }
  /// Whether it was given.
  bool given(const std::string& param) const { return given_[index(param)]; }
  /// An integer parameter as an Index.
  Index integer(const std::string& param) const { return static_cast<Index>((*this)[param]); }
  /// A flag parameter as a bool.
  bool flag(const std::string& param) const { return (*this)[param] != 0; }

 private:
  std::size_t index(const std::string& param) const;
  const EntryInfo* info_;
  std::vector<double> values_;
  std::vector<bool> given_;
};

/// What every registry does with names and parameters (the family-independent part).
class RegistryBase {
 public:
  explicit RegistryBase(std::string noun) : noun_(std::move(noun)) {}
  RegistryBase(const RegistryBase&) = delete;
  RegistryBase& operator=(const RegistryBase&) = delete;

  /// "activation", "loss", "optimizer", "lr_schedule", "metric": the word messages use.
  const std::string& noun() const { return noun_; }
  /// The entries, sorted by name.
  std::vector<const EntryInfo*> entries() const;
  /// The entry of a name or alias; ValueError "unknown <noun> 'x'; valid names: ..." (every
  /// accepted name, sorted) otherwise.
  const EntryInfo& info(const std::string& name) const { return *infos_[index_of(name)]; }
  /// The factory names, sorted; with_aliases adds every alias.
  std::vector<std::string> names(bool with_aliases = false) const;
  /// `given` read against the entry's parameters: defaults filled in, then ValueError on an
  /// unknown parameter (listing the valid ones), a required one left out, or a value out of
  /// its range (checked in the order of the entry's parameters).
  ParamValues read(const EntryInfo& info, const NamedParams& given) const;

 protected:
  std::size_t index_of(const std::string& name) const;
  const EntryInfo& at(std::size_t i) const { return *infos_[i]; }
  /// Adds an entry's description; std::logic_error when the name or an alias is taken.
  std::size_t add_info(EntryInfo info);

 private:
  std::string noun_;
  std::vector<std::unique_ptr<EntryInfo>> infos_;  // in registration order
};

/// A type carried to a factory: the factory of an entry builds Product<T> for T in
/// {float, double} from one generic lambda [](auto tag, const ParamValues& v) {...}.
template <class T>
struct DtypeTag {
  using type = T;
};

/// What a factory of a family takes beyond its parameters: Family::Args<T> when the family
/// defines it (a layer needs its position and input width), else nothing.
template <class Family, class T, class = void>
struct FactoryArgs {
  struct type {};
};
template <class Family, class T>
struct FactoryArgs<Family, T, std::void_t<typename Family::template Args<T>>> {
  using type = typename Family::template Args<T>;
};

/// The registry of a family. Family defines `noun` and `template <class T> using Product`
/// (Activation<T>, ...; the same type for every T when the family is not templated), and
/// may define `template <class T> using Args`: what its factories take besides parameters.
template <class Family>
class Registry : public RegistryBase {
 public:
  template <class T>
  using Product = typename Family::template Product<T>;
  template <class T>
  using Args = typename FactoryArgs<Family, T>::type;
  template <class T>
  using Factory = std::function<std::unique_ptr<Product<T>>(const ParamValues&, Args<T>&&)>;

  /// The one registry of the family (built on first use).
  static Registry& instance() {
    static Registry r;
    return r;
  }

  /// Registers an entry: make(DtypeTag<T>{}, values) - or make(DtypeTag<T>{}, values, args)
  /// for a family with Args - builds it for T = float and double. Returns true, so that a
  /// header can register with `inline const bool x = add(...)`.
  template <class Make>
  static bool add(EntryInfo info, Make make) {
    Registry& r = instance();
    r.add_info(std::move(info));
    r.make32_.push_back(bind_factory<float>(make));
    r.make64_.push_back(bind_factory<double>(make));
    return true;
  }

  /// Builds the entry named `name` (or an alias) with these parameters (defaults for the
  /// others); ValueError on an unknown name or parameter or a value out of range.
  template <class T>
  std::unique_ptr<Product<T>> make(const std::string& name, const NamedParams& params = {},
                                   Args<T> args = {}) const {
    const std::size_t i = index_of(name);
    const ParamValues values = read(at(i), params);
    if constexpr (std::is_same_v<T, float>)
      return make32_[i](values, std::move(args));
    else
      return make64_[i](values, std::move(args));
  }

 private:
  Registry() : RegistryBase(Family::noun) {}

  template <class T, class Make>
  static Factory<T> bind_factory(Make make) {
    return [make](const ParamValues& v, Args<T>&& args) {
      if constexpr (std::is_invocable_v<Make, DtypeTag<T>, const ParamValues&>)
        return make(DtypeTag<T>{}, v);
      else
        return make(DtypeTag<T>{}, v, std::move(args));
    };
  }

  std::vector<Factory<float>> make32_;
  std::vector<Factory<double>> make64_;
};

/// A factory building Impl<T>(args(values)...) for a class template Impl (one class per
/// dtype); `args` turns the checked values into the constructor's arguments (a tuple).
template <template <class> class Impl, class Args>
auto construct(Args args) {
  return [args](auto tag, const ParamValues& v) {
    using T = typename decltype(tag)::type;
    return std::apply(
        [](auto&&... a) { return std::make_unique<Impl<T>>(std::forward<decltype(a)>(a)...); },
        args(v));
  };
}

/// A factory building Impl<T>() (an entry without parameters).
template <template <class> class Impl>
auto construct() {
  return construct<Impl>([](const ParamValues&) { return std::tuple<>(); });
}

/// A factory building Impl(args(values)...) for a plain class (the same for every dtype).
template <class Impl, class Args>
auto construct(Args args) {
  return [args](auto, const ParamValues& v) {
    return std::apply(
        [](auto&&... a) { return std::make_unique<Impl>(std::forward<decltype(a)>(a)...); },
        args(v));
  };
}

}  // namespace chainrule
