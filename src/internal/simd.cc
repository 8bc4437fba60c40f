// Highway's foreach_target.h compiles this file once per target instruction
// set (HWY_TARGET_INCLUDE names it); the dispatch tables and the plain entry
// points are compiled once, under HWY_ONCE. Built with -ffp-contract=off
// (src/CMakeLists.txt), so the compiler fuses no multiply and add of its own,
// in the vector code or the scalar tails.
#include "internal/simd.h"

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

float DotImpl(const float* HWY_RESTRICT a, const float* HWY_RESTRICT b, size_t n) {
  const hn::ScalableTag<float> d;
  const size_t lanes = hn::Lanes(d);
  // Four accumulators: the adds of one do not wait for the previous one's.
  auto s0 = hn::Zero(d);
  auto s1 = hn::Zero(d);
  auto s2 = hn::Zero(d);
  auto s3 = hn::Zero(d);
  size_t i = 0;
  for (; i + 4 * lanes <= n; i += 4 * lanes) {
    s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
    s1 = hn::MulAdd(hn::LoadU(d, a + i + lanes), hn::LoadU(d, b + i + lanes), s1);
    s2 = hn::MulAdd(hn::LoadU(d, a + i + 2 * lanes), hn::LoadU(d, b + i + 2 * lanes), s2);
    s3 = hn::MulAdd(hn::LoadU(d, a + i + 3 * lanes), hn::LoadU(d, b + i + 3 * lanes), s3);
  }
  for (; i + lanes <= n; i += lanes) {
    s0 = hn::MulAdd(hn::LoadU(d, a + i), hn::LoadU(d, b + i), s0);
  }
  float sum = hn::GetLane(hn::SumOfLanes(d, hn::Add(hn::Add(s0, s1), hn::Add(s2, s3))));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

void InnerProductsImpl(const float* HWY_RESTRICT query, const float* HWY_RESTRICT rows,
                       size_t count, size_t dim, float* HWY_RESTRICT out) {
  for (size_t r = 0; r < count; ++r) out[r] = DotImpl(query, rows + r * dim, dim);
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

const char* SimdTargetName() {
  return hwy::TargetName(HWY_DYNAMIC_DISPATCH(TargetImpl)());
}

}  // namespace router::internal::simd
#endif  // HWY_ONCE
