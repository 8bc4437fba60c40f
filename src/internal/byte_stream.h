// Little binary writer and reader for router state (the bytes inside one
// section of a saved file). Fixed-width little-endian values, length-prefixed
// strings and arrays. The reader never reads past its input and never
// allocates more than the bytes that remain could hold, so a corrupt length
// fails cleanly instead of asking for gigabytes.
#ifndef ROUTER_INTERNAL_BYTE_STREAM_H_
#define ROUTER_INTERNAL_BYTE_STREAM_H_

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "router/catalog.h"

namespace router::internal {

static_assert(std::endian::native == std::endian::little,
              "saved files are little-endian; add byte swapping for this target");

class ByteWriter {
 public:
  explicit ByteWriter(std::string* out) : out_(out) {}

  template <typename T>
  void Put(T value) {
    static_assert(std::is_arithmetic_v<T>);
    out_->append(reinterpret_cast<const char*>(&value), sizeof(T));
  }
  void PutString(std::string_view s) {
    Put<uint64_t>(s.size());
    out_->append(s.data(), s.size());
  }
  template <typename T>
  void PutArray(absl::Span<const T> values) {
    static_assert(std::is_arithmetic_v<T>);
    Put<uint64_t>(values.size());
    if (!values.empty()) {
      out_->append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
    }
  }
  template <typename T>
  void PutVector(const std::vector<T>& values) {
    PutArray<T>(absl::MakeConstSpan(values));
  }

 private:
  std::string* out_;
};

// Reads what ByteWriter wrote. Errors are sticky: after the first failure
// every Get returns false and status() names what was being read.
class ByteReader {
 public:
  // `what` names the input in errors ("knn router state").
  ByteReader(std::string_view bytes, std::string_view what)
      : bytes_(bytes), what_(what) {}

  template <typename T>
  bool Get(T* value, std::string_view field) {
    static_assert(std::is_arithmetic_v<T>);
    if (!Need(sizeof(T), field)) return false;
    std::memcpy(value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool GetString(std::string* s, std::string_view field);
  // A u32 state version, which must lie in [1, newest] (the versions this
  // build reads).
  bool GetVersion(uint32_t* version, uint32_t newest);
  template <typename T>
  bool GetVector(std::vector<T>* values, std::string_view field) {
    static_assert(std::is_arithmetic_v<T>);
    uint64_t count = 0;
    if (!Get(&count, field)) return false;
    if (count > (bytes_.size() - pos_) / sizeof(T)) {
      return Fail(field, "length exceeds the remaining bytes");
    }
    values->resize(count);
    // memcpy must not see the null data() of an empty vector.
    if (count > 0) std::memcpy(values->data(), bytes_.data() + pos_, count * sizeof(T));
    pos_ += count * sizeof(T);
    return true;
  }
  // Like GetVector, and the length must be `expected`.
  template <typename T>
  bool GetVector(std::vector<T>* values, uint64_t expected, std::string_view field) {
    if (!GetVector(values, field)) return false;
    if (values->size() != expected) return Fail(field, "unexpected length");
    return true;
  }

  // Reads an array of exactly `count` elements straight into `out` (which
  // has room for them), without an intermediate vector.
  template <typename T>
  bool GetArrayInto(T* out, uint64_t count, std::string_view field) {
    static_assert(std::is_arithmetic_v<T>);
    uint64_t stored = 0;
    if (!Get(&stored, field)) return false;
    if (stored != count) return Fail(field, "unexpected length");
    if (count > (bytes_.size() - pos_) / sizeof(T)) {
      return Fail(field, "length exceeds the remaining bytes");
    }
    if (count > 0) std::memcpy(out, bytes_.data() + pos_, count * sizeof(T));
    pos_ += count * sizeof(T);
    return true;
  }

  // The raw bytes of `count` stored elements of T (checked as GetArrayInto
  // checks them), for a caller that copies them once into storage of its own
  // (e.g. a std::vector<uint8_t> assigned from the range, which skips the
  // zero-filling a resize would do).
  template <typename T>
  bool GetArrayBytes(uint64_t count, std::string_view field, std::string_view* out) {
    static_assert(std::is_arithmetic_v<T>);
    uint64_t stored = 0;
    if (!Get(&stored, field)) return false;
    if (stored != count) return Fail(field, "unexpected length");
    if (count > (bytes_.size() - pos_) / sizeof(T)) {
      return Fail(field, "length exceeds the remaining bytes");
    }
    *out = bytes_.substr(pos_, count * sizeof(T));
    pos_ += count * sizeof(T);
    return true;
  }

  // Records a validation failure found by the caller; returns false.
  bool Fail(std::string_view field, std::string_view problem);

  size_t remaining() const { return bytes_.size() - pos_; }
  // OK when everything read well and nothing is left over.
  absl::Status Finish();
  const absl::Status& status() const { return status_; }

 private:
  bool Need(size_t n, std::string_view field);

  std::string_view bytes_;
  std::string what_;
  size_t pos_ = 0;
  absl::Status status_;
};

// A stable 64-bit fingerprint of `bytes` (FNV-1a): the same on every machine
// and run, unlike absl::Hash. Identifies a state, never authenticates one.
inline uint64_t Fingerprint64(std::string_view bytes) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : bytes) h = (h ^ static_cast<uint8_t>(c)) * 0x100000001b3ULL;
  return h;
}

// A catalog as a sequence of profiles (name, prices, latency, window, tags).
void PutCatalog(const Catalog& catalog, ByteWriter* out);
bool GetCatalog(ByteReader* in, Catalog* catalog);

}  // namespace router::internal

#endif  // ROUTER_INTERNAL_BYTE_STREAM_H_
