// libFuzzer target for ParseNpy.
// Checks that no input crashes the parser and that whatever it accepts has
// as many values as its shape says.
// Built with -DROUTER_FUZZ=ON (clang); run by scripts/fuzz.sh and, briefly, scripts/test.sh.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "router/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto matrix = router::ParseNpy(bytes, "fuzz.npy");
  if (matrix.ok() && (matrix->rows < 0 || matrix->cols < 0 ||
                      matrix->values.size() != static_cast<size_t>(matrix->rows * matrix->cols))) {
    std::abort();
  }
  return 0;
}
