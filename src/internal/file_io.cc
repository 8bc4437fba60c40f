#include "internal/file_io.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include "fmt/format.h"
#include "internal/huge_pages.h"

namespace router::internal {
namespace {

// errno is read before anything else can overwrite it.
absl::Status FileError(std::string_view what, const std::string& path) {
  const int error = errno;
  return absl::ErrnoToStatus(error, fmt::format("cannot {} {}", what, path));
}

using File = std::unique_ptr<std::FILE, int (*)(std::FILE*)>;

// An open file and its size: st_size for a regular file, -1 when the size
// is not known in advance (a pipe, a /proc file whose st_size is 0). A
// directory is refused here: on Linux fopen opens it, and seeking to its
// "end" reports LONG_MAX bytes.
struct OpenFile {
  File file{nullptr, &std::fclose};
  int64_t size = -1;
};

absl::StatusOr<OpenFile> OpenForReading(const std::string& path) {
  OpenFile open;
  open.file.reset(std::fopen(path.c_str(), "rb"));
  if (open.file == nullptr) return FileError("open", path);
  struct stat info;
  if (::fstat(::fileno(open.file.get()), &info) != 0) return FileError("inspect", path);
  if (S_ISDIR(info.st_mode)) {
    errno = EISDIR;
    return FileError("read", path);
  }
  if (S_ISREG(info.st_mode) && info.st_size > 0) open.size = info.st_size;
  return open;
}

// Appends what is left of `file` to `bytes`.
absl::Status ReadRest(std::FILE* file, const std::string& path, std::string* bytes) {
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) bytes->append(buffer, n);
  if (std::ferror(file)) return FileError("read", path);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  absl::StatusOr<OpenFile> open = OpenForReading(path);
  if (!open.ok()) return open.status();
  std::string bytes;
  // Read in one piece when the size is known (saved routers can be hundreds
  // of megabytes: growing a string chunk by chunk would copy them again and
  // again); then keep reading in case the file grew meanwhile.
  if (open->size > 0) bytes.resize(static_cast<size_t>(open->size));
  bytes.resize(std::fread(bytes.data(), 1, bytes.size(), open->file.get()));
  if (absl::Status status = ReadRest(open->file.get(), path, &bytes); !status.ok()) return status;
  return bytes;
}

absl::StatusOr<FileBytes> ReadFileBytes(const std::string& path) {
  absl::StatusOr<OpenFile> open = OpenForReading(path);
  if (!open.ok()) return open.status();
  std::FILE* const file = open->file.get();
  FileBytes bytes;
  if (open->size < 0) {
    // Size unknown: read it all, then copy once.
    std::string all;
    if (absl::Status status = ReadRest(file, path, &all); !status.ok()) return status;
    bytes.data.reset(new char[all.size() + 1]);
    if (!all.empty()) std::memcpy(bytes.data.get(), all.data(), all.size());
    bytes.size = all.size();
    return bytes;
  }
  const int64_t size = open->size;
  bytes.data.reset(new char[static_cast<size_t>(size) + 1]);
  AdviseHugePages(bytes.data.get(), static_cast<size_t>(size) + 1);
  // One byte more than expected tells whether the file grew meanwhile.
  bytes.size = std::fread(bytes.data.get(), 1, static_cast<size_t>(size) + 1, file);
  if (std::ferror(file)) return FileError("read", path);
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
