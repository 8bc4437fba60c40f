// The `router` program's flags, each checked by its effect on the output
// (the choice, the report's rows, the replayed stream), not by its exit
// code alone; a bad value of each is a usage error that names the flag.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "cli_run.h"
#include "nlohmann/json.hpp"
#include "router/dataset.h"
#include "router/npy.h"
#include "router/pipeline.h"
#include "router/synthetic.h"
#include "router/version.h"

namespace router {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using testing::ReadAll;
using testing::Run;
using testing::RunResult;
using testing::Scratch;
using testing::SyntheticFile;
using testing::WriteAll;

// A double as text that reads back as the same double.
std::string Exact(double value) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.17g", value);
  return text;
}

// A small featurizer: these tests are about the flags, not the embedding.
const fs::path& SmallConfig() {
  static const fs::path path = [] {
    const fs::path p = Scratch() / "small-featurizer.json";
    WriteAll(p, R"({"featurizer": {"word_buckets": 256, "char_buckets": 256, "dim": 16}})");
    return p;
  }();
  return path;
}

// A kNN model fitted on the generated data, once.
const fs::path& TextModel() {
  static const fs::path path = [] {
    const fs::path p = Scratch() / "text.router";
    const RunResult r = Run("fit --quiet --data '" + SyntheticFile().string() + "' --config '" +
                            SmallConfig().string() + "' --router knn -o '" + p.string() + "'");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return p;
  }();
  return path;
}

// Per generated row, the one-hot of its topic plus small noise (dimension 8):
// vectors that tell the topics apart, as a good embedding would.
constexpr int kVectorDim = 8;
std::vector<float> TopicVector(int topic, std::mt19937_64& rng) {
  std::normal_distribution<float> noise(0.0f, 0.05f);
  std::vector<float> v(kVectorDim);
  for (int d = 0; d < kVectorDim; ++d) v[d] = (d == topic ? 1.0f : 0.0f) + noise(rng);
  return v;
}

const fs::path& SyntheticVectorsFile() {
  static const fs::path path = [] {
    const SyntheticData synthetic = testing::Synthetic1500();
    REQUIRE(synthetic.topics.size() <= static_cast<size_t>(kVectorDim));
    NpyMatrix matrix{.rows = synthetic.dataset.rows(), .cols = kVectorDim, .values = {}};
    std::mt19937_64 rng(3);
    for (int topic : synthetic.topic_of_row) {
      const std::vector<float> v = TopicVector(topic, rng);
      matrix.values.insert(matrix.values.end(), v.begin(), v.end());
    }
    const fs::path p = Scratch() / "synthetic.npy";
    REQUIRE(SaveNpy(matrix, p.string()).ok());
    return p;
  }();
  return path;
}

// The JSON lines of a `route` run.
std::vector<Json> Lines(const std::string& out) {
  std::vector<Json> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) lines.push_back(Json::parse(line));
  return lines;
}

// ------------------------------------------------------------------ version

TEST_CASE("router --version prints the library's version and SIMD target", "[cli][flags]") {
  const std::string expected =
      std::string("router ") + VersionString() + " (SIMD: " + SimdTargetName() + ")\n";
  for (const char* flag : {"--version", "version"}) {
    const RunResult r = Run(flag);
    CHECK(r.exit_code == 0);
    CHECK(r.out == expected);
    CHECK(r.err.empty());
  }
}

// ------------------------------------------------------------------ route

const char* const kPrompt = "'Why does my python function segfault when the list is empty?'";

TEST_CASE("route --tau picks the cheapest model whose estimate reaches tau, tau itself included",
          "[cli][flags]") {
  // The estimates, from one route (kNN's do not depend on the policy).
  RunResult r = Run("route -m '" + TextModel().string() + "' --lambda 0 " + kPrompt);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const Json ranked = Json::parse(r.out)["decision"]["ranked"];
  REQUIRE(ranked.size() == 5);
  // Each model's own estimate as tau: a floor it meets exactly.
  std::set<std::string> chosen;
  for (const Json& floor : ranked) {
    const double tau = floor["predicted_quality"];
    std::string expected;
    double expected_cost = 0.0, expected_quality = 0.0;
    for (const Json& c : ranked) {
      const double q = c["predicted_quality"], cost = c["expected_cost_usd"];
      if (q < tau) continue;
      if (expected.empty() || cost < expected_cost ||
          (cost == expected_cost && q > expected_quality)) {
        expected = c["model"], expected_cost = cost, expected_quality = q;
      }
    }
    INFO("tau " << Exact(tau) << " (the estimate of " << floor["model"] << ")");
    r = Run("route -m '" + TextModel().string() + "' --tau " + Exact(tau) + " " + kPrompt);
    REQUIRE(r.exit_code == 0);
    const Json decision = Json::parse(r.out);
    CHECK(decision["model"] == expected);
    CHECK(decision["decision"]["trace"]["policy"] == "quality_floor");
    CHECK(decision["decision"]["trace"]["note"] == "");  // a model reached the floor
    chosen.insert(decision["model"].get<std::string>());
  }
  CHECK(chosen.size() >= 2);  // the floor moved the choice

  // Bad values are usage errors naming the flag.
  for (const char* bad : {"--tau 1.5", "--tau -0.1", "--tau abc", "--tau 0.5 --lambda 1"}) {
    INFO(bad);
    r = Run("route -m '" + TextModel().string() + "' " + bad + " " + kPrompt);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("tau") != std::string::npos);
    CHECK(r.out.empty());
  }
}

TEST_CASE("route --explain adds the decision's explanation, naming the choice", "[cli][flags]") {
  const std::string route = "route -m '" + TextModel().string() + "' --lambda 0 ";
  RunResult r = Run(route + "--explain " + kPrompt);
  REQUIRE(r.exit_code == 0);
  const Json explained = Json::parse(r.out);
  REQUIRE(explained.contains("explanation"));
  const std::string text = explained["explanation"];
  CHECK(text.find(explained["model"].get<std::string>()) != std::string::npos);
  CHECK(text.find("Fallbacks in order:") != std::string::npos);
  r = Run(route + kPrompt);
  REQUIRE(r.exit_code == 0);
  const Json plain = Json::parse(r.out);
  CHECK_FALSE(plain.contains("explanation"));
  CHECK(plain["model"] == explained["model"]);
}

TEST_CASE("route --stdin routes vectors for a model fitted on vectors, as the library does",
          "[cli][flags]") {
  const fs::path model = Scratch() / "vectors.router";
  RunResult r = Run("fit --quiet --data '" + SyntheticFile().string() + "' --vectors '" +
                    SyntheticVectorsFile().string() + "' --router knn -o '" + model.string() + "'");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto pipeline = Pipeline::Load(model.string());
  REQUIRE(pipeline.ok());
  REQUIRE((*pipeline)->dim() == kVectorDim);

  // One line per topic, then a vector of the wrong length and a prompt (a
  // vector model has no embedder).
  const SyntheticData synthetic = testing::Synthetic1500();
  const int topics = static_cast<int>(synthetic.topics.size());
  std::mt19937_64 rng(11);
  std::string input;
  std::vector<std::string> expected;
  for (int t = 0; t < topics; ++t) {
    const std::vector<float> v = TopicVector(t, rng);
    input += Json{{"id", t}, {"vector", v}}.dump() + "\n";
    Decision decision;
    REQUIRE((*pipeline)->Route(Query{.vector = v}, &decision).ok());
    expected.push_back(decision.chosen.model);
  }
  input += "{\"id\": \"short\", \"vector\": [1, 0, 0]}\n";
  input += "{\"id\": \"text\", \"prompt\": \"a prompt\"}\n";
  r = Run("route -m '" + model.string() + "' --stdin", input);
  CHECK(r.exit_code == 2);  // some lines failed
  const std::vector<Json> lines = Lines(r.out);
  REQUIRE(lines.size() == static_cast<size_t>(topics) + 2);
  for (int t = 0; t < topics; ++t) {
    INFO("topic " << synthetic.topics[t]);
    CHECK(lines[t]["id"] == t);
    CHECK(lines[t]["model"] == expected[t]);
  }
  CHECK(std::set<std::string>(expected.begin(), expected.end()).size() >= 2);
  CHECK(lines[topics]["id"] == "short");
  CHECK(lines[topics]["error"].get<std::string>().find("<stdin>:" + std::to_string(topics + 1)) ==
        0);
  CHECK(lines[topics + 1].contains("error"));
}

// ------------------------------------------------------------------ fit

TEST_CASE("fit --rows train is the default rule (split train or unset)", "[cli][flags]") {
  const std::string fit = "fit --quiet --data '" + SyntheticFile().string() + "' --config '" +
                          SmallConfig().string() + "' --router knn -o '";
  const fs::path train = Scratch() / "rows-train.router";
  RunResult r = Run(fit + train.string() + "' --rows train");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  // TextModel() is the same fit with the default rule: the same file.
  CHECK(ReadAll(train) == ReadAll(TextModel()));
  r = Run("inspect --json '" + train.string() + "'");
  REQUIRE(r.exit_code == 0);
  const auto data = LoadJsonl(SyntheticFile().string());
  REQUIRE(data.ok());
  CHECK(Json::parse(r.out)["training_rows"] == data->FitRows().size());

  r = Run(fit + (Scratch() / "rows-test.router").string() + "' --rows test");
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("--rows must be fit or all, got 'test'") != std::string::npos);
  CHECK_FALSE(fs::exists(Scratch() / "rows-test.router"));
}

// ------------------------------------------------------------------ eval

// The generated data with a validation split (every fifth training row) and
// `copies` validation rows whose prompt is a training row's.
struct SplitData {
  fs::path path;
  int64_t train = 0, validation = 0, test = 0;
  int copies = 0;
};

const SplitData& ValidationData() {
  static const SplitData data = [] {
    SplitData out;
    out.copies = 17;
    Dataset d = testing::Synthetic1500().dataset;
    std::vector<int64_t> train_rows;
    int64_t seen_train = 0;
    for (int64_t r = 0; r < d.rows(); ++r) {
      if (d.splits[r] != Split::kTrain) continue;
      if (seen_train++ % 5 == 4) {
        d.splits[r] = Split::kValidation;
        if (out.validation < out.copies) d.prompts[r] = d.prompts[train_rows[out.validation]];
        ++out.validation;
      } else {
        train_rows.push_back(r);
      }
    }
    out.train = static_cast<int64_t>(train_rows.size());
    for (Split s : d.splits) out.test += s == Split::kTest;
    out.path = Scratch() / "with-validation.jsonl";
    REQUIRE(SaveJsonl(d, out.path.string()).ok());
    return out;
  }();
  return data;
}

Json EvalReport(const std::string& flags, const std::string& name) {
  const fs::path out = Scratch() / name;
  const RunResult r = Run("eval --quiet --threads 1 --config '" + SmallConfig().string() + "' " +
                          flags + " --out '" + out.string() + "'");
  INFO(flags << "\n" << r.err);
  REQUIRE(r.exit_code == 0);
  return Json::parse(ReadAll(out / "report.json"));
}

const Json& RouterRow(const Json& report, const std::string& name) {
  for (const Json& row : report["rows"]) {
    if (row["name"] == name) return row;
  }
  FAIL("no row " << name);
  return report;
}

TEST_CASE("eval --split, --dedup-train-prompts, --weak, --lambdas and --threshold-bins",
          "[cli][flags]") {
  const SplitData& data = ValidationData();
  const std::string on = "--data '" + data.path.string() + "' ";
  const Json plain = EvalReport(on, "eval-plain");
  // A model that is neither the pair's strong model nor its default weak one.
  std::string weak;
  for (const Json& m : plain["single_models"]) {
    if (m["model"] != plain["strong_weak"]["strong"] && m["model"] != plain["strong_weak"]["weak"]) {
      weak = m["model"];
      break;
    }
  }
  REQUIRE(!weak.empty());
  const Json flagged = EvalReport(on + "--split validation --dedup-train-prompts --weak " + weak +
                                      " --lambdas 5 --threshold-bins 4",
                                  "eval-flagged");

  // --split: the rows evaluated; --dedup-train-prompts: the copies dropped.
  CHECK(plain["split"] == "test");
  CHECK(plain["evaluated_rows"] == data.test);
  CHECK(plain["dropped_rows_with_train_prompts"] == 0);
  CHECK(flagged["split"] == "validation");
  CHECK(flagged["train_rows"] == data.train);
  CHECK(flagged["dropped_rows_with_train_prompts"] == data.copies);
  CHECK(flagged["evaluated_rows"] == data.validation - data.copies);

  // --weak: the pair's weak model; the strong one stays the best single.
  CHECK(flagged["strong_weak"]["weak"] == weak);
  CHECK(flagged["strong_weak"]["strong"] == plain["strong_weak"]["strong"]);

  // --lambdas N: 0 and N values log-spaced over 1e-3..1e3 / median cost,
  // one operating point per lambda.
  const std::vector<double> lambdas = flagged["lambdas"];
  REQUIRE(lambdas.size() == 6);
  CHECK(lambdas[0] == 0.0);
  for (size_t i = 2; i < lambdas.size(); ++i) {
    CHECK(lambdas[i] / lambdas[i - 1] == Approx(std::pow(10.0, 1.5)));
  }
  CHECK(lambdas[5] / lambdas[1] == Approx(1e6));
  CHECK(plain["lambdas"].size() == 62);
  CHECK(RouterRow(flagged, "knn")["points"].size() == 6);
  CHECK(RouterRow(plain, "knn")["points"].size() == 62);

  // --threshold-bins B: the quantiles 0, 1/B, ..., 1 of the scores.
  CHECK(flagged["strong_weak"]["threshold_bins"] == 4);
  CHECK(flagged["strong_weak"]["routers"][0]["curve"].size() == 5);
  CHECK(plain["strong_weak"]["routers"][0]["curve"].size() == 11);

  // Bad values: usage errors naming the flag, before any work.
  const std::string eval = "eval --quiet " + on;
  for (const auto& [flags, says] : std::vector<std::pair<std::string, std::string>>{
           {"--split sideways", "sideways"},
           {"--lambdas 0", "--lambdas"},
           {"--lambdas many", "lambdas"},
           {"--threshold-bins -1", "--threshold-bins"},
           {"--weak zzz", "zzz"},
           {"--strong " + weak + " --weak " + weak, "the same model"}}) {
    INFO(flags);
    const RunResult r = Run(eval + flags);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find(says) != std::string::npos);
  }
}

TEST_CASE("eval --vectors: the routers work on the given vectors, not the text", "[cli][flags]") {
  const std::string on = "--data '" + SyntheticFile().string() + "' ";
  const Json text = EvalReport(on, "eval-text");
  const Json vectors = EvalReport(on + "--vectors '" + SyntheticVectorsFile().string() + "'",
                                  "eval-vectors");
  CHECK(vectors["vectors"] == SyntheticVectorsFile().string());
  CHECK(vectors["featurize_seconds"] == 0.0);  // no featurizer was fitted
  CHECK(text["featurize_seconds"].get<double>() > 0.0);
  // The vectors name each row's topic, which the small featurizer only
  // approximates: kNN on them routes better.
  const double on_vectors = RouterRow(vectors, "knn")["aiq"];
  const double on_text = RouterRow(text, "knn")["aiq"];
  INFO("knn AIQ: text " << on_text << ", vectors " << on_vectors);
  CHECK(on_vectors > on_text);

  // Vectors for fewer rows than the data: an input error.
  const fs::path short_vectors = Scratch() / "short.npy";
  REQUIRE(SaveNpy({.rows = 2, .cols = kVectorDim, .values = std::vector<float>(2 * kVectorDim)},
                  short_vectors.string())
              .ok());
  const RunResult r = Run("eval --quiet " + on + "--vectors '" + short_vectors.string() + "'");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("short.npy") != std::string::npos);
}

TEST_CASE("eval --calibration-folds and --calibration-bins: ECE, the floor table, the diagram",
          "[cli][flags]") {
  const SplitData& data = ValidationData();
  const std::string on = "--data '" + data.path.string() + "' --routers knn,mf ";
  const Json report = EvalReport(on + "--calibration-folds 3 --calibration-bins 5", "eval-calib");
  REQUIRE(report["calibration"].size() == 2);
  const int models = static_cast<int>(report["models"].size());
  for (const Json& f : report["calibration"]) {
    INFO(f["router"]);
    CHECK(f["folds"] == 3);
    // Every (training row, model) pair got a cross-fitted prediction.
    CHECK(f["calibration_pairs"] == data.train * models);
    for (const char* side : {"before", "after"}) {
      const Json& table = f[side];
      CHECK(table["pairs"] == data.test * models);
      REQUIRE(table["bins"].size() == 5);
      int64_t counted = 0;
      for (const Json& bin : table["bins"]) counted += bin["count"].get<int64_t>();
      CHECK(counted == data.test * models);
      CHECK(table["ece"].get<double>() >= 0.0);
    }
    // The generated data's models are scored 0/1 with known probabilities:
    // after calibration on train the estimates are close to calibrated.
    CHECK(f["after"]["ece"].get<double>() < 0.06);
    // The floor at 0.30, 0.35, ..., 0.90, before and after.
    REQUIRE(f["quality_floor_after"].size() == 13);
    CHECK(f["quality_floor_after"][0]["tau"] == 0.3);
    CHECK(f["quality_floor_before"].size() == 13);
    for (const Json& point : f["quality_floor_after"]) {
      CHECK(point["feasible_share"].get<double>() >= 0.0);
      CHECK(point["feasible_share"].get<double>() <= 1.0);
    }
  }
  const std::string svg = ReadAll(Scratch() / "eval-calib" / "reliability.svg");
  CHECK(svg.find("<svg") != std::string::npos);
  CHECK(svg.find("calibrated: ECE") != std::string::npos);

  // --calibration-method platt: the report names the method (the default is
  // isotonic), and the same folds give other calibrated figures, since the
  // maps differ; the raw ones are the same.
  const Json platt = EvalReport(
      on + "--calibration-folds 3 --calibration-bins 5 --calibration-method platt",
      "eval-calib-platt");
  REQUIRE(platt["calibration"].size() == 2);
  CHECK(platt["calibration"][0]["method"] == "platt");
  CHECK(report["calibration"][0]["method"] == "isotonic");
  CHECK(platt["calibration"][0]["before"] == report["calibration"][0]["before"]);
  CHECK(platt["calibration"][0]["after"] != report["calibration"][0]["after"]);

  // --calibration-folds 0: no calibration figures, no refits, no diagram.
  const Json off = EvalReport(on + "--calibration-folds 0", "eval-calib-off");
  CHECK_FALSE(off.contains("calibration"));
  CHECK_FALSE(fs::exists(Scratch() / "eval-calib-off" / "reliability.svg"));

  for (const auto& [flags, says] : std::vector<std::pair<std::string, std::string>>{
           {"--calibration-folds 1", "--calibration-folds"},
           {"--calibration-folds -2", "--calibration-folds"},
           {"--calibration-bins 0", "--calibration-bins"},
           {"--calibration-method sigmoid", "--calibration-method"}}) {
    INFO(flags);
    const RunResult r = Run("eval --quiet " + on + flags);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find(says) != std::string::npos);
  }
}

// ------------------------------------------------------------------ replay

Json Replay(const std::string& flags, const std::string& name) {
  const fs::path out = Scratch() / name;
  const RunResult r = Run("replay --quiet --threads 1 --data '" + SyntheticFile().string() +
                          "' --config '" + SmallConfig().string() + "' " + flags +
                          " --out '" + out.string() + "'");
  INFO(flags << "\n" << r.err);
  REQUIRE(r.exit_code == 0);
  return Json::parse(ReadAll(out / "replay.json"));
}

// A replayed order without its timing.
Json Timeless(Json order) {
  order.erase("seconds");
  return order;
}

TEST_CASE("replay --seed: the same seed streams the same orders, another seed others",
          "[cli][flags][replay]") {
  const Json a = Replay("--orders 2 --seed 5", "replay-seed-a");
  const Json b = Replay("--orders 2 --seed 5", "replay-seed-b");
  const Json c = Replay("--orders 1 --seed 6", "replay-seed-c");
  REQUIRE(a["orders"].size() == 2);
  CHECK(a["orders"][0]["seed"] == 5);
  CHECK(a["orders"][1]["seed"] == 6);
  CHECK(c["orders"][0]["seed"] == 6);
  for (int i = 0; i < 2; ++i) CHECK(Timeless(a["orders"][i]) == Timeless(b["orders"][i]));
  // Order i of seed S is order 0 of seed S + i.
  CHECK(Timeless(a["orders"][1]) == Timeless(c["orders"][0]));
  // Another order of the same rows: the same rows in total (kNN does not
  // learn), reached along another curve.
  CHECK(a["orders"][0]["quality"].get<double>() ==
        Approx(a["orders"][1]["quality"].get<double>()).epsilon(1e-12));
  CHECK(a["orders"][0]["quality_curve"] != a["orders"][1]["quality_curve"]);

  const std::string replay = "replay --quiet --data '" + SyntheticFile().string() + "' --seed ";
  for (const char* bad : {"-1", "x"}) {
    const RunResult r = Run(replay + bad);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("--seed") != std::string::npos);
  }
}

TEST_CASE("replay --no-cost-feedback paces on estimated costs only", "[cli][flags][replay]") {
  const fs::path config = Scratch() / "budget-small.json";
  WriteAll(config, R"({"featurizer": {"word_buckets": 256, "char_buckets": 256, "dim": 16},
                       "policy": {"kind": "budget", "target_cost_usd": 0.0005}})");
  auto replay = [&](const std::string& flags, const std::string& name) {
    const fs::path out = Scratch() / name;
    const RunResult r = Run("replay --quiet --threads 1 --orders 1 --data '" +
                            SyntheticFile().string() + "' --config '" + config.string() + "' " +
                            flags + " --out '" + out.string() + "'");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return Json::parse(ReadAll(out / "replay.json"))["orders"][0];
  };
  const Json realised = replay("", "replay-cost-feedback");
  const Json estimated = replay("--no-cost-feedback", "replay-no-cost-feedback");
  // With feedback the paced spend is what the calls really cost; without
  // it, what the router expected them to cost, which differs.
  for (const Json* order : {&realised, &estimated}) {
    CHECK((*order)["policy_state"]["requests"] == (*order)["quality_curve"].back()[0]);
  }
  const double realised_cost = realised["cost_usd"];
  CHECK(realised["policy_state"]["average_cost_usd"].get<double>() ==
        Approx(realised_cost).epsilon(1e-9));
  const double estimated_average = estimated["policy_state"]["average_cost_usd"];
  const double estimated_cost = estimated["cost_usd"];
  INFO("paced on estimates: estimated average " << estimated_average << ", realised "
                                                << estimated_cost);
  CHECK(std::abs(estimated_average - estimated_cost) > 1e-3 * estimated_cost);
  CHECK(estimated["policy_state"]["multiplier"] != realised["policy_state"]["multiplier"]);
}

TEST_CASE("replay --strong-share holds the share online, --fixed-threshold keeps the calibrated "
          "threshold",
          "[cli][flags][replay]") {
  // The pair: the dearest model against the cheapest.
  const Catalog catalog = testing::Synthetic1500().catalog;
  int strong = 0, weak = 0;
  for (int m = 1; m < catalog.size(); ++m) {
    if (catalog.at(m).output_usd_per_mtok > catalog.at(strong).output_usd_per_mtok) strong = m;
    if (catalog.at(m).output_usd_per_mtok < catalog.at(weak).output_usd_per_mtok) weak = m;
  }
  REQUIRE(strong != weak);
  const fs::path config = Scratch() / "threshold-small.json";
  WriteAll(config, Json{{"featurizer", {{"word_buckets", 256}, {"char_buckets", 256}, {"dim", 16}}},
                        {"policy", {{"kind", "threshold"},
                                    {"strong", catalog.at(strong).name},
                                    {"weak", catalog.at(weak).name}}}}
                       .dump());
  auto replay = [&](const std::string& flags, const std::string& name) {
    const fs::path out = Scratch() / name;
    const RunResult r = Run("replay --quiet --threads 1 --orders 1 --data '" +
                            SyntheticFile().string() + "' --config '" + config.string() + "' " +
                            flags + " --out '" + out.string() + "'");
    INFO(flags << "\n" << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(fs::exists(out / "share.svg"));
    return Json::parse(ReadAll(out / "replay.json"))["orders"][0];
  };
  const Json low = replay("--strong-share 0.2", "replay-share-low");
  const Json high = replay("--strong-share 0.6", "replay-share-high");
  const Json fixed = replay("--strong-share 0.2 --fixed-threshold", "replay-share-fixed");
  // Held online, the realised share lands near each target.
  for (const auto& [order, target] : {std::pair{&low, 0.2}, std::pair{&high, 0.6}}) {
    const Json& state = (*order)["policy_state"];
    INFO("target " << target << ", state " << state.dump());
    CHECK(state["target_share"] == target);
    CHECK(std::abs(state["strong_share"].get<double>() - target) < 0.05);
    CHECK((*order)["share_curve"].back()[1] == state["strong_share"]);
  }
  // Fixed: the same calibration (same fit, same sample), never moved, while
  // the tracked one moved away from it.
  const Json& fixed_state = fixed["policy_state"];
  CHECK(fixed_state["target_share"].get<double>() < 0.0);
  CHECK(fixed_state["threshold"] != low["policy_state"]["threshold"]);
  // The calibrated threshold sends about the target share of the training
  // sample to the strong model: here a share not far from it either.
  INFO("fixed threshold " << fixed_state.dump());
  CHECK(std::abs(fixed_state["strong_share"].get<double>() - 0.2) < 0.15);

  const std::string bad = "replay --quiet --data '" + SyntheticFile().string() + "' --config '" +
                          config.string() + "' --strong-share ";
  for (const char* value : {"1.5", "-0.1", "x"}) {
    const RunResult r = Run(bad + value);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("--strong-share") != std::string::npos);
  }
}


// ------------------------------------------------------------------ replay --replicas

TEST_CASE("replay --replicas runs one process, isolated and synced replicas on each order",
          "[cli][flags][replay]") {
  const fs::path config = Scratch() / "linucb-small.json";
  WriteAll(config, R"({"router": "linucb", "linucb": {"context_dim": 8},
                       "featurizer": {"word_buckets": 256, "char_buckets": 256, "dim": 16},
                       "policy": {"kind": "budget", "target_cost_usd": 0.0005}})");
  auto replay = [&](const std::string& flags, const std::string& name) {
    const fs::path out = Scratch() / name;
    const RunResult r = Run("replay --quiet --threads 1 --orders 2 --stream all --data '" +
                            SyntheticFile().string() + "' --config '" + config.string() + "' " +
                            flags + " --out '" + out.string() + "'");
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("synced - single, second-half quality") != std::string::npos);
    return Json::parse(ReadAll(out / "replicas.json"));
  };
  // Nearly all traffic on one replica: the other never routes, so isolated
  // and synced replicas make the single process's choices exactly.
  const Json lopsided = replay("--replicas 2 --traffic 1,1e-12", "replicas-lopsided");
  REQUIRE(lopsided["orders"].size() == 2);
  for (const Json& order : lopsided["orders"]) {
    for (const char* setup : {"isolated", "synced"}) {
      CHECK(order[setup]["quality"] == order["single"]["quality"]);
      CHECK(order[setup]["cost_usd"] == order["single"]["cost_usd"]);
    }
  }
  // Even traffic: syncing changes what the replicas choose, and the budget
  // error is reported for every set-up.
  const Json even = replay("--replicas 3 --sync-every 5", "replicas-even");
  CHECK(even["replicas"] == 3);
  CHECK(even["sync_every_rows"] == 5);
  CHECK(even["traffic"].size() == 3);
  CHECK(even["orders"][0]["synced"]["quality"] != even["orders"][0]["isolated"]["quality"]);
  for (const char* setup : {"single", "isolated", "synced"}) {
    CHECK(even["mean"][setup].contains("budget_error"));
  }

  const std::string base = "replay --quiet --stream all --data '" + SyntheticFile().string() +
                           "' --config '" + config.string() + "' ";
  for (const char* bad : {"--replicas 1", "--replicas 2 --traffic 1,2,3",
                          "--replicas 2 --traffic 1,-1", "--traffic 1,1", "--sync-every 3",
                          "--replicas 2 --sync-every 0", "--replicas 2 --no-feedback"}) {
    const RunResult r = Run(base + bad);
    INFO(bad << ": " << r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("--") != std::string::npos);
  }
}

TEST_CASE("replay --replicas takes its store from the config's sync block",
          "[cli][flags][replay][sync]") {
  auto replay = [&](const std::string& sync, const std::string& name) {
    const fs::path config = Scratch() / (name + ".json");
    WriteAll(config, R"({"router": "linucb", "linucb": {"context_dim": 8},
                         "featurizer": {"word_buckets": 256, "char_buckets": 256, "dim": 16},
                         "sync": )" + sync + "}");
    const fs::path out = Scratch() / name;
    return Run("replay --quiet --threads 1 --orders 1 --stream all --replicas 2 --data '" +
               SyntheticFile().string() + "' --config '" + config.string() + "' --out '" +
               out.string() + "'");
  };
  // A memory store: the replay's own in-memory store, as without a block.
  const RunResult memory = replay(R"({"store": "memory:replay"})", "sync-memory");
  INFO(memory.err);
  REQUIRE(memory.exit_code == 0);
  CHECK(Json::parse(ReadAll(Scratch() / "sync-memory" / "replicas.json"))["store"] == "memory");
  // A Redis block is the store the synced replicas use: here one that
  // refuses connections, so the replay fails on its first round.
  const RunResult redis = replay(
      R"({"interval_ms": 0, "redis": {"host": "127.0.0.1", "port": 1, "timeout_ms": 100}})",
      "sync-redis");
  INFO(redis.err);
  CHECK(redis.exit_code != 0);
  CHECK(redis.err.find("redis") != std::string::npos);
}

}  // namespace
}  // namespace router
