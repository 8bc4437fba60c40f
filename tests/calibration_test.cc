#include "router/calibration.h"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "router/synthetic.h"

namespace router {
namespace {

// ------------------------------------------------------------------ ECE

TEST_CASE("ECE: a perfectly calibrated predictor scores 0", "[calibration]") {
  // In each bin the mean score equals the mean prediction.
  const std::vector<double> predicted = {0.25, 0.25, 0.25, 0.25, 0.75, 0.75, 0.75, 0.75};
  const std::vector<double> realised = {1, 0, 0, 0, 1, 1, 1, 0};
  auto table = MeasureCalibration(predicted, realised);
  REQUIRE(table.ok());
  CHECK(table->pairs == 8);
  CHECK(table->expected_calibration_error == Approx(0.0).margin(1e-12));
  REQUIRE(table->bins.size() == 10);
  CHECK(table->bins[2].count == 4);
  CHECK(table->bins[2].mean_predicted == Approx(0.25));
  CHECK(table->bins[2].mean_realised == Approx(0.25));
  CHECK(table->bins[7].count == 4);
  CHECK(std::isnan(table->bins[0].mean_predicted));
  CHECK(table->bins[0].count == 0);
}

TEST_CASE("ECE: a constant offset gives that offset", "[calibration]") {
  std::vector<double> predicted, realised;
  for (int i = 0; i < 50; ++i) {
    const double score = (i % 10) / 10.0 + 0.02;
    realised.push_back(score);
    predicted.push_back(score + 0.05);  // stays inside the realised value's bin
  }
  auto table = MeasureCalibration(predicted, realised);
  REQUIRE(table.ok());
  CHECK(table->expected_calibration_error == Approx(0.05));
  // An offset that crosses bins is still the offset: each bin compares the
  // means of its own pairs.
  for (double& p : predicted) p += 0.04;
  CHECK(MeasureCalibration(predicted, realised)->expected_calibration_error == Approx(0.09));
}

TEST_CASE("ECE: a prediction on an edge goes to the bin above, 1.0 to the last", "[calibration]") {
  CHECK(ReliabilityBinIndex(0.0, 10) == 0);
  CHECK(ReliabilityBinIndex(0.1, 10) == 1);
  CHECK(ReliabilityBinIndex(0.3, 10) == 3);
  CHECK(ReliabilityBinIndex(0.7, 10) == 7);
  CHECK(ReliabilityBinIndex(std::nextafter(0.3, 0.0), 10) == 2);
  CHECK(ReliabilityBinIndex(0.9999, 10) == 9);
  CHECK(ReliabilityBinIndex(1.0, 10) == 9);
  CHECK(ReliabilityBinIndex(1.5, 10) == 9);   // out of range: the last bin
  CHECK(ReliabilityBinIndex(-0.2, 10) == 0);  // and the first
  CHECK(ReliabilityBinIndex(0.5, 4) == 2);
  CHECK(ReliabilityBinIndex(0.75, 1) == 0);
  auto table = MeasureCalibration(std::vector<double>{0.5, 1.0}, std::vector<double>{1.0, 1.0}, 2);
  REQUIRE(table.ok());
  CHECK(table->bins[0].count == 0);
  CHECK(table->bins[1].count == 2);
  CHECK(table->bins[1].lower == 0.5);
  CHECK(table->bins[1].upper == 1.0);
  CHECK(table->expected_calibration_error == Approx(0.25));
}

TEST_CASE("ECE: bad input is refused", "[calibration]") {
  const std::vector<double> one = {0.5};
  CHECK(MeasureCalibration({}, {}).status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(!MeasureCalibration(one, std::vector<double>{0.5, 0.5}).ok());
  CHECK(!MeasureCalibration(std::vector<double>{NAN}, one).ok());
  CHECK(!MeasureCalibration(one, std::vector<double>{INFINITY}).ok());
  CHECK(!MeasureCalibration(one, one, 0).ok());
}

// ------------------------------------------------------------ isotonic

std::vector<double> ApplyAll(const MonotoneCalibrator& c, const std::vector<double>& xs) {
  std::vector<double> out;
  for (double x : xs) out.push_back(c.Apply(x));
  return out;
}

TEST_CASE("isotonic: the PAV fit of a hand-worked example", "[calibration]") {
  // y = 1, 3, 2, 4, 3, 2 at x = 1..6. PAV pools (3, 2) -> 2.5, then
  // (4, 3, 2) -> 3: blocks {1}, {2, 3} = 2.5, {4, 5, 6} = 3.
  MonotoneCalibrator c;
  REQUIRE(c.FitIsotonic(std::vector<double>{1, 2, 3, 4, 5, 6}, std::vector<double>{1, 3, 2, 4, 3, 2}).ok());
  CHECK_THAT(ApplyAll(c, {1, 2, 3, 4, 5, 6}),
             Catch::Matchers::Approx(std::vector<double>{1, 2.5, 2.5, 3, 3, 3}));
  CHECK(c.knot_x() == std::vector<double>{1, 2, 3, 4, 6});
  // Linear between blocks, the end values outside the fitted range.
  CHECK(c.Apply(1.5) == Approx(1.75));
  CHECK(c.Apply(3.5) == Approx(2.75));
  CHECK(c.Apply(-10) == 1);
  CHECK(c.Apply(10) == 3);
  CHECK(std::isnan(c.Apply(NAN)));
}

TEST_CASE("isotonic: the output is monotone", "[calibration]") {
  std::vector<double> x, y;
  for (int i = 0; i < 200; ++i) {
    x.push_back(std::fmod(i * 0.618, 1.0));
    y.push_back(std::fmod(i * 0.377, 1.0) < 0.5 ? 0.0 : 1.0);
  }
  MonotoneCalibrator c;
  REQUIRE(c.FitIsotonic(x, y).ok());
  double previous = -1.0;
  for (double p = -0.1; p <= 1.1; p += 0.001) {
    CHECK(c.Apply(p) >= previous);
    previous = c.Apply(p);
  }
  for (size_t k = 1; k < c.knot_x().size(); ++k) {
    CHECK(c.knot_x()[k] > c.knot_x()[k - 1]);
    CHECK(c.knot_y()[k] >= c.knot_y()[k - 1]);
  }
}

TEST_CASE("isotonic: already monotone input is unchanged", "[calibration]") {
  const std::vector<double> x = {0.1, 0.2, 0.4, 0.8}, y = {0.0, 0.3, 0.3, 0.9};
  MonotoneCalibrator c;
  REQUIRE(c.FitIsotonic(x, y).ok());
  CHECK_THAT(ApplyAll(c, x), Catch::Matchers::Approx(y));
  // Order of the input does not matter.
  REQUIRE(c.FitIsotonic(std::vector<double>{0.8, 0.1, 0.4, 0.2}, std::vector<double>{0.9, 0.0, 0.3, 0.3})
              .ok());
  CHECK_THAT(ApplyAll(c, x), Catch::Matchers::Approx(y));
}

TEST_CASE("isotonic: constant input, ties and weights", "[calibration]") {
  MonotoneCalibrator c;
  // One distinct prediction: the (weighted) mean everywhere.
  REQUIRE(c.FitIsotonic(std::vector<double>{0.5, 0.5, 0.5}, std::vector<double>{1, 0, 0}).ok());
  CHECK(c.knot_x().size() == 1);
  CHECK(c.Apply(0.0) == Approx(1.0 / 3));
  CHECK(c.Apply(0.9) == Approx(1.0 / 3));
  // Ties are pooled before PAV: x = 0.2 has mean 0.5, x = 0.6 mean 0.25
  // (a violation), so both become (0.5 * 2 + 0.25 * 4) / 6 = 1/3.
  REQUIRE(c.FitIsotonic(std::vector<double>{0.2, 0.6, 0.2, 0.6, 0.6, 0.6},
                std::vector<double>{1, 1, 0, 0, 0, 0})
              .ok());
  CHECK(c.Apply(0.2) == Approx(1.0 / 3));
  CHECK(c.Apply(0.6) == Approx(1.0 / 3));
  // Weights: y = 1 at x = 0.3 (weight 3), y = 0 at x = 0.7 (weight 1) pool
  // to 3/4; with equal weights they would pool to 1/2.
  REQUIRE(c.FitIsotonic(std::vector<double>{0.3, 0.7}, std::vector<double>{1, 0},
                std::vector<double>{3, 1})
              .ok());
  CHECK(c.Apply(0.3) == Approx(0.75));
  CHECK(c.Apply(0.7) == Approx(0.75));
  // A weight of 2 counts as the pair twice.
  MonotoneCalibrator twice;
  REQUIRE(twice.FitIsotonic(std::vector<double>{0.3, 0.3, 0.3, 0.7}, std::vector<double>{1, 1, 1, 0}).ok());
  CHECK(twice.Apply(0.5) == Approx(c.Apply(0.5)));
}

TEST_CASE("isotonic: bad input is refused and changes nothing", "[calibration]") {
  MonotoneCalibrator c;
  REQUIRE(c.FitIsotonic(std::vector<double>{0.1, 0.9}, std::vector<double>{0, 1}).ok());
  const std::vector<double> x = c.knot_x(), y = c.knot_y();
  const std::vector<double> two = {0.2, 0.4};
  CHECK(c.FitIsotonic({}, {}).code() == absl::StatusCode::kInvalidArgument);
  CHECK(!c.FitIsotonic(two, std::vector<double>{1}).ok());
  CHECK(!c.FitIsotonic(two, std::vector<double>{NAN, 1}).ok());
  CHECK(!c.FitIsotonic(std::vector<double>{INFINITY, 0.1}, two).ok());
  CHECK(!c.FitIsotonic(two, two, std::vector<double>{1}).ok());
  CHECK(!c.FitIsotonic(two, two, std::vector<double>{1, 0}).ok());
  CHECK(!c.FitIsotonic(two, two, std::vector<double>{1, -1}).ok());
  CHECK(!c.FitIsotonic(two, two, std::vector<double>{1, NAN}).ok());
  CHECK(c.knot_x() == x);
  CHECK(c.knot_y() == y);
  // Unfitted: the identity.
  MonotoneCalibrator fresh;
  CHECK(!fresh.fitted());
  CHECK(fresh.Apply(0.42) == 0.42);
}

// ------------------------------------------------------------------ Platt

// Pairs whose outcome is a coin with P(1) = sigmoid(a * logit(p) + b).
void PlattPairs(double a, double b, int n, std::vector<double>* predicted,
                std::vector<double>* realised) {
  uint64_t state = 17;
  auto uniform = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) / 9007199254740992.0;
  };
  for (int i = 0; i < n; ++i) {
    const double p = 0.02 + 0.96 * uniform();
    const double truth = 1.0 / (1.0 + std::exp(-(a * std::log(p / (1 - p)) + b)));
    predicted->push_back(p);
    realised->push_back(uniform() < truth ? 1.0 : 0.0);
  }
}

TEST_CASE("Platt: recovers a known sigmoid of the logit", "[calibration]") {
  std::vector<double> predicted, realised;
  PlattPairs(2.0, -0.5, 40000, &predicted, &realised);
  MonotoneCalibrator c;
  REQUIRE(c.FitPlatt(predicted, realised).ok());
  REQUIRE(c.knot_x().size() == 201);
  for (double p : {0.1, 0.3, 0.5, 0.7, 0.9}) {
    const double truth = 1.0 / (1.0 + std::exp(-(2.0 * std::log(p / (1 - p)) - 0.5)));
    INFO("p = " << p);
    CHECK(c.Apply(p) == Approx(truth).margin(0.02));
  }
  for (size_t k = 1; k < c.knot_y().size(); ++k) CHECK(c.knot_y()[k] >= c.knot_y()[k - 1]);
  // An identity truth is left (nearly) alone.
  predicted.clear(), realised.clear();
  PlattPairs(1.0, 0.0, 40000, &predicted, &realised);
  REQUIRE(c.FitPlatt(predicted, realised).ok());
  CHECK(c.Apply(0.25) == Approx(0.25).margin(0.02));
  CHECK(c.Apply(0.8) == Approx(0.8).margin(0.02));
}

TEST_CASE("Platt: predictions that order outcomes backwards give the mean", "[calibration]") {
  const std::vector<double> predicted = {0.1, 0.2, 0.8, 0.9, 0.15, 0.85};
  const std::vector<double> realised = {1, 1, 0, 0, 1, 0};
  MonotoneCalibrator c;
  REQUIRE(c.FitPlatt(predicted, realised).ok());
  CHECK(c.Apply(0.05) == Approx(0.5).margin(1e-9));
  CHECK(c.Apply(0.95) == Approx(0.5).margin(1e-9));
}

TEST_CASE("Platt: bad input is refused and changes nothing", "[calibration]") {
  MonotoneCalibrator c;
  REQUIRE(c.FitPlatt(std::vector<double>{0.2, 0.8}, std::vector<double>{0, 1}).ok());
  const std::vector<double> knots = c.knot_y();
  CHECK(c.FitPlatt(std::vector<double>{0.2, 0.8}, std::vector<double>{0, 1.5}).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(c.FitPlatt(std::vector<double>{0.2, NAN}, std::vector<double>{0, 1}).code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(c.FitPlatt({}, {}).code() == absl::StatusCode::kInvalidArgument);
  CHECK(c.knot_y() == knots);
}

TEST_CASE("calibration methods by name, and cross-fitting's folds", "[calibration]") {
  CHECK(*CalibrationMethodNamed("isotonic") == CalibrationMethod::kIsotonic);
  CHECK(*CalibrationMethodNamed("platt") == CalibrationMethod::kPlatt);
  CHECK(CalibrationMethodNamed("none").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(CalibrationMethodNamed("").status().code() == absl::StatusCode::kInvalidArgument);

  const SyntheticData data = GenerateSynthetic({.rows = 60, .seed = 4});
  for (int folds : {1, 0, -3}) {
    INFO("folds " << folds);
    CHECK(CrossFitCalibrator(data.dataset, PipelineConfig{}, folds, CalibrationMethod::kIsotonic)
              .status()
              .code() == absl::StatusCode::kInvalidArgument);
  }
  // Folds by prompt: every row of one prompt in one fold, prompts dealt in turn.
  Dataset twice = data.dataset.Subset({0, 1, 2, 0, 1, 2, 3});
  const std::vector<int> fold = PromptFolds(twice, 2);
  CHECK(fold == std::vector<int>{0, 1, 0, 0, 1, 0, 1});
}

TEST_CASE("Platt: a quality calibrator of Platt maps saves and loads", "[calibration]") {
  std::vector<double> predicted, realised;
  PlattPairs(0.5, 0.3, 2000, &predicted, &realised);
  QualityCalibrator calibrator;
  REQUIRE(calibrator.FitModel("m", predicted, realised, {}, CalibrationMethod::kPlatt).ok());
  std::string state;
  REQUIRE(calibrator.SaveState(&state).ok());
  QualityCalibrator loaded;
  REQUIRE(loaded.LoadState(state).ok());
  CHECK(loaded.Find("m")->Apply(0.37) == calibrator.Find("m")->Apply(0.37));
  // A map must give qualities: the last knot value set to 1.5 is refused
  // (version, count, name "m", 201 knot predictions, then the values).
  std::string above_one = state;
  const size_t last_value = 4 + 8 + (8 + 1) + (8 + 201 * 8) + 8 + 200 * 8;
  REQUIRE(last_value + 8 == state.size());
  const double value = 1.5;
  std::memcpy(above_one.data() + last_value, &value, sizeof(value));
  QualityCalibrator refused = loaded;
  CHECK(refused.LoadState(above_one).code() == absl::StatusCode::kDataLoss);
  CHECK(refused.Find("m")->Apply(0.37) == loaded.Find("m")->Apply(0.37));  // unchanged
  CHECK(calibrator.FitModel("q", std::vector<double>{0.5}, std::vector<double>{2.0}).code() ==
        absl::StatusCode::kInvalidArgument);
  loaded.Remove("m");
  CHECK(loaded.Find("m") == nullptr);
  CHECK(loaded.models().empty());
}

// ------------------------------------------------------ per-model state

Catalog TwoModels() {
  Catalog catalog;
  REQUIRE(catalog.Add({.name = "small"}).ok());
  REQUIRE(catalog.Add({.name = "large"}).ok());
  return catalog;
}

QualityCalibrator Fitted() {
  QualityCalibrator calibrator;
  REQUIRE(calibrator.FitModel("small", std::vector<double>{0.2, 0.5, 0.8},
                              std::vector<double>{0.1, 0.2, 0.4})
              .ok());
  REQUIRE(calibrator.FitModel("large", std::vector<double>{0.3, 0.9}, std::vector<double>{0.6, 0.7})
              .ok());
  return calibrator;
}

TEST_CASE("quality calibrator: applies each model's map to its estimates", "[calibration]") {
  const Catalog catalog = TwoModels();
  QualityCalibrator calibrator = Fitted();
  Estimates e;
  e.per_model = {{.quality = 0.5}, {.quality = 0.6}};
  REQUIRE(calibrator.Apply(catalog, &e).ok());
  CHECK(e.per_model[0].quality == Approx(0.2));
  CHECK(e.per_model[1].quality == Approx(0.65));
  // A model without a calibrator keeps its prediction.
  QualityCalibrator partial;
  REQUIRE(partial.FitModel("large", std::vector<double>{0.5}, std::vector<double>{0.1}).ok());
  e.per_model = {{.quality = 0.5}, {.quality = 0.6}};
  REQUIRE(partial.Apply(catalog, &e).ok());
  CHECK(e.per_model[0].quality == 0.5);
  CHECK(e.per_model[1].quality == Approx(0.1));
  // Estimates of another catalog are refused, untouched.
  e.per_model = {{.quality = 0.5}};
  CHECK(!calibrator.Apply(catalog, &e).ok());
  CHECK(e.per_model[0].quality == 0.5);
  CHECK(!calibrator.FitModel("", std::vector<double>{0.5}, std::vector<double>{0.1}).ok());
  CHECK(calibrator.size() == 2);
}

TEST_CASE("quality calibrator: save/load round trip", "[calibration]") {
  const QualityCalibrator calibrator = Fitted();
  std::string state;
  REQUIRE(calibrator.SaveState(&state).ok());
  QualityCalibrator loaded;
  REQUIRE(loaded.LoadState(state).ok());
  REQUIRE(loaded.size() == 2);
  for (const char* model : {"small", "large"}) {
    for (double p = 0.0; p <= 1.0; p += 0.05) {
      CHECK(loaded.Find(model)->Apply(p) == calibrator.Find(model)->Apply(p));
    }
  }
  std::string again;
  REQUIRE(loaded.SaveState(&again).ok());
  CHECK(again == state);
}

TEST_CASE("quality calibrator: corrupt or truncated state is refused, nothing changes",
          "[calibration]") {
  std::string state;
  REQUIRE(Fitted().SaveState(&state).ok());
  QualityCalibrator target;
  REQUIRE(target.FitModel("other", std::vector<double>{0.5}, std::vector<double>{0.25}).ok());
  auto unchanged = [&] {
    CHECK(target.size() == 1);
    REQUIRE(target.Find("other") != nullptr);
    CHECK(target.Find("other")->Apply(0.9) == 0.25);
  };
  for (size_t n = 0; n < state.size(); ++n) {
    CHECK(target.LoadState(std::string_view(state).substr(0, n)).code() ==
          absl::StatusCode::kDataLoss);
  }
  unchanged();
  CHECK(!target.LoadState(state + "x").ok());  // trailing bytes
  std::string bad_version = state;
  bad_version[0] = 9;
  CHECK(!target.LoadState(bad_version).ok());
  // A huge model count must fail fast, not spin.
  std::string huge_count = state;
  for (int i = 4; i < 12; ++i) huge_count[i] = '\xff';
  CHECK(!target.LoadState(huge_count).ok());
  // Knots made decreasing or non-finite: the first stored x of the first
  // model (after version 4, count 8, name length 8 + "large" 5, x count 8).
  const size_t first_x = 4 + 8 + 8 + 5 + 8;
  for (double value : {std::nan(""), 0.95}) {  // 0.95 > the next knot, 0.9
    std::string corrupt = state;
    std::memcpy(corrupt.data() + first_x, &value, sizeof value);
    CHECK(!target.LoadState(corrupt).ok());
  }
  unchanged();
}

// ------------------------------------------------- a synthetic predictor

TEST_CASE("calibration reduces the ECE of a mis-calibrated predictor", "[calibration]") {
  // The generator's per-topic skill is the true probability of a score of
  // 1. A predictor that squashes it towards the middle and adds 0.1 is
  // monotone in the truth but mis-calibrated; fitted on train rows,
  // isotonic calibration recovers most of the truth on test rows.
  const SyntheticData synthetic = GenerateSynthetic({.rows = 4000, .seed = 11});
  const Dataset& data = synthetic.dataset;
  const int models = data.num_models();
  QualityCalibrator calibrator;
  std::vector<std::vector<double>> fit_predicted(models), fit_realised(models);
  std::vector<double> test_predicted, test_realised, test_calibrated;
  for (int64_t r = 0; r < data.rows(); ++r) {
    const int topic = synthetic.topic_of_row[r];
    for (int m = 0; m < models; ++m) {
      const double skill = synthetic.expected_score[topic * models + m];
      const double predicted = 0.5 * skill + 0.35;
      if (data.splits[r] == Split::kTest) {
        test_predicted.push_back(predicted);
        test_realised.push_back(data.score(r, m));
      } else {
        fit_predicted[m].push_back(predicted);
        fit_realised[m].push_back(data.score(r, m));
      }
    }
  }
  for (int m = 0; m < models; ++m) {
    REQUIRE(calibrator.FitModel(data.model_names[m], fit_predicted[m], fit_realised[m]).ok());
  }
  for (size_t i = 0; i < test_predicted.size(); ++i) {
    const int m = static_cast<int>(i % models);
    test_calibrated.push_back(calibrator.Find(data.model_names[m])->Apply(test_predicted[i]));
  }
  const double before =
      MeasureCalibration(test_predicted, test_realised)->expected_calibration_error;
  const double after =
      MeasureCalibration(test_calibrated, test_realised)->expected_calibration_error;
  INFO("ECE before " << before << ", after " << after);
  CHECK(before > 0.1);
  CHECK(after < 0.04);
  CHECK(after < before / 3);
}

}  // namespace
}  // namespace router
