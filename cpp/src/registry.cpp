// Parameter specs, entry descriptions and the family-independent part of the registries:
// names, aliases and the reading of parameters.
#include "chainrule/registry.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace chainrule {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}
}  // namespace

// ---- ParamSpec ------------------------------------------------------------------------------

ParamSpec::ParamSpec(std::string name)
    : name_(std::move(name)), default_(kNaN), lo_(-kInf), hi_(kInf) {}

ParamSpec::ParamSpec(std::string name, double default_value)
    : name_(std::move(name)), has_default_(true), default_(default_value), lo_(-kInf), hi_(kInf) {}

ParamSpec ParamSpec::at_least(double lo) const {
  ParamSpec p = *this;
  p.lo_ = lo;
  p.lo_open_ = false;
  return p;
}

ParamSpec ParamSpec::above(double lo) const {
  ParamSpec p = *this;
  p.lo_ = lo;
  p.lo_open_ = true;
  return p;
}

ParamSpec ParamSpec::in(double lo, double hi, const char* ends) const {
  if (std::strlen(ends) != 2 || (ends[0] != '[' && ends[0] != '(') ||
      (ends[1] != ']' && ends[1] != ')'))
    throw std::logic_error("ParamSpec::in: ends must be \"[]\", \"[)\", \"(]\" or \"()\"");
  ParamSpec p = *this;
  p.lo_ = lo;
  p.hi_ = hi;
  p.lo_open_ = ends[0] == '(';
  p.hi_open_ = ends[1] == ')';
  return p;
}

ParamSpec ParamSpec::integer(long long lo) const {
  ParamSpec p = *this;
  p.kind_ = ParamKind::Integer;
  p.lo_ = static_cast<double>(lo);
  p.lo_open_ = false;
  return p;
}

ParamSpec ParamSpec::flag() const {
  ParamSpec p = *this;
  p.kind_ = ParamKind::Flag;
  p.lo_ = 0;
  p.hi_ = 1;
  return p;
}

ParamSpec ParamSpec::optional() const {
  ParamSpec p = *this;
  p.optional_ = true;
  p.has_default_ = false;
  p.default_ = kNaN;
  return p;
}

ParamSpec ParamSpec::label(std::string text) const {
  ParamSpec p = *this;
  p.label_ = std::move(text);
  return p;
}

std::string ParamSpec::range_text() const {
  switch (kind_) {
    case ParamKind::Flag:
      return "true or false";
    case ParamKind::Integer:
      return "an integer >= " + std::to_string(static_cast<long long>(lo_));
    case ParamKind::Real:
      break;
  }
  const bool has_lo = lo_ > -kInf, has_hi = hi_ < kInf;
  if (has_lo && has_hi)
    return std::string("a finite number in ") + (lo_open_ ? "(" : "[") + shortest_repr(lo_) + ", " +
           shortest_repr(hi_) + (hi_open_ ? ")" : "]");
  if (has_lo)
    return std::string("a finite number ") + (lo_open_ ? "> " : ">= ") + shortest_repr(lo_);
  if (has_hi)
    return std::string("a finite number ") + (hi_open_ ? "< " : "<= ") + shortest_repr(hi_);
  return "finite";
}

void ParamSpec::check(const std::string& owner, double v) const {
  bool ok;
  switch (kind_) {
    case ParamKind::Flag:
      ok = v == 0 || v == 1;
      break;
    case ParamKind::Integer:  // below 9e15 every integer is a double exactly
      ok = std::isfinite(v) && v == std::floor(v) && v >= lo_ && v < 9e15;
      break;
    default:
      ok = std::isfinite(v) && (lo_open_ ? v > lo_ : v >= lo_) && (hi_open_ ? v < hi_ : v <= hi_);
  }
  if (!ok)
    throw ValueError((owner.empty() ? std::string() : owner + ": ") + label() + " must be " +
                     range_text() + ", got " + shortest_repr(v));
}

// ---- EntryInfo ------------------------------------------------------------------------------

EntryInfo::EntryInfo(std::string name_, std::string class_name_, std::string doc_)
    : name(std::move(name_)), class_name(std::move(class_name_)), doc(std::move(doc_)) {}

EntryInfo EntryInfo::alias(std::string other) && {
  aliases.push_back(std::move(other));
  return std::move(*this);
}

EntryInfo EntryInfo::param(ParamSpec spec) && {
  params.push_back(std::move(spec));
  return std::move(*this);
}

EntryInfo EntryInfo::property(std::string key, PropertyValue value) && {
  properties.emplace_back(std::move(key), std::move(value));
  return std::move(*this);
}

const ParamSpec& EntryInfo::spec(const std::string& param) const {
  for (const auto& p : params)
    if (p.name() == param) return p;
  throw std::logic_error(name + " has no parameter spec '" + param + "'");
}

double EntryInfo::checked(const std::string& param, double value) const {
  spec(param).check(class_name, value);
  return value;
}

bool EntryInfo::flag(const std::string& property) const {
  for (const auto& [key, value] : properties)
    if (key == property) return std::holds_alternative<bool>(value) && std::get<bool>(value);
  return false;
}

std::size_t ParamValues::index(const std::string& param) const {
  for (std::size_t k = 0; k < info_->params.size(); ++k)
    if (info_->params[k].name() == param) return k;
  throw std::logic_error(info_->name + " has no parameter '" + param + "'");
}

// ---- RegistryBase ---------------------------------------------------------------------------

std::vector<const EntryInfo*> RegistryBase::entries() const {
  std::vector<const EntryInfo*> out;
  for (const auto& e : infos_) out.push_back(e.get());
  std::sort(out.begin(), out.end(),
            [](const EntryInfo* a, const EntryInfo* b) { return a->name < b->name; });
  return out;
}

std::vector<std::string> RegistryBase::names(bool with_aliases) const {
  std::vector<std::string> out;
  for (const auto& e : infos_) {
    out.push_back(e->name);
    if (with_aliases) out.insert(out.end(), e->aliases.begin(), e->aliases.end());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::size_t RegistryBase::index_of(const std::string& name) const {
  for (std::size_t i = 0; i < infos_.size(); ++i) {
    const EntryInfo& e = *infos_[i];
    if (e.name == name || std::find(e.aliases.begin(), e.aliases.end(), name) != e.aliases.end())
      return i;
  }
  throw ValueError("unknown " + noun_ + " '" + name + "'; valid names: " + join(names(true)));
}

std::size_t RegistryBase::add_info(EntryInfo info) {
  std::vector<std::string> taken = names(true);
  std::vector<std::string> mine = info.aliases;
  mine.push_back(info.name);
  for (const auto& n : mine)
    if (n.empty() || std::find(taken.begin(), taken.end(), n) != taken.end())
      throw std::logic_error(noun_ + " registry: the name '" + n + "' is empty or taken");
  for (const auto& p : info.params)
    if (p.has_default() && !std::isnan(p.default_value()))
      p.check(info.class_name, p.default_value());  // a default outside its own range
  infos_.push_back(std::make_unique<EntryInfo>(std::move(info)));
  return infos_.size() - 1;
}

ParamValues RegistryBase::read(const EntryInfo& info, const NamedParams& given) const {
  const auto& specs = info.params;
  std::vector<double> values;
  std::vector<bool> was_given(specs.size(), false);
  for (const auto& s : specs) values.push_back(s.default_value());
  for (const auto& [key, value] : given) {
    auto it = std::find_if(specs.begin(), specs.end(),
                           [&key](const ParamSpec& s) { return s.name() == key; });
    if (it == specs.end()) {
      std::vector<std::string> valid;
      for (const auto& s : specs) valid.push_back(s.name());
      throw ValueError(
          noun_ + " '" + info.name + "' has no parameter '" + key + "'" +
          (valid.empty() ? std::string(" (it takes none)") : " (valid: " + join(valid) + ")"));
    }
    const auto k = static_cast<std::size_t>(it - specs.begin());
    values[k] = value;
    was_given[k] = true;
  }
  for (std::size_t k = 0; k < specs.size(); ++k) {
    if (was_given[k])
      specs[k].check(info.class_name, values[k]);
    else if (specs[k].required())
      throw ValueError(noun_ + " '" + info.name + "' needs " + specs[k].name());
  }
  return ParamValues(info, std::move(values), std::move(was_given));
}

}  // namespace chainrule
