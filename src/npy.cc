#include "router/npy.h"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "fmt/format.h"
#include "router/status.h"
#include "internal/file_io.h"

namespace router {
namespace {

constexpr std::string_view kMagic = "\x93NUMPY";
// No real matrix has a dimension this large; refusing it early keeps every
// later product of dimensions far from int64 overflow.
constexpr int64_t kMaxDim = int64_t{1} << 40;

struct Header {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

// A parser for the Python dict literal numpy writes as the header, e.g.
// "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }". Errors are
// returned bare; ParseNpy prefixes the source name.
class HeaderParser {
 public:
  explicit HeaderParser(std::string_view text) : text_(text) {}

  absl::StatusOr<Header> Parse() {
    Header header;
    bool seen_descr = false, seen_fortran = false, seen_shape = false;
    if (!Consume('{')) return Error("header is not a dict");
    while (!Consume('}')) {
      ROUTER_ASSIGN_OR_RETURN(std::string key, ParseString());
      if (!Consume(':')) return Error("expected ':' after a key");
      if (key == "descr") {
        ROUTER_ASSIGN_OR_RETURN(header.descr, ParseString());
        seen_descr = true;
      } else if (key == "fortran_order") {
        ROUTER_ASSIGN_OR_RETURN(header.fortran_order, ParseBool());
        seen_fortran = true;
      } else if (key == "shape") {
        ROUTER_ASSIGN_OR_RETURN(header.shape, ParseShape());
        seen_shape = true;
      } else {
        return Error(fmt::format("unexpected key '{}'", key));
      }
      if (!Consume(',') && !Peek('}')) return Error("expected ',' or '}'");
    }
    SkipSpace();
    if (pos_ != text_.size()) return Error("unexpected text after the dict");
    if (!seen_descr || !seen_fortran || !seen_shape) {
      return Error("header lacks 'descr', 'fortran_order' or 'shape'");
    }
    return header;
  }

 private:
  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(fmt::format("bad header: {}", what));
  }
  void SkipSpace() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' ||
            text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Peek(char c) {
    SkipSpace();
    return pos_ < text_.size() && text_[pos_] == c;
  }
  bool Consume(char c) {
    if (!Peek(c)) return false;
    ++pos_;
    return true;
  }
  bool ConsumeWord(std::string_view word) {
    SkipSpace();
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  // Python str literal; numpy never writes escapes in the keys and values
  // this reader accepts, so none are handled.
  absl::StatusOr<std::string> ParseString() {
    SkipSpace();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) {
      return Error("expected a quoted string");
    }
    const char quote = text_[pos_++];
    const size_t end = text_.find(quote, pos_);
    if (end == std::string_view::npos) return Error("unterminated string");
    std::string value(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return value;
  }

  absl::StatusOr<bool> ParseBool() {
    if (ConsumeWord("True")) return true;
    if (ConsumeWord("False")) return false;
    return Error("'fortran_order' must be True or False");
  }

  absl::StatusOr<std::vector<int64_t>> ParseShape() {
    std::vector<int64_t> shape;
    if (!Consume('(')) return Error("'shape' must be a tuple");
    while (!Consume(')')) {
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] < '0' || text_[pos_] > '9') {
        return Error("'shape' must hold non-negative integers");
      }
      int64_t dim = 0;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
        dim = dim * 10 + (text_[pos_++] - '0');
        if (dim > kMaxDim) return Error("a 'shape' dimension is absurdly large");
      }
      if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;  // Python 2's long
      shape.push_back(dim);
      if (shape.size() > 32) return Error("'shape' has too many dimensions");
      if (!Consume(',') && !Peek(')')) return Error("expected ',' or ')' in 'shape'");
    }
    return shape;
  }

  std::string_view text_;
  size_t pos_ = 0;
};

uint32_t ReadLittleEndian(std::string_view bytes, size_t offset, int width) {
  uint32_t value = 0;
  for (int i = width - 1; i >= 0; --i) {
    value = (value << 8) | static_cast<unsigned char>(bytes[offset + i]);
  }
  return value;
}

template <typename T>
T LoadLittleEndian(const char* p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  if constexpr (std::endian::native == std::endian::big) {
    char* b = reinterpret_cast<char*>(&value);
    std::reverse(b, b + sizeof(T));
  }
  return value;
}

// Converting a finite double outside float's range is undefined behaviour in
// C++, so map it to the infinity IEEE rounding would give.
float DoubleToFloat(double d) {
  constexpr double kMax = std::numeric_limits<float>::max();
  if (d > kMax) return std::numeric_limits<float>::infinity();
  if (d < -kMax) return -std::numeric_limits<float>::infinity();
  return static_cast<float>(d);
}


}  // namespace

absl::StatusOr<NpyMatrix> ParseNpy(std::string_view bytes, std::string_view source_name) {
  auto error = [&](std::string_view what) {
    return absl::InvalidArgumentError(fmt::format("{}: {}", source_name, what));
  };
  if (bytes.size() < 10 || bytes.substr(0, kMagic.size()) != kMagic) {
    return error("not a .npy file (bad magic)");
  }
  const int major = static_cast<unsigned char>(bytes[6]);
  const int minor = static_cast<unsigned char>(bytes[7]);
  // Version 1.0 stores the header length in 2 bytes, 2.0 in 4.
  int length_width;
  if (major == 1 && minor == 0) {
    length_width = 2;
  } else if (major == 2 && minor == 0) {
    length_width = 4;
  } else {
    return error(fmt::format("unsupported .npy version {}.{} (1.0 and 2.0 are supported)",
                             major, minor));
  }
  const size_t header_start = 8 + length_width;
  if (bytes.size() < header_start) return error("truncated header");
  const uint64_t header_length = ReadLittleEndian(bytes, 8, length_width);
  if (header_length > bytes.size() - header_start) {
    return error(fmt::format("header of {} bytes runs past the end of the {}-byte file",
                             header_length, bytes.size()));
  }
  auto header_or = HeaderParser(bytes.substr(header_start, header_length)).Parse();
  if (!header_or.ok()) return error(std::string(header_or.status().message()));
  const Header& header = *header_or;

  int item_size;
  if (header.descr == "<f4") {
    item_size = 4;
  } else if (header.descr == "<f8") {
    item_size = 8;
  } else {
    return error(fmt::format("unsupported dtype '{}' (only '<f4' and '<f8' are supported)",
                             header.descr));
  }
  if (header.fortran_order) return error("Fortran order not supported");
  NpyMatrix matrix;
  if (header.shape.size() == 1) {
    matrix.rows = 1;
    matrix.cols = header.shape[0];
  } else if (header.shape.size() == 2) {
    matrix.rows = header.shape[0];
    matrix.cols = header.shape[1];
  } else {
    return error(fmt::format("shape has {} dimensions; only 1 or 2 are supported",
                             header.shape.size()));
  }
  // Each dimension is <= 2^40, so the element count cannot overflow int64
  // unless both are huge, which __builtin_mul_overflow catches.
  int64_t count, expected_bytes;
  if (__builtin_mul_overflow(matrix.rows, matrix.cols, &count) ||
      __builtin_mul_overflow(count, int64_t{item_size}, &expected_bytes)) {
    return error("shape is absurdly large");
  }
  const std::string_view data = bytes.substr(header_start + header_length);
  if (static_cast<uint64_t>(expected_bytes) != data.size()) {
    return error(fmt::format("shape ({}, {}) needs {} data bytes but the file has {}",
                             matrix.rows, matrix.cols, expected_bytes, data.size()));
  }
  // Only now, with the size checked against real bytes, allocate.
  matrix.values.resize(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const char* p = data.data() + i * item_size;
    matrix.values[i] =
        item_size == 4 ? LoadLittleEndian<float>(p) : DoubleToFloat(LoadLittleEndian<double>(p));
  }
  return matrix;
}

absl::StatusOr<NpyMatrix> LoadNpy(const std::string& path) {
  ROUTER_ASSIGN_OR_RETURN(std::string bytes, internal::ReadFile(path));
  return ParseNpy(bytes, path);
}

absl::Status SaveNpy(const NpyMatrix& matrix, const std::string& path) {
  int64_t count;
  if (matrix.rows < 0 || matrix.cols < 0 ||
      __builtin_mul_overflow(matrix.rows, matrix.cols, &count) ||
      static_cast<uint64_t>(count) != matrix.values.size()) {
    return absl::InvalidArgumentError(
        fmt::format("matrix is {} x {} but holds {} values", matrix.rows,
                    matrix.cols, matrix.values.size()));
  }
  std::string header = fmt::format(
      "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", matrix.rows, matrix.cols);
  // Pad with spaces and end with '\n' so the data starts at a multiple of 64
  // bytes, as numpy does (10 = magic, version and 2-byte length).
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');

  std::string bytes(kMagic);
  bytes.push_back('\x01');
  bytes.push_back('\x00');
  bytes.push_back(static_cast<char>(header.size() & 0xff));
  bytes.push_back(static_cast<char>(header.size() >> 8));
  bytes += header;
  bytes.reserve(bytes.size() + matrix.values.size() * sizeof(float));
  for (float value : matrix.values) {
    char raw[sizeof(float)];
    std::memcpy(raw, &value, sizeof(float));
    if constexpr (std::endian::native == std::endian::big) std::reverse(raw, raw + sizeof(raw));
    bytes.append(raw, sizeof(raw));
  }
  return internal::WriteFile(path, bytes);
}

}  // namespace router
