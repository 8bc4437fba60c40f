// libFuzzer target for ParseJsonl.
// Checks that no input crashes the parser and that whatever it accepts is a
// valid dataset.
// Built with -DROUTER_FUZZ=ON (clang); run by scripts/fuzz.sh and, briefly, scripts/test.sh.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "router/dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto dataset = router::ParseJsonl(text, "fuzz.jsonl");
  if (dataset.ok() && !dataset->Validate().ok()) std::abort();
  return 0;
}
