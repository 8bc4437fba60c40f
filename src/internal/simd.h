// File: src/internal/simd.h
//
// Float kernels of the hot paths, compiled for several instruction sets
// (through Google Highway: AVX-512, AVX2, SSE4, SSSE3 and a portable
// fallback on x86-64; NEON/SVE on ARM) and dispatched at run time to the best
// one the CPU has. The build has no -march: one library binary runs on every
// x86-64 and uses the wide units where they exist.
//
// Same bits: AddScaled and AddScaledRows give exactly what the plain loop
// `acc[i] += scale * row[i]` gives, row after row, on every target: each
// product is rounded, then added (no fused multiply-add, which would round
// once and so differ between CPUs that have FMA and those that do not). The
// featurizer built on them is thus deterministic across machines, and equal
// to the scalar code it replaced. They are bound by memory, not arithmetic,
// so this costs nothing measurable. Dot and InnerProducts are not bit-exact
// across targets: they sum in a different order than the plain loop (lanes,
// four accumulators) and fuse where the CPU can; they equal that loop up to
// float rounding.
//
// All functions are thread-safe; none allocates. Pointers need no alignment;
// `n` may be any length (the part beyond a whole number of vectors is done
// one element at a time, never by reading past the end).
#ifndef ROUTER_INTERNAL_SIMD_H_
#define ROUTER_INTERNAL_SIMD_H_

#include <cstddef>

namespace router::internal::simd {

// acc[i] += scale * row[i] for i < n. `acc` and `row` must not overlap.
void AddScaled(float* acc, const float* row, float scale, size_t n);

// acc[i] += sum over r < count of scales[r] * rows[r][i], for i < n: the sum
// of many scaled rows, as AddScaled row by row, but loading and storing `acc`
// once per few rows instead of once per row. No row may overlap `acc`.
void AddScaledRows(float* acc, const float* const* rows, const float* scales,
                   size_t count, size_t n);

// sum over i < n of a[i] * b[i]; 0 when n == 0.
float Dot(const float* a, const float* b, size_t n);

// out[r] = Dot(query, rows + r * dim, dim) for r < count, bit for bit: the
// exact scan of a row-major matrix, with one dispatch for all rows.
void InnerProducts(const float* query, const float* rows, size_t count, size_t dim,
                   float* out);

// Name of the instruction set the kernels run on, chosen on first use from
// what this CPU supports ("AVX3" = AVX-512, "AVX2", "SSE4", "SSSE3",
// "SCALAR" or "EMU128" = no SIMD beyond the baseline, ...). A static string.
const char* SimdTargetName();

}  // namespace router::internal::simd

#endif  // ROUTER_INTERNAL_SIMD_H_
