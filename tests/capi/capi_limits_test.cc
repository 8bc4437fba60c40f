// Limits through the C ABI's run-time changes: router_add_model past
// limits.max_models, or with more examples than limits.max_batch_size, is
// refused with a status and a message naming the limit, and changes
// nothing: the catalog and the saved file are as they were.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include "catch2/catch.hpp"
#include "router_c.h"
#include "topic_dataset.h"

namespace {

namespace fs = std::filesystem;

std::string WriteDataset(const fs::path& path) {
  return router_test::WriteTopicDataset(path, 40, /*with_costs=*/true);
}

std::vector<std::string> ModelNames(const router_t* router) {
  int32_t count = 0;
  REQUIRE(router_model_count(router, &count) == ROUTER_OK);
  std::vector<std::string> names;
  for (int32_t i = 0; i < count; ++i) {
    const char* name = nullptr;
    REQUIRE(router_model_name(router, i, &name) == ROUTER_OK);
    names.push_back(name);
  }
  return names;
}

// The router as router_save writes it.
std::string Saved(const router_t* router, const fs::path& path) {
  REQUIRE(router_save(router, path.string().c_str()) == ROUTER_OK);
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

struct Scratch {
  fs::path dir = fs::temp_directory_path() / ("router_capi_limits_" + std::to_string(::getpid()));
  Scratch() { fs::create_directories(dir); }
  ~Scratch() { fs::remove_all(dir); }
};

TEST_CASE("router_add_model past max_models or max_batch_size changes nothing", "[limits]") {
  const Scratch scratch;
  const std::string dataset = WriteDataset(scratch.dir / "data.jsonl");
  router_t* router = nullptr;
  REQUIRE(router_create_from_dataset(
              dataset.c_str(),
              R"({"router": "linucb", "featurizer": {"word_buckets": 64, "char_buckets": 64,
                  "dim": 8}, "limits": {"max_models": 3, "max_batch_size": 2}})",
              &router) == ROUTER_OK);
  int32_t dim = 0;
  REQUIRE(router_dim(router, &dim) == ROUTER_OK);
  const std::vector<float> vectors(3 * static_cast<size_t>(dim), 0.25f);
  const std::vector<double> scores = {1.0, 0.0, 1.0};
  const fs::path file = scratch.dir / "router.bin";
  const std::vector<std::string> two = {"coder", "writer"};
  REQUIRE(ModelNames(router) == two);
  const std::string before = Saved(router, file);

  // Three examples, over max_batch_size = 2.
  CHECK(router_add_model(router, R"({"name": "third"})", vectors.data(), 3, dim, scores.data(),
                         nullptr) == ROUTER_INVALID_ARGUMENT);
  CHECK(std::string(router_last_error_message()) ==
        "a set of examples of 3 exceeds limits.max_batch_size = 2");
  CHECK(ModelNames(router) == two);
  CHECK(Saved(router, file) == before);

  // Two examples: taken; the catalog is at max_models = 3.
  REQUIRE(router_add_model(router, R"({"name": "third"})", vectors.data(), 2, dim, scores.data(),
                           nullptr) == ROUTER_OK);
  const std::vector<std::string> three = {"coder", "writer", "third"};
  REQUIRE(ModelNames(router) == three);
  const std::string at_limit = Saved(router, file);

  // A fourth model, with or without examples: over max_models.
  CHECK(router_add_model(router, R"({"name": "fourth"})", nullptr, 0, 0, nullptr, nullptr) ==
        ROUTER_INVALID_ARGUMENT);
  CHECK(std::string(router_last_error_message()) ==
        "a catalog of 4 exceeds limits.max_models = 3");
  CHECK(router_add_model(router, R"({"name": "fourth"})", vectors.data(), 1, dim, scores.data(),
                         nullptr) == ROUTER_INVALID_ARGUMENT);
  CHECK(ModelNames(router) == three);
  CHECK(Saved(router, file) == at_limit);
  router_free(router);
}

}  // namespace
