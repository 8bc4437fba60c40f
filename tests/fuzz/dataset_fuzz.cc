// libFuzzer target for ParseJsonl. Not built by CMake; build by hand, e.g.
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
//     tests/fuzz/dataset_fuzz.cc src/dataset.cc src/npy.cc \
//     -labsl_status -labsl_statusor -labsl_strings -labsl_raw_hash_set \
//     -labsl_hash -labsl_city -labsl_low_level_hash -lfmt -o dataset_fuzz
// Checks that no input crashes the parser and that whatever it accepts is a
// valid dataset.
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
