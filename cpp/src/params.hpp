// Named hyper-parameters of the optimizer and schedule factories: reading them with defaults
// and checking their ranges, with messages that name the owner ("Adam: eps must be ...").
#pragma once

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

#include "chainrule/error.hpp"

namespace chainrule::detail {

using NamedValues = std::vector<std::pair<std::string, double>>;

/// The values of `accepted` (name, default) overridden by `given`; an unknown name throws
/// ValueError listing the valid ones.
inline std::vector<double> read_params(const std::string& owner, const NamedValues& given,
                                       const NamedValues& accepted) {
  std::vector<double> values;
  for (const auto& kv : accepted) values.push_back(kv.second);
  for (const auto& [key, value] : given) {
    auto it = std::find_if(accepted.begin(), accepted.end(),
                           [&key](const auto& a) { return a.first == key; });
    if (it == accepted.end()) {
      std::string valid;
      for (const auto& a : accepted) valid += (valid.empty() ? "" : ", ") + a.first;
      throw ValueError(owner + " has no parameter '" + key + "'" +
                       (valid.empty() ? std::string(" (it takes none)") : " (valid: " + valid + ")"));
    }
    values[static_cast<std::size_t>(it - accepted.begin())] = value;
  }
  return values;
}

/// Throws "owner: what must be a finite number in [lo, hi), got v" unless lo <= v (< or <=) hi.
inline void check_in(const std::string& owner, const std::string& what, double v, double lo,
                     double hi, bool hi_inclusive, bool lo_inclusive = true) {
  const bool ok = std::isfinite(v) && (lo_inclusive ? v >= lo : v > lo) &&
                  (hi_inclusive ? v <= hi : v < hi);
  if (!ok)
    throw ValueError(owner + ": " + what + " must be a finite number in " +
                     (lo_inclusive ? "[" : "(") + shortest_repr(lo) + ", " + shortest_repr(hi) +
                     (hi_inclusive ? "]" : ")") + ", got " + shortest_repr(v));
}

/// Throws "owner: what must be a finite number >= 0, got v" (or > 0 when strict).
inline void check_nonnegative(const std::string& owner, const std::string& what, double v,
                              bool strict = false) {
  if (!(std::isfinite(v) && (strict ? v > 0 : v >= 0)))
    throw ValueError(owner + ": " + what + " must be a finite number " + (strict ? "> 0" : ">= 0") +
                     ", got " + shortest_repr(v));
}

/// Throws unless v is an integer >= lo; returns it.
inline long long check_integer(const std::string& owner, const std::string& what, double v,
                               long long lo) {
  if (!(std::isfinite(v) && v == std::floor(v) && v >= static_cast<double>(lo) && v < 9e15))
    throw ValueError(owner + ": " + what + " must be an integer >= " + std::to_string(lo) +
                     ", got " + shortest_repr(v));
  return static_cast<long long>(v);
}

/// Throws unless v is 0 or 1.
inline bool check_flag(const std::string& owner, const std::string& what, double v) {
  if (v != 0 && v != 1)
    throw ValueError(owner + ": " + what + " must be true or false, got " + shortest_repr(v));
  return v == 1;
}

}  // namespace chainrule::detail
