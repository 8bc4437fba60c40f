// File: router/npy.h
//
// Reading and writing NumPy .npy files, the format hosts most often hold
// query embeddings in. Only what routing data needs is supported: format
// versions 1.0 and 2.0, little-endian float32 ('<f4') or float64 ('<f8', read
// as float32), C order, one or two dimensions. Anything else is an error that
// says what was found.
//
// Values are not checked: NaN and Inf are kept as they are (float64 values
// beyond float32's range become +-Inf); routers validate the vectors they
// use. The data size must match the shape exactly, and the shape is checked
// against the bytes present before anything is allocated.
#ifndef ROUTER_NPY_H_
#define ROUTER_NPY_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "router/export.h"

namespace router {

// A float32 matrix (a 1-D array reads as one row).
struct NpyMatrix {
  int64_t rows = 0;
  int64_t cols = 0;
  std::vector<float> values;  // rows x cols, row-major
};

// Parses the bytes of a .npy file; errors are InvalidArgument and start with
// `source_name`.
ROUTER_EXPORT absl::StatusOr<NpyMatrix> ParseNpy(std::string_view bytes,
                                   std::string_view source_name = "<input>");

// Reads and parses a .npy file; errors name `path`, a missing file is NotFound.
ROUTER_EXPORT absl::StatusOr<NpyMatrix> LoadNpy(const std::string& path);

// Writes `matrix` as a version 1.0 '<f4' 2-D array with the header padded so
// the data starts at a multiple of 64 bytes, as numpy writes it.
ROUTER_EXPORT absl::Status SaveNpy(const NpyMatrix& matrix, const std::string& path);

}  // namespace router

#endif  // ROUTER_NPY_H_
