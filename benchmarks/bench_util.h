// File: benchmarks/bench_util.h
//
// What every benchmark program shares: order statistics of per-call times
// (p50, p99), a count of heap allocations per call, and the SIMD target the
// library chose on this CPU in the output's context ("simd_target": "AVX3").
//
// Allocation counting replaces the global operator new (and the aligned
// variants) of the program that includes this header, so include it from
// exactly one translation unit per program: each benchmarks/*_bench.cc and
// benchmarks/compare/compare_driver.cc is a program of one file. The count is
// per thread (thread_local), so it sees the allocations of the routing call
// on the calling thread, not those of FAISS or OpenBLAS helper threads, nor
// anything allocated with malloc directly. Not used under sanitizers (which
// replace operator new themselves; the benchmarks are not built there).
#ifndef ROUTER_BENCHMARKS_BENCH_UTIL_H_
#define ROUTER_BENCHMARKS_BENCH_UTIL_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <vector>

#include <benchmark/benchmark.h>

#include "router/version.h"

namespace bench {

// The kernels' instruction set goes into the context of every report (the
// console header and the JSON "context"), so that figures from two machines,
// or from one machine under two dispatch choices, are never compared blind.
// Set during static initialisation: every program's main() runs after it.
inline const bool kSimdTargetInContext = [] {
  benchmark::AddCustomContext("simd_target", router::SimdTargetName());
  return true;
}();

// Operator new calls made by this thread so far.
inline thread_local int64_t t_allocations = 0;
inline int64_t Allocations() { return t_allocations; }

// The p-quantile (0 < p <= 1) of `values` by the nearest-rank rule: the
// smallest value with at least p of them at or below it. Reorders `values`;
// 0 when empty.
inline double Percentile(std::vector<double>& values, double p) {
  if (values.empty()) return 0.0;
  const size_t n = values.size();
  const size_t rank =
      std::min(n - 1, static_cast<size_t>(std::max(1.0, std::ceil(p * static_cast<double>(n)))) - 1);
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(rank),
                   values.end());
  return values[rank];
}

// Sets the counters p50_us and p99_us from per-call times in microseconds,
// and allocs_per_call when `calls` > 0; returns the p50.
inline double ReportLatency(benchmark::State& state, std::vector<double>& micros,
                            int64_t allocations = 0, int64_t calls = 0) {
  if (micros.empty()) return 0.0;
  const double p50 = Percentile(micros, 0.50);
  state.counters["p50_us"] = p50;
  state.counters["p99_us"] = Percentile(micros, 0.99);
  if (calls > 0) {
    state.counters["allocs_per_call"] =
        static_cast<double>(allocations) / static_cast<double>(calls);
  }
  return p50;
}

}  // namespace bench

#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
// operator new[] and the nothrow forms call these by default, and the
// matching deletes call operator delete(void*), so these cover them. GCC
// cannot see that new and delete here pair malloc with free.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  ++bench::t_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, std::align_val_t align) {
  ++bench::t_allocations;
  const std::size_t a = static_cast<std::size_t>(align);
  if (void* p = std::aligned_alloc(a, (std::max<std::size_t>(size, 1) + a - 1) / a * a)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop
#endif

#endif  // ROUTER_BENCHMARKS_BENCH_UTIL_H_
