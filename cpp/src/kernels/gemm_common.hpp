// What every ISA-compiled GEMM header shares: index helpers, the one-rounding multiply-add
// and the size of the epilogue's row groups.
//
// The GEMM headers of this folder (gemm_*.hpp except gemm_isa.hpp, and micro_kernel.hpp) are
// included by each ISA's source file (gemm_avx512.cpp, gemm_avx2.cpp) and compiled there with
// that ISA's flags.
// Everything in them has internal linkage (anonymous namespace) and calls no out-of-line std::
// templates: an inline function with external linkage would be emitted once per ISA file, and
// the linker could keep the AVX-512 copy for a caller on a CPU without AVX-512.
//
// Every path rounds the same way (an FMA chain over each KC block of the depth, then
// C = alpha acc + beta C), so an element of C has the same bits whichever path computes it.
#pragma once

#include "chainrule/tensor.hpp"

namespace chainrule::kernels {
namespace {

inline Index imin(Index a, Index b) { return a < b ? a : b; }
inline Index imax(Index a, Index b) { return a > b ? a : b; }
inline Index ceil_div(Index a, Index b) { return (a + b - 1) / b; }

// Fused multiply-add in one rounding, the same instruction the micro-kernel uses.
inline float fma1(float a, float b, float c) { return __builtin_fmaf(a, b, c); }
inline double fma1(double a, double b, double c) { return __builtin_fma(a, b, c); }

// The row loops hand finished rows to the epilogue in groups of at least this many elements
// (16-32 KB), so that the group is still in L1 when the epilogue reads it.
constexpr Index kEpilogueGroup = 4096;

}  // namespace
}  // namespace chainrule::kernels
