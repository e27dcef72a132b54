// A tiny test harness for the C++ unit tests: a global pass/fail count, check macros that
// print where and by how much a check failed, and a deterministic RNG.
//
//   CHECK(cond)                       cond must be true
//   CHECK_CLOSE(a, b, rel_tol)        |a - b| <= rel_tol * max(|a|, |b|)
//   CHECK_THROWS(expr, Type)          expr must throw Type (anything else fails)
//   CHECK_THROWS_MSG(expr, Type, s)   ... and what() must contain the substring s
//   check_all_close(name, got, want, n, tol, floor)   element-wise, reports the max difference
//   check_all_equal(name, got, want, n)               exact, reports the max difference
//   RUN_TEST(fn<T>)                   calls fn<T>(); an escaping exception is a failure
//   int main() { ...; return chainrule_test::report(); }   non-zero exit on any failure
//
// Set CHAINRULE_TEST_VERBOSE=1 to print a one-line summary of every passing array check too.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <random>
#include <string>
#include <type_traits>

namespace chainrule_test {

inline int& failures() {
  static int n = 0;
  return n;
}
inline int& passes() {
  static int n = 0;
  return n;
}
inline bool verbose() {
  static const bool v = [] {
    const char* e = std::getenv("CHAINRULE_TEST_VERBOSE");
    return e != nullptr && e[0] != '\0' && e[0] != '0';
  }();
  return v;
}

/// Counts one check; prints `file:line: FAILED: msg` when it failed.
inline bool record(bool ok, const char* file, int line, const std::string& msg) {
  if (ok) {
    ++passes();
  } else {
    ++failures();
    std::fprintf(stderr, "%s:%d: FAILED: %s\n", file, line, msg.c_str());
  }
  return ok;
}

inline std::string fmt(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

/// |got - want| / max(|got|, |want|, floor); 0 when equal (including two zeros or two
/// identical infinities), +inf when exactly one side is NaN or the scale is 0.
inline double rel_diff(double got, double want, double floor = 0.0) {
  if (got == want) return 0.0;
  if (std::isnan(got) && std::isnan(want)) return 0.0;
  const double d = std::fabs(got - want);
  if (!std::isfinite(d)) return std::numeric_limits<double>::infinity();
  const double scale = std::max({std::fabs(got), std::fabs(want), floor});
  return scale > 0 ? d / scale : std::numeric_limits<double>::infinity();
}

inline bool check_close(double got, double want, double rel_tol, double floor, const char* expr,
                        const char* file, int line) {
  const double r = rel_diff(got, want, floor);
  return record(r <= rel_tol, file, line,
                std::string(expr) + ": got " + fmt(got) + ", want " + fmt(want) +
                    ", relative difference " + fmt(r) + " > tolerance " + fmt(rel_tol));
}

/// Element-wise got[i] ~ want[i] for n elements, with the difference measured as
/// rel_diff(got, want, floor) (floor turns it into an absolute difference near zero).
/// On failure prints the name, the max difference, where it occurred and both values.
template <class A, class B>
bool check_all_close(const std::string& name, const A* got, const B* want, std::ptrdiff_t n,
                     double tol, double floor = 0.0) {
  double worst = 0.0;
  std::ptrdiff_t at = -1;
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const double r = rel_diff(static_cast<double>(got[i]), static_cast<double>(want[i]), floor);
    if (at < 0 || r > worst) {
      worst = r;
      at = i;
    }
  }
  const bool ok = worst <= tol;
  if (!ok) {
    ++failures();
    std::fprintf(stderr,
                 "FAILED: %s: max relative difference %.3e > tolerance %.3e (floor %.3g) at "
                 "index %td of %td: got %.17g, want %.17g\n",
                 name.c_str(), worst, tol, floor, at, n, static_cast<double>(got[at]),
                 static_cast<double>(want[at]));
  } else {
    ++passes();
    if (verbose())
      std::printf("ok: %s: max relative difference %.3e (tolerance %.3e, %td elements)\n",
                  name.c_str(), worst, tol, n);
  }
  return ok;
}

/// Exact element-wise equality; on failure prints the max absolute difference and where.
template <class A, class B>
bool check_all_equal(const std::string& name, const A* got, const B* want, std::ptrdiff_t n) {
  double worst = 0.0;
  std::ptrdiff_t at = -1, count = 0;
  for (std::ptrdiff_t i = 0; i < n; ++i) {
    const double g = static_cast<double>(got[i]), w = static_cast<double>(want[i]);
    if (g == w) continue;
    ++count;
    const double d = std::isnan(g - w) ? std::numeric_limits<double>::infinity() : std::fabs(g - w);
    if (at < 0 || d > worst) {
      worst = d;
      at = i;
    }
  }
  if (count > 0) {
    ++failures();
    std::fprintf(stderr,
                 "FAILED: %s: %td of %td elements differ, max absolute difference %.3e at index "
                 "%td: got %.17g, want %.17g\n",
                 name.c_str(), count, n, worst, at, static_cast<double>(got[at]),
                 static_cast<double>(want[at]));
    return false;
  }
  ++passes();
  if (verbose()) std::printf("ok: %s: %td elements equal\n", name.c_str(), n);
  return true;
}

inline bool check_equal_str(const std::string& name, const std::string& got,
                            const std::string& want, const char* file, int line) {
  return record(got == want, file, line, name + ": got \"" + got + "\", want \"" + want + "\"");
}

/// Prints "N passed, M failed"; the return value is main's exit status.
inline int report() {
  std::printf("%d passed, %d failed\n", passes(), failures());
  std::fflush(stdout);
  return failures() == 0 ? 0 : 1;
}

/// Runs one test function; an exception escaping it is a failure (reported with its message)
/// and the remaining tests still run.
template <class F>
void run_test(const char* name, F&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    ++failures();
    std::fprintf(stderr, "FAILED: %s: unexpected exception: %s\n", name, e.what());
  } catch (...) {
    ++failures();
    std::fprintf(stderr, "FAILED: %s: unexpected non-std exception\n", name);
  }
}

/// A deterministic random source (mt19937_64 with a fixed seed).
class Rng {
 public:
  explicit Rng(std::uint64_t seed = 20240601) : gen_(seed) {}

  double uniform(double lo, double hi) {
    return std::uniform_real_distribution<double>(lo, hi)(gen_);
  }
  double normal(double mean = 0.0, double stddev = 1.0) {
    return std::normal_distribution<double>(mean, stddev)(gen_);
  }
  /// An integer in [0, n).
  std::int64_t index(std::int64_t n) {
    return std::uniform_int_distribution<std::int64_t>(0, n - 1)(gen_);
  }

  template <class T>
  void fill_uniform(T* p, std::ptrdiff_t n, double lo, double hi) {
    for (std::ptrdiff_t i = 0; i < n; ++i) p[i] = static_cast<T>(uniform(lo, hi));
  }
  template <class T>
  void fill_normal(T* p, std::ptrdiff_t n, double mean = 0.0, double stddev = 1.0) {
    for (std::ptrdiff_t i = 0; i < n; ++i) p[i] = static_cast<T>(normal(mean, stddev));
  }
  /// Anything with data(), size() (chainrule::Matrix).
  template <class M>
  void fill_uniform(M& mat, double lo, double hi) {
    fill_uniform(mat.data(), mat.size(), lo, hi);
  }
  template <class M>
  void fill_normal(M& mat, double mean = 0.0, double stddev = 1.0) {
    fill_normal(mat.data(), mat.size(), mean, stddev);
  }

  std::mt19937_64& engine() { return gen_; }

 private:
  std::mt19937_64 gen_;
};

template <class T>
const char* dtype_name() {
  return std::is_same_v<T, float> ? "float" : "double";
}

}  // namespace chainrule_test

#define CHECK(cond) ::chainrule_test::record(static_cast<bool>(cond), __FILE__, __LINE__, #cond)

#define CHECK_CLOSE(a, b, rel_tol)                                                              \
  ::chainrule_test::check_close(static_cast<double>(a), static_cast<double>(b), (rel_tol), 0.0, \
                                #a " ~ " #b, __FILE__, __LINE__)

#define CHECK_STR_EQ(got, want) \
  ::chainrule_test::check_equal_str(#got, (got), (want), __FILE__, __LINE__)

#define CHECK_THROWS_MSG(expr, ExceptionType, substring)                                           \
  do {                                                                                             \
    bool chainrule_test_threw_ = false;                                                            \
    try {                                                                                          \
      (void)(expr);                                                                                \
    } catch (const ExceptionType& e) {                                                             \
      chainrule_test_threw_ = true;                                                                \
      const std::string chainrule_test_what_ = e.what();                                           \
      const std::string chainrule_test_sub_ = (substring);                                         \
      ::chainrule_test::record(                                                                    \
          chainrule_test_what_.find(chainrule_test_sub_) != std::string::npos, __FILE__, __LINE__, \
          #expr " threw " #ExceptionType " with message \"" + chainrule_test_what_ +               \
              "\", which does not contain \"" + chainrule_test_sub_ + "\"");                       \
    } catch (const std::exception& e) {                                                            \
      chainrule_test_threw_ = true;                                                                \
      ::chainrule_test::record(false, __FILE__, __LINE__,                                          \
                               #expr " threw another exception instead of " #ExceptionType ": " +  \
                                   std::string(e.what()));                                         \
    } catch (...) {                                                                                \
      chainrule_test_threw_ = true;                                                                \
      ::chainrule_test::record(false, __FILE__, __LINE__,                                          \
                               #expr " threw a non-std exception instead of " #ExceptionType);     \
    }                                                                                              \
    if (!chainrule_test_threw_)                                                                    \
      ::chainrule_test::record(false, __FILE__, __LINE__,                                          \
                               #expr " did not throw (expected " #ExceptionType ")");              \
  } while (0)

#define RUN_TEST(...) ::chainrule_test::run_test(#__VA_ARGS__, [&] { __VA_ARGS__(); })

#define CHECK_THROWS(expr, ExceptionType) CHECK_THROWS_MSG(expr, ExceptionType, "")
