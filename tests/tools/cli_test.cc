// Runs the built `router` program (ROUTER_CLI_PATH) on files written here:
// the error paths and their exit codes, a golden eval on generated data, and
// a fit / inspect / route round trip.
#include <cmath>
#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "cli_run.h"
#include "nlohmann/json.hpp"
#include "router/dataset.h"

namespace router {
namespace {

namespace fs = std::filesystem;
using testing::ReadAll;
using testing::Run;
using testing::RunResult;
using testing::Scratch;
using testing::SyntheticFile;
using testing::WriteAll;

// Three models; rows 1-4 train, rows 5-6 test.
std::string SmallJsonl() {
  std::string text;
  for (int i = 1; i <= 6; ++i) {
    text += "{\"id\": \"q" + std::to_string(i) + "\", \"prompt\": \"question number " +
            std::to_string(i) + " about topic " + (i % 2 ? "alpha" : "beta") +
            "\", \"split\": \"" + (i <= 4 ? "train" : "test") +
            "\", \"scores\": {\"a\": " + (i % 2 ? "1" : "0") + ", \"b\": 1, \"c\": 0}, " +
            "\"costs\": {\"a\": 0.001, \"b\": 0.01, \"c\": 0.0001}}\n";
  }
  return text;
}

TEST_CASE("help and usage errors", "[cli]") {
  RunResult r = Run("--help");
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("eval") != std::string::npos);
  CHECK(r.out.find("inspect") != std::string::npos);
  CHECK(Run("").exit_code == 1);
  r = Run("frobnicate");
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("unknown command 'frobnicate'") != std::string::npos);
  r = Run("eval --help");
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("--routers") != std::string::npos);
  CHECK(r.out.find("--dedup-train-prompts") != std::string::npos);
  for (const char* command : {"fit", "route", "inspect"}) {
    CHECK(Run(std::string(command) + " --help").exit_code == 0);
  }
  r = Run("eval --data x.jsonl --no-such-flag");
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("--no-such-flag") != std::string::npos);
  CHECK(Run("eval").exit_code == 1);  // --data is required
  CHECK(Run("eval --data").exit_code == 1);  // the flag needs a value
}

TEST_CASE("eval: a missing file is an input error naming it", "[cli]") {
  const std::string missing = (Scratch() / "missing.jsonl").string();
  RunResult r = Run("eval --quiet --data '" + missing + "'");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find(missing) != std::string::npos);
}

TEST_CASE("eval: a malformed line is named by file and line", "[cli]") {
  const fs::path path = Scratch() / "malformed.jsonl";
  std::string text = SmallJsonl();
  text.insert(text.find('\n') + 1, "{\"id\": \"broken\", \"prompt\": \n");  // line 2
  WriteAll(path, text);
  RunResult r = Run("eval --quiet --data '" + path.string() + "'");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find(path.string() + ":2:") != std::string::npos);
}

TEST_CASE("eval: an unknown router is a usage error", "[cli]") {
  const fs::path path = Scratch() / "small.jsonl";
  WriteAll(path, SmallJsonl());
  RunResult r = Run("eval --quiet --data '" + path.string() + "' --routers knn,oracle9");
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("unknown router 'oracle9'") != std::string::npos);
}

TEST_CASE("eval: rows with different model sets are named by line", "[cli]") {
  // Line 6 (a test row) has no score for model 'b'.
  std::string text = SmallJsonl();
  size_t line6 = 0;
  for (int i = 0; i < 5; ++i) line6 = text.find('\n', line6) + 1;
  const size_t b = text.find("\"b\": 1, ", line6);
  text.erase(b, std::string("\"b\": 1, ").size());
  const fs::path path = Scratch() / "inconsistent.jsonl";
  WriteAll(path, text);
  RunResult r = Run("eval --quiet --data '" + path.string() + "'");
  CHECK(r.exit_code == 2);
  CHECK(r.err.find(path.string() + ":6:") != std::string::npos);
  CHECK(r.err.find("model 'b'") != std::string::npos);
}

TEST_CASE("eval: an unknown --strong model is a usage error", "[cli]") {
  const fs::path path = Scratch() / "small.jsonl";
  WriteAll(path, SmallJsonl());
  RunResult r = Run("eval --quiet --data '" + path.string() + "' --strong zzz");
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("zzz") != std::string::npos);
}

// The labels of the plot's points (single models, the oracle) overlap
// neither each other nor the legend's column (x >= 760), at the width the
// plot assumes for an 11px character.
void CheckPointLabelsApart(const std::string& svg) {
  struct Box {
    double left, right, baseline;
    std::string text;
  };
  std::vector<Box> boxes;
  const std::regex label(
      R"re(<text x="([0-9.]+)" y="([0-9.]+)"( text-anchor="end")? (font-size="11" fill="#222"|fill="#d62728")>([^<]*)</text>)re");
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), label); it != std::sregex_iterator();
       ++it) {
    const double x = std::stod((*it)[1]), width = 6.2 * (*it)[5].length();
    const bool ends = (*it)[3].matched;
    boxes.push_back({ends ? x - width : x, ends ? x : x + width, std::stod((*it)[2]), (*it)[5]});
  }
  REQUIRE(boxes.size() >= 2);  // the models and the oracle
  for (size_t i = 0; i < boxes.size(); ++i) {
    INFO(boxes[i].text);
    CHECK(boxes[i].right <= 760);
    for (size_t j = i + 1; j < boxes.size(); ++j) {
      INFO(boxes[j].text);
      const bool overlap_x = boxes[i].left < boxes[j].right && boxes[j].left < boxes[i].right;
      CHECK_FALSE((overlap_x && std::abs(boxes[i].baseline - boxes[j].baseline) < 13));
    }
  }
}

TEST_CASE("eval on generated data: kNN beats the zero router", "[cli]") {
  const fs::path out = Scratch() / "report";
  RunResult r = Run("eval --quiet --threads 1 --data '" + SyntheticFile().string() +
                    "' --routers knn --out '" + out.string() + "'");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("oracle") != std::string::npos);
  CHECK(r.out.find("APGR") != std::string::npos);

  const auto report = nlohmann::json::parse(ReadAll(out / "report.json"));
  double knn = -1, zero = -1, oracle = -1, knn_code = -1, zero_code = -1;
  for (const auto& row : report["rows"]) {
    const std::string name = row["name"];
    if (name == "knn") knn = row["aiq"], knn_code = row["aiq_routerbench_code"];
    if (name.rfind("zero router", 0) == 0) zero = row["aiq"], zero_code = row["aiq_routerbench_code"];
    if (name == "oracle") oracle = row["aiq"];
  }
  // Cheap specialists beat the generalist on their topics, so a router that
  // finds them wins clearly; the range pins today's figure (seeded data).
  CHECK(knn > zero + 0.05);
  CHECK(knn < oracle);
  CHECK(knn == Approx(0.853).margin(0.02));
  CHECK(knn_code > zero_code);
  const auto& pair = report["strong_weak"]["routers"][0];
  CHECK(pair["apgr"].get<double>() > 0.5);  // better than random routing
  CHECK(report["per_source"].size() == 6);  // six topics

  const std::string svg = ReadAll(out / "plot.svg");
  CHECK(svg.rfind("<?xml", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  CHECK(svg.find(">knn<") != std::string::npos);
  CHECK(svg.find(">oracle<") != std::string::npos);
  CheckPointLabelsApart(svg);
}

TEST_CASE("eval reports the cost prediction error of routers and the price table", "[cli]") {
  const fs::path data = Scratch() / "costs.jsonl", config = Scratch() / "prices.json";
  const fs::path out = Scratch() / "cost_report";
  WriteAll(data, SmallJsonl());  // costs per model: a 0.001, b 0.01, c 0.0001
  // Output prices only, at 1000 tokens: a and b priced right, c at 0.0002,
  // twice its observed cost.
  WriteAll(config, R"({"models": [
      {"name": "a", "output_usd_per_mtok": 1.0, "expected_output_tokens": 1000},
      {"name": "b", "output_usd_per_mtok": 10.0, "expected_output_tokens": 1000},
      {"name": "c", "output_usd_per_mtok": 0.2, "expected_output_tokens": 1000}]})");
  RunResult r = Run("eval --quiet --threads 1 --calibration-folds 0 --data '" + data.string() +
                    "' --config '" + config.string() + "' --routers knn --out '" +
                    out.string() + "'");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("Cost prediction error") != std::string::npos);
  const auto report = nlohmann::json::parse(ReadAll(out / "report.json"));
  REQUIRE(report["cost_error"].size() == 2);
  const auto& knn = report["cost_error"][0];
  CHECK(knn["name"] == "knn");
  CHECK(knn["cells"] == 6);  // 2 test rows x 3 models
  // Each model's cost is the same on every row, and kNN averages observed
  // costs: exact up to the float it keeps them in.
  CHECK(knn["mape"].get<double>() == Approx(0.0).margin(1e-6));
  const auto& table = report["cost_error"][1];
  CHECK(table["name"] == "price table");
  CHECK(table["cells"] == 6);
  CHECK(table["mape"].get<double>() == Approx(1.0 / 3.0));  // c is 100% off, a and b exact

  // Without prices there is no price table to compare with.
  REQUIRE(Run("eval --quiet --threads 1 --calibration-folds 0 --data '" + data.string() +
              "' --routers knn --out '" + out.string() + "'").exit_code == 0);
  const auto unpriced = nlohmann::json::parse(ReadAll(out / "report.json"));
  REQUIRE(unpriced["cost_error"].size() == 1);
  CHECK(unpriced["cost_error"][0]["name"] == "knn");
}

TEST_CASE("fit, inspect and route a saved model", "[cli]") {
  const fs::path model = Scratch() / "model.router";
  RunResult r = Run("fit --quiet --data '" + SyntheticFile().string() + "' --router knn -o '" +
                    model.string() + "'");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);

  r = Run("inspect --json '" + model.string() + "'");
  REQUIRE(r.exit_code == 0);
  const auto info = nlohmann::json::parse(r.out);
  CHECK(info["router_kind"] == "knn");
  // The fit rule every door follows: train and unset rows, never test.
  const auto data = LoadJsonl(SyntheticFile().string());
  REQUIRE(data.ok());
  const size_t fit_rows = data->FitRows().size();
  REQUIRE(fit_rows > 0);
  REQUIRE(fit_rows < 1500);  // the generated data holds out a test split
  CHECK(info["training_rows"] == fit_rows);
  CHECK(info["catalog"].size() == 5);
  CHECK(info["data_fingerprint"].get<std::string>().size() == 16);
  // The router's own facts (Router::Describe): an exact index over the rows.
  CHECK(info["router_details"] ==
        nlohmann::json{{"index", "exact"}, {"reference_rows", std::to_string(fit_rows)}});
  const std::string text = Run("inspect '" + model.string() + "'").out;
  CHECK(text.find("fingerprint") != std::string::npos);
  CHECK(text.find("  reference_rows " + std::to_string(fit_rows) + "\n") != std::string::npos);
  // --rows all fits every row, test included (a small featurizer: only the
  // row count matters here).
  const fs::path all_rows = Scratch() / "all-rows.router", small = Scratch() / "small.json";
  WriteAll(small, R"({"featurizer": {"word_buckets": 64, "char_buckets": 64, "dim": 8}})");
  REQUIRE(Run("fit --quiet --rows all --data '" + SyntheticFile().string() + "' --config '" +
              small.string() + "' --router knn -o '" + all_rows.string() + "'").exit_code == 0);
  r = Run("inspect --json '" + all_rows.string() + "'");
  REQUIRE(r.exit_code == 0);
  CHECK(nlohmann::json::parse(r.out)["training_rows"] == 1500);

  r = Run("route -m '" + model.string() + "' 'Why does my python function segfault?'");
  REQUIRE(r.exit_code == 0);
  const auto decision = nlohmann::json::parse(r.out);
  CHECK(!decision["model"].get<std::string>().empty());
  CHECK(decision["fallbacks"].size() == 4);
  CHECK(decision["decision"]["trace"]["router_kind"] == "knn");

  // JSONL and plain lines; line 2 is JSON without a prompt.
  r = Run("route -m '" + model.string() + "' --stdin --lambda 0",
          "{\"id\": 7, \"prompt\": \"bake bread with yeast\"}\n{\"text\": \"x\"}\n\nplain words\n");
  CHECK(r.exit_code == 2);
  std::istringstream lines(r.out);
  std::string line;
  std::vector<nlohmann::json> outputs;
  while (std::getline(lines, line)) outputs.push_back(nlohmann::json::parse(line));
  REQUIRE(outputs.size() == 3);
  CHECK(outputs[0]["id"] == 7);
  CHECK(outputs[1]["error"].get<std::string>().find("<stdin>:2") != std::string::npos);
  CHECK(outputs[2].contains("model"));

  // A file that is not a model: an input error.
  const fs::path junk = Scratch() / "junk.router";
  WriteAll(junk, "not a model");
  CHECK(Run("inspect '" + junk.string() + "'").exit_code == 2);
  CHECK(Run("route -m '" + junk.string() + "' hello").exit_code == 2);
  CHECK(Run("fit --data '" + SyntheticFile().string() + "' --router nope -o x").exit_code == 1);
}


TEST_CASE("replay: usage errors", "[cli][replay]") {
  CHECK(Run("replay --help").exit_code == 0);
  CHECK(Run("replay").exit_code == 1);
  const std::string data = "replay --quiet --data '" + SyntheticFile().string() + "'";
  RunResult r = Run(data + " --stream all --router knn");
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("learns online") != std::string::npos);
  CHECK(Run(data + " --stream sideways").exit_code == 1);
  CHECK(Run(data + " --strong-share 0.5").exit_code == 1);  // the policy is not "threshold"
  CHECK(Run(data + " --orders 0").exit_code == 1);
  CHECK(Run(data + " --warm-start 100").exit_code == 1);  // needs --stream all
  CHECK(Run(data + " --stream all --router linucb --warm-start -1").exit_code == 1);
  r = Run(data + " --stream all --router linucb --warm-start 1500");  // nothing left to stream
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("leaves no row") != std::string::npos);
}

TEST_CASE("replay: LinUCB learns from bandit feedback to beat the best fixed model, a "
          "labelled warm start helps from the first query, without feedback it does not learn",
          "[cli][replay]") {
  const std::string replay = "replay --quiet --data '" + SyntheticFile().string() +
                             "' --stream all --router linucb --orders 2 --out '";
  auto report_of = [&](const std::string& name, const std::string& flags) {
    const fs::path out = Scratch() / name;
    RunResult r = Run(replay + out.string() + "' " + flags);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(ReadAll(out / "curve.svg").find("<svg") != std::string::npos);
    return nlohmann::json::parse(ReadAll(out / "replay.json"));
  };
  const nlohmann::json cold = report_of("replay-cold", "");
  const nlohmann::json warm = report_of("replay-warm", "--warm-start 300");
  const nlohmann::json frozen = report_of("replay-frozen", "--no-feedback");
  REQUIRE(cold["orders"].size() == 2);
  CHECK(cold["streamed_rows"] == 1500);
  CHECK(warm["warm_start_rows"] == 300);
  CHECK(warm["streamed_rows"] == 1200);
  for (int i = 0; i < 2; ++i) {
    const auto& c = cold["orders"][i];
    const auto& w = warm["orders"][i];
    const auto& f = frozen["orders"][i];
    // Models specialise by topic in the generated data, so a router that
    // learns which model suits which prompts beats any single model, and
    // does so more cheaply than the expensive generalist.
    CHECK(c["second_half_quality"].get<double>() > c["best_fixed"]["second_half_quality"].get<double>());
    CHECK(c["second_half_cost_usd"].get<double>() < c["best_fixed"]["second_half_cost_usd"].get<double>());
    REQUIRE(c["quality_curve"].size() > 10);
    REQUIRE(w["quality_curve"].size() > 10);
    // The first tenth of the stream: the cold bandit is still exploring,
    // the warm one already knows which model suits which topic.
    const double cold_early = c["quality_curve"][5][1].get<double>();
    const double warm_early = w["quality_curve"][5][1].get<double>();
    INFO("early quality: cold " << cold_early << ", warm " << warm_early);
    CHECK(warm_early > cold_early + 0.03);
    // A router that is never told an outcome stays at its prior: it cannot
    // tell the specialists apart, so it is far below the learning one.
    INFO("second-half quality: learning " << c["second_half_quality"] << ", frozen "
                                          << f["second_half_quality"]);
    CHECK(f["second_half_quality"].get<double>() < c["second_half_quality"].get<double>() - 0.05);
  }
}

TEST_CASE("replay: budget pacing lands on the target cost", "[cli][replay]") {
  const fs::path config = Scratch() / "budget.json";
  WriteAll(config, R"({"policy": {"kind": "budget", "target_cost_usd": 0.0005}})");
  const fs::path out = Scratch() / "replay-budget";
  RunResult r = Run("replay --quiet --data '" + SyntheticFile().string() + "' --config '" +
                    config.string() + "' --orders 2 --out '" + out.string() + "'");
  REQUIRE(r.exit_code == 0);
  const nlohmann::json report = nlohmann::json::parse(ReadAll(out / "replay.json"));
  for (const auto& order : report["orders"]) {
    const double cost = order["cost_usd"].get<double>();
    INFO("realised average cost " << cost);
    CHECK(std::abs(cost - 5e-4) / 5e-4 < 0.05);
    CHECK(order["policy_state"]["kind"] == "budget");
  }
}

}  // namespace
}  // namespace router
