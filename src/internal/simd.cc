// Highway's foreach_target.h compiles this file once per target instruction
// set (HWY_TARGET_INCLUDE names it); the dispatch tables and the plain entry
// points are compiled once, under HWY_ONCE. Built with -ffp-contract=off
// (src/CMakeLists.txt), so the compiler fuses no multiply and add of its own,
// in the vector code or the scalar tails.
#include "internal/simd.h"

#include <bit>
#include <cstddef>
#include <cstdint>

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "internal/simd.cc"
#include "hwy/foreach_target.h"  // must come before highway.h
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace router::internal::simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// Rows that AddScaledRowsImpl adds in one pass over the accumulator, which it
// then loads and stores once per 4 rows instead of once per row: 10% faster
// than row by row on the featurizer's 256-d rows (AVX-512, docs/performance.md).
// No software prefetch: prefetching whole rows a pass or two ahead, as the
// scalar loop did, measured slower, both with the table in cache and with the
// caches flushed before each call.
constexpr size_t kRowsPerPass = 4;

void AddScaledImpl(float* HWY_RESTRICT acc, const float* HWY_RESTRICT row,
                   float scale, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t lanes = hn::Lanes(d);
  const auto s = hn::Set(d, scale);
  size_t i = 0;
  // Mul then Add, never MulAdd: see "Same bits" in simd.h.
  for (; i + 2 * lanes <= n; i += 2 * lanes) {
    const auto a0 = hn::Add(hn::LoadU(d, acc + i), hn::Mul(s, hn::LoadU(d, row + i)));
    const auto a1 =
        hn::Add(hn::LoadU(d, acc + i + lanes), hn::Mul(s, hn::LoadU(d, row + i + lanes)));
    hn::StoreU(a0, d, acc + i);
    hn::StoreU(a1, d, acc + i + lanes);
  }
  for (; i + lanes <= n; i += lanes) {
    hn::StoreU(hn::Add(hn::LoadU(d, acc + i), hn::Mul(s, hn::LoadU(d, row + i))), d, acc + i);
  }
  for (; i < n; ++i) acc[i] += scale * row[i];
}

void AddScaledRowsImpl(float* HWY_RESTRICT acc, const float* const* rows,
                       const float* scales, size_t count, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t lanes = hn::Lanes(d);
  size_t r = 0;
  for (; r + kRowsPerPass <= count; r += kRowsPerPass) {
    const float* HWY_RESTRICT r0 = rows[r];
    const float* HWY_RESTRICT r1 = rows[r + 1];
    const float* HWY_RESTRICT r2 = rows[r + 2];
    const float* HWY_RESTRICT r3 = rows[r + 3];
    const auto s0 = hn::Set(d, scales[r]);
    const auto s1 = hn::Set(d, scales[r + 1]);
    const auto s2 = hn::Set(d, scales[r + 2]);
    const auto s3 = hn::Set(d, scales[r + 3]);
    size_t i = 0;
    // Row after row, each product rounded then added, as the plain loop: the
    // same bits on every target (simd.h); the independent vectors of a pass
    // hide the chain's latency.
    for (; i + lanes <= n; i += lanes) {
      auto a = hn::Add(hn::LoadU(d, acc + i), hn::Mul(s0, hn::LoadU(d, r0 + i)));
      a = hn::Add(a, hn::Mul(s1, hn::LoadU(d, r1 + i)));
      a = hn::Add(a, hn::Mul(s2, hn::LoadU(d, r2 + i)));
      a = hn::Add(a, hn::Mul(s3, hn::LoadU(d, r3 + i)));
      hn::StoreU(a, d, acc + i);
    }
    for (; i < n; ++i) {
      float a = acc[i];
      a += scales[r] * r0[i];
      a += scales[r + 1] * r1[i];
      a += scales[r + 2] * r2[i];
      a += scales[r + 3] * r3[i];
      acc[i] = a;
    }
  }
  for (; r < count; ++r) AddScaledImpl(acc, rows[r], scales[r], n);
}

// sum over i < n of a[i] * b[i], where load(i) gives the vector of b[i]
// onwards as floats and element(i) the one b[i]: four accumulators (the adds
// of one do not wait for the previous one's), fused where the CPU can, then
// the tail one element at a time. Dot, DotHalf and DotBytes differ only in
// how b is stored.
template <class Load, class Element>
HWY_INLINE float SumOfProducts(const float* HWY_RESTRICT a, size_t n, Load load,
                               Element element) {
  const hn::ScalableTag<float> d;
  const size_t lanes = hn::Lanes(d);
  auto s0 = hn::Zero(d);
  auto s1 = hn::Zero(d);
  auto s2 = hn::Zero(d);
  auto s3 = hn::Zero(d);
  size_t i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {
    s0 = hn::MulAdd(hn::LoadU(d, a + i), load(i), s0);
    s1 = hn::MulAdd(hn::LoadU(d, a + i + lanes), load(i + lanes), s1);
    s2 = hn::MulAdd(hn::LoadU(d, a + i + 2 * lanes), load(i + 2 * lanes), s2);
    s3 = hn::MulAdd(hn::LoadU(d, a + i + 3 * lanes), load(i + 3 * lanes), s3);
  }
  for (; i + lanes <= n; i += lanes) s0 = hn::MulAdd(hn::LoadU(d, a + i), load(i), s0);
  float sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3))));
  for (; i < n; ++i) sum += a[i] * element(i);
  return sum;
}

float DotImpl(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, size_t n) {
  const hn::ScalableTag<float> d;
  return SumOfProducts(
      a, n, [&](size_t i) { return hn::LoadU(d, b + i); }, [&](size_t i) { return b[i]; });
}

void InnerProductsImpl(const float* HWY_RESTRICT query, const float* HWY_RESTRICT rows,
                       size_t count, size_t dim, float* HWY_RESTRICT out) {
  for (size_t r = 0; r < count; ++r) out[r] = DotImpl(query, rows + r * dim, dim);
}

// A binary16 value as a float, exactly (every half is a float), for the
// scalar tails of DotHalf: the vector code converts with the CPU's
// instruction where it has one.
float HalfToFloat(uint16_t half) {
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1fu;
  const uint32_t mantissa = half & 0x3ffu;
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24
    const float magnitude = static_cast<float>(mantissa) * (1.0f / 16777216.0f);
    return sign != 0 ? -magnitude : magnitude;
  }
  const uint32_t bits = exponent == 0x1fu ? sign | 0x7f800000u | (mantissa << 13)
                                          : sign | ((exponent + 112u) << 23) | (mantissa << 13);
  return std::bit_cast<float>(bits);
}

float DotHalfImpl(const float* HWY_RESTRICT query, const uint16_t* HWY_RESTRICT row,
                  size_t n) {
  const hn::ScalableTag<float> d;
  const hn::Rebind<hwy::float16_t, decltype(d)> dh;
  const auto* half = reinterpret_cast<const hwy::float16_t*>(row);
  return SumOfProducts(
      query, n, [&](size_t i) { return hn::PromoteTo(d, hn::LoadU(dh, half + i)); },
      [&](size_t i) { return HalfToFloat(row[i]); });
}

float DotBytesImpl(const float* HWY_RESTRICT weights, const uint8_t* HWY_RESTRICT codes,
                   size_t n) {
  const hn::ScalableTag<float> d;
  const hn::RebindToSigned<decltype(d)> di;
  const hn::Rebind<uint8_t, decltype(di)> d8;
  // Bytes widen to 32-bit integers, then convert to float: exact.
  return SumOfProducts(
      weights, n,
      [&](size_t i) { return hn::ConvertTo(d, hn::PromoteTo(di, hn::LoadU(d8, codes + i))); },
      [&](size_t i) { return static_cast<float>(codes[i]); });
}

// Columns of a panel that MatVecPanelsImpl takes per block: 128 x 64 bytes
// of each panel stay in L1 while the narrower targets sweep them once per
// vector of rows.
constexpr size_t kPanelBlockColumns = 128;

// Adds columns [begin, end) (a multiple of 4 apart) of one panel, or of two
// consecutive ones (kPanels = 2, which then share the loads of x), to their
// partial sums: partial sum k of row r of panel p is at
// partial[(p * 4 + k) * kPanelRows + r], kept in memory between blocks
// (storing and reloading a float changes no bit).
template <size_t kPanels, class D>
HWY_INLINE void AddPanelColumns(D d, const float* HWY_RESTRICT panel, size_t n,
                                const float* HWY_RESTRICT x, size_t begin, size_t end,
                                float* HWY_RESTRICT partial) {
  const size_t lanes = hn::Lanes(d);
  const float* HWY_RESTRICT second = panel + (kPanels == 2 ? kPanelRows * n : 0);
  float* HWY_RESTRICT partial2 = partial + 4 * kPanelRows;
  for (size_t r = 0; r < kPanelRows; r += lanes) {
    // Lanes are rows, the four partial sums four accumulators: each lane
    // adds its terms in the scalar order (Mul then Add, never MulAdd: see
    // "Same bits" in simd.h), and the four hide the adds' latency.
    auto a0 = hn::Load(d, partial + r);
    auto a1 = hn::Load(d, partial + kPanelRows + r);
    auto a2 = hn::Load(d, partial + 2 * kPanelRows + r);
    auto a3 = hn::Load(d, partial + 3 * kPanelRows + r);
    auto b0 = hn::Load(d, partial2 + r);
    auto b1 = hn::Load(d, partial2 + kPanelRows + r);
    auto b2 = hn::Load(d, partial2 + 2 * kPanelRows + r);
    auto b3 = hn::Load(d, partial2 + 3 * kPanelRows + r);
    for (size_t i = begin; i < end; i += 4) {
      const float* HWY_RESTRICT a = panel + i * kPanelRows + r;
      const auto x0 = hn::Set(d, x[i]);
      const auto x1 = hn::Set(d, x[i + 1]);
      const auto x2 = hn::Set(d, x[i + 2]);
      const auto x3 = hn::Set(d, x[i + 3]);
      a0 = hn::Add(a0, hn::Mul(hn::LoadU(d, a), x0));
      a1 = hn::Add(a1, hn::Mul(hn::LoadU(d, a + kPanelRows), x1));
      a2 = hn::Add(a2, hn::Mul(hn::LoadU(d, a + 2 * kPanelRows), x2));
      a3 = hn::Add(a3, hn::Mul(hn::LoadU(d, a + 3 * kPanelRows), x3));
      if constexpr (kPanels == 2) {
        const float* HWY_RESTRICT b = second + i * kPanelRows + r;
        b0 = hn::Add(b0, hn::Mul(hn::LoadU(d, b), x0));
        b1 = hn::Add(b1, hn::Mul(hn::LoadU(d, b + kPanelRows), x1));
        b2 = hn::Add(b2, hn::Mul(hn::LoadU(d, b + 2 * kPanelRows), x2));
        b3 = hn::Add(b3, hn::Mul(hn::LoadU(d, b + 3 * kPanelRows), x3));
      }
    }
    hn::Store(a0, d, partial + r);
    hn::Store(a1, d, partial + kPanelRows + r);
    hn::Store(a2, d, partial + 2 * kPanelRows + r);
    hn::Store(a3, d, partial + 3 * kPanelRows + r);
    hn::Store(b0, d, partial2 + r);
    hn::Store(b1, d, partial2 + kPanelRows + r);
    hn::Store(b2, d, partial2 + 2 * kPanelRows + r);
    hn::Store(b3, d, partial2 + 3 * kPanelRows + r);
  }
}

void MatVecPanelsImpl(const float* HWY_RESTRICT panels, const float* HWY_RESTRICT x,
                      size_t rows, size_t n, float* HWY_RESTRICT out) {
  // At most a panel's rows per vector; the narrower targets take a panel in
  // several vectors of rows.
  const hn::CappedTag<float, kPanelRows> d;
  const size_t lanes = hn::Lanes(d);
  const size_t whole = n & ~size_t{3};
  // Two panels per pass where there are two left.
  for (size_t first = 0; first < rows; first += 2 * kPanelRows) {
    const float* HWY_RESTRICT panel = panels + first * n;
    const bool two = rows - first > kPanelRows;
    HWY_ALIGN float partial[2 * 4 * kPanelRows] = {};
    for (size_t begin = 0; begin < whole; begin += kPanelBlockColumns) {
      const size_t end = begin + kPanelBlockColumns < whole ? begin + kPanelBlockColumns : whole;
      if (two) {
        AddPanelColumns<2>(d, panel, n, x, begin, end, partial);
      } else {
        AddPanelColumns<1>(d, panel, n, x, begin, end, partial);
      }
    }
    for (size_t p = 0; p < (two ? 2 : 1); ++p) {
      const float* HWY_RESTRICT sums = partial + p * 4 * kPanelRows;
      const float* HWY_RESTRICT columns = panel + p * kPanelRows * n;
      HWY_ALIGN float total[kPanelRows];
      for (size_t r = 0; r < kPanelRows; r += lanes) {
        auto sum = hn::Add(
            hn::Add(hn::Load(d, sums + r), hn::Load(d, sums + 2 * kPanelRows + r)),
            hn::Add(hn::Load(d, sums + kPanelRows + r), hn::Load(d, sums + 3 * kPanelRows + r)));
        for (size_t i = whole; i < n; ++i) {
          sum = hn::Add(sum,
                        hn::Mul(hn::LoadU(d, columns + i * kPanelRows + r), hn::Set(d, x[i])));
        }
        hn::Store(sum, d, total + r);
      }
      const size_t row = first + p * kPanelRows;
      const size_t count = rows - row < kPanelRows ? rows - row : kPanelRows;
      for (size_t r = 0; r < count; ++r) out[row + r] = total[r];
    }
  }
}

#if HWY_HAVE_FLOAT64
// sum over k < length of row[k] * z[k], as a vector (summed by the caller):
// two accumulators, so that a long row is not one chain of dependent adds.
template <class D>
HWY_INLINE hn::Vec<D> PackedRowTimes(D d, const double* HWY_RESTRICT row,
                                     const double* HWY_RESTRICT z, size_t length) {
  const size_t lanes = hn::Lanes(d);
  auto s0 = hn::Zero(d);
  auto s1 = hn::Zero(d);
  size_t k = 0;
  for (; k + 2 * lanes <= length; k += 2 * lanes) {
    s0 = hn::MulAdd(hn::LoadU(d, row + k), hn::LoadU(d, z + k), s0);
    s1 = hn::MulAdd(hn::LoadU(d, row + k + lanes), hn::LoadU(d, z + k + lanes), s1);
  }
  for (; k < length; k += lanes) s0 = hn::MulAdd(hn::LoadU(d, row + k), hn::LoadU(d, z + k), s0);
  return hn::Add(s0, s1);
}
#endif

double QuadraticFormImpl(const double* HWY_RESTRICT packed, const double* HWY_RESTRICT z,
                         size_t n) {
#if HWY_HAVE_FLOAT64
  // At most kSymmetricPadding lanes, so that every padded row is whole
  // vectors.
  const hn::CappedTag<double, kSymmetricPadding> d;
  // Row i contributes z_i * (row_i . z[i, i + length)): one multiply-add per
  // vector of the row, and z_i once per row. Two rows at a time into two
  // accumulators, so that rows do not wait for each other.
  auto even = hn::Zero(d);
  auto odd = hn::Zero(d);
  const double* HWY_RESTRICT row = packed;
  size_t i = 0;
  for (; i + 2 <= n; i += 2) {
    const size_t length = PackedRowLength(n, i);
    const size_t next_length = PackedRowLength(n, i + 1);
    even = hn::MulAdd(hn::Set(d, z[i]), PackedRowTimes(d, row, z + i, length), even);
    row += length;
    odd = hn::MulAdd(hn::Set(d, z[i + 1]), PackedRowTimes(d, row, z + i + 1, next_length), odd);
    row += next_length;
  }
  if (i < n) {
    even = hn::MulAdd(hn::Set(d, z[i]), PackedRowTimes(d, row, z + i, PackedRowLength(n, i)),
                      even);
  }
  return hn::GetLane(hn::SumOfLanes(d, hn::Add(even, odd)));
#else
  // No double vectors on this target (e.g. 32-bit ARM).
  double sum = 0.0;
  const double* row = packed;
  for (size_t i = 0; i < n; ++i) {
    const size_t length = PackedRowLength(n, i);
    for (size_t k = 0; k < length; ++k) sum += z[i] * (row[k] * z[i + k]);
    row += length;
  }
  return sum;
#endif
}

int64_t TargetImpl() { return HWY_TARGET; }

}  // namespace HWY_NAMESPACE
}  // namespace router::internal::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace router::internal::simd {

HWY_EXPORT(AddScaledImpl);
HWY_EXPORT(AddScaledRowsImpl);
HWY_EXPORT(DotImpl);
HWY_EXPORT(InnerProductsImpl);
HWY_EXPORT(DotHalfImpl);
HWY_EXPORT(DotBytesImpl);
HWY_EXPORT(MatVecPanelsImpl);
HWY_EXPORT(QuadraticFormImpl);
HWY_EXPORT(TargetImpl);

void AddScaled(float* acc, const float* row, float scale, size_t n) {
  HWY_DYNAMIC_DISPATCH(AddScaledImpl)(acc, row, scale, n);
}

void AddScaledRows(float* acc, const float* const* rows, const float* scales,
                   size_t count, size_t n) {
  HWY_DYNAMIC_DISPATCH(AddScaledRowsImpl)(acc, rows, scales, count, n);
}

float Dot(const float* a, const float* b, size_t n) {
  return HWY_DYNAMIC_DISPATCH(DotImpl)(a, b, n);
}

void InnerProducts(const float* query, const float* rows, size_t count, size_t dim,
                   float* out) {
  HWY_DYNAMIC_DISPATCH(InnerProductsImpl)(query, rows, count, dim, out);
}

float DotHalf(const float* query, const uint16_t* row, size_t n) {
  return HWY_DYNAMIC_DISPATCH(DotHalfImpl)(query, row, n);
}

float DotBytes(const float* weights, const uint8_t* codes, size_t n) {
  return HWY_DYNAMIC_DISPATCH(DotBytesImpl)(weights, codes, n);
}

size_t PanelsSize(size_t rows, size_t n) {
  return (rows + kPanelRows - 1) / kPanelRows * kPanelRows * n;
}

void ToPanels(const float* matrix, size_t rows, size_t n, float* panels) {
  const size_t padded_rows = (rows + kPanelRows - 1) / kPanelRows * kPanelRows;
  for (size_t first = 0; first < padded_rows; first += kPanelRows) {
    for (size_t i = 0; i < n; ++i) {
      for (size_t r = 0; r < kPanelRows; ++r) {
        *panels++ = first + r < rows ? matrix[(first + r) * n + i] : 0.0f;
      }
    }
  }
}

void MatVecPanels(const float* panels, const float* x, size_t rows, size_t n, float* out) {
  HWY_DYNAMIC_DISPATCH(MatVecPanelsImpl)(panels, x, rows, n, out);
}

size_t PackedSymmetricSize(size_t n) {
  size_t size = 0;
  for (size_t i = 0; i < n; ++i) {
    size += PackedRowLength(n, i);
  }
  return size;
}

void PackSymmetric(const double* matrix, size_t n, double* packed) {
  for (size_t i = 0; i < n; ++i) {
    const size_t length = PackedRowLength(n, i);
    // The diagonal once, each entry above it for itself and its mirror.
    packed[0] = matrix[i * n + i];
    for (size_t j = i + 1; j < n; ++j) packed[j - i] = 2.0 * matrix[i * n + j];
    for (size_t k = n - i; k < length; ++k) packed[k] = 0.0;
    packed += length;
  }
}

double QuadraticForm(const double* packed, const double* z, size_t n) {
  return HWY_DYNAMIC_DISPATCH(QuadraticFormImpl)(packed, z, n);
}

const char* SimdTargetName() {
  return hwy::TargetName(HWY_DYNAMIC_DISPATCH(TargetImpl)());
}

}  // namespace router::internal::simd
#endif  // HWY_ONCE
