// The container of a saved router: named sections, each with its own CRC-32,
// behind a magic number and a format version. docs/file-format.md describes
// the layout byte by byte.
#ifndef ROUTER_INTERNAL_SECTION_FILE_H_
#define ROUTER_INTERNAL_SECTION_FILE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace router::internal {

inline constexpr char kFileMagic[8] = {'L', 'R', 'O', 'U', 'T', 'E', 'R', '\0'};
// The newest format version this build reads. Version 2 added the "cost"
// section; a file without one is still written as version 1, so builds that
// read only version 1 load it.
inline constexpr uint32_t kFileFormatVersion = 2;
// Section names are at most this many bytes (stored NUL-padded).
inline constexpr size_t kSectionNameBytes = 16;
// At most this many sections; a larger count is corrupt.
inline constexpr uint32_t kMaxSections = 64;

struct Section {
  std::string name;
  std::string bytes;
};

// A section of a file image in memory (DecodeSections): the bytes are a view
// into the image, which must outlive it.
struct SectionView {
  std::string name;
  std::string_view bytes;
};

// CRC-32 (IEEE 802.3, the zlib polynomial) of `bytes`.
uint32_t Crc32(std::string_view bytes);

// The file image of `sections`, stamped with format `version`.
absl::StatusOr<std::string> EncodeSections(const std::vector<Section>& sections,
                                           uint32_t version = 1);

// Parses and verifies a file image: magic, version, table, sizes, checksums.
// Errors are DataLoss (corrupt or truncated) or FailedPrecondition (a newer
// format version), prefixed with `what` (usually the path).
absl::StatusOr<std::vector<SectionView>> DecodeSections(std::string_view image,
                                                    std::string_view what);

// Writes `bytes` to `path` atomically: a temporary file in the same
// directory, fsync, rename over `path`, fsync of the directory. On any error
// the temporary is removed and an existing file at `path` is untouched.
absl::Status WriteFileAtomically(const std::string& path, std::string_view bytes);

}  // namespace router::internal

#endif  // ROUTER_INTERNAL_SECTION_FILE_H_
