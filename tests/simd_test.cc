// The SIMD kernels against plain scalar loops, on every instruction set this
// CPU supports and the build compiled (not only the one dispatch picks), at
// lengths around every vector width, from unaligned addresses, with zeros and
// denormals.
#include "internal/simd.h"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "hwy/targets.h"

namespace router::internal::simd {
namespace {

class Lcg {
 public:
  explicit Lcg(uint64_t seed) : state_(seed * 2862933555777941757ULL + 1) {}
  // Uniform in [-1, 1).
  float Signed() {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<float>(static_cast<double>(state_ >> 40) / (1 << 23)) - 1.0f;
  }
  size_t Below(size_t n) {
    state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<size_t>((state_ >> 33) % n);
  }

 private:
  uint64_t state_;
};

// Every length up to 67 (covers 0, 1, each width 4/8/16 and each remainder
// after 1-4 vectors of every width), and longer ones that are not multiples
// of any width, plus the featurizer's 256.
std::vector<size_t> Lengths() {
  std::vector<size_t> lengths;
  for (size_t n = 0; n <= 67; ++n) lengths.push_back(n);
  for (size_t n : {100, 255, 256, 257, 1000, 1031}) lengths.push_back(n);
  return lengths;
}

// Runs `check` once per target (as hwy's own tests do), then restores the
// normal choice. SimdTargetName() must follow the mock: otherwise the loop
// would test the same target every time and call it coverage.
template <typename Check>
void ForEachTarget(Check check) {
  const std::vector<int64_t> targets = hwy::SupportedAndGeneratedTargets();
  REQUIRE(!targets.empty());
  for (int64_t target : targets) {
    hwy::SetSupportedTargetsForTest(target);
    hwy::GetChosenTarget().Update(hwy::SupportedTargets());
    INFO("target " << hwy::TargetName(target));
    REQUIRE(std::string(SimdTargetName()) == hwy::TargetName(target));
    check();
  }
  hwy::SetSupportedTargetsForTest(0);
  hwy::GetChosenTarget().Update(hwy::SupportedTargets());
}

// |got - want| within a few float roundings of the terms' magnitude (Dot
// sums in another order than the scalar loop, and fuses).
bool Close(double got, double want, double magnitude) {
  const double tolerance = 8 * std::numeric_limits<float>::epsilon() * magnitude + 1e-44;
  return std::abs(got - want) <= tolerance;
}

TEST_CASE("simd: the dispatched target is one this CPU supports, by name", "[simd]") {
  // Catches a dispatch table that falls back to the baseline everywhere
  // (e.g. a build where foreach_target compiled nothing but EMU128).
  const std::string name = SimdTargetName();
  INFO(name);
  CHECK(!name.empty());
  CHECK(name == hwy::TargetName(hwy::SupportedAndGeneratedTargets().front()));
}

TEST_CASE("simd: AddScaled equals the scalar loop bit for bit, touches nothing past n",
          "[simd]") {
  // Bit for bit: a kernel that fuses the multiply and the add (or lets the
  // compiler do it) rounds once instead of twice and fails here on the
  // targets with FMA, which would make the featurizer differ between CPUs.
  ForEachTarget([] {
    Lcg rng(1);
    for (size_t n : Lengths()) {
      // One float of offset: the kernel may not assume aligned pointers.
      std::vector<float> acc(n + 2), row(n + 2), want(n + 2);
      for (size_t i = 0; i < n + 2; ++i) {
        acc[i] = rng.Signed();
        row[i] = rng.Signed();
      }
      const float scale = 3 * rng.Signed();
      want = acc;
      for (size_t i = 1; i <= n; ++i) want[i] += scale * row[i];
      AddScaled(acc.data() + 1, row.data() + 1, scale, n);
      INFO("n = " << n);
      // The guards catch a vector tail stored past the end (or before it).
      CHECK(acc[0] == want[0]);
      CHECK(acc[n + 1] == want[n + 1]);
      for (size_t i = 1; i <= n; ++i) {
        if (acc[i] != want[i]) FAIL("i = " << i << ": " << acc[i] << " vs " << want[i]);
      }
    }
  });
}

TEST_CASE("simd: AddScaled of zeros and of denormals is exact", "[simd]") {
  // Zeros catch an accumulator that is not read back (acc overwritten);
  // denormals catch flush-to-zero or denormals-are-zero being switched on
  // (-ffast-math, a kernel setting MXCSR), which would change tiny rows.
  ForEachTarget([] {
    const float tiny = std::numeric_limits<float>::denorm_min() * 12345;
    REQUIRE(std::fpclassify(tiny) == FP_SUBNORMAL);
    for (size_t n : Lengths()) {
      std::vector<float> acc(n, 0.5f), zeros(n, 0.0f);
      AddScaled(acc.data(), zeros.data(), 7.0f, n);
      for (float v : acc) REQUIRE(v == 0.5f);
      std::vector<float> denormal(n, tiny), sum(n, 0.0f);
      AddScaled(sum.data(), denormal.data(), 1.0f, n);
      AddScaled(sum.data(), denormal.data(), -2.0f, n);
      for (float v : sum) REQUIRE(v == -tiny);
    }
  });
}

TEST_CASE("simd: AddScaledRows equals the scalar loop row by row, bit for bit", "[simd]") {
  // Counts 0..13 cover every remainder of the kernel's rows per pass; the
  // rows are scattered over a table, as in the featurizer, and repeat (a row
  // may be added twice). Bit for bit: a pass that adds its rows in another
  // order, or sums pairs of rows first, fails.
  ForEachTarget([] {
    Lcg rng(2);
    for (size_t n : Lengths()) {
      const size_t table_rows = 16;
      std::vector<float> table(table_rows * n + 1);
      for (float& v : table) v = rng.Signed();
      for (size_t count = 0; count <= 13; ++count) {
        std::vector<const float*> rows(count);
        std::vector<float> scales(count);
        for (size_t r = 0; r < count; ++r) {
          rows[r] = table.data() + 1 + rng.Below(table_rows) * n;
          scales[r] = 2 * rng.Signed();
        }
        std::vector<float> acc(n + 2), want(n + 2);
        for (float& v : acc) v = rng.Signed();
        want = acc;
        for (size_t r = 0; r < count; ++r) {
          for (size_t i = 0; i < n; ++i) want[i + 1] += scales[r] * rows[r][i];
        }
        AddScaledRows(acc.data() + 1, rows.data(), scales.data(), count, n);
        INFO("n = " << n << ", count = " << count);
        CHECK(acc[0] == want[0]);
        CHECK(acc[n + 1] == want[n + 1]);
        for (size_t i = 1; i <= n; ++i) {
          if (acc[i] != want[i]) FAIL("i = " << i << ": " << acc[i] << " vs " << want[i]);
        }
      }
    }
  });
}

TEST_CASE("simd: AddScaledRows of denormal rows is exact", "[simd]") {
  ForEachTarget([] {
    const float tiny = std::numeric_limits<float>::denorm_min() * 3;
    for (size_t n : {size_t{1}, size_t{17}, size_t{256}, size_t{259}}) {
      std::vector<float> row(n, tiny), acc(n, 0.0f);
      const std::vector<const float*> rows(9, row.data());
      const std::vector<float> scales(9, 1.0f);
      AddScaledRows(acc.data(), rows.data(), scales.data(), rows.size(), n);
      for (float v : acc) REQUIRE(v == 9 * tiny);
    }
  });
}

TEST_CASE("simd: Dot equals the double-precision sum within rounding", "[simd]") {
  // Catches a lost tail or lost accumulator (an error of whole terms, far
  // above rounding) and a horizontal sum over the wrong lanes.
  ForEachTarget([] {
    Lcg rng(3);
    for (size_t n : Lengths()) {
      std::vector<float> a(n + 1), b(n + 1);
      for (size_t i = 0; i <= n; ++i) {
        a[i] = rng.Signed();
        b[i] = rng.Signed();
      }
      double want = 0, magnitude = 0;
      for (size_t i = 1; i <= n; ++i) {
        want += double{a[i]} * b[i];
        magnitude += std::abs(double{a[i]} * b[i]);
      }
      const float got = Dot(a.data() + 1, b.data() + 1, n);
      INFO("n = " << n << ": " << got << " vs " << want);
      CHECK(Close(got, want, magnitude * static_cast<double>(n + 1)));
      if (n == 0) CHECK(got == 0.0f);
    }
  });
}

TEST_CASE("simd: Dot of zeros is zero and of denormals is exact", "[simd]") {
  ForEachTarget([] {
    const float tiny = std::numeric_limits<float>::denorm_min() * 1001;
    for (size_t n : Lengths()) {
      const std::vector<float> zeros(n, 0.0f), ones(n, 1.0f), denormal(n, tiny);
      REQUIRE(Dot(zeros.data(), ones.data(), n) == 0.0f);
      // Sums of subnormals are exact while they stay below the normal range
      // (67 x 1001 x 2^-149 does); flush-to-zero would give 0.
      REQUIRE(Dot(denormal.data(), ones.data(), n) == static_cast<float>(n) * tiny);
    }
  });
}

// A binary16 value by its definition, independently of the kernel's own
// conversion: (-1)^s * 2^(e-15) * 1.m, or 2^-14 * 0.m for e == 0.
double HalfValue(uint16_t half) {
  const int exponent = (half >> 10) & 0x1f;
  const int mantissa = half & 0x3ff;
  const double sign = (half & 0x8000) != 0 ? -1.0 : 1.0;
  if (exponent == 0x1f) {
    return mantissa == 0 ? sign * std::numeric_limits<double>::infinity()
                         : std::numeric_limits<double>::quiet_NaN();
  }
  if (exponent == 0) return sign * std::ldexp(mantissa, -24);
  return sign * std::ldexp(1024 + mantissa, exponent - 25);
}

TEST_CASE("simd: DotHalf converts every finite binary16 value exactly", "[simd]") {
  // n copies of one half against ones sum to n times its value exactly
  // (11 significant bits times at most 64), so any conversion error shows;
  // n = 1 goes through the scalar tail, 16 and 64 through the vectors.
  // Infinities and NaNs are outside DotHalf's contract (simd.h).
  ForEachTarget([] {
    const std::vector<float> ones(64, 1.0f);
    std::vector<uint16_t> row(64);
    int wrong = 0;
    for (uint32_t bits = 0; bits <= 0xffff; ++bits) {
      if (((bits >> 10) & 0x1f) == 0x1f) continue;
      std::fill(row.begin(), row.end(), static_cast<uint16_t>(bits));
      const double value = HalfValue(static_cast<uint16_t>(bits));
      for (size_t n : {1, 16, 64}) {
        const float got = DotHalf(ones.data(), row.data(), n);
        const bool same = std::isnan(value) ? std::isnan(got) : got == n * value;
        if (!same && ++wrong <= 5) {
          UNSCOPED_INFO("half 0x" << std::hex << bits << std::dec << ", n = " << n << ": "
                                  << got << " vs " << n * value);
        }
      }
    }
    CHECK(wrong == 0);
  });
}

TEST_CASE("simd: DotHalf and DotBytes equal the double-precision sum within rounding",
          "[simd]") {
  // Catches a lost tail or accumulator, and bytes read as signed (codes of
  // 128 and above would turn negative).
  ForEachTarget([] {
    Lcg rng(11);
    for (size_t n : Lengths()) {
      std::vector<float> query(n + 1);
      std::vector<uint16_t> halves(n + 1);
      std::vector<uint8_t> codes(n + 1);
      for (size_t i = 0; i <= n; ++i) {
        query[i] = rng.Signed();
        // Any finite half: exponents 0 (subnormal) to 30, either sign.
        halves[i] = static_cast<uint16_t>((rng.Below(2) << 15) | (rng.Below(31) << 10) |
                                          rng.Below(1024));
        codes[i] = static_cast<uint8_t>(rng.Below(256));
      }
      double want_half = 0, magnitude_half = 0, want_bytes = 0, magnitude_bytes = 0;
      for (size_t i = 1; i <= n; ++i) {
        want_half += query[i] * HalfValue(halves[i]);
        magnitude_half += std::abs(query[i] * HalfValue(halves[i]));
        want_bytes += double{query[i]} * codes[i];
        magnitude_bytes += std::abs(double{query[i]} * codes[i]);
      }
      const float half = DotHalf(query.data() + 1, halves.data() + 1, n);
      const float bytes = DotBytes(query.data() + 1, codes.data() + 1, n);
      INFO("n = " << n << ": " << half << " vs " << want_half << "; " << bytes << " vs "
                  << want_bytes);
      CHECK(Close(half, want_half, magnitude_half * static_cast<double>(n + 1)));
      CHECK(Close(bytes, want_bytes, magnitude_bytes * static_cast<double>(n + 1)));
      if (n == 0) CHECK((half == 0.0f && bytes == 0.0f));
    }
  });
}

TEST_CASE("simd: DotBytes of zeros is zero and of denormal weights is exact", "[simd]") {
  ForEachTarget([] {
    const float tiny = std::numeric_limits<float>::denorm_min() * 1001;
    for (size_t n : Lengths()) {
      const std::vector<float> ones(n, 1.0f), denormal(n, tiny);
      const std::vector<uint8_t> zeros(n, 0), unit(n, 1);
      REQUIRE(DotBytes(ones.data(), zeros.data(), n) == 0.0f);
      REQUIRE(DotBytes(denormal.data(), unit.data(), n) == static_cast<float>(n) * tiny);
    }
  });
}

TEST_CASE("simd: InnerProducts is Dot of each row, bit for bit", "[simd]") {
  // Catches a wrong row stride, a row skipped or repeated, a write past
  // `count`, and an inner loop that differs from Dot's (a row's similarity
  // must not depend on which call computed it).
  ForEachTarget([] {
    Lcg rng(4);
    for (size_t dim : {size_t{1}, size_t{7}, size_t{16}, size_t{33}, size_t{256}, size_t{257}}) {
      for (size_t count : {size_t{0}, size_t{1}, size_t{5}, size_t{64}}) {
        std::vector<float> query(dim + 1), rows(count * dim + 1);  // + 1: the offset below
        for (float& v : query) v = rng.Signed();
        for (float& v : rows) v = rng.Signed();
        const float sentinel = 12345.0f;
        std::vector<float> out(count + 1, sentinel);
        // Unaligned: the query and the rows start one float in.
        const float* q = query.data() + 1;
        const float* first_row = rows.data() + 1;
        InnerProducts(q, first_row, count, dim, out.data());
        INFO("dim " << dim << ", count " << count);
        for (size_t r = 0; r < count; ++r) {
          REQUIRE(out[r] == Dot(q, first_row + r * dim, dim));
        }
        REQUIRE(out[count] == sentinel);
      }
    }
  });
}

// out[r] in the order MatVecPanels documents (Eigen's SSE row-major
// product): four partial sums by i mod 4, (s0 + s2) + (s1 + s3), then the
// tail in order; from the row-major matrix.
std::vector<float> EigenOrderMatVec(const std::vector<float>& matrix, const float* x,
                                    size_t rows, size_t n) {
  std::vector<float> out(rows);
  const size_t whole = n / 4 * 4;
  for (size_t r = 0; r < rows; ++r) {
    const float* row = matrix.data() + r * n;
    float s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (size_t i = 0; i < whole; ++i) s[i % 4] += row[i] * x[i];
    float sum = (s[0] + s[2]) + (s[1] + s[3]);
    for (size_t i = whole; i < n; ++i) sum += row[i] * x[i];
    out[r] = sum;
  }
  return out;
}

// Rows around the panel height (16) and twice it (a pass takes two panels).
const size_t kPanelTestRows[] = {1, 2, 5, 15, 16, 17, 31, 32, 33, 47, 48, 49, 64, 65};

TEST_CASE("simd: ToPanels puts entry (r, i) where MatVecPanels reads it, zeros after",
          "[simd]") {
  for (size_t rows : kPanelTestRows) {
    for (size_t n : {size_t{1}, size_t{3}, size_t{130}}) {
      std::vector<float> matrix(rows * n);
      for (size_t k = 0; k < matrix.size(); ++k) matrix[k] = static_cast<float>(k + 1);
      std::vector<float> panels(PanelsSize(rows, n), -1.0f);
      REQUIRE(panels.size() == (rows + kPanelRows - 1) / kPanelRows * kPanelRows * n);
      ToPanels(matrix.data(), rows, n, panels.data());
      for (size_t p = 0; p * kPanelRows < rows; ++p) {
        for (size_t i = 0; i < n; ++i) {
          for (size_t k = 0; k < kPanelRows; ++k) {
            const size_t r = p * kPanelRows + k;
            const float want = r < rows ? matrix[r * n + i] : 0.0f;
            REQUIRE(panels[(p * n + i) * kPanelRows + k] == want);
          }
        }
      }
    }
  }
}

TEST_CASE("simd: MatVecPanels sums in Eigen's SSE order bit for bit, writes only rows",
          "[simd]") {
  // Bit for bit: LinUCB's contexts were computed by Eigen's product before,
  // and saved routers must keep their estimates; a kernel that fuses, sums
  // the four partial sums in another order or the tail before them, or mixes
  // up panels fails here. Unaligned x; a sentinel after the rows.
  ForEachTarget([] {
    Lcg rng(5);
    for (size_t rows : kPanelTestRows) {
      for (size_t n : Lengths()) {
        std::vector<float> matrix(rows * n), x(n + 1);
        for (float& v : matrix) v = rng.Signed();
        for (float& v : x) v = rng.Signed();
        std::vector<float> panels(PanelsSize(rows, n));
        ToPanels(matrix.data(), rows, n, panels.data());
        const float sentinel = 12345.0f;
        std::vector<float> out(rows + 1, sentinel);
        MatVecPanels(panels.data(), x.data() + 1, rows, n, out.data());
        const std::vector<float> want = EigenOrderMatVec(matrix, x.data() + 1, rows, n);
        INFO("rows " << rows << ", n " << n);
        for (size_t r = 0; r < rows; ++r) {
          if (out[r] != want[r]) FAIL("r = " << r << ": " << out[r] << " vs " << want[r]);
        }
        REQUIRE(out[rows] == sentinel);
      }
    }
  });
}

TEST_CASE("simd: MatVecPanels of zeros is zero and of denormals is exact", "[simd]") {
  ForEachTarget([] {
    const float tiny = std::numeric_limits<float>::denorm_min() * 1001;
    Lcg rng(9);
    for (size_t rows : {size_t{3}, size_t{16}, size_t{40}}) {
      for (size_t n : Lengths()) {
        const std::vector<float> ones(n, 1.0f), zeros(n, 0.0f);
        std::vector<float> matrix(rows * n), panels(PanelsSize(rows, n));
        for (float& v : matrix) v = rng.Signed();
        std::vector<float> out(rows);
        // Any matrix times zeros is zero.
        ToPanels(matrix.data(), rows, n, panels.data());
        MatVecPanels(panels.data(), zeros.data(), rows, n, out.data());
        for (float v : out) REQUIRE(v == 0.0f);
        // Sums of subnormals are exact while they stay below the normal range;
        // flush-to-zero would give 0.
        std::fill(matrix.begin(), matrix.end(), tiny);
        ToPanels(matrix.data(), rows, n, panels.data());
        MatVecPanels(panels.data(), ones.data(), rows, n, out.data());
        for (float v : out) REQUIRE(v == static_cast<float>(n) * tiny);
      }
    }
  });
}

// z^T S z of a symmetric S (row-major), in long double, and the sum of the
// terms' magnitudes.
std::pair<long double, long double> QuadraticFormReference(const std::vector<double>& s,
                                                           const double* z, size_t n) {
  long double sum = 0, magnitude = 0;
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < n; ++j) {
      const long double term = static_cast<long double>(s[i * n + j]) * z[i] * z[j];
      sum += term;
      magnitude += std::abs(term);
    }
  }
  return {sum, magnitude};
}

std::vector<double> RandomSymmetric(size_t n, Lcg& rng) {
  std::vector<double> s(n * n);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j <= i; ++j) s[i * n + j] = s[j * n + i] = rng.Signed();
  }
  return s;
}

TEST_CASE("simd: PackSymmetric keeps the upper triangle, off-diagonal doubled, rows padded",
          "[simd]") {
  Lcg rng(6);
  for (size_t n : Lengths()) {
    const std::vector<double> s = RandomSymmetric(n, rng);
    std::vector<double> packed(PackedSymmetricSize(n), -1.0);
    PackSymmetric(s.data(), n, packed.data());
    size_t offset = 0;
    for (size_t i = 0; i < n; ++i) {
      const size_t length = PackedRowLength(n, i);
      REQUIRE(length % kSymmetricPadding == 0);
      REQUIRE(length >= n - i);
      REQUIRE(length < n - i + kSymmetricPadding);
      REQUIRE(packed[offset] == s[i * n + i]);
      for (size_t j = i + 1; j < n; ++j) REQUIRE(packed[offset + j - i] == 2 * s[i * n + j]);
      for (size_t k = n - i; k < length; ++k) REQUIRE(packed[offset + k] == 0.0);
      offset += length;
    }
    REQUIRE(offset == packed.size());
  }
}

TEST_CASE("simd: QuadraticForm equals z^T S z within double rounding", "[simd]") {
  // Catches a row at the wrong offset, a lost row or vector (errors of whole
  // terms), z_i or z_j from the wrong place, and padding that is read as
  // anything but zero. Unaligned packed rows and z.
  ForEachTarget([] {
    Lcg rng(7);
    for (size_t n : Lengths()) {
      const std::vector<double> s = RandomSymmetric(n, rng);
      std::vector<double> packed(PackedSymmetricSize(n) + 1);
      PackSymmetric(s.data(), n, packed.data() + 1);
      std::vector<double> z(n + kSymmetricPadding, 0.0);
      for (size_t i = 1; i <= n; ++i) z[i] = 2 * rng.Signed();
      const auto [want, magnitude] = QuadraticFormReference(s, z.data() + 1, n);
      const double got = QuadraticForm(packed.data() + 1, z.data() + 1, n);
      INFO("n = " << n << ": " << got << " vs " << static_cast<double>(want));
      const long double tolerance =
          4 * static_cast<long double>(n + 1) * std::numeric_limits<double>::epsilon() * magnitude;
      CHECK(std::abs(got - want) <= tolerance);
      if (n == 0) CHECK(got == 0.0);
    }
  });
}

TEST_CASE("simd: QuadraticForm of zeros is zero and of denormals is exact", "[simd]") {
  ForEachTarget([] {
    const double tiny = std::numeric_limits<double>::denorm_min() * 12345;
    REQUIRE(std::fpclassify(tiny) == FP_SUBNORMAL);
    Lcg rng(8);
    for (size_t n : Lengths()) {
      std::vector<double> packed(PackedSymmetricSize(n));
      std::vector<double> z(n + kSymmetricPadding - 1, 0.0);
      // A random S against z = 0.
      PackSymmetric(RandomSymmetric(n, rng).data(), n, packed.data());
      REQUIRE(QuadraticForm(packed.data(), z.data(), n) == 0.0);
      // S = tiny everywhere against z = 1: n^2 tiny, exact (doubling and sums
      // of subnormals are, below the normal range); flush-to-zero gives 0.
      PackSymmetric(std::vector<double>(n * n, tiny).data(), n, packed.data());
      std::fill(z.begin(), z.begin() + static_cast<std::ptrdiff_t>(n), 1.0);
      REQUIRE(QuadraticForm(packed.data(), z.data(), n) == static_cast<double>(n * n) * tiny);
    }
  });
}

}  // namespace
}  // namespace router::internal::simd
