// Saving and loading: a round trip routes bit-identically, and every kind of
// damage to a file (a flipped byte anywhere, truncation at any length, a
// wrong magic, a newer format version, absurd sizes) fails cleanly with an
// error that names the problem.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include "nlohmann/json.hpp"

#include "router/knn_router.h"
#include "router/pipeline.h"
#include "router/synthetic.h"
#include "router/text_featurizer.h"
#include "router/max_utility_policy.h"

namespace router {
namespace {

namespace fs = std::filesystem;

// A small pipeline (small featurizer, few rows) so that a test can afford to
// load every damaged variant of its file.
std::unique_ptr<Pipeline> SmallPipeline() {
  SyntheticData synthetic = GenerateSynthetic({.rows = 150, .seed = 5});
  PipelineConfig config;
  config.models = synthetic.catalog.profiles();
  config.RouterOptions<KnnOptions>().k = 7;
  config.featurizer.word_buckets = 64;
  config.featurizer.char_buckets = 64;
  config.featurizer.dim = 8;
  config.policy.Set(MaxUtilityOptions{.lambda = 300});
  auto pipeline = Pipeline::Fit(synthetic.dataset, config);
  REQUIRE(pipeline.ok());
  return std::move(pipeline).value();
}

std::vector<std::string> Prompts() {
  std::vector<std::string> prompts;
  for (int i = 0; i < 30; ++i) prompts.push_back(SyntheticPrompt(i % 6, 500 + i));
  prompts.push_back("");
  prompts.push_back("words the featurizer never saw: zyzzyva quixotic");
  return prompts;
}

// Same estimates, bit for bit, and the same decisions.
void CheckSameRouting(const Pipeline& a, const Pipeline& b) {
  REQUIRE(a.dim() == b.dim());
  REQUIRE(a.catalog().size() == b.catalog().size());
  for (const std::string& prompt : Prompts()) {
    Estimates ea, eb;
    REQUIRE(a.EstimateText(prompt, &ea).ok());
    REQUIRE(b.EstimateText(prompt, &eb).ok());
    REQUIRE(ea.per_model.size() == eb.per_model.size());
    for (size_t m = 0; m < ea.per_model.size(); ++m) {
      CHECK(ea.per_model[m].quality == eb.per_model[m].quality);
      CHECK(ea.per_model[m].uncertainty == eb.per_model[m].uncertainty);
      CHECK(ea.per_model[m].expected_cost_usd == eb.per_model[m].expected_cost_usd);
      CHECK(ea.per_model[m].support == eb.per_model[m].support);
    }
    Decision da, db;
    REQUIRE(a.RouteText(prompt, &da).ok());
    REQUIRE(b.RouteText(prompt, &db).ok());
    CHECK(da.chosen.model == db.chosen.model);
  }
}

std::string TempPath(const std::string& name) {
  return (fs::temp_directory_path() /
          (name + "-" + std::to_string(::getpid()) + ".router"))
      .string();
}

TEST_CASE("a saved pipeline loads and routes bit-identically", "[file]") {
  auto pipeline = SmallPipeline();
  const std::string path = TempPath("round-trip");
  REQUIRE(pipeline->Save(path).ok());
  auto loaded = Pipeline::Load(path);
  REQUIRE(loaded.ok());
  CheckSameRouting(*pipeline, **loaded);
  CHECK((*loaded)->router().kind() == "knn");
  CHECK((*loaded)->data_fingerprint() == pipeline->data_fingerprint());
  CHECK((*loaded)->data_fingerprint().size() == 16);
  CHECK((*loaded)->training_rows() == 150);
  CHECK(PipelineConfigToJson((*loaded)->config()) == PipelineConfigToJson(pipeline->config()));
  CHECK((*loaded)->catalog().at(0).input_usd_per_mtok ==
        pipeline->catalog().at(0).input_usd_per_mtok);
  // Saving the loaded pipeline gives the same bytes.
  CHECK(*(*loaded)->ToBytes() == *pipeline->ToBytes());
  fs::remove(path);
}

// The reference CRC-32 (IEEE, reflected, bit by bit) and a little-endian u32.
uint32_t BitwiseCrc32(std::string_view bytes) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : bytes) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return c ^ 0xFFFFFFFFu;
}

uint64_t ReadLe(std::string_view bytes, size_t at, int width) {
  uint64_t value = 0;
  for (int i = width - 1; i >= 0; --i) value = value << 8 | static_cast<uint8_t>(bytes[at + i]);
  return value;
}

TEST_CASE("the file layout is the one docs/file-format.md describes", "[file]") {
  REQUIRE(BitwiseCrc32("123456789") == 0xCBF43926u);  // the standard check value
  auto pipeline = SmallPipeline();
  const std::string image = *pipeline->ToBytes();
  CHECK(image.substr(0, 8) == std::string("LROUTER\0", 8));
  // Format version 2: the catalog is priced, so the file has per-prompt
  // costs (a file without them is version 1: tests/cost_model_test.cc).
  CHECK(ReadLe(image, 8, 4) == 2);
  const uint64_t sections = ReadLe(image, 12, 4);
  CHECK(sections == 5);             // meta, config, embedder, router, cost
  const size_t table = 20, entry = 40;
  CHECK(ReadLe(image, 16, 4) == BitwiseCrc32(std::string_view(image).substr(table, entry * sections)));
  uint64_t expected_offset = table + entry * sections;
  for (uint64_t i = 0; i < sections; ++i) {
    const size_t at = table + entry * i;
    const uint64_t offset = ReadLe(image, at + 16, 8), size = ReadLe(image, at + 24, 8);
    CHECK(offset == expected_offset);
    CHECK(ReadLe(image, at + 32, 4) == BitwiseCrc32(std::string_view(image).substr(offset, size)));
    expected_offset = offset + size;
  }
  CHECK(expected_offset == image.size());
  CHECK(image.substr(table, 4) == "meta");
  CHECK(image.substr(table + 4 * entry, 5) == std::string("cost\0", 5));
}

TEST_CASE("saving replaces a file atomically and leaves no temporary", "[file]") {
  auto pipeline = SmallPipeline();
  const fs::path dir = fs::temp_directory_path() / ("atomic-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "model.router").string();
  { std::ofstream(path) << "old contents"; }
  REQUIRE(pipeline->Save(path).ok());
  CHECK(Pipeline::Load(path).ok());
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);

  // A directory that does not exist: a clear error naming the path.
  const absl::Status missing = pipeline->Save((dir / "no" / "such" / "m.router").string());
  CHECK(missing.code() == absl::StatusCode::kUnavailable);
  CHECK(std::string(missing.message()).find("no/such") != std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("every flipped byte of a saved file is detected", "[file][corruption]") {
  auto pipeline = SmallPipeline();
  const std::string image = *pipeline->ToBytes();
  INFO("file of " << image.size() << " bytes");
  int failures = 0;
  for (size_t i = 0; i < image.size(); ++i) {
    std::string damaged = image;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x5A);
    auto loaded = Pipeline::FromBytes(damaged, "damaged");
    // Checksums cover every byte, so no damage can go unnoticed.
    if (loaded.ok()) {
      FAIL_CHECK("flipping byte " << i << " went unnoticed");
    } else {
      ++failures;
      const auto code = loaded.status().code();
      CHECK((code == absl::StatusCode::kDataLoss ||
             code == absl::StatusCode::kFailedPrecondition));
    }
  }
  CHECK(failures == static_cast<int>(image.size()));
}

TEST_CASE("a file truncated at any length fails cleanly", "[file][corruption]") {
  auto pipeline = SmallPipeline();
  const std::string image = *pipeline->ToBytes();
  for (size_t length = 0; length < image.size(); ++length) {
    auto loaded = Pipeline::FromBytes(std::string_view(image).substr(0, length), "cut");
    REQUIRE_FALSE(loaded.ok());
    CHECK(loaded.status().code() == absl::StatusCode::kDataLoss);
  }
  // Extra bytes after the last section are damage too.
  CHECK(Pipeline::FromBytes(image + "x", "long").status().code() ==
        absl::StatusCode::kDataLoss);
}

TEST_CASE("foreign, newer and absurd files get errors that say so", "[file][corruption]") {
  auto pipeline = SmallPipeline();
  const std::string image = *pipeline->ToBytes();

  std::string foreign = image;
  foreign.replace(0, 4, "GIF8");
  auto status = Pipeline::FromBytes(foreign, "foreign").status();
  CHECK(status.code() == absl::StatusCode::kDataLoss);
  CHECK(std::string(status.message()).find("magic") != std::string::npos);

  // Format version at byte 8 (little-endian u32).
  std::string newer = image;
  newer[8] = 7;
  status = Pipeline::FromBytes(newer, "newer").status();
  CHECK(status.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(std::string(status.message()).find("version 7") != std::string::npos);

  // Section count at byte 12.
  std::string many = image;
  many[13] = 0x7F;
  status = Pipeline::FromBytes(many, "many").status();
  CHECK(status.code() == absl::StatusCode::kDataLoss);
  CHECK(std::string(status.message()).find("sections") != std::string::npos);

  CHECK(Pipeline::FromBytes("", "empty").status().code() == absl::StatusCode::kDataLoss);
  CHECK(Pipeline::Load("/nonexistent/model.router").status().code() ==
        absl::StatusCode::kNotFound);
}

// Router and featurizer state is validated on its own too (a file's checksum
// only proves the bytes are the ones written, not that the writer was sane).
TEST_CASE("kNN and featurizer state reject every truncation", "[file][state]") {
  auto pipeline = SmallPipeline();
  std::string knn_state, featurizer_state;
  REQUIRE(pipeline->router().SaveState(&knn_state).ok());
  const auto* featurizer = dynamic_cast<const TextFeaturizer*>(pipeline->embedder());
  REQUIRE(featurizer != nullptr);
  REQUIRE(featurizer->SaveState(&featurizer_state).ok());

  KnnRouter knn;
  TextFeaturizer text;
  for (size_t length = 0; length < knn_state.size(); ++length) {
    REQUIRE_FALSE(knn.LoadState(std::string_view(knn_state).substr(0, length)).ok());
  }
  for (size_t length = 0; length < featurizer_state.size(); length += 7) {
    REQUIRE_FALSE(text.LoadState(std::string_view(featurizer_state).substr(0, length)).ok());
  }
  CHECK(knn.dim() == 0);  // failed loads changed nothing
  CHECK_FALSE(text.fitted());
  REQUIRE(knn.LoadState(knn_state).ok());
  REQUIRE(text.LoadState(featurizer_state).ok());
  CHECK(knn.dim() == pipeline->dim());
  CHECK(text.dim() == pipeline->dim());
}

TEST_CASE("kNN state with bad values is rejected and changes nothing", "[file][state]") {
  auto pipeline = SmallPipeline();
  std::string state;
  REQUIRE(pipeline->router().SaveState(&state).ok());
  KnnRouter knn;
  REQUIRE(knn.LoadState(state).ok());
  std::mt19937 rng(3);
  int rejected = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    std::string damaged = state;
    const size_t at = rng() % damaged.size();
    damaged[at] = static_cast<char>(rng());
    KnnRouter other;
    if (other.LoadState(damaged).ok()) {
      // Accepted damage must still give finite, in-range estimates.
      std::vector<float> v(other.dim(), 0.5f);
      Query q;
      q.vector = v;
      Estimates e;
      REQUIRE(other.Estimate(q, &e).ok());
      for (const ModelEstimate& m : e.per_model) {
        CHECK((m.quality >= 0.0 && m.quality <= 1.0));
        CHECK((m.expected_cost_usd >= 0.0 && std::isfinite(m.expected_cost_usd)));
      }
    } else {
      ++rejected;
    }
  }
  CHECK(rejected > 0);
  // A failed load leaves a fitted router as it was.
  std::string bad = state;
  bad.resize(bad.size() / 2);
  REQUIRE_FALSE(knn.LoadState(bad).ok());
  CHECK(knn.dim() == pipeline->dim());
}

TEST_CASE("an HNSW kNN router round-trips through FAISS's serializer", "[file][state]") {
  SyntheticData synthetic = GenerateSynthetic({.rows = 400, .seed = 9});
  PipelineConfig config;
  config.RouterOptions<KnnOptions>().k = 5;
  config.RouterOptions<KnnOptions>().hnsw_threshold = 100;
  config.featurizer.dim = 16;
  auto pipeline = Pipeline::Fit(synthetic.dataset, config);
  REQUIRE(pipeline.ok());
  REQUIRE(dynamic_cast<const KnnRouter&>((*pipeline)->router()).uses_hnsw());
  auto loaded = Pipeline::FromBytes(*(*pipeline)->ToBytes());
  REQUIRE(loaded.ok());
  REQUIRE(dynamic_cast<const KnnRouter&>((*loaded)->router()).uses_hnsw());
  CheckSameRouting(**pipeline, **loaded);
}

TEST_CASE("files saved before the options schemas load and route as they did", "[file][compat]") {
  // tests/data/saved_v1/README.md says how and when they were written.
  const std::string dir = std::string(ROUTER_SOURCE_DIR) + "/tests/data/saved_v1/";
  for (const char* kind : {"knn", "cluster", "mf", "linucb"}) {
    INFO(kind);
    auto pipeline = Pipeline::Load(dir + kind + ".router");
    REQUIRE(pipeline.ok());
    CHECK((*pipeline)->router().kind() == kind);
    // The old config section still reads into the same options.
    CHECK((*pipeline)->config().RouterOptions<KnnOptions>().k == 8);
    CHECK((*pipeline)->config().featurizer.word_buckets == 256);
    REQUIRE((*pipeline)->config().policy.Get<MaxUtilityOptions>() != nullptr);
    CHECK((*pipeline)->config().policy.Get<MaxUtilityOptions>()->lambda == 200);
    std::ifstream file(dir + kind + ".expected.json");
    REQUIRE(file.good());
    const nlohmann::json expected = nlohmann::json::parse(file);
    REQUIRE(expected.size() == 12);
    // The same decisions, and the same figures to float precision: kNN's
    // exact scan computes its similarities with the SIMD kernel chosen at run
    // time (internal/simd.h), whose float rounding differs from FAISS's
    // scalar loop that wrote these files, and from CPU to CPU (fused
    // multiply-add or not); a misread option or state moves them far more.
    const double tolerance = std::string_view(kind) == "knn" ? 1e-6 : 1e-12;
    for (const nlohmann::json& row : expected) {
      Decision decision;
      REQUIRE((*pipeline)->RouteText(row["prompt"].get<std::string>(), &decision).ok());
      CHECK(decision.chosen.model == row["model"].get<std::string>());
      CHECK(decision.chosen.predicted_quality ==
            Approx(row["predicted_quality"].get<double>()).epsilon(tolerance));
      CHECK(decision.chosen.expected_cost_usd ==
            Approx(row["expected_cost_usd"].get<double>()).epsilon(tolerance));
      std::vector<std::string> fallbacks;
      for (const Candidate& c : decision.ranked) {
        if (c.model != decision.chosen.model) fallbacks.push_back(c.model);
      }
      CHECK(fallbacks == row["fallbacks"].get<std::vector<std::string>>());
    }
  }
}

}  // namespace
}  // namespace router
