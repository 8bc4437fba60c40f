#include "router/dataset.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "skip.h"

namespace router {
namespace {

using Catch::Matchers::Contains;

std::string TempPath(std::string_view name) {
  return (std::filesystem::temp_directory_path() /
          ("router_dataset_test_" + std::to_string(::getpid()) + "_" + std::string(name)))
      .string();
}

// The message of the error ParseJsonl returns for `text`.
std::string ErrorOf(std::string_view text) {
  auto result = ParseJsonl(text, "q.jsonl");
  REQUIRE_FALSE(result.ok());
  CHECK(result.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(result.status().message());
}

constexpr std::string_view kGood = R"({"id": "a", "prompt": "p", "scores": {"m": 1}})";

TEST_CASE("ParseJsonl reads rows, columns in order of first appearance", "[dataset]") {
  const std::string text =
      R"({"id": "q1", "prompt": "2+2?", "source": "math", "split": "train", "scores": {"zeta": 1.0, "alpha": 0.0}, "costs": {"zeta": 0.5, "alpha": 0.25}, "extra": [1, 2]})"
      "\n"
      R"({"id": 7, "prompt": "hi", "split": "val", "scores": {"alpha": 0.5, "mid": 0.75}, "costs": {"late": 0.125}})"
      "\n\n"
      R"({"prompt": "x", "split": "test", "scores": {"zeta": 0}, "source": null})"
      "\n"
      R"({"id": "q4", "prompt": "y", "scores": {"mid": 1}})";
  auto result = ParseJsonl(text);
  REQUIRE(result.ok());
  const Dataset& d = *result;
  REQUIRE(d.Validate().ok());
  CHECK(d.rows() == 4);
  CHECK(d.model_names == std::vector<std::string>{"zeta", "alpha", "mid", "late"});
  CHECK(d.ids == std::vector<std::string>{"q1", "7", "row-2", "q4"});
  CHECK(d.prompts == std::vector<std::string>{"2+2?", "hi", "x", "y"});
  CHECK(d.sources == std::vector<std::string>{"math", "", "", ""});
  CHECK(d.splits == std::vector<Split>{Split::kTrain, Split::kValidation, Split::kTest,
                                        Split::kUnassigned});
  CHECK(d.score(0, 0) == 1.0);
  CHECK(d.score(0, 1) == 0.0);
  CHECK(std::isnan(d.score(0, 2)));
  CHECK(d.cost(0, 0) == 0.5);
  CHECK(d.cost(0, 1) == 0.25);
  CHECK(std::isnan(d.cost(0, 3)));
  CHECK(std::isnan(d.score(1, 0)));
  CHECK(d.score(1, 1) == 0.5);
  CHECK(d.score(1, 2) == 0.75);
  CHECK(std::isnan(d.score(1, 3)));  // "late" only has a cost
  CHECK(d.cost(1, 3) == 0.125);
  CHECK(std::isnan(d.cost(1, 1)));
  CHECK(d.score(3, 2) == 1.0);
  CHECK(d.scores.size() == 16);
  CHECK(d.costs.size() == 16);
  CHECK_FALSE(d.has_vectors());
}

TEST_CASE("ParseJsonl accepts CRLF and whitespace-only lines", "[dataset]") {
  auto result = ParseJsonl(std::string(kGood) + "\r\n   \r\n\t\n" +
                           R"({"id": "b", "prompt": "p", "scores": {"m": 0}})" + "\r\n");
  REQUIRE(result.ok());
  CHECK(result->rows() == 2);
}

TEST_CASE("ParseJsonl errors name the source and the 1-based line", "[dataset]") {
  struct Case {
    std::string_view name;
    std::string_view line;
    std::string_view expected;
  };
  const Case cases[] = {
      {"not JSON", "{\"id\": ", "not valid JSON"},
      {"NaN literal", R"({"prompt": "p", "scores": {"m": NaN}})", "not valid JSON"},
      {"not an object", "[1, 2]", "expected a JSON object"},
      {"scores not an object", R"({"prompt": "p", "scores": [1]})",
       "field 'scores' must be an object of numbers"},
      {"score not a number", R"({"prompt": "p", "scores": {"m": "1"}})",
       "field 'scores' must be an object of numbers"},
      {"score is a bool", R"({"prompt": "p", "scores": {"m": true}})",
       "field 'scores' must be an object of numbers"},
      {"score 1.5", R"({"prompt": "p", "scores": {"m": 1.5}})", "scores['m'] = 1.5 is not in [0, 1]"},
      {"negative score", R"({"prompt": "p", "scores": {"m": -0.1}})", "is not in [0, 1]"},
      // nlohmann rejects numbers that overflow a double.
      {"huge score", R"({"prompt": "p", "scores": {"m": 1e999}})", "not valid JSON"},
      {"negative cost", R"({"prompt": "p", "scores": {"m": 1}, "costs": {"m": -2}})",
       "costs['m'] = -2 is not finite and >= 0"},
      {"costs not an object", R"({"prompt": "p", "scores": {"m": 1}, "costs": 3})",
       "field 'costs' must be an object of numbers"},
      {"missing scores", R"({"prompt": "p"})", "missing field 'scores'"},
      {"empty scores", R"({"prompt": "p", "scores": {}})", "field 'scores' is empty"},
      {"empty model name", R"({"prompt": "p", "scores": {"": 1}})", "empty model name"},
      {"missing prompt", R"({"id": "x", "scores": {"m": 1}})", "missing field 'prompt'"},
      {"prompt not a string", R"({"prompt": 3, "scores": {"m": 1}})",
       "field 'prompt' must be a string"},
      {"bad split", R"({"prompt": "p", "split": "dev", "scores": {"m": 1}})", "field 'split'"},
      {"split not a string", R"({"prompt": "p", "split": 1, "scores": {"m": 1}})", "field 'split'"},
      {"bad id", R"({"id": [1], "prompt": "p", "scores": {"m": 1}})",
       "field 'id' must be a string or a number"},
      {"empty id", R"({"id": "", "prompt": "p", "scores": {"m": 1}})", "field 'id' must not be empty"},
      {"source not a string", R"({"prompt": "p", "source": 1, "scores": {"m": 1}})",
       "field 'source' must be a string"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    // Line 1 is good and line 2 blank, so the bad row is on line 3.
    const std::string message = ErrorOf(std::string(kGood) + "\n\n" + std::string(c.line) + "\n");
    CHECK_THAT(message, Contains("q.jsonl:3: ") && Contains(std::string(c.expected)));
  }
}

TEST_CASE("ParseJsonl rejects duplicate ids naming both lines", "[dataset]") {
  const std::string message = ErrorOf(std::string(kGood) + "\n" +
                                      R"({"id": "b", "prompt": "p", "scores": {"m": 1}})" + "\n" +
                                      std::string(kGood));
  CHECK_THAT(message, Contains("q.jsonl:3:") && Contains("duplicate id 'a'") &&
                          Contains("line 1"));
  // A numeric id collides with the same string.
  CHECK_THAT(ErrorOf(R"({"id": 5, "prompt": "p", "scores": {"m": 1}})"
                     "\n"
                     R"({"id": "5", "prompt": "p", "scores": {"m": 1}})"),
             Contains("duplicate id '5'"));
}

TEST_CASE("ParseJsonl rejects input without rows", "[dataset]") {
  CHECK_THAT(ErrorOf(""), Contains("q.jsonl") && Contains("no rows"));
  CHECK_THAT(ErrorOf("\n  \n\r\n"), Contains("no rows"));
}

TEST_CASE("ParseJsonl rejects a line over the size limit", "[dataset][slow]") {
  std::string text = std::string(kGood) + "\n";
  text.append((size_t{64} << 20) + 1, ' ');
  CHECK_THAT(ErrorOf(text), Contains("q.jsonl:2:") && Contains("limit"));
}

TEST_CASE("SaveJsonl and LoadJsonl round-trip", "[dataset]") {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Dataset d;
  d.model_names = {"b-model", "a-model", "c"};
  d.ids = {"x1", "x2", "x3"};
  d.prompts = {"line one\nline \"two\"\t\\", "héllo wörld ✓", ""};
  d.sources = {"gsm8k", "", "mmlu"};
  d.splits = {Split::kTrain, Split::kUnassigned, Split::kValidation};
  d.scores = {0.1, 1.0, nan, nan, 0.0, 0.3333333333333333, 1e-300, nan, 0.5};
  d.costs = {1.2345678901234567e-5, nan, nan, nan, nan, nan, 0.0, 3.0, 1e-9};
  const std::string path = TempPath("roundtrip.jsonl");
  REQUIRE(SaveJsonl(d, path).ok());
  auto loaded = LoadJsonl(path);
  std::filesystem::remove(path);
  REQUIRE(loaded.ok());
  CHECK(loaded->model_names == d.model_names);
  CHECK(loaded->ids == d.ids);
  CHECK(loaded->prompts == d.prompts);
  CHECK(loaded->sources == d.sources);
  CHECK(loaded->splits == d.splits);
  REQUIRE(loaded->scores.size() == d.scores.size());
  for (size_t i = 0; i < d.scores.size(); ++i) {
    INFO(i);
    CHECK(std::isnan(loaded->scores[i]) == std::isnan(d.scores[i]));
    if (!std::isnan(d.scores[i])) CHECK(loaded->scores[i] == d.scores[i]);
    CHECK(std::isnan(loaded->costs[i]) == std::isnan(d.costs[i]));
    if (!std::isnan(d.costs[i])) CHECK(loaded->costs[i] == d.costs[i]);
  }
}

TEST_CASE("SaveJsonl refuses what LoadJsonl could not read", "[dataset]") {
  Dataset d;
  d.model_names = {"m"};
  d.ids = {"x"};
  d.prompts = {"p"};
  d.sources = {""};
  d.splits = {Split::kTrain};
  d.scores = {std::numeric_limits<double>::quiet_NaN()};
  d.costs = {0.0};
  CHECK_THAT(std::string(SaveJsonl(d, TempPath("noscores.jsonl")).message()),
             Contains("no scores"));
  d.scores = {1.0};
  d.prompts = {"\xff\xfe"};  // not UTF-8
  CHECK(SaveJsonl(d, TempPath("utf8.jsonl")).code() == absl::StatusCode::kInvalidArgument);
  d.prompts = {"p"};
  d.costs = {-1.0};
  CHECK(SaveJsonl(d, TempPath("negcost.jsonl")).code() == absl::StatusCode::kInvalidArgument);
  std::filesystem::remove(TempPath("noscores.jsonl"));
  std::filesystem::remove(TempPath("utf8.jsonl"));
  std::filesystem::remove(TempPath("negcost.jsonl"));
}

TEST_CASE("LoadJsonl reports a missing file and names it", "[dataset]") {
  const std::string path = TempPath("missing.jsonl");
  auto result = LoadJsonl(path);
  REQUIRE_FALSE(result.ok());
  CHECK(result.status().code() == absl::StatusCode::kNotFound);
  CHECK_THAT(std::string(result.status().message()), Contains(path));
}

TEST_CASE("LoadJsonl errors use the path as the source", "[dataset]") {
  const std::string path = TempPath("bad.jsonl");
  {
    std::ofstream out(path, std::ios::binary);
    out << kGood << "\n" << R"({"prompt": "p", "scores": {"m": 2}})" << "\n";
  }
  auto result = LoadJsonl(path);
  std::filesystem::remove(path);
  REQUIRE_FALSE(result.ok());
  CHECK_THAT(std::string(result.status().message()), Contains(path + ":2:"));
}

Dataset ThreeRows() {
  auto d = ParseJsonl(
      R"({"id": "a", "prompt": "pa", "source": "s1", "split": "train", "scores": {"m1": 0.1, "m2": 0.2}, "costs": {"m1": 1}})"
      "\n"
      R"({"id": "b", "prompt": "pb", "source": "s2", "split": "test", "scores": {"m2": 0.4}})"
      "\n"
      R"({"id": "c", "prompt": "pc", "split": "train", "scores": {"m1": 0.5, "m2": 0.6}, "costs": {"m2": 2}})");
  REQUIRE(d.ok());
  return *std::move(d);
}

TEST_CASE("Dataset::ModelColumn and RowsOf", "[dataset]") {
  const Dataset d = ThreeRows();
  CHECK(d.ModelColumn("m1") == 0);
  CHECK(d.ModelColumn("m2") == 1);
  CHECK(d.ModelColumn("m3") == -1);
  CHECK(d.RowsOf(Split::kTrain) == std::vector<int64_t>{0, 2});
  CHECK(d.RowsOf(Split::kTest) == std::vector<int64_t>{1});
  CHECK(d.RowsOf(Split::kValidation).empty());
}

TEST_CASE("Dataset::FitRows: train and unset rows, never validation or test", "[dataset]") {
  Dataset d = ThreeRows();  // train, test, train
  d.splits.push_back(Split::kUnassigned);
  d.splits.push_back(Split::kValidation);
  CHECK(d.FitRows() == std::vector<int64_t>{0, 2, 3});
  d.splits = {Split::kTest, Split::kValidation};
  CHECK(d.FitRows().empty());
}

TEST_CASE("Dataset::Subset copies rows in order, with vectors", "[dataset]") {
  Dataset d = ThreeRows();
  REQUIRE(AttachVectors(&d, NpyMatrix{3, 2, {1, 2, 3, 4, 5, 6}}).ok());
  const int64_t rows[] = {2, 0, 2};
  const Dataset s = d.Subset(rows);
  REQUIRE(s.Validate().code() == absl::StatusCode::kInvalidArgument);  // id 'c' twice
  CHECK(s.ids == std::vector<std::string>{"c", "a", "c"});
  CHECK(s.prompts == std::vector<std::string>{"pc", "pa", "pc"});
  CHECK(s.sources == std::vector<std::string>{"", "s1", ""});
  CHECK(s.model_names == d.model_names);
  CHECK(s.score(0, 0) == 0.5);
  CHECK(s.score(1, 1) == 0.2);
  CHECK(s.cost(0, 1) == 2);
  CHECK(std::isnan(s.cost(0, 0)));
  CHECK(s.dim == 2);
  CHECK(s.vectors == std::vector<float>{5, 6, 1, 2, 5, 6});

  const Dataset plain = ThreeRows().Subset(std::vector<int64_t>{1});
  REQUIRE(plain.Validate().ok());
  CHECK_FALSE(plain.has_vectors());
  CHECK(plain.ids == std::vector<std::string>{"b"});
  CHECK(plain.splits == std::vector<Split>{Split::kTest});
}

TEST_CASE("Dataset::Validate catches inconsistent data", "[dataset]") {
  CHECK(ThreeRows().Validate().ok());
  auto invalid = [](auto mutate) {
    Dataset d = ThreeRows();
    mutate(d);
    return d.Validate().code() == absl::StatusCode::kInvalidArgument;
  };
  CHECK(invalid([](Dataset& d) { d.prompts.pop_back(); }));
  CHECK(invalid([](Dataset& d) { d.sources.push_back(""); }));
  CHECK(invalid([](Dataset& d) { d.splits.pop_back(); }));
  CHECK(invalid([](Dataset& d) { d.scores.pop_back(); }));
  CHECK(invalid([](Dataset& d) { d.costs.pop_back(); }));
  CHECK(invalid([](Dataset& d) { d.scores[0] = 1.5; }));
  CHECK(invalid([](Dataset& d) { d.scores[0] = std::numeric_limits<double>::infinity(); }));
  CHECK(invalid([](Dataset& d) { d.costs[0] = -1; }));
  CHECK(invalid([](Dataset& d) { d.costs[0] = std::numeric_limits<double>::infinity(); }));
  CHECK(invalid([](Dataset& d) { d.model_names[1] = "m1"; }));
  CHECK(invalid([](Dataset& d) { d.ids[1] = "a"; }));
  CHECK(invalid([](Dataset& d) { d.splits[0] = static_cast<Split>(9); }));
  CHECK(invalid([](Dataset& d) {
    d.dim = 2;
    d.vectors = {1, 2, 3};
  }));
  CHECK(invalid([](Dataset& d) { d.dim = -1; }));
}

TEST_CASE("AttachVectors checks the shape", "[dataset]") {
  Dataset d = ThreeRows();
  CHECK_THAT(std::string(AttachVectors(&d, NpyMatrix{2, 2, {1, 2, 3, 4}}).message()),
             Contains("2 rows") && Contains("3"));
  CHECK(AttachVectors(&d, NpyMatrix{3, 0, {}}).code() == absl::StatusCode::kInvalidArgument);
  CHECK(AttachVectors(&d, NpyMatrix{3, 2, {1, 2}}).code() == absl::StatusCode::kInvalidArgument);
  CHECK(AttachVectors(nullptr, NpyMatrix{}).code() == absl::StatusCode::kInvalidArgument);
  CHECK_FALSE(d.has_vectors());
  REQUIRE(AttachVectors(&d, NpyMatrix{3, 1, {7, 8, 9}}).ok());
  CHECK(d.has_vectors());
  CHECK(d.dim == 1);
  CHECK(d.vector(1)[0] == 8.0f);
  CHECK(d.Validate().ok());
}

Dataset ManyRows(int n) {
  Dataset d;
  d.model_names = {"m"};
  for (int i = 0; i < n; ++i) {
    d.ids.push_back("q" + std::to_string(i));
    d.prompts.push_back("p");
    d.sources.push_back("");
    d.splits.push_back(Split::kUnassigned);
    d.scores.push_back(1.0);
    d.costs.push_back(0.0);
  }
  return d;
}

TEST_CASE("AssignSplits hits the fractions", "[dataset]") {
  Dataset d = ManyRows(5000);
  AssignSplits(&d, 0.2, 0.1, 42);
  const double n = 5000;
  CHECK(d.RowsOf(Split::kUnassigned).empty());
  CHECK(d.RowsOf(Split::kTest).size() / n == Approx(0.2).margin(0.02));
  CHECK(d.RowsOf(Split::kValidation).size() / n == Approx(0.1).margin(0.02));
  CHECK(d.RowsOf(Split::kTrain).size() / n == Approx(0.7).margin(0.02));

  Dataset all_train = ManyRows(100);
  AssignSplits(&all_train, 0, 0, 1);
  CHECK(all_train.RowsOf(Split::kTrain).size() == 100);
  Dataset all_test = ManyRows(100);
  AssignSplits(&all_test, 1, 0.5, 1);
  CHECK(all_test.RowsOf(Split::kTest).size() == 100);
}

TEST_CASE("AssignSplits is stable under reordering and keeps given splits", "[dataset]") {
  Dataset d = ManyRows(2000);
  d.splits[5] = Split::kTest;
  d.splits[6] = Split::kTrain;
  std::vector<int64_t> order(d.rows());
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), std::mt19937(1));
  Dataset shuffled = d.Subset(order);

  AssignSplits(&d, 0.3, 0.2, 9);
  AssignSplits(&shuffled, 0.3, 0.2, 9);
  for (size_t i = 0; i < order.size(); ++i) {
    REQUIRE(shuffled.splits[i] == d.splits[order[i]]);
  }
  CHECK(d.splits[5] == Split::kTest);
  CHECK(d.splits[6] == Split::kTrain);

  Dataset other_seed = ManyRows(2000);
  AssignSplits(&other_seed, 0.3, 0.2, 10);
  CHECK(other_seed.splits != d.splits);
}

TEST_CASE("AssignSplits gives the same splits on every platform", "[dataset]") {
  // Computed independently (in Python) from FNV-1a + splitmix64; a change
  // here silently reshuffles every user's splits.
  const Split T = Split::kTrain, V = Split::kValidation, X = Split::kTest;
  Dataset d = ManyRows(12);
  AssignSplits(&d, 0.2, 0.1, 42);
  CHECK(d.splits == std::vector<Split>{T, T, T, T, T, T, T, T, T, X, V, T});
  d = ManyRows(12);
  AssignSplits(&d, 0.2, 0.1, 7);
  CHECK(d.splits == std::vector<Split>{X, X, T, T, X, X, T, T, T, V, T, T});
}

TEST_CASE("LoadJsonl reads the shared llmrouter-9model data", "[dataset][shared]") {
  const std::filesystem::path root = std::filesystem::path(__FILE__).parent_path().parent_path();
  const std::filesystem::path path = root / "../shared/data/llmrouter-9model/queries.jsonl";
  if (!std::filesystem::exists(path)) ROUTER_SKIP("../shared/data/llmrouter-9model is absent");
  auto d = LoadJsonl(path.string());
  REQUIRE(d.ok());
  CHECK(d->Validate().ok());
  CHECK(d->rows() == 6108);
  CHECK(d->num_models() == 9);
  CHECK(d->RowsOf(Split::kTrain).size() == 5608);
  CHECK(d->RowsOf(Split::kTest).size() == 500);
  CHECK(d->RowsOf(Split::kUnassigned).empty());
}

}  // namespace
}  // namespace router
