// When a binding gives up the GIL around a core call. No maths.
#pragma once

#include <pybind11/pybind11.h>

#include <optional>

namespace chainrule::bindings {

/// Calls whose work (values read or written, roughly) is below this keep the GIL: a few µs at
/// most. Releasing and taking it back cost about 60 ns of a one-row predict of the demo's
/// networks (1.15 -> 1.08-1.10 µs on a Zen 4 machine), whose work in the core is ~0.3 µs.
inline constexpr long long kKeepGilBelowWork = 1LL << 16;

/// Releases the GIL for its scope when `work` (as above) is at least kKeepGilBelowWork.
class ReleaseGilFor {
 public:
  explicit ReleaseGilFor(long long work) {
    if (work >= kKeepGilBelowWork) release_.emplace();
  }

 private:
  std::optional<pybind11::gil_scoped_release> release_;
};

}  // namespace chainrule::bindings
