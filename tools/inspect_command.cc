// `router inspect`: what a model file holds, without routing anything.
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "args.h"
#include "cli.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"
#include "router/pipeline.h"
#include "router/text_featurizer.h"

namespace router::cli {
namespace {

using Json = nlohmann::ordered_json;
constexpr const char* kCommand = "inspect";

const std::vector<FlagSpec>& Flags() {
  static const std::vector<FlagSpec> flags = {
      {"json", "", "", "print one JSON object instead of text"},
  };
  return flags;
}

Json Describe(const Pipeline& pipeline, const std::string& path) {
  Json json;
  json["file"] = path;
  std::error_code error;
  const auto bytes = std::filesystem::file_size(path, error);
  json["file_bytes"] = error ? Json(nullptr) : Json(bytes);
  json["router_kind"] = std::string(pipeline.router().kind());
  json["dim"] = pipeline.dim();
  std::string state;
  json["router_state_bytes"] =
      pipeline.router().SaveState(&state).ok() ? Json(state.size()) : Json(nullptr);
  Json details = Json::object();
  for (const auto& [name, value] : pipeline.router().Describe()) details[name] = value;
  json["router_details"] = std::move(details);
  if (const auto* featurizer = dynamic_cast<const TextFeaturizer*>(pipeline.embedder())) {
    json["embedder"] = {{"kind", "builtin text featurizer"},
                        {"sparse_dim", featurizer->sparse_dim()},
                        {"dim", featurizer->dim()}};
  } else {
    json["embedder"] = pipeline.embedder() == nullptr ? Json("none: routes vectors only")
                                                      : Json("custom");
  }
  json["policy"] = std::string(pipeline.policy().name());
  json["training_rows"] = pipeline.training_rows();
  json["data_fingerprint"] = pipeline.data_fingerprint();
  Json models = Json::array();
  const CostModel* cost_model = pipeline.cost_model();
  for (const Profile& p : pipeline.catalog().profiles()) {
    // The per-prompt cost of the model (router/cost_model.h), or null when
    // its cost is the router's estimate.
    Json per_prompt = nullptr;
    if (const int i = cost_model != nullptr ? cost_model->Find(p.name) : -1; i >= 0) {
      const CostModel::ModelFit& fit = cost_model->models()[i];
      per_prompt = {{"fitted_rows", fit.rows},
                    {"ridge", fit.ridge},
                    {"output_tokens_min", std::exp(fit.min_log_tokens)},
                    {"output_tokens_max", std::exp(fit.max_log_tokens)}};
    }
    models.push_back({{"name", p.name},
                      {"input_usd_per_mtok", p.input_usd_per_mtok},
                      {"output_usd_per_mtok", p.output_usd_per_mtok},
                      {"expected_output_tokens", p.expected_output_tokens},
                      {"context_window", p.context_window},
                      {"tags", p.tags},
                      {"per_prompt_cost", std::move(per_prompt)}});
  }
  json["catalog"] = std::move(models);
  // The config, without the option blocks of the router kinds not in use.
  Json config = Json::parse(PipelineConfigToJson(pipeline.config()));
  for (const RouterKind& kind : RouterKinds()) {
    if (kind.name != pipeline.config().router) config.erase(std::string(kind.name));
  }
  json["config"] = std::move(config);
  return json;
}

void PrintText(const Json& json) {
  std::printf("file            %s (%s bytes)\n", json["file"].get<std::string>().c_str(),
              json["file_bytes"].dump().c_str());
  std::printf("router          %s, %d-dimensional queries, state %s bytes\n",
              json["router_kind"].get<std::string>().c_str(), json["dim"].get<int>(),
              json["router_state_bytes"].dump().c_str());
  for (const auto& [name, value] : json["router_details"].items()) {
    std::printf("  %-14s %s\n", name.c_str(), value.get<std::string>().c_str());
  }
  std::printf("embedder        %s\n", json["embedder"].is_string()
                                         ? json["embedder"].get<std::string>().c_str()
                                         : fmt::format("built-in text featurizer, {} sparse "
                                                       "buckets -> {} dims",
                                                       json["embedder"]["sparse_dim"].dump(),
                                                       json["embedder"]["dim"].dump()).c_str());
  std::printf("policy          %s\n", json["policy"].get<std::string>().c_str());
  std::printf("training data   %s rows, fingerprint %s\n", json["training_rows"].dump().c_str(),
              json["data_fingerprint"].get<std::string>().c_str());
  bool priced = false;
  for (const Json& m : json["catalog"]) {
    priced |= m["input_usd_per_mtok"].get<double>() > 0 || m["output_usd_per_mtok"].get<double>() > 0;
  }
  std::printf("catalog         %zu models (USD per 1M tokens in / out)%s\n", json["catalog"].size(),
              priced ? "" : "; no prices configured: costs come from the training data");
  for (const Json& m : json["catalog"]) {
    const Json& per_prompt = m["per_prompt_cost"];
    const std::string cost =
        per_prompt.is_null()
            ? std::string("cost: the router's estimate")
            : fmt::format("cost per prompt: answers of {:.0f}..{:.0f} tokens, from {} costs",
                          per_prompt["output_tokens_min"].get<double>(),
                          per_prompt["output_tokens_max"].get<double>(),
                          per_prompt["fitted_rows"].get<int64_t>());
    std::printf("  %-40s %8.3f / %8.3f  %s\n", m["name"].get<std::string>().c_str(),
                m["input_usd_per_mtok"].get<double>(), m["output_usd_per_mtok"].get<double>(),
                cost.c_str());
  }
  std::printf("config (hyperparameters)\n%s\n", json["config"].dump(2).c_str());
}

std::string Help() {
  return FormatHelp(
      "router inspect MODEL [--json]",
      "Describes a model file: router kind and hyperparameters, catalog,\n"
      "embedder, sizes and the fingerprint of the data it was fitted on.",
      Flags());
}

}  // namespace

int RunInspect(int argc, char** argv) {
  Args args;
  if (auto done = ParseCommandArgs(kCommand, argc, argv, Flags(), Help(), &args)) {
    return *done;
  }
  if (args.positional().size() != 1) {
    return Fail(kCommand, kExitUsage, "give exactly one model file");
  }
  const std::string path = args.positional()[0];
  auto pipeline = Pipeline::Load(path);
  if (!pipeline.ok()) return Fail(kCommand, InputOrInternal(pipeline.status()), pipeline.status());
  const Json json = Describe(**pipeline, path);
  if (args.Has("json")) {
    std::puts(json.dump(2).c_str());
  } else {
    PrintText(json);
  }
  return kExitOk;
}

}  // namespace router::cli
