// libFuzzer target for ParsePipelineConfig: no JSON text may crash the parser
// or let an exception out, and whatever it accepts must build a policy.
// Built with -DROUTER_FUZZ=ON (clang); run by scripts/fuzz.sh and, briefly, scripts/test.sh.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "router/pipeline.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto config = router::ParsePipelineConfig(text);
  if (config.ok() && !router::MakePolicy(config->policy).ok()) std::abort();
  return 0;
}
