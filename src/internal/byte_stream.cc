#include "internal/byte_stream.h"

#include <cmath>

#include "fmt/format.h"

namespace router::internal {

bool ByteReader::Need(size_t n, std::string_view field) {
  if (!status_.ok()) return false;
  if (n > bytes_.size() - pos_) return Fail(field, "truncated");
  return true;
}

bool ByteReader::Fail(std::string_view field, std::string_view problem) {
  if (status_.ok()) {
    status_ = absl::DataLossError(
        fmt::format("{}: {} at byte {}: {}", what_, field, pos_, problem));
  }
  return false;
}

bool ByteReader::GetString(std::string* s, std::string_view field) {
  uint64_t size = 0;
  if (!Get(&size, field)) return false;
  if (size > remaining()) return Fail(field, "length exceeds the remaining bytes");
  s->assign(bytes_.data() + pos_, size);
  pos_ += size;
  return true;
}

bool ByteReader::GetVersion(uint32_t* version, uint32_t newest) {
  if (!Get(version, "state version")) return false;
  if (*version < 1 || *version > newest) {
    return Fail("state version", fmt::format("version {} is not supported (this build reads 1 to {})",
                                             *version, newest));
  }
  return true;
}

absl::Status ByteReader::Finish() {
  if (status_.ok() && pos_ != bytes_.size()) {
    Fail("end", fmt::format("{} unexpected trailing bytes", bytes_.size() - pos_));
  }
  return status_;
}

void PutCatalog(const Catalog& catalog, ByteWriter* out) {
  out->Put<uint64_t>(catalog.size());
  for (const Profile& p : catalog.profiles()) {
    out->PutString(p.name);
    out->Put(p.input_usd_per_mtok);
    out->Put(p.output_usd_per_mtok);
    out->Put(p.expected_output_tokens);
    out->Put(p.p50_latency_ms);
    out->Put(p.context_window);
    out->Put<uint64_t>(p.tags.size());
    for (const std::string& tag : p.tags) out->PutString(tag);
  }
}

bool GetCatalog(ByteReader* in, Catalog* catalog) {
  uint64_t count = 0;
  if (!in->Get(&count, "catalog size")) return false;
  // Each profile takes at least 48 bytes; a larger count is corrupt.
  if (count > in->remaining() / 48) return in->Fail("catalog size", "too large");
  Catalog result;
  for (uint64_t i = 0; i < count; ++i) {
    Profile p;
    uint64_t tags = 0;
    if (!in->GetString(&p.name, "profile name") ||
        !in->Get(&p.input_usd_per_mtok, "input price") ||
        !in->Get(&p.output_usd_per_mtok, "output price") ||
        !in->Get(&p.expected_output_tokens, "expected output tokens") ||
        !in->Get(&p.p50_latency_ms, "latency") ||
        !in->Get(&p.context_window, "context window") || !in->Get(&tags, "tag count")) {
      return false;
    }
    if (tags > in->remaining() / 8) return in->Fail("tag count", "too large");
    p.tags.resize(tags);
    for (std::string& tag : p.tags) {
      if (!in->GetString(&tag, "tag")) return false;
    }
    if (!std::isfinite(p.expected_output_tokens) || p.expected_output_tokens < 0 ||
        !std::isfinite(p.p50_latency_ms) || p.p50_latency_ms < 0 || p.context_window < 0) {
      return in->Fail("profile", fmt::format("invalid field in model '{}'", p.name));
    }
    absl::Status added = result.Add(std::move(p));
    if (!added.ok()) return in->Fail("profile", std::string(added.message()));
  }
  *catalog = std::move(result);
  return true;
}

}  // namespace router::internal
