// libFuzzer target for the saved-router loader (Pipeline::FromBytes, the path
// router_load and router_reload take). No byte string may crash it; what it
// refuses must be DataLoss (corrupt) or FailedPrecondition (newer format);
// what it accepts must route to finite figures and save again.
//
// Most mutations break a section checksum, which the container rejects
// before any section parser runs. So each input is tried twice: as given,
// and with every checksum recomputed, which lets the fuzzer reach the
// meta/config/featurizer/router parsers behind the checks.
// Seeds: corpus/saved_router/<kind>.router, written by make_saved_router_seeds.
// Built with -DROUTER_FUZZ=ON (clang); run by scripts/fuzz.sh and, briefly, scripts/test.sh.
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "router/pipeline.h"
#include "router/query.h"

namespace {

// The container layout of docs/file-format.md: an 8-byte magic, version,
// section count and table CRC (u32 each), then 40-byte entries (16-byte
// name, u64 offset, u64 size, u32 CRC, u32 reserved).
constexpr size_t kHeaderBytes = 8 + 3 * 4;
constexpr size_t kEntryBytes = 16 + 8 + 8 + 4 + 4;
constexpr uint32_t kMaxSections = 64;

uint32_t Crc32(std::string_view bytes) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : bytes) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

template <typename T>
T Read(const std::string& s, size_t at) {
  T v;
  std::memcpy(&v, s.data() + at, sizeof(T));
  return v;
}

template <typename T>
void Write(std::string* s, size_t at, T v) {
  std::memcpy(s->data() + at, &v, sizeof(T));
}

// Recomputes every checksum the table allows; false when the image is too
// short to have a table at all.
bool FixChecksums(std::string* image) {
  if (image->size() < kHeaderBytes) return false;
  const uint32_t count = Read<uint32_t>(*image, 12);
  if (count > kMaxSections || image->size() < kHeaderBytes + kEntryBytes * count) return false;
  for (uint32_t i = 0; i < count; ++i) {
    const size_t entry = kHeaderBytes + kEntryBytes * i;
    const uint64_t offset = Read<uint64_t>(*image, entry + 16);
    const uint64_t size = Read<uint64_t>(*image, entry + 24);
    if (offset > image->size() || size > image->size() - offset) continue;
    Write<uint32_t>(image, entry + 32, Crc32(std::string_view(*image).substr(offset, size)));
  }
  Write<uint32_t>(image, 16,
                  Crc32(std::string_view(*image).substr(kHeaderBytes, kEntryBytes * count)));
  return true;
}

void CheckDecision(const router::Pipeline& pipeline, const router::Decision& decision) {
  const router::Candidate& chosen = decision.chosen;
  if (chosen.model_index < 0 || chosen.model_index >= pipeline.catalog().size()) std::abort();
  if (!std::isfinite(chosen.predicted_quality) || chosen.predicted_quality < 0.0 ||
      chosen.predicted_quality > 1.0) {
    std::abort();
  }
  if (!std::isfinite(chosen.expected_cost_usd) || chosen.expected_cost_usd < 0.0) std::abort();
  (void)decision.Explain();
  (void)decision.ToJson();
}

// Uses an accepted pipeline the way a host would.
void Exercise(const router::Pipeline& pipeline) {
  const int dim = pipeline.dim();
  if (dim < 1 || pipeline.catalog().size() < 1) std::abort();
  std::vector<float> vector(dim, 0.0f);
  router::Decision decision;
  router::Query query;
  query.vector = vector;
  // The zero vector and a unit vector; routing may refuse (e.g. constraints
  // exclude every model) but must not crash or give non-finite figures.
  for (int pass = 0; pass < 2; ++pass) {
    if (pass == 1) vector[0] = 1.0f;
    if (pipeline.Route(query, &decision).ok()) CheckDecision(pipeline, decision);
  }
  if (pipeline.embedder() != nullptr &&
      pipeline.RouteText("fix the segfault in this loop", &decision).ok()) {
    CheckDecision(pipeline, decision);
  }
  // What was accepted saves and loads again.
  absl::StatusOr<std::string> bytes = pipeline.ToBytes();
  if (!bytes.ok()) std::abort();
  if (!router::Pipeline::FromBytes(*bytes, "<round trip>").ok()) std::abort();
}

void Try(std::string_view bytes) {
  absl::StatusOr<std::unique_ptr<router::Pipeline>> pipeline =
      router::Pipeline::FromBytes(bytes, "fuzz.router");
  if (!pipeline.ok()) {
    const absl::StatusCode code = pipeline.status().code();
    if (code != absl::StatusCode::kDataLoss && code != absl::StatusCode::kFailedPrecondition &&
        code != absl::StatusCode::kResourceExhausted) {
      std::abort();  // the documented codes of a refused file
    }
    if (pipeline.status().message().empty()) std::abort();
    return;
  }
  Exercise(**pipeline);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  Try(bytes);
  std::string fixed(bytes);
  if (FixChecksums(&fixed) && fixed != bytes) Try(fixed);
  return 0;
}
