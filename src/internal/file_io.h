// Whole-file reads and writes with errors that name the file and the cause.
#ifndef ROUTER_INTERNAL_FILE_IO_H_
#define ROUTER_INTERNAL_FILE_IO_H_

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace router::internal {

// The bytes of the file at `path` (binary-safe).
absl::StatusOr<std::string> ReadFile(const std::string& path);

// The bytes of a file in a buffer that is not zero-filled first: for files
// of hundreds of megabytes (saved routers), a std::string would write every
// page twice.
struct FileBytes {
  std::unique_ptr<char[]> data;
  size_t size = 0;
  std::string_view view() const { return {data.get(), size}; }
};
absl::StatusOr<FileBytes> ReadFileBytes(const std::string& path);

// Creates or truncates `path` and writes `bytes` to it.
absl::Status WriteFile(const std::string& path, std::string_view bytes);

}  // namespace router::internal

#endif  // ROUTER_INTERNAL_FILE_IO_H_
