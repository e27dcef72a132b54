// Exceptions of the core. The bindings map ValueError to Python's ValueError,
// TypeError to TypeError and DivergenceError to chainrule.DivergenceError.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

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

/// Memory for a pass's buffers could not be had. A std::bad_alloc (Python's MemoryError) whose
/// message says where: the layer, the batch's rows and the size of one buffer.
class OutOfMemory : public std::bad_alloc {
 public:
  explicit OutOfMemory(std::string what) : what_(std::move(what)) {}
  const char* what() const noexcept override { return what_.c_str(); }

 private:
  std::string what_;
};

/// The shortest decimal that reads back as exactly v (0.2, not 0.20000000000000001; 1e-09,
/// not 0.000000), for messages and reprs.
inline std::string shortest_repr(double v) {
  char buf[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

/// For a message about an inf in a network's data: in float32, where the Python layer's cast
/// turned a finite value past float32's range into inf, the note that says so; else "".
template <class T>
std::string float32_inf_note(T v) {
  if constexpr (std::is_same_v<T, float>)
    if (std::isinf(v)) return " (values beyond 3.4e38 in magnitude become inf in float32)";
  return "";
}

}  // namespace chainrule
