// Uses the installed C++ API: a catalog, then a pipeline fitted on a few rows.
#include <cstdio>
#include <cstring>
#include <string>

#include "router/catalog.h"
#include "router/dataset.h"
#include "router/pipeline.h"
#include "router/version.h"

int main() {
  router::Catalog catalog;
  router::Profile profile;
  profile.name = "small";
  if (!catalog.Add(profile).ok() || !catalog.Find("small").ok() || catalog.size() != 1) {
    std::fprintf(stderr, "catalog failed\n");
    return 1;
  }

  std::string jsonl;
  for (int row = 0; row < 40; ++row) {
    const bool code = row % 2 == 0;
    jsonl += "{\"id\": \"r" + std::to_string(row) + "\", \"prompt\": \"" +
             (code ? "python bug compile " : "poem rhyme story ") + std::to_string(row % 5) +
             "\", \"scores\": {\"coder\": " + (code ? "1" : "0") +
             ", \"writer\": " + (code ? "0" : "1") + "}}\n";
  }
  auto data = router::ParseJsonl(jsonl);
  auto config = router::ParsePipelineConfig(R"({"knn": {"k": 5}})");
  if (!data.ok() || !config.ok()) {
    std::fprintf(stderr, "parse failed\n");
    return 1;
  }
  auto pipeline = router::Pipeline::Fit(*data, *config);
  if (!pipeline.ok()) {
    std::fprintf(stderr, "fit failed: %s\n", std::string(pipeline.status().message()).c_str());
    return 1;
  }
  router::Decision decision;
  if (!(*pipeline)->RouteText("my python code has a bug", &decision).ok() ||
      decision.chosen.model != "coder") {
    std::fprintf(stderr, "routing failed\n");
    return 1;
  }
  std::printf("C++ consumer: librouter %s routed to %s\n", router::VersionString(),
              decision.chosen.model.c_str());
  return std::strcmp(router::VersionString(), "0.0.0") != 0 ? 0 : 1;
}
