// Exceptions of the core. The bindings map ValueError to Python's ValueError,
// TypeError to TypeError and DivergenceError to chainrule.DivergenceError.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

namespace chainrule {

/// A bad argument: wrong shape, out-of-range value, non-finite data.
class ValueError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// A bad argument type (e.g. an activation that returned the wrong kind of result).
class TypeError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// Training produced a non-finite loss or parameter; the weights were restored.
class DivergenceError : public std::runtime_error {
 public:
  DivergenceError(const std::string& what, std::ptrdiff_t epoch)
      : std::runtime_error(what), epoch_(epoch) {}
  std::ptrdiff_t epoch() const noexcept { return epoch_; }

 private:
  std::ptrdiff_t epoch_;
};

}  // namespace chainrule
