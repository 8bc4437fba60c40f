#include "router/cost_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "router/pipeline.h"
#include "router/pipeline_config.h"
#include "router/synthetic.h"

namespace router {
namespace {

// Generated data whose answers' lengths depend on the topic and the model
// (metered costs), split into train and test.
struct Metered {
  SyntheticData data;
  Dataset train, test;
};

const Metered& SharedMetered() {
  static const Metered* metered = [] {
    auto* made = new Metered{GenerateSynthetic(
        {.rows = 2400, .seed = 5, .test_fraction = 0.25, .min_words = 4,
         .max_words = 400, .metered_output = true})};
    made->train = made->data.dataset.Subset(made->data.dataset.RowsOf(Split::kTrain));
    made->test = made->data.dataset.Subset(made->data.dataset.RowsOf(Split::kTest));
    return made;
  }();
  return *metered;
}

PipelineConfig PricedConfig(const Catalog& catalog, const std::string& cost) {
  PipelineConfig config;
  config.router = "cluster";
  config.cost = cost;
  config.featurizer.dim = 64;
  for (int m = 0; m < catalog.size(); ++m) config.models.push_back(catalog.at(m));
  return config;
}

std::unique_ptr<Pipeline> FitOrDie(const Dataset& train, const PipelineConfig& config) {
  auto pipeline = Pipeline::Fit(train, config);
  REQUIRE(pipeline.ok());
  return *std::move(pipeline);
}

// Mean |predicted - observed| / observed over every test cell.
template <typename Predict>
double Mape(const Dataset& test, const Catalog& catalog, Predict predict) {
  double total = 0.0;
  int64_t cells = 0;
  for (int64_t r = 0; r < test.rows(); ++r) {
    for (int m = 0; m < catalog.size(); ++m) {
      const double observed = test.cost(r, test.ModelColumn(catalog.at(m).name));
      total += std::abs(predict(r, m) - observed) / observed;
      ++cells;
    }
  }
  return total / static_cast<double>(cells);
}

double PipelineMape(const Pipeline& pipeline, const Dataset& test) {
  Estimates estimates;
  return Mape(test, pipeline.catalog(), [&](int64_t r, int m) {
    if (m == 0) REQUIRE(pipeline.EstimateText(test.prompts[r], &estimates).ok());
    return estimates.per_model[m].expected_cost_usd;
  });
}

TEST_CASE("per-prompt cost beats the price table and the router's own estimate", "[cost]") {
  const Metered& metered = SharedMetered();
  const Catalog& catalog = metered.data.catalog;
  const auto per_prompt = FitOrDie(metered.train, PricedConfig(catalog, "per_prompt"));
  const auto router_cost = FitOrDie(metered.train, PricedConfig(catalog, "router"));
  REQUIRE(per_prompt->cost_model() != nullptr);
  REQUIRE(router_cost->cost_model() == nullptr);
  CHECK(per_prompt->cost_model()->models().size() == static_cast<size_t>(catalog.size()));

  const double learned = PipelineMape(*per_prompt, metered.test);
  const double router_own = PipelineMape(*router_cost, metered.test);
  const double price_table = Mape(metered.test, catalog, [&](int64_t r, int m) {
    return catalog.at(m).ExpectedCostUsd(EstimateInputTokens(metered.test.prompts[r]));
  });
  INFO("MAPE: per prompt " << learned << ", router " << router_own << ", price table "
                           << price_table);
  // Measured: 0.18, against 0.26 for the cluster router's own estimate and
  // 0.35 for the price table. The price table misses each topic's and
  // model's answer length; the router misses the prompt's own length.
  CHECK(learned < 0.22);
  CHECK(learned < 0.6 * price_table);
  CHECK(learned < 0.8 * router_own);
}

TEST_CASE("the cost model finds each topic's and model's answer length", "[cost]") {
  const Metered& metered = SharedMetered();
  const auto pipeline = FitOrDie(metered.train, PricedConfig(metered.data.catalog, "per_prompt"));
  const CostModel& model = *pipeline->cost_model();
  const int models = metered.data.catalog.size();
  std::vector<float> vector(pipeline->dim());
  for (int t = 0; t < static_cast<int>(metered.data.topics.size()); ++t) {
    for (int m = 0; m < models; ++m) {
      // The median over fresh prompts of the topic.
      std::vector<double> predicted;
      for (uint64_t seed = 0; seed < 41; ++seed) {
        const std::string prompt = SyntheticPrompt(t, 1000 + seed);
        REQUIRE(pipeline->Embed(prompt, absl::MakeSpan(vector)).ok());
        predicted.push_back(model.OutputTokens(model.Find(metered.data.catalog.at(m).name),
                                               vector, EstimateInputTokens(prompt)));
      }
      std::nth_element(predicted.begin(), predicted.begin() + 20, predicted.end());
      const double truth = metered.data.median_output_tokens[t * models + m];
      INFO("topic " << metered.data.topics[t] << ", model " << metered.data.catalog.at(m).name);
      CHECK(predicted[20] == Approx(truth).epsilon(0.2));
    }
  }
}

TEST_CASE("a price change reprices the predicted answer exactly", "[cost]") {
  const Metered& metered = SharedMetered();
  const auto pipeline = FitOrDie(metered.train, PricedConfig(metered.data.catalog, "per_prompt"));
  const Profile& model = metered.data.catalog.at(1);
  auto repriced = pipeline->WithPrice(model.name, 3.0 * model.input_usd_per_mtok + 0.5,
                                      0.25 * model.output_usd_per_mtok);
  REQUIRE(repriced.ok());
  const CostModel& costs = *(*repriced)->cost_model();
  std::vector<float> vector(pipeline->dim());
  const std::string prompt = SyntheticPrompt(0, 77);
  REQUIRE(pipeline->Embed(prompt, absl::MakeSpan(vector)).ok());
  const int64_t tokens = EstimateInputTokens(prompt);
  Estimates before, after;
  REQUIRE(pipeline->Estimate({.vector = vector, .input_tokens = tokens}, &before).ok());
  REQUIRE((*repriced)->Estimate({.vector = vector, .input_tokens = tokens}, &after).ok());
  const double answer = costs.OutputTokens(costs.Find(model.name), vector, tokens);
  CHECK(after.per_model[1].expected_cost_usd ==
        Approx((tokens * (3.0 * model.input_usd_per_mtok + 0.5) +
                answer * 0.25 * model.output_usd_per_mtok) * 1e-6).epsilon(1e-12));
  for (int m = 0; m < metered.data.catalog.size(); ++m) {
    if (m != 1) CHECK(after.per_model[m].expected_cost_usd == before.per_model[m].expected_cost_usd);
  }
}

TEST_CASE("with a fixed answer length the cost is the list price at the query's tokens",
          "[cost]") {
  const SyntheticData fixed = GenerateSynthetic({.rows = 600, .seed = 9});
  const auto pipeline = FitOrDie(fixed.dataset, PricedConfig(fixed.catalog, "per_prompt"));
  REQUIRE(pipeline->cost_model() != nullptr);
  std::vector<float> vector(pipeline->dim());
  REQUIRE(pipeline->Embed("Explain the integral of a polynomial", absl::MakeSpan(vector)).ok());
  // The host's own token count, far outside the training prompts' lengths.
  for (int64_t tokens : {int64_t{1}, int64_t{5000}}) {
    Estimates estimates;
    REQUIRE(pipeline->Estimate({.vector = vector, .input_tokens = tokens}, &estimates).ok());
    for (int m = 0; m < fixed.catalog.size(); ++m) {
      CHECK(estimates.per_model[m].expected_cost_usd ==
            Approx(fixed.catalog.at(m).ExpectedCostUsd(tokens)).epsilon(1e-9));
    }
  }
}

TEST_CASE("a price change applies exactly to per-prompt costs", "[cost]") {
  const Metered& metered = SharedMetered();
  const auto pipeline = FitOrDie(metered.train, PricedConfig(metered.data.catalog, "per_prompt"));
  const std::string name = metered.data.catalog.at(2).name;
  auto repriced = pipeline->WithPrice(name, 7.0, 21.0);
  REQUIRE(repriced.ok());
  std::vector<float> vector(pipeline->dim());
  const std::string prompt = SyntheticPrompt(0, 77);
  REQUIRE(pipeline->Embed(prompt, absl::MakeSpan(vector)).ok());
  const Query query{.vector = vector, .text = prompt};
  Estimates before, after;
  REQUIRE(pipeline->Estimate(query, &before).ok());
  REQUIRE((*repriced)->Estimate(query, &after).ok());
  const CostModel& model = *pipeline->cost_model();
  const int64_t tokens = InputTokens(query);
  const double output_tokens = model.OutputTokens(model.Find(name), vector, tokens);
  CHECK(after.per_model[2].expected_cost_usd ==
        Approx((7.0 * tokens + 21.0 * output_tokens) * 1e-6).epsilon(1e-12));
  for (int m : {0, 1, 3, 4}) {
    CHECK(after.per_model[m].expected_cost_usd == before.per_model[m].expected_cost_usd);
  }
}

TEST_CASE("models without an output price keep the router's cost", "[cost]") {
  const Metered& metered = SharedMetered();
  PipelineConfig config = PricedConfig(metered.data.catalog, "per_prompt");
  config.models[1].output_usd_per_mtok = 0.0;
  const auto per_prompt = FitOrDie(metered.train, config);
  config.cost = "router";
  const auto router_cost = FitOrDie(metered.train, config);
  CHECK(per_prompt->cost_model()->Find(config.models[1].name) == -1);
  CHECK(per_prompt->cost_model()->Find(config.models[0].name) == 0);
  Estimates a, b;
  REQUIRE(per_prompt->EstimateText(metered.test.prompts[0], &a).ok());
  REQUIRE(router_cost->EstimateText(metered.test.prompts[0], &b).ok());
  CHECK(a.per_model[1].expected_cost_usd == b.per_model[1].expected_cost_usd);
  CHECK(a.per_model[0].expected_cost_usd != b.per_model[0].expected_cost_usd);
}

TEST_CASE("an unpriced catalog fits no cost model", "[cost]") {
  const SyntheticData data = GenerateSynthetic({.rows = 300, .seed = 3});
  PipelineConfig config;
  config.router = "cluster";
  config.featurizer.dim = 32;
  const auto pipeline = FitOrDie(data.dataset, config);
  CHECK(pipeline->cost_model() == nullptr);
}

TEST_CASE("the ridge regression recovers a linear law and stays in the observed range",
          "[cost]") {
  // log(output tokens) = 5 + 0.8 x0 - 0.5 x1 exactly, no input price.
  Dataset data;
  data.model_names = {"m"};
  data.dim = 3;
  Catalog catalog;
  REQUIRE(catalog.Add(Profile{.name = "m", .output_usd_per_mtok = 2.0}).ok());
  uint64_t state = 1;
  auto uniform = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) / 9007199254740992.0 * 2.0 - 1.0;
  };
  // More rows than one block of the fit (4,096), so the blocked sums are checked.
  for (int r = 0; r < 10000; ++r) {
    const float x0 = static_cast<float>(uniform()), x1 = static_cast<float>(uniform());
    data.vectors.insert(data.vectors.end(), {x0, x1, static_cast<float>(uniform())});
    data.ids.push_back(std::to_string(r));
    data.prompts.push_back("p");
    data.sources.push_back("");
    data.splits.push_back(Split::kTrain);
    data.scores.push_back(1.0);
    data.costs.push_back(std::exp(5.0 + 0.8 * x0 - 0.5 * x1) * 2.0 * 1e-6);
  }
  auto model = CostModel::Fit(data, catalog);
  REQUIRE(model.ok());
  REQUIRE(model->models().size() == 1);
  const std::vector<float> inside = {0.5f, -0.5f, 0.9f};
  CHECK(model->OutputTokens(0, inside, 1) == Approx(std::exp(5.0 + 0.4 + 0.25)).epsilon(1e-3));
  // Far outside the training vectors: clamped to the largest length seen.
  const std::vector<float> outside = {1000.0f, -1000.0f, 0.0f};
  CHECK(model->OutputTokens(0, outside, 1) == Approx(std::exp(model->models()[0].max_log_tokens)));
  CHECK(model->OutputTokens(0, outside, 1) <= std::exp(5.0 + 1.3) * 1.0001);
  const std::vector<float> nan = {std::nanf(""), 0.0f, 0.0f};
  CHECK(std::isfinite(model->OutputTokens(0, nan, 1)));
}

TEST_CASE("a cost model fit refuses data without vectors or without the model", "[cost]") {
  const Metered& metered = SharedMetered();
  Dataset no_vectors = metered.train;  // generated text, not embedded
  REQUIRE_FALSE(no_vectors.has_vectors());
  CHECK(CostModel::Fit(no_vectors, metered.data.catalog).status().code() ==
        absl::StatusCode::kInvalidArgument);
  Dataset embedded = no_vectors;
  embedded.dim = 2;
  embedded.vectors.assign(static_cast<size_t>(embedded.rows()) * 2, 0.5f);
  Catalog other;
  REQUIRE(other.Add(Profile{.name = "not-a-column", .output_usd_per_mtok = 1.0}).ok());
  CHECK(CostModel::Fit(embedded, other).status().code() == absl::StatusCode::kInvalidArgument);
  // A model with fewer than two observed costs is left to the router.
  Dataset one_cost = embedded.Subset({0});
  auto fitted = CostModel::Fit(one_cost, metered.data.catalog);
  REQUIRE(fitted.ok());
  CHECK(fitted->models().empty());
}

TEST_CASE("cost model state round-trips and refuses corrupt bytes", "[cost]") {
  const Metered& metered = SharedMetered();
  const auto pipeline = FitOrDie(metered.train, PricedConfig(metered.data.catalog, "per_prompt"));
  std::string bytes;
  pipeline->cost_model()->SaveState(&bytes);
  CostModel loaded;
  REQUIRE(loaded.LoadState(bytes).ok());
  std::string again;
  loaded.SaveState(&again);
  CHECK(again == bytes);

  for (size_t cut = 0; cut < bytes.size(); cut += 97) {
    CostModel target = loaded;
    const absl::Status status = target.LoadState(std::string_view(bytes).substr(0, cut));
    CHECK(status.code() == absl::StatusCode::kDataLoss);
    CHECK(target.models().size() == loaded.models().size());  // unchanged
  }
  // The first model's first weight, after version, dim, count and its name.
  const size_t name_bytes = loaded.models()[0].name.size();
  const size_t first_weight = 4 + 4 + 8 + 8 + name_bytes + 8;
  std::string nan_weight = bytes;
  const double nan = std::nan("");
  std::memcpy(nan_weight.data() + first_weight, &nan, sizeof(nan));
  CHECK(CostModel().LoadState(nan_weight).code() == absl::StatusCode::kDataLoss);
  CHECK(CostModel().LoadState(bytes + "x").code() == absl::StatusCode::kDataLoss);
}

TEST_CASE("a saved pipeline keeps its per-prompt costs, and a file without them stays format 1",
          "[cost]") {
  const Metered& metered = SharedMetered();
  const Catalog& catalog = metered.data.catalog;
  const auto pipeline = FitOrDie(metered.train, PricedConfig(catalog, "per_prompt"));
  auto image = pipeline->ToBytes();
  REQUIRE(image.ok());
  uint32_t version = 0;
  std::memcpy(&version, image->data() + 8, sizeof(version));
  CHECK(version == 2);
  auto loaded = Pipeline::FromBytes(*image);
  REQUIRE(loaded.ok());
  REQUIRE((*loaded)->cost_model() != nullptr);
  CHECK(*(*loaded)->ToBytes() == *image);
  Estimates a, b;
  for (int64_t r = 0; r < 20; ++r) {
    REQUIRE(pipeline->EstimateText(metered.test.prompts[r], &a).ok());
    REQUIRE((*loaded)->EstimateText(metered.test.prompts[r], &b).ok());
    for (int m = 0; m < catalog.size(); ++m) {
      CHECK(a.per_model[m].expected_cost_usd == b.per_model[m].expected_cost_usd);
    }
  }
  const auto plain = FitOrDie(metered.train, PricedConfig(catalog, "router"));
  auto plain_image = plain->ToBytes();
  REQUIRE(plain_image.ok());
  std::memcpy(&version, plain_image->data() + 8, sizeof(version));
  CHECK(version == 1);
}

TEST_CASE("removing a model drops its per-prompt cost", "[cost]") {
  const Metered& metered = SharedMetered();
  const auto pipeline = FitOrDie(metered.train, PricedConfig(metered.data.catalog, "per_prompt"));
  const std::string name = metered.data.catalog.at(4).name;
  auto without = pipeline->WithoutModel(name);
  REQUIRE(without.ok());
  CHECK((*without)->cost_model()->Find(name) == -1);
  CHECK(pipeline->cost_model()->Find(name) == 4);  // the original is untouched
  // Onboarded again from examples without prompts (as the C ABI passes
  // them: no token counts), it takes the router's estimate.
  std::vector<int64_t> first_rows(400);
  for (int64_t i = 0; i < 400; ++i) first_rows[i] = i;
  Dataset labelled = metered.train.Subset(first_rows);
  Dataset unprompted = labelled;
  unprompted.prompts.assign(unprompted.rows(), "");
  auto back = (*without)->WithModel(metered.data.catalog.at(4), unprompted);
  REQUIRE(back.ok());
  CHECK((*back)->cost_model()->Find(name) == -1);
  Estimates estimates;
  REQUIRE((*back)->EstimateText(metered.test.prompts[0], &estimates).ok());
  CHECK(estimates.per_model.size() == static_cast<size_t>(metered.data.catalog.size()));
}

TEST_CASE("an onboarded model with prompts gets a per-prompt cost", "[cost]") {
  const Metered& metered = SharedMetered();
  const auto pipeline = FitOrDie(metered.train, PricedConfig(metered.data.catalog, "per_prompt"));
  const Profile& profile = metered.data.catalog.at(4);
  auto without = pipeline->WithoutModel(profile.name);
  REQUIRE(without.ok());
  std::vector<int64_t> first_rows(400);
  for (int64_t i = 0; i < 400; ++i) first_rows[i] = i;
  auto back = (*without)->WithModel(profile, metered.train.Subset(first_rows));
  REQUIRE(back.ok());
  const CostModel& model = *(*back)->cost_model();
  const int index = model.Find(profile.name);
  REQUIRE(index >= 0);
  CHECK(model.models()[index].rows == 400);
  CHECK(pipeline->cost_model()->Find(profile.name) == 4);  // the original is untouched
  // Its answer lengths, learned from the 400 examples: each topic's median
  // within 30% (the fit on all of train gets 20%).
  const int models = metered.data.catalog.size();
  std::vector<float> vector((*back)->dim());
  for (int t = 0; t < static_cast<int>(metered.data.topics.size()); ++t) {
    std::vector<double> predicted;
    for (uint64_t seed = 0; seed < 21; ++seed) {
      const std::string prompt = SyntheticPrompt(t, 5000 + seed);
      REQUIRE((*back)->Embed(prompt, absl::MakeSpan(vector)).ok());
      predicted.push_back(model.OutputTokens(index, vector, EstimateInputTokens(prompt)));
    }
    std::nth_element(predicted.begin(), predicted.begin() + 10, predicted.end());
    INFO("topic " << metered.data.topics[t]);
    CHECK(predicted[10] == Approx(metered.data.median_output_tokens[t * models + 4]).epsilon(0.3));
  }
  // Saved and loaded, the onboarded model's fit stays.
  auto loaded = Pipeline::FromBytes(*(*back)->ToBytes());
  REQUIRE(loaded.ok());
  CHECK((*loaded)->cost_model()->Find(profile.name) >= 0);
}

TEST_CASE("merging cost models refuses a covered name or another dimension", "[cost]") {
  const Metered& metered = SharedMetered();
  const auto pipeline = FitOrDie(metered.train, PricedConfig(metered.data.catalog, "per_prompt"));
  CostModel model = *pipeline->cost_model();
  const size_t before = model.models().size();
  CHECK(model.Merge(model).code() == absl::StatusCode::kInvalidArgument);
  std::string bytes;
  model.SaveState(&bytes);
  CostModel other;
  REQUIRE(other.LoadState(bytes).ok());
  other.Remove(metered.data.catalog.at(0).name);
  model.Remove(metered.data.catalog.at(1).name);
  CHECK(model.Merge(other).code() == absl::StatusCode::kInvalidArgument);  // others overlap
  CHECK(model.models().size() == before - 1);
  CHECK(CostModel().Merge(model).ok());
}

}  // namespace
}  // namespace router
