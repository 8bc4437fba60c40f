// route_cpp: routes prompts through the installed C++ API, printing each
// decision the way examples/c/route.c does, so scripts/test-bindings.sh can
// compare the C++ library's decisions with the C ABI's and the bindings'.
// Usage: route_cpp DATASET.jsonl CONFIG_JSON PROMPT...
#include <cstdio>
#include <string>

#include "router/dataset.h"
#include "router/pipeline.h"

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s DATASET.jsonl CONFIG_JSON PROMPT...\n", argv[0]);
    return 2;
  }
  auto data = router::LoadJsonl(argv[1]);
  auto config = router::ParsePipelineConfig(argv[2]);
  if (!data.ok() || !config.ok()) {
    std::fprintf(stderr, "%s\n", (data.ok() ? config.status() : data.status()).ToString().c_str());
    return 1;
  }
  auto pipeline = router::Pipeline::Fit(*data, *config);
  if (!pipeline.ok()) {
    std::fprintf(stderr, "%s\n", pipeline.status().ToString().c_str());
    return 1;
  }
  for (int i = 3; i < argc; ++i) {
    router::Decision decision;
    if (absl::Status status = (*pipeline)->RouteText(argv[i], &decision); !status.ok()) {
      std::fprintf(stderr, "%s\n", status.ToString().c_str());
      return 1;
    }
    std::printf("%s\n  -> %s (quality %.3f, cost $%.6f)\n", argv[i],
                decision.chosen.model.c_str(), decision.chosen.predicted_quality,
                decision.chosen.expected_cost_usd);
  }
  return 0;
}
