// The README's C++ example: fit a router on JSONL routing data and route one
// prompt. Usage: quickstart queries.jsonl "prompt text"
#include <cstdio>

#include "router/pipeline.h"

int main(int argc, char** argv) {
  if (argc != 3) return std::fprintf(stderr, "usage: %s data.jsonl prompt\n", argv[0]), 2;
  auto data = router::LoadJsonl(argv[1]);
  if (!data.ok()) return std::fprintf(stderr, "%s\n", data.status().ToString().c_str()), 1;
  auto config = router::ParsePipelineConfig(R"({"policy": {"lambda": 100}})");
  auto pipeline = router::Pipeline::Fit(*data, *config);
  if (!pipeline.ok()) return std::fprintf(stderr, "%s\n", pipeline.status().ToString().c_str()), 1;
  router::Decision decision;
  if (absl::Status s = (*pipeline)->RouteText(argv[2], &decision); !s.ok()) return 1;
  std::printf("%s\n%s\n", decision.chosen.model.c_str(), decision.Explain().c_str());
}
