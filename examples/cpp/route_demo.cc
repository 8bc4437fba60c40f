// route_demo: the end-to-end tour behind scripts/demo.sh.
//
// 1. Generates the project's synthetic routing data (six topics, five models
//    whose prices differ 60x; cheap specialists beat the expensive generalist
//    on their own topics).
// 2. Fits the built-in text featurizer and a kNN router on the training split,
//    and picks lambda on a validation split carved from it.
// 3. Routes a handful of prompts and prints each decision with its trace.
// 4. Compares the router with the best single model and the cheapest model on
//    the held-out test split.
#include <cstdio>
#include <string>
#include <vector>

#include "router/evaluation.h"
#include "router/knn_router.h"
#include "router/max_utility_policy.h"
#include "router/pipeline.h"
#include "router/synthetic.h"

namespace {

void Fail(const absl::Status& status) {
  std::fprintf(stderr, "route_demo: %s\n", status.ToString().c_str());
  std::exit(1);
}

// Mean cost and quality on `data` for each lambda of `grid`.
std::vector<router::OperatingPoint> Sweep(const router::Pipeline& pipeline,
                                          const router::Dataset& data,
                                          const std::vector<double>& grid) {
  std::vector<router::Estimates> estimates(data.rows());
  for (int64_t r = 0; r < data.rows(); ++r) {
    absl::Status s = pipeline.EstimateText(data.prompts[r], &estimates[r]);
    if (!s.ok()) Fail(s);
  }
  std::vector<router::OperatingPoint> points;
  for (double lambda : grid) {
    auto policy = router::MaxUtilityPolicy::Create(lambda).value();
    auto point = router::Replay(data, pipeline.catalog(), estimates, *policy);
    if (!point.ok()) Fail(point.status());
    points.push_back(*point);
  }
  return points;
}

}  // namespace

int main() {
  // 1. Data.
  router::SyntheticData synthetic = router::GenerateSynthetic({.rows = 4000, .seed = 7});
  const router::Dataset& all = synthetic.dataset;
  std::vector<int64_t> fit_rows, validation_rows;
  for (int64_t r : all.RowsOf(router::Split::kTrain)) {
    (r % 5 == 0 ? validation_rows : fit_rows).push_back(r);
  }
  const router::Dataset fit = all.Subset(fit_rows);
  const router::Dataset validation = all.Subset(validation_rows);
  const router::Dataset test = all.Subset(all.RowsOf(router::Split::kTest));
  std::printf("Synthetic routing data: %lld prompts, %zu topics, %d models "
              "(fit %lld / validation %lld / test %lld)\n",
              static_cast<long long>(all.rows()), synthetic.topics.size(),
              all.num_models(), static_cast<long long>(fit.rows()),
              static_cast<long long>(validation.rows()), static_cast<long long>(test.rows()));
  for (const router::Profile& p : synthetic.catalog.profiles()) {
    std::printf("  %-17s $%5.2f / $%5.2f per 1M input / output tokens\n", p.name.c_str(),
                p.input_usd_per_mtok, p.output_usd_per_mtok);
  }

  // 2. Fit, then choose lambda on validation the way an operator would state
  // a goal: the best quality for at most half of what the best single model
  // costs.
  router::PipelineConfig config;
  config.models = synthetic.catalog.profiles();
  config.RouterOptions<router::KnnOptions>().k = 25;
  auto fitted = router::Pipeline::Fit(fit, config);
  if (!fitted.ok()) Fail(fitted.status());
  std::unique_ptr<router::Pipeline> pipeline = std::move(fitted).value();

  const std::vector<double> grid = router::LambdaGrid(validation, 41);
  const std::vector<router::OperatingPoint> val_curve = Sweep(*pipeline, validation, grid);
  router::OperatingPoint best_single_val;
  for (const router::ModelPoint& m : router::SingleModelPoints(validation).value()) {
    if (m.point.quality > best_single_val.quality) best_single_val = m.point;
  }
  double lambda = grid.back(), lambda_quality = -1.0;
  for (size_t i = 0; i < grid.size(); ++i) {
    if (val_curve[i].cost_usd <= 0.5 * best_single_val.cost_usd &&
        val_curve[i].quality > lambda_quality) {
      lambda = grid[i];
      lambda_quality = val_curve[i].quality;
    }
  }
  pipeline->set_policy(router::MaxUtilityPolicy::Create(lambda).value());
  std::printf("\nFitted kNN (k=%d) over the built-in featurizer (%d dims); "
              "lambda=%.4g chosen on validation\n"
              "(the best quality at no more than half the best single model's cost)\n",
              config.RouterOptions<router::KnnOptions>().k, pipeline->dim(), lambda);

  // 3. Route example prompts.
  const char* prompts[] = {
      "Why does my python function segfault when I pass a null pointer to the api?",
      "Prove that the integral of this polynomial is bounded, step by step.",
      "What caused the fall of the byzantine empire in the fifteenth century?",
      "What dosage of insulin is typical for a patient with chronic symptoms?",
      "Is the landlord liable under the contract if the tenant breaks the clause?",
      "Give me a recipe to bake bread with flour, yeast and butter.",
  };
  std::printf("\nRouting decisions:\n");
  for (const char* prompt : prompts) {
    router::Decision decision;
    absl::Status status = pipeline->RouteText(prompt, &decision);
    if (!status.ok()) Fail(status);
    std::printf("\n  \"%s\"\n  -> %s  (predicted quality %.2f, expected cost $%.6f)\n",
                prompt, decision.chosen.model.c_str(), decision.chosen.predicted_quality,
                decision.chosen.expected_cost_usd);
    std::printf("     trace: %s\n", decision.Explain().c_str());
  }

  // 4. Held-out comparison.
  const std::vector<router::ModelPoint> singles = router::SingleModelPoints(test).value();
  const router::ModelPoint* best = &singles[0];
  const router::ModelPoint* cheapest = &singles[0];
  double cost_min = INFINITY, cost_max = 0.0;
  std::vector<router::OperatingPoint> zero_router;
  for (const router::ModelPoint& m : singles) {
    if (m.point.quality > best->point.quality) best = &m;
    if (m.point.cost_usd < cheapest->point.cost_usd) cheapest = &m;
    cost_min = std::min(cost_min, m.point.cost_usd);
    cost_max = std::max(cost_max, m.point.cost_usd);
    zero_router.push_back(m.point);
  }
  const router::OperatingPoint chosen = Sweep(*pipeline, test, {lambda})[0];
  const std::vector<router::OperatingPoint> curve = Sweep(*pipeline, test, grid);
  std::vector<router::OperatingPoint> router_and_singles = zero_router;
  router_and_singles.insert(router_and_singles.end(), curve.begin(), curve.end());
  const router::OperatingPoint oracle = router::OraclePoint(test).value();

  std::printf("\nHeld-out test split (%lld prompts): mean quality and cost per request\n",
              static_cast<long long>(test.rows()));
  std::printf("  %-36s %8s %14s\n", "", "quality", "cost (USD)");
  auto row = [](const std::string& name, const router::OperatingPoint& p) {
    std::printf("  %-36s %8.3f %14.7f\n", name.c_str(), p.quality, p.cost_usd);
  };
  row("best single model (" + best->model + ")", best->point);
  row("cheapest model (" + cheapest->model + ")", cheapest->point);
  row("router, lambda from validation", chosen);
  row("oracle (best model per prompt)", oracle);
  std::printf("\n  The router reaches %.1f%% of the best single model's quality at %.1f%% of "
              "its cost (%.1fx cheaper).\n",
              100.0 * chosen.quality / best->point.quality,
              100.0 * chosen.cost_usd / best->point.cost_usd,
              best->point.cost_usd / chosen.cost_usd);
  std::printf("  AIQ over the single models' cost range: router %.3f vs zero router "
              "(mixing single models) %.3f\n",
              router::Aiq(router_and_singles, cost_min, cost_max),
              router::Aiq(zero_router, cost_min, cost_max));
  return 0;
}
