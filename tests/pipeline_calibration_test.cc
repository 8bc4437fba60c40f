// The calibration layer in a pipeline (config "calibration"): fitted at
// Pipeline::Fit on cross-fitted predictions, applied to every estimate,
// saved and loaded with the pipeline.
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "router/calibration.h"
#include "router/knn_router.h"
#include "router/pipeline.h"
#include "router/pipeline_config.h"
#include "router/synthetic.h"

namespace router {
namespace {

struct Split2 {
  SyntheticData data;
  Dataset train, test;
};

const Split2& SharedData() {
  static const Split2* made = [] {
    auto* s = new Split2{GenerateSynthetic({.rows = 1500, .seed = 21, .test_fraction = 0.3})};
    s->train = s->data.dataset.Subset(s->data.dataset.RowsOf(Split::kTrain));
    s->test = s->data.dataset.Subset(s->data.dataset.RowsOf(Split::kTest));
    return s;
  }();
  return *made;
}

// One nearest neighbour: every prediction is a single observed 0 or 1, as
// over-confident as a router gets.
PipelineConfig OneNeighbour(const std::string& method) {
  PipelineConfig config;
  config.router = "knn";
  config.RouterOptions<KnnOptions>().k = 1;
  config.featurizer.dim = 32;
  config.calibration.method = method;
  config.calibration.folds = 4;
  return config;
}

std::unique_ptr<Pipeline> FitOrDie(const PipelineConfig& config) {
  auto pipeline = Pipeline::Fit(SharedData().train, config);
  REQUIRE(pipeline.ok());
  return *std::move(pipeline);
}

// ECE of the pipeline's predicted quality over every (test row, model).
double TestEce(const Pipeline& pipeline) {
  const Dataset& test = SharedData().test;
  std::vector<double> predicted, realised;
  Estimates estimates;
  for (int64_t r = 0; r < test.rows(); ++r) {
    REQUIRE(pipeline.EstimateText(test.prompts[r], &estimates).ok());
    for (int m = 0; m < pipeline.catalog().size(); ++m) {
      predicted.push_back(estimates.per_model[m].quality);
      realised.push_back(test.score(r, test.ModelColumn(pipeline.catalog().at(m).name)));
    }
  }
  auto table = MeasureCalibration(predicted, realised);
  REQUIRE(table.ok());
  return table->expected_calibration_error;
}

TEST_CASE("the calibration layer calibrates an over-confident router", "[calibration]") {
  const auto raw = FitOrDie(OneNeighbour("none"));
  const auto isotonic = FitOrDie(OneNeighbour("isotonic"));
  const auto platt = FitOrDie(OneNeighbour("platt"));
  REQUIRE(raw->calibrator() == nullptr);
  REQUIRE(isotonic->calibrator() != nullptr);
  CHECK(isotonic->calibrator()->size() == raw->catalog().size());
  const double before = TestEce(*raw);
  const double after_isotonic = TestEce(*isotonic);
  const double after_platt = TestEce(*platt);
  INFO("ECE raw " << before << ", isotonic " << after_isotonic << ", platt " << after_platt);
  // 1-NN predicts 0 or 1; the synthetic models' skills lie in 0.15..0.92.
  CHECK(before > 0.15);
  CHECK(after_isotonic < 0.06);
  CHECK(after_platt < 0.06);
}

TEST_CASE("a calibrated estimate is the calibrator's map of the raw one", "[calibration]") {
  const auto raw = FitOrDie(OneNeighbour("none"));
  const auto calibrated = FitOrDie(OneNeighbour("isotonic"));
  Estimates a, b;
  for (int64_t r = 0; r < 20; ++r) {
    const std::string& prompt = SharedData().test.prompts[r];
    REQUIRE(raw->EstimateText(prompt, &a).ok());
    REQUIRE(calibrated->EstimateText(prompt, &b).ok());
    for (int m = 0; m < raw->catalog().size(); ++m) {
      const MonotoneCalibrator* map = calibrated->calibrator()->Find(raw->catalog().at(m).name);
      REQUIRE(map != nullptr);
      CHECK(b.per_model[m].quality == map->Apply(a.per_model[m].quality));
      CHECK(b.per_model[m].expected_cost_usd == a.per_model[m].expected_cost_usd);
    }
  }
}

TEST_CASE("the calibration layer saves, loads and forgets removed models", "[calibration]") {
  const auto pipeline = FitOrDie(OneNeighbour("platt"));
  auto image = pipeline->ToBytes();
  REQUIRE(image.ok());
  auto loaded = Pipeline::FromBytes(*image);
  REQUIRE(loaded.ok());
  REQUIRE((*loaded)->calibrator() != nullptr);
  CHECK(*(*loaded)->ToBytes() == *image);
  Estimates a, b;
  REQUIRE(pipeline->EstimateText(SharedData().test.prompts[0], &a).ok());
  REQUIRE((*loaded)->EstimateText(SharedData().test.prompts[0], &b).ok());
  for (size_t m = 0; m < a.per_model.size(); ++m) {
    CHECK(a.per_model[m].quality == b.per_model[m].quality);
  }

  const std::string name = pipeline->catalog().at(0).name;
  auto without = pipeline->WithoutModel(name);
  REQUIRE(without.ok());
  CHECK((*without)->calibrator()->Find(name) == nullptr);
  CHECK(pipeline->calibrator()->Find(name) != nullptr);
  auto reloaded = Pipeline::FromBytes(*(*without)->ToBytes());
  REQUIRE(reloaded.ok());
  CHECK((*reloaded)->calibrator()->Find(name) == nullptr);
}

TEST_CASE("calibration config is checked", "[calibration]") {
  CHECK(ParsePipelineConfig(R"({"calibration": {"method": "sigmoid"}})").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(ParsePipelineConfig(R"({"calibration": {"folds": 1}})").status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(ParsePipelineConfig(R"({"calibration": {"folds": 101}})").status().code() ==
        absl::StatusCode::kInvalidArgument);
  auto ok = ParsePipelineConfig(R"({"calibration": {"method": "platt", "folds": 2}})");
  REQUIRE(ok.ok());
  CHECK(ok->calibration.method == "platt");
  CHECK(ok->calibration.folds == 2);
}

}  // namespace
}  // namespace router
