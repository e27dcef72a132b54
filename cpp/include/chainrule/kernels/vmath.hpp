// Element-wise maths functions written so that the compiler vectorises the loops that call
// them: no branches (both sides are computed and one is selected), no library calls but fma
// (an instruction in the AVX2 and AVX-512 clones of the loops), and the 2^n scaling of exp
// done on the bit pattern. The sources are plain C++ compiled with the build's flags
// (-ffp-contract=off: only the explicit fma fuses), so every machine gets the same bits.
//
// Accuracy (cpp/tests/test_activations.cpp measures it against long double on 10^6 points):
// exp_bounded, exp_nonpositive, sigmoid_v and tanh_v within about 1 ulp of the exact result,
// like a good libm.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

// Always inlined: a loop that calls one out of line runs it scalar, without the FMA
// instructions of the loop's ISA.
#if defined(__GNUC__)
#define CHAINRULE_VMATH inline __attribute__((always_inline))
#else
#define CHAINRULE_VMATH inline
#endif

namespace chainrule::kernels {

namespace vmath_detail {

/// The bits of x as a To of the same size (std::bit_cast, which C++17 lacks).
template <class To, class From>
CHAINRULE_VMATH To bit_cast(From x) {
  static_assert(sizeof(To) == sizeof(From), "a bit cast keeps the size");
  To to;
  std::memcpy(&to, &x, sizeof to);
  return to;
}

CHAINRULE_VMATH std::uint64_t bits(double x) { return bit_cast<std::uint64_t>(x); }
CHAINRULE_VMATH double from_bits(std::uint64_t u) { return bit_cast<double>(u); }
CHAINRULE_VMATH std::uint32_t bits32(float x) { return bit_cast<std::uint32_t>(x); }
CHAINRULE_VMATH float from_bits32(std::uint32_t u) { return bit_cast<float>(u); }

/// a * b + c rounded once: an FMA instruction in the loops compiled for AVX2 and AVX-512 (the
/// x86-64-v3 and v4 clones of kernels/elementwise.hpp), the C library's fma elsewhere; the
/// same bits either way.
CHAINRULE_VMATH double fma(double a, double b, double c) { return std::fma(a, b, c); }
CHAINRULE_VMATH float fma(float a, float b, float c) { return std::fma(a, b, c); }

/// exp(x) = p 2^n: returns p = exp(r) for x = n ln2 + r, |r| <= ln2 / 2 (Cody-Waite: ln2 in two
/// parts, n ln2_hi exact), by a polynomial of degree 12, 1 + r + r^2 / 2 + r^3 (c3 + ... + c12
/// r^9), whose c3..c12 are mpmath's Chebyshev fit of (exp(r) - 1 - r) / r^2 on [-ln2/2, ln2/2]
/// (`mpmath.chebyfit(f, [-L, L], 11)` at 40 digits; error 1.4e-18, so under 2e-19 relative to
/// exp(r)). The tail c3..c12 is evaluated by Estrin's scheme (pairs, then r^2, r^4, r^8: its
/// longest chain is four FMAs, against nine by Horner, so a vector loop is no longer waiting on
/// the chain), the last three terms by Horner, which keeps the rounding of the leading terms
/// where it was: within 0.86 ulp (cpp/tests/test_activations.cpp). Sigmoid is 13% faster than
/// with the Taylor series to degree 13 by Horner that this replaced.
/// `shifted` holds n in the low bits of its significand.
CHAINRULE_VMATH double exp_parts(double x, double& shifted) {
  constexpr double kLog2e = 1.4426950408889634;
  constexpr double kLn2Hi = 0x1.62e42fefa3800p-1;  // 42 significant bits: n * kLn2Hi is exact
  constexpr double kLn2Lo = 0x1.ef35793c76730p-45;
  constexpr double kShift = 0x1.8p52;  // adding it rounds to an integer (round to nearest)
  shifted = fma(x, kLog2e, kShift);
  const double n = shifted - kShift;
  const double r = fma(-n, kLn2Lo, fma(-n, kLn2Hi, x));
  // c3 + c4 r + ... + c12 r^9 by Estrin
  const double r2 = r * r;
  const double r4 = r2 * r2;
  const double r8 = r4 * r4;
  const double c34 = fma(0x1.5555555555556p-5, r, 0x1.5555555555557p-3);
  const double c56 = fma(0x1.6c16c16c162d6p-10, r, 0x1.11111111100dfp-7);
  const double c78 = fma(0x1.a01a01a6d7808p-16, r, 0x1.a01a01abe62ddp-13);
  const double c910 = fma(0x1.27e4db67b4303p-22, r, 0x1.71de02375656cp-19);
  const double c1112 = fma(0x1.1f72fc730b4ffp-29, r, 0x1.af4ddd84882fep-26);
  const double c3to6 = fma(c56, r2, c34);
  const double c7to10 = fma(c910, r2, c78);
  const double c3to10 = fma(c7to10, r4, c3to6);
  const double tail = fma(c1112, r8, c3to10);
  // 1 + r + r^2 / 2 + r^3 tail by Horner
  const double p = fma(fma(fma(tail, r, 0.5), r, 1.0), r, 1.0);
  return p;
}

}  // namespace vmath_detail

/// a / b rounded once, for a divisor b that stays the same over a loop, given r_b, the
/// rounded 1 / b, computed once before it: q = a r_b, then q corrected by the remainder
/// a - b q, which an FMA gives exactly. By Markstein's theorem (r_b within half an ulp of
/// 1 / b, q within one ulp of a / b), q + (a - b q) r_b rounds to a / b, the division's bits,
/// for a product and two FMAs instead of a division (on the Intel machine of
/// docs/machines.md a 512-bit division keeps the divider 9.3 cycles, in which the FMA units
/// start 18 FMAs). It holds while a / b and the remainder stay normal numbers: checked against
/// the division for every float a in [2^-100, 2^100), and 0, with 328 divisors in [1e-4, 1],
/// and for 2.6e9 random doubles in [2^-600, 2^500] with 123 (cpp/tests/test_optimizers.cpp
/// repeats a sample of both). An infinite q is returned as it is, right for an infinite a (the
/// correction would make it NaN); a finite a for which a r_b overflows is outside that range.
template <class T>
CHAINRULE_VMATH T quotient_by(T a, T b, T r_b) {
  const T q = a * r_b;
  const T corrected = vmath_detail::fma(vmath_detail::fma(-q, b, a), r_b, q);
  return q - q == T(0) ? corrected : q;  // q - q: NaN for an infinite q
}

/// exp(x) for x in [-700, 700] (callers clamp; outside it the 2^n scaling is wrong): p 2^n
/// with 2^n added to the exponent bits.
CHAINRULE_VMATH double exp_bounded(double x) {
  using vmath_detail::bits;
  using vmath_detail::from_bits;
  double shifted;
  const double p = vmath_detail::exp_parts(x, shifted);
  // the low bits of `shifted` hold n (two's complement mod 2^12 once shifted into place)
  return from_bits(bits(p) + (bits(shifted) << 52));
}

/// exp(x) for x in [-746, 0], subnormal results included (callers clamp; exp(-746) rounds to
/// 0): p 2^(n + 512) built on the exponent bits, always a normal number, then times 2^-512,
/// which is exact down to 2^-1022 and rounds once below.
CHAINRULE_VMATH double exp_nonpositive(double x) {
  using vmath_detail::bits;
  using vmath_detail::from_bits;
  double shifted;
  const double p = vmath_detail::exp_parts(x, shifted);
  return from_bits(bits(p) + ((bits(shifted) + 512) << 52)) * 0x1p-512;
}

/// The logistic sigmoid 1 / (1 + exp(-z)), with the same two forms as a careful scalar
/// version, selected without a branch: 1 / (1 + e) for z >= 0 and e / (1 + e) below, with
/// e = exp(-|z|) in (0, 1], so no exp ever overflows and sigmoid(z) for z < -708 is exp(z),
/// subnormal, down to 0. sigmoid(+-0) = 0.5, sigmoid(+-inf) = 1, 0; NaN for NaN.
CHAINRULE_VMATH double sigmoid_v(double z) {
  using vmath_detail::bits;
  using vmath_detail::from_bits;
  const double a = from_bits(bits(z) & 0x7fffffffffffffffull);  // |z|
  const double capped = a < 746.0 ? a : 746.0;                  // (NaN is handled at the end)
  const double e = exp_nonpositive(-capped);
  const double s = (z >= 0.0 ? 1.0 : e) / (1.0 + e);
  return z == z ? s : z;  // NaN in, the same NaN out
}

/// sigmoid in float: the double function rounded once.
CHAINRULE_VMATH float sigmoid_v(float z) {
  return static_cast<float>(sigmoid_v(static_cast<double>(z)));
}

/// tanh(x), odd, with tanh(+-0) = +-0, tanh(+-inf) = +-1 and NaN for NaN.
/// |x| < 0.625: Cephes' rational form x + x z P(z) / Q(z), z = x^2 (no cancellation near 0);
/// otherwise 1 - 2 / (exp(2|x|) + 1), with |x| capped at 20, where tanh is 1 in double.
/// Both forms are c + d (u / v), so the operands are selected first and divided once (a vector
/// division takes some five FMAs' time on Zen 4): the small form is a + a ((z P) / Q); the
/// large one is 1 - 2 (1 / (e + 1)), whose 2 (1 / (e + 1)) is the rounded 2 / (e + 1) exactly
/// (a power of two times a normal number), so the bits are those of each form on its own.
CHAINRULE_VMATH double tanh_v(double x) {
  using vmath_detail::bits;
  using vmath_detail::from_bits;
  const std::uint64_t sign = bits(x) & 0x8000000000000000ull;
  const double a = from_bits(bits(x) & 0x7fffffffffffffffull);  // |x|
  // small |x|
  const double z = a * a;
  using vmath_detail::fma;
  const double p = fma(fma(-9.64399179425052238628e-1, z, -9.92877231001918586564e1), z,
                       -1.61468768441708447952e3);
  const double q = fma(fma(z + 1.12811678491632931402e2, z, 2.23548839060100448583e3), z,
                       4.84406305325125486048e3);
  // large |x|
  const double capped = a < 20.0 ? a : 20.0;  // (NaN is handled at the end)
  const double e1 = exp_bounded(2.0 * capped) + 1.0;
  const bool is_small = a < 0.625;
  const double c = is_small ? a : 1.0;
  const double d = is_small ? a : -2.0;
  const double u = is_small ? z * p : 1.0;
  const double v = is_small ? q : e1;
  const double t = fma(d, u / v, c);
  const double r = from_bits(bits(t) | sign);
  return x == x ? r : x;  // NaN in, the same NaN out
}

/// exp(x) in float for x in [-87, 87] (callers clamp): the double version's method at float
/// precision, x = n ln2 + r with ln2 in two parts (Cephes' 0.693359375, exact times any n
/// here), exp(r) by its Taylor series to degree 7 (truncation < 6e-9 relative) in FMAs.
CHAINRULE_VMATH float exp_bounded(float x) {
  using vmath_detail::bits32;
  using vmath_detail::fma;
  using vmath_detail::from_bits32;
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kLn2Hi = 0.693359375f;
  constexpr float kLn2Lo = -2.12194440e-4f;
  constexpr float kShift = 0x1.8p23f;
  const float shifted = fma(x, kLog2e, kShift);
  const float n = shifted - kShift;
  const float r = fma(-n, kLn2Lo, fma(-n, kLn2Hi, x));
  float p = 1.0f / 5040.0f;
  p = fma(p, r, 1.0f / 720.0f);
  p = fma(p, r, 1.0f / 120.0f);
  p = fma(p, r, 1.0f / 24.0f);
  p = fma(p, r, 1.0f / 6.0f);
  p = fma(p, r, 0.5f);
  p = fma(p, r, 1.0f);
  p = fma(p, r, 1.0f);
  // the low bits of `shifted` hold n (mod 2^9 once shifted into place)
  return from_bits32(bits32(p) + (bits32(shifted) << 23));
}

/// tanh in float, in float arithmetic (16 values a vector on AVX-512, and no conversions), the
/// double version's two forms: |x| < 0.625 Cephes' tanhf polynomial x + x z P(z), z = x^2;
/// otherwise 1 - 2 / (exp(2|x|) + 1), |x| capped at 10, where tanh is 1 in float. Within 1 ulp
/// of the exact value (cpp/tests/test_activations.cpp).
CHAINRULE_VMATH float tanh_v(float x) {
  using vmath_detail::bits32;
  using vmath_detail::fma;
  using vmath_detail::from_bits32;
  const std::uint32_t sign = bits32(x) & 0x80000000u;
  const float a = from_bits32(bits32(x) & 0x7fffffffu);  // |x|
  const float z = a * a;
  float p = fma(-5.70498872745e-3f, z, 2.06390887954e-2f);
  p = fma(p, z, -5.37397155531e-2f);
  p = fma(p, z, 1.33314422036e-1f);
  p = fma(p, z, -3.33332819422e-1f);
  const float small = fma(p * z, a, a);
  const float capped = a < 10.0f ? a : 10.0f;  // (NaN is handled at the end)
  const float large = 1.0f - 2.0f / (exp_bounded(2.0f * capped) + 1.0f);
  const float t = a < 0.625f ? small : large;
  const float r = from_bits32(bits32(t) | sign);
  return x == x ? r : x;  // NaN in, the same NaN out
}

}  // namespace chainrule::kernels
