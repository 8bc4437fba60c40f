// File: src/internal/simd.h
//
// Float and double kernels of the hot paths, compiled for several
// instruction sets (through Google Highway: AVX-512, AVX2, SSE4, SSSE3 and a
// portable fallback on x86-64; NEON/SVE on ARM) and dispatched at run time to
// the best one the CPU has. The build has no -march: one library binary runs
// on every x86-64 and uses the wide units where they exist.
//
// Same bits: AddScaled and AddScaledRows give exactly what the plain loop
// `acc[i] += scale * row[i]` gives, row after row, on every target: each
// product is rounded, then added (no fused multiply-add, which would round
// once and so differ between CPUs that have FMA and those that do not). The
// featurizer built on them is thus deterministic across machines, and equal
// to the scalar code it replaced. They are bound by memory, not arithmetic,
// so this costs nothing measurable. MatVecPanels is exact in the same way, in
// the summation order it documents (LinUCB's contexts keep their bits). Dot,
// InnerProducts and QuadraticForm are not bit-exact across targets: they sum
// in a different order than the plain loop (lanes, several accumulators) and
// fuse where the CPU can; they equal that loop up to rounding.
//
// All functions are thread-safe; none allocates. Pointers need no alignment;
// `n` may be any length (the part beyond a whole number of vectors is done
// one element at a time, never by reading past the end; QuadraticForm reads
// the padding its inputs are documented to have).
#ifndef ROUTER_INTERNAL_SIMD_H_
#define ROUTER_INTERNAL_SIMD_H_

#include <cstddef>
#include <cstdint>

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

// sum over i < n of query[i] * row[i], where `row` holds IEEE binary16
// numbers (FAISS's fp16 storage), each converted to float exactly; 0 when
// n == 0. Summed as Dot sums. The halves must be finite: on CPUs without
// F16C, Highway 1.0.3's conversion reads an infinity or NaN as a large
// finite number (simd_test found it), so loaders check stored rows.
float DotHalf(const float* query, const uint16_t* row, size_t n);

// sum over i < n of weights[i] * codes[i], the bytes taken as the integers
// 0..255; 0 when n == 0. Summed as Dot sums. With weights folded from a
// query and an 8-bit scalar quantizer's per-dimension scales, the inner
// product of the query with an encoded row (hnsw_search.cc).
float DotBytes(const float* weights, const uint8_t* codes, size_t n);

// Rows per panel of the matrix layout MatVecPanels reads.
inline constexpr size_t kPanelRows = 16;

// `panels` := the row-major rows x n `matrix` by panels of kPanelRows rows:
// panel p (rows 16p to 16p + 15) column after column, so entry (r, i) goes to
// panels[(p * n + i) * kPanelRows + r - p * kPanelRows]; the last panel is
// padded with zeros. `panels` holds PanelsSize(rows, n) floats.
size_t PanelsSize(size_t rows, size_t n);
void ToPanels(const float* matrix, size_t rows, size_t n, float* panels);

// out[r] = sum over i < n of m(r, i) * x[i], for r < rows, where m is stored
// by ToPanels (one vector holds several rows' entries for one i, and a panel
// is read front to back). Each out[r] is summed in the order of Eigen's
// row-major float product on SSE, which LinUCB's projection used before this
// kernel: four partial sums s_k over the i = k mod 4 below n rounded down to
// a multiple of 4, each in order of i; then (s0 + s2) + (s1 + s3); then the
// remaining terms in order. Every product is rounded before it is added, so
// the result has the same bits on every target, and as that Eigen product
// (a saved router's contexts do not move). `out` must not overlap the inputs.
void MatVecPanels(const float* panels, const float* x, size_t rows, size_t n, float* out);

// Entries per row of PackSymmetric's layout are padded to a multiple of this.
inline constexpr size_t kSymmetricPadding = 8;

// `packed` := the upper triangle of the n x n symmetric `matrix` (row- or
// column-major alike), row after row: row i holds S(i, i), then 2 S(i, j) for
// j > i, then zeros up to a multiple of kSymmetricPadding entries. Half the
// bytes of the whole matrix, in rows that vectors read whole.
// `packed` holds PackedSymmetricSize(n) doubles.
size_t PackedSymmetricSize(size_t n);
// Entries of row i of that layout: n - i, rounded up.
inline size_t PackedRowLength(size_t n, size_t i) {
  return (n - i + kSymmetricPadding - 1) / kSymmetricPadding * kSymmetricPadding;
}
void PackSymmetric(const double* matrix, size_t n, double* packed);

// z^T S z for the S that PackSymmetric packed, in double precision: equals
// the plain sum up to double rounding (another order, fused multiply-adds).
// z holds n + kSymmetricPadding - 1 numbers, the last kSymmetricPadding - 1
// of them 0 (rows are read whole, padding included).
double QuadraticForm(const double* packed, const double* z, size_t n);

// Name of the instruction set the kernels run on, chosen on first use from
// what this CPU supports ("AVX3" = AVX-512, "AVX2", "SSE4", "SSSE3",
// "SCALAR" or "EMU128" = no SIMD beyond the baseline, ...). A static string.
const char* SimdTargetName();

}  // namespace router::internal::simd

#endif  // ROUTER_INTERNAL_SIMD_H_
