// oof_estimates: every router's estimates for every row of a routing data
// file, written as CSV for offline study of how routers could be combined
// (benchmarks/quality/stacking.py reads it; docs/results.md has the figures).
//
//   oof_estimates --data queries.jsonl --out estimates.csv
//                 [--routers knn,knn:k=150,cluster:num_clusters=16] [--folds 5]
//
// Test rows whose prompt occurs in train are dropped, as `router eval
// --dedup-train-prompts` does. The built-in text featurizer is fitted on the
// train prompts. Test rows are estimated by routers fitted on all of train;
// train rows out of fold: train is cut into folds by prompt (the distinct
// prompts dealt round-robin, like `router eval`'s calibration), and each
// fold is estimated by routers fitted on the others. A combiner fitted on
// the train rows thus never sees an estimate made by a router that saw the
// row. A router is "kind" or "kind:key=value[:key=value]" with keys of the
// kind's config block (docs/configuration.md); a part "told" (as in
// "cluster:told") routes each row as a request naming its task, the row's
// source (RequestOverrides::task, like `router eval --tell-task`).
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "fmt/format.h"
#include "router/dataset.h"
#include "router/pipeline.h"
#include "router/pipeline_config.h"
#include "router/text_featurizer.h"

namespace {

using router::Dataset;

// `text` cut at every `separator`.
std::vector<std::string> Split(std::string_view text, char separator) {
  std::vector<std::string> parts;
  for (size_t begin = 0;;) {
    const size_t end = text.find(separator, begin);
    parts.emplace_back(text.substr(begin, end - begin));
    if (end == std::string_view::npos) return parts;
    begin = end + 1;
  }
}

struct RouterSpec {
  std::string name;  // as given: "knn:k=150"
  router::PipelineConfig config;
  bool tell_task = false;  // "told": each row's request names its source
};

// "knn:k=150:metric=ip" -> {"router": "knn", "knn": {"k": 150, ...}}. Values
// are passed to the config parser as JSON when they parse as JSON numbers or
// booleans, as strings otherwise.
absl::StatusOr<RouterSpec> ParseSpec(std::string_view spec) {
  const std::vector<std::string> parts = Split(spec, ':');
  std::string options;
  bool tell_task = false;
  for (size_t i = 1; i < parts.size(); ++i) {
    if (parts[i] == "told") {
      tell_task = true;
      continue;
    }
    const size_t eq = parts[i].find('=');
    if (eq == std::string::npos) {
      return absl::InvalidArgumentError(fmt::format("router '{}': expected key=value", spec));
    }
    const std::string key = parts[i].substr(0, eq), value = parts[i].substr(eq + 1);
    const bool literal = value == "true" || value == "false" ||
                         value.find_first_not_of("0123456789.eE+-") == std::string::npos;
    options += fmt::format("{}\"{}\": {}", options.empty() ? "" : ", ", key,
                           literal ? value : fmt::format("\"{}\"", value));
  }
  auto config = router::ParsePipelineConfig(
      fmt::format(R"({{"router": "{}", "embedder": "none", "{}": {{{}}}}})", parts[0], parts[0],
                  options));
  if (!config.ok()) return config.status();
  return RouterSpec{std::string(spec), *std::move(config), tell_task};
}

// Appends one CSV line per (row, model) of `rows` of `eval`, estimated by a
// router of `spec` fitted on `fit`.
absl::Status Write(const RouterSpec& spec, const Dataset& fit, const Dataset& eval,
                   const std::vector<int64_t>& rows, const char* set, int fold, FILE* out) {
  auto pipeline = router::Pipeline::Fit(fit, spec.config);
  if (!pipeline.ok()) return pipeline.status();
  const router::Catalog& catalog = (*pipeline)->catalog();
  std::vector<int> column(catalog.size());
  for (int m = 0; m < catalog.size(); ++m) column[m] = eval.ModelColumn(catalog.at(m).name);
  router::Estimates estimates;
  router::RequestOverrides request;
  for (int64_t r : rows) {
    router::Query query;
    query.vector = eval.vector(r);
    query.text = eval.prompts[r];
    if (spec.tell_task) {
      request.task = eval.sources[r];
      query.overrides = &request;
    }
    if (absl::Status s = (*pipeline)->router().Estimate(query, &estimates); !s.ok()) return s;
    for (int m = 0; m < catalog.size(); ++m) {
      const router::ModelEstimate& e = estimates.per_model[m];
      fmt::print(out, "{},{},{},{},{},{},{},{},{},{},{},{}\n", set, eval.ids[r], fold, spec.name,
                 catalog.at(m).name, e.quality, e.uncertainty, e.support, e.expected_cost_usd,
                 eval.score(r, column[m]), eval.cost(r, column[m]), eval.sources[r]);
    }
  }
  return absl::OkStatus();
}

absl::Status Run(const std::string& data_path, const std::string& out_path,
                 const std::vector<RouterSpec>& specs, int folds) {
  auto data = router::LoadJsonl(data_path);
  if (!data.ok()) return data.status();
  const std::vector<int64_t> train_rows = data->RowsOf(router::Split::kTrain);
  std::unordered_set<std::string> train_prompts;
  for (int64_t r : train_rows) train_prompts.insert(data->prompts[r]);
  std::vector<int64_t> test_rows;
  for (int64_t r : data->RowsOf(router::Split::kTest)) {
    if (!train_prompts.contains(data->prompts[r])) test_rows.push_back(r);
  }
  if (train_rows.empty() || test_rows.empty()) {
    return absl::InvalidArgumentError("the data needs train rows and test rows");
  }
  Dataset train = data->Subset(train_rows), test = data->Subset(test_rows);

  router::TextFeaturizer featurizer;
  if (absl::Status s = featurizer.Fit(train.prompts); !s.ok()) return s;
  for (Dataset* d : {&train, &test}) {
    d->dim = featurizer.dim();
    d->vectors.assign(static_cast<size_t>(d->rows()) * d->dim, 0.0f);
    for (int64_t r = 0; r < d->rows(); ++r) {
      auto row = absl::MakeSpan(d->vectors.data() + r * d->dim, d->dim);
      if (absl::Status s = featurizer.Embed(d->prompts[r], row); !s.ok()) return s;
    }
  }

  // Folds by prompt, distinct prompts dealt round-robin in order of first
  // appearance (every fold gets a share of each task).
  std::unordered_map<std::string_view, int> fold_of_prompt;
  std::vector<int> fold(train.rows());
  for (int64_t r = 0; r < train.rows(); ++r) {
    auto [it, added] = fold_of_prompt.try_emplace(
        train.prompts[r], static_cast<int>(fold_of_prompt.size() % folds));
    fold[r] = it->second;
  }

  FILE* out = std::fopen(out_path.c_str(), "w");
  if (out == nullptr) return absl::NotFoundError(fmt::format("cannot write {}", out_path));
  fmt::print(out, "set,id,fold,router,model,quality,uncertainty,support,cost_estimate,score,"
                  "cost,source\n");
  absl::Status status;
  for (const RouterSpec& spec : specs) {
    for (int k = 0; k < folds && status.ok(); ++k) {
      std::vector<int64_t> fit_rows, held_rows;
      for (int64_t r = 0; r < train.rows(); ++r) (fold[r] == k ? held_rows : fit_rows).push_back(r);
      status = Write(spec, train.Subset(fit_rows), train, held_rows, "train", k, out);
    }
    std::vector<int64_t> all_test(test.rows());
    for (int64_t r = 0; r < test.rows(); ++r) all_test[r] = r;
    if (status.ok()) status = Write(spec, train, test, all_test, "test", -1, out);
    if (!status.ok()) break;
    fmt::print(stderr, "{}: done\n", spec.name);
  }
  if (std::fclose(out) != 0 && status.ok()) status = absl::DataLossError("closing the output");
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  std::string data_path, out_path, routers = "knn,cluster,mf,linucb";
  int folds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string_view flag = argv[i];
    if (flag == "--data") data_path = argv[i + 1];
    else if (flag == "--out") out_path = argv[i + 1];
    else if (flag == "--routers") routers = argv[i + 1];
    else if (flag == "--folds") folds = std::atoi(argv[i + 1]);
    else data_path.clear();  // an unknown flag: show the usage
  }
  if (data_path.empty() || out_path.empty() || folds < 2 || argc % 2 == 0) {
    fmt::print(stderr,
               "usage: oof_estimates --data FILE --out FILE.csv [--routers LIST] [--folds N>=2]\n");
    return 2;
  }
  std::vector<RouterSpec> specs;
  for (const std::string& spec : Split(routers, ',')) {
    auto parsed = ParseSpec(spec);
    if (!parsed.ok()) {
      fmt::print(stderr, "oof_estimates: {}\n", parsed.status().ToString());
      return 2;
    }
    specs.push_back(*std::move(parsed));
  }
  if (absl::Status s = Run(data_path, out_path, specs, folds); !s.ok()) {
    fmt::print(stderr, "oof_estimates: {}\n", s.ToString());
    return 1;
  }
  return 0;
}
