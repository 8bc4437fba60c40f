#include "router/npy.h"

#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

namespace router {
namespace {

using Catch::Matchers::Contains;

// Written by numpy 1.24 (np.save, or np.lib.format.write_array for 2.0) and
// pasted as literals so the test does not need Python.
// <f4 shape (2, 3): [[1, -2.5, 3.25], [0.5, 1e-3, -0]]
constexpr std::string_view kNumpyF4{"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }                                                          \n\x00\x00\x80?\x00\x00 \xc0\x00\x00P@\x00\x00\x00?o\x12\x83:\x00\x00\x00\x80", 152};
// <f8 shape (2, 2): [[1, -2.5], [3, 1e300]]
constexpr std::string_view kNumpyF8{"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }                                                          \n\x00\x00\x00\x00\x00\x00\xf0?\x00\x00\x00\x00\x00\x00\x04\xc0\x00\x00\x00\x00\x00\x00\x08@\x9cu\x00\x88<\xe4" "7~", 160};
// <f4 shape (3,): [1.5, 2, -3]
constexpr std::string_view kNumpy1D{"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }                                                            \n\x00\x00\xc0?\x00\x00\x00@\x00\x00@\xc0", 140};
// <f4 shape (1, 2), format version 2.0: [[1, 2]]
constexpr std::string_view kNumpyV2{"\x93NUMPY\x02\x00t\x00\x00\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }                                                        \n\x00\x00\x80?\x00\x00\x00@", 136};
// <f4 shape (2, 2), Fortran order
constexpr std::string_view kNumpyFortran{"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }                                                           \n\x00\x00\x80?\x00\x00@@\x00\x00\x00@\x00\x00\x80@", 144};
// <i4 shape (1, 2)
constexpr std::string_view kNumpyInt{"\x93NUMPY\x01\x00v\x00{'descr': '<i4', 'fortran_order': False, 'shape': (1, 2), }                                                          \n\x01\x00\x00\x00\x02\x00\x00\x00", 136};
// >f4 shape (1, 2)
constexpr std::string_view kNumpyBig{"\x93NUMPY\x01\x00v\x00{'descr': '>f4', 'fortran_order': False, 'shape': (1, 2), }                                                          \n?\x80\x00\x00@\x00\x00\x00", 136};
// <f4 shape (1, 1, 2)
constexpr std::string_view kNumpy3D{"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 2), }                                                       \n\x00\x00\x00\x00\x00\x00\x00\x00", 136};

std::string TempPath(std::string_view name) {
  return (std::filesystem::temp_directory_path() /
          ("router_npy_test_" + std::to_string(::getpid()) + "_" + std::string(name)))
      .string();
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A v1.0 file with the given header dict and data bytes.
std::string MakeNpy(std::string_view dict, std::string_view data) {
  std::string bytes("\x93NUMPY\x01\x00", 8);
  bytes.push_back(static_cast<char>(dict.size() & 0xff));
  bytes.push_back(static_cast<char>(dict.size() >> 8));
  bytes += dict;
  bytes += data;
  return bytes;
}

std::string ErrorOf(std::string_view bytes) {
  auto result = ParseNpy(bytes, "v.npy");
  REQUIRE_FALSE(result.ok());
  CHECK(result.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(result.status().message());
}

TEST_CASE("ParseNpy reads numpy's float32 matrix", "[npy]") {
  auto m = ParseNpy(kNumpyF4);
  REQUIRE(m.ok());
  CHECK(m->rows == 2);
  CHECK(m->cols == 3);
  REQUIRE(m->values.size() == 6);
  CHECK(m->values[0] == 1.0f);
  CHECK(m->values[1] == -2.5f);
  CHECK(m->values[2] == 3.25f);
  CHECK(m->values[3] == 0.5f);
  CHECK(m->values[4] == 1e-3f);
  CHECK(m->values[5] == 0.0f);
  CHECK(std::signbit(m->values[5]));
}

TEST_CASE("ParseNpy reads float64 as float32", "[npy]") {
  auto m = ParseNpy(kNumpyF8);
  REQUIRE(m.ok());
  CHECK(m->rows == 2);
  CHECK(m->cols == 2);
  CHECK(m->values[0] == 1.0f);
  CHECK(m->values[1] == -2.5f);
  CHECK(m->values[2] == 3.0f);
  // 1e300 does not fit a float; it becomes +inf (values are kept, not checked).
  CHECK(m->values[3] == std::numeric_limits<float>::infinity());
}

TEST_CASE("ParseNpy reads a 1-D array as one row", "[npy]") {
  auto m = ParseNpy(kNumpy1D);
  REQUIRE(m.ok());
  CHECK(m->rows == 1);
  CHECK(m->cols == 3);
  CHECK(m->values == std::vector<float>{1.5f, 2.0f, -3.0f});
}

TEST_CASE("ParseNpy reads format version 2.0", "[npy]") {
  auto m = ParseNpy(kNumpyV2);
  REQUIRE(m.ok());
  CHECK(m->rows == 1);
  CHECK(m->cols == 2);
  CHECK(m->values == std::vector<float>{1.0f, 2.0f});
}

TEST_CASE("ParseNpy accepts any key order, double quotes and Python 2 longs", "[npy]") {
  auto m = ParseNpy(MakeNpy("{\"shape\": (1L, 1L), \"fortran_order\": False, \"descr\": \"<f4\"}\n",
                            std::string("\x00\x00\x80?", 4)));
  REQUIRE(m.ok());
  CHECK(m->rows == 1);
  CHECK(m->cols == 1);
  CHECK(m->values == std::vector<float>{1.0f});
}

TEST_CASE("ParseNpy keeps NaN and Inf as they are", "[npy]") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  std::string data(8, '\0');
  std::memcpy(data.data(), &nan, 4);
  std::memcpy(data.data() + 4, &inf, 4);
  auto m = ParseNpy(MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }\n", data));
  REQUIRE(m.ok());
  CHECK(std::isnan(m->values[0]));
  CHECK(m->values[1] == inf);
}

TEST_CASE("ParseNpy rejects malformed files with a message", "[npy]") {
  SECTION("wrong magic") {
    std::string bytes(kNumpyF4);
    bytes[1] = 'X';
    CHECK_THAT(ErrorOf(bytes), Contains("v.npy") && Contains("magic"));
    CHECK_THAT(ErrorOf(""), Contains("magic"));
    CHECK_THAT(ErrorOf("{\"id\": 1}"), Contains("magic"));
  }
  SECTION("unsupported version") {
    std::string bytes(kNumpyF4);
    bytes[6] = '\x03';
    CHECK_THAT(ErrorOf(bytes), Contains("version 3.0"));
  }
  SECTION("truncated data names both byte counts") {
    CHECK_THAT(ErrorOf(kNumpyF4.substr(0, kNumpyF4.size() - 2)),
               Contains("24") && Contains("22") && Contains("(2, 3)"));
  }
  SECTION("extra data is a shape mismatch") {
    CHECK_THAT(ErrorOf(std::string(kNumpyF4) + "abcd"), Contains("24") && Contains("28"));
  }
  SECTION("truncated header") {
    CHECK_THAT(ErrorOf(kNumpyF4.substr(0, 40)), Contains("past the end"));
    CHECK_THAT(ErrorOf(kNumpyV2.substr(0, 11)), Contains("truncated"));
  }
  SECTION("bad descr") {
    CHECK_THAT(ErrorOf(kNumpyInt), Contains("'<i4'"));
    CHECK_THAT(ErrorOf(kNumpyBig), Contains("'>f4'"));
  }
  SECTION("Fortran order") {
    CHECK_THAT(ErrorOf(kNumpyFortran), Contains("Fortran order not supported"));
  }
  SECTION("three dimensions") { CHECK_THAT(ErrorOf(kNumpy3D), Contains("3 dimensions")); }
  SECTION("scalar") {
    CHECK_THAT(ErrorOf(MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", "abcd")),
               Contains("0 dimensions"));
  }
  SECTION("shape mismatch") {
    CHECK_THAT(ErrorOf(MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }",
                               std::string(20, '\0'))),
               Contains("24") && Contains("20"));
  }
  SECTION("absurd shapes fail before allocating") {
    CHECK_THAT(ErrorOf(MakeNpy("{'descr': '<f8', 'fortran_order': False, "
                               "'shape': (1099511627776, 1099511627776), }",
                               "")),
               Contains("absurdly large"));
    CHECK_THAT(ErrorOf(MakeNpy("{'descr': '<f8', 'fortran_order': False, "
                               "'shape': (99999999999999999999999, 1), }",
                               "")),
               Contains("absurdly large"));
    CHECK_THAT(ErrorOf(MakeNpy("{'descr': '<f4', 'fortran_order': False, "
                               "'shape': (1000000, 1000000), }",
                               "")),
               Contains("4000000000000"));
  }
  SECTION("malformed header dicts") {
    CHECK_THAT(ErrorOf(MakeNpy("['descr']", "")), Contains("not a dict"));
    CHECK_THAT(ErrorOf(MakeNpy("{'descr': '<f4', 'shape': (1,)}", "")), Contains("lacks"));
    CHECK_THAT(ErrorOf(MakeNpy("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", "")),
               Contains("True or False"));
    CHECK_THAT(ErrorOf(MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", "")),
               Contains("non-negative"));
    CHECK_THAT(ErrorOf(MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}",
                               "")),
               Contains("unexpected key 'x'"));
    CHECK_THAT(ErrorOf(MakeNpy("{'descr': '<f4", "")), Contains("unterminated"));
    CHECK_THAT(ErrorOf(MakeNpy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} x", "")),
               Contains("after the dict"));
  }
}

TEST_CASE("SaveNpy writes exactly what numpy writes", "[npy]") {
  NpyMatrix m{2, 3, {1.0f, -2.5f, 3.25f, 0.5f, 1e-3f, -0.0f}};
  const std::string path = TempPath("numpy.npy");
  REQUIRE(SaveNpy(m, path).ok());
  CHECK(ReadAll(path) == kNumpyF4);
  std::filesystem::remove(path);
}

TEST_CASE("SaveNpy and LoadNpy round-trip with 64-byte aligned data", "[npy]") {
  for (int64_t cols : {0, 1, 7, 1000}) {
    for (int64_t rows : {0, 1, 3, 123456789}) {
      if (rows * cols > 100000) continue;
      NpyMatrix m{rows, cols, {}};
      for (int64_t i = 0; i < rows * cols; ++i) m.values.push_back(static_cast<float>(i) * 0.25f - 3);
      const std::string path = TempPath("roundtrip.npy");
      REQUIRE(SaveNpy(m, path).ok());
      const std::string bytes = ReadAll(path);
      CHECK((bytes.size() - m.values.size() * 4) % 64 == 0);
      auto loaded = LoadNpy(path);
      REQUIRE(loaded.ok());
      CHECK(loaded->rows == rows);
      CHECK(loaded->cols == cols);
      CHECK(loaded->values == m.values);
      std::filesystem::remove(path);
    }
  }
}

TEST_CASE("SaveNpy rejects an inconsistent matrix", "[npy]") {
  NpyMatrix m{2, 2, {1.0f, 2.0f, 3.0f}};
  auto status = SaveNpy(m, TempPath("bad.npy"));
  CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(status.message()), Contains("3 values"));
  CHECK_FALSE(std::filesystem::exists(TempPath("bad.npy")));
  CHECK(SaveNpy(NpyMatrix{-1, 0, {}}, TempPath("bad.npy")).code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("LoadNpy reports a missing file and names it", "[npy]") {
  const std::string path = TempPath("does-not-exist.npy");
  auto m = LoadNpy(path);
  REQUIRE_FALSE(m.ok());
  CHECK(m.status().code() == absl::StatusCode::kNotFound);
  CHECK_THAT(std::string(m.status().message()), Contains(path));
}

TEST_CASE("LoadNpy errors name the file", "[npy]") {
  const std::string path = TempPath("truncated.npy");
  {
    std::ofstream out(path, std::ios::binary);
    out << kNumpyF4.substr(0, 100);
  }
  auto m = LoadNpy(path);
  REQUIRE_FALSE(m.ok());
  CHECK_THAT(std::string(m.status().message()), Contains(path));
  std::filesystem::remove(path);
}

TEST_CASE("SaveNpy reports an unwritable path", "[npy]") {
  auto status = SaveNpy(NpyMatrix{1, 1, {1.0f}}, TempPath("no-such-dir/x.npy"));
  CHECK(status.code() == absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace router
