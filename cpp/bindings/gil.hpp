// When a binding gives up the GIL around a core call. No maths.
#pragma once

#include <pybind11/pybind11.h>

#include <optional>

namespace chainrule::bindings {

/// Calls whose work (values read or written, roughly) is below this keep the GIL: a few µs at
/// most. Releasing and taking it back costs ~0.1 µs with no other thread, and ~1 µs once
/// another thread has asked for it (JAX's runtime, a Python thread waiting on a timeout), a
/// one-row predict of the demo's networks costs ~0.3 µs in the core.
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
