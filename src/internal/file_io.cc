#include "internal/file_io.h"

#include <cerrno>
#include <cstdio>
#include <memory>

#include "fmt/format.h"

namespace router::internal {
namespace {

// errno is read before anything else can overwrite it.
absl::Status FileError(std::string_view what, const std::string& path) {
  const int error = errno;
  return absl::ErrnoToStatus(error, fmt::format("cannot {} {}", what, path));
}

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (file == nullptr) return FileError("open", path);
  std::string bytes;
  // Read in one piece when the size is known (saved routers can be hundreds
  // of megabytes: growing a string chunk by chunk would copy them again and
  // again); then keep reading in case the file grew meanwhile.
  if (std::fseek(file.get(), 0, SEEK_END) == 0) {
    const long size = std::ftell(file.get());
    if (size > 0) bytes.resize(static_cast<size_t>(size));
    std::rewind(file.get());
  }
  size_t filled = std::fread(bytes.data(), 1, bytes.size(), file.get());
  bytes.resize(filled);
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file.get())) > 0) bytes.append(buffer, n);
  if (std::ferror(file.get())) return FileError("read", path);
  return bytes;
}

absl::StatusOr<FileBytes> ReadFileBytes(const std::string& path) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                       &std::fclose);
  if (file == nullptr) return FileError("open", path);
  if (std::fseek(file.get(), 0, SEEK_END) != 0) return FileError("seek in", path);
  const long size = std::ftell(file.get());
  if (size < 0) return FileError("measure", path);
  std::rewind(file.get());
  FileBytes bytes;
  bytes.data.reset(new char[static_cast<size_t>(size) + 1]);
  // One byte more than expected tells whether the file grew meanwhile.
  bytes.size = std::fread(bytes.data.get(), 1, static_cast<size_t>(size) + 1, file.get());
  if (std::ferror(file.get())) return FileError("read", path);
  if (bytes.size != static_cast<size_t>(size)) {
    return absl::AbortedError(fmt::format("{} changed size while being read", path));
  }
  return bytes;
}

absl::Status WriteFile(const std::string& path, std::string_view bytes) {
  std::FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return FileError("create", path);
  if (std::fwrite(bytes.data(), 1, bytes.size(), file) != bytes.size()) {
    absl::Status status = FileError("write", path);
    std::fclose(file);
    return status;
  }
  // fclose flushes, so its failure is a failed write too.
  if (std::fclose(file) != 0) return FileError("write", path);
  return absl::OkStatus();
}

}  // namespace router::internal
