// Pipeline::Save and Pipeline::Load: a fitted pipeline as one file of
// checksummed sections (src/internal/section_file.h, docs/file-format.md).
#include <utility>

#include "fmt/format.h"
#include "internal/file_io.h"
#include "internal/section_file.h"
#include "nlohmann/json.hpp"
#include "router/calibration.h"
#include "router/pipeline.h"
#include "router/status.h"
#include "router/version.h"

namespace router {
namespace {

using Json = nlohmann::json;

const internal::SectionView* FindSection(const std::vector<internal::SectionView>& sections,
                                         std::string_view name) {
  for (const internal::SectionView& section : sections) {
    if (section.name == name) return &section;
  }
  return nullptr;
}

absl::Status Corrupt(std::string_view what, const std::string& problem) {
  return absl::DataLossError(fmt::format("{}: {}", what, problem));
}

// The "meta" section, checked for what loading needs, and its model count
// against `limits` before any router state is parsed (that state holds
// per-model arrays; the catalog itself is checked again once loaded).
absl::StatusOr<Json> ReadMeta(std::string_view bytes, std::string_view what,
                              const Limits& limits) {
  Json meta = Json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (meta.is_discarded()) return Corrupt(what, "section 'meta' is not valid JSON");
  if (!meta.is_object() || !meta.contains("router") || !meta["router"].is_string() ||
      !meta.contains("data_fingerprint") || !meta["data_fingerprint"].is_string() ||
      !meta.contains("training_rows") || !meta["training_rows"].is_number_integer()) {
    return Corrupt(what, "section 'meta' lacks router, data_fingerprint or training_rows");
  }
  if (meta.contains("models") && meta["models"].is_number_integer()) {
    ROUTER_RETURN_IF_ERROR(CheckLimit(fmt::format("{}: a catalog", what),
                                      meta["models"].get<int64_t>(), limits.max_models,
                                      "max_models", absl::StatusCode::kResourceExhausted));
  }
  return meta;
}

}  // namespace

absl::StatusOr<std::string> Pipeline::ToBytes() const {
  std::vector<internal::Section> sections;
  const Json meta = {{"library_version", VersionString()},
                     {"router", std::string(router_->kind())},
                     {"dim", router_->dim()},
                     {"models", router_->catalog().size()},
                     {"embedder", featurizer_ != nullptr ? "builtin" : "none"},
                     {"data_fingerprint", data_fingerprint_},
                     {"training_rows", training_rows_}};
  sections.push_back({"meta", meta.dump()});
  sections.push_back({"config", PipelineConfigToJson(ConfigWithPolicyState())});
  if (featurizer_ != nullptr) {
    internal::Section embedder{"embedder", {}};
    ROUTER_RETURN_IF_ERROR(featurizer_->SaveState(&embedder.bytes));
    sections.push_back(std::move(embedder));
  }
  internal::Section router{"router", {}};
  ROUTER_RETURN_IF_ERROR(router_->SaveState(&router.bytes));
  sections.push_back(std::move(router));
  if (cost_model_ != nullptr) {
    internal::Section cost{"cost", {}};
    cost_model_->SaveState(&cost.bytes);
    sections.push_back(std::move(cost));
  }
  if (calibrator_ != nullptr) {
    internal::Section calibration{"calibration", {}};
    ROUTER_RETURN_IF_ERROR(calibrator_->SaveState(&calibration.bytes));
    sections.push_back(std::move(calibration));
  }
  // Version 2 only when it holds a section version 1 readers would refuse.
  return internal::EncodeSections(sections,
                                  cost_model_ != nullptr || calibrator_ != nullptr ? 2 : 1);
}

absl::Status Pipeline::Save(const std::string& path) const {
  ROUTER_ASSIGN_OR_RETURN(const std::string image, ToBytes());
  return internal::WriteFileAtomically(path, image);
}

absl::StatusOr<std::unique_ptr<Pipeline>> Pipeline::Load(const std::string& path,
                                                        const Limits& limits) {
  ROUTER_ASSIGN_OR_RETURN(const internal::FileBytes image, internal::ReadFileBytes(path));
  return FromBytes(image.view(), path, limits);
}

absl::StatusOr<std::unique_ptr<Pipeline>> Pipeline::FromBytes(std::string_view bytes,
                                                              std::string_view what,
                                                              const Limits& limits) {
  ROUTER_RETURN_IF_ERROR(ValidateLimits(limits));
  ROUTER_ASSIGN_OR_RETURN(const std::vector<internal::SectionView> sections,
                          internal::DecodeSections(bytes, what));
  for (const internal::SectionView& section : sections) {
    ROUTER_RETURN_IF_ERROR(
        CheckLimit(fmt::format("{}: section '{}'", what, section.name),
                   static_cast<int64_t>(section.bytes.size()), limits.max_section_bytes,
                   "max_section_bytes", absl::StatusCode::kResourceExhausted));
    if (section.name != "meta" && section.name != "config" && section.name != "embedder" &&
        section.name != "router" && section.name != "cost" &&
        section.name != "calibration") {
      return Corrupt(what, fmt::format("unknown section '{}'", section.name));
    }
  }
  const internal::SectionView* meta_section = FindSection(sections, "meta");
  const internal::SectionView* config_section = FindSection(sections, "config");
  const internal::SectionView* router_section = FindSection(sections, "router");
  const internal::SectionView* embedder_section = FindSection(sections, "embedder");
  const internal::SectionView* cost_section = FindSection(sections, "cost");
  const internal::SectionView* calibration_section = FindSection(sections, "calibration");
  if (meta_section == nullptr || config_section == nullptr || router_section == nullptr) {
    return Corrupt(what, "a required section (meta, config or router) is missing");
  }

  ROUTER_ASSIGN_OR_RETURN(const Json meta, ReadMeta(meta_section->bytes, what, limits));

  absl::StatusOr<PipelineConfig> config = ParsePipelineConfig(config_section->bytes);
  if (!config.ok()) {
    return Corrupt(what, fmt::format("section 'config': {}", StdView(config.status().message())));
  }
  if (config->router != meta["router"].get<std::string>()) {
    return Corrupt(what, "sections 'meta' and 'config' name different routers");
  }

  auto pipeline = std::unique_ptr<Pipeline>(new Pipeline());
  ROUTER_ASSIGN_OR_RETURN(pipeline->router_, MakeRouter(*config));
  ROUTER_RETURN_IF_ERROR(Annotate(pipeline->router_->LoadState(router_section->bytes),
                                  fmt::format("{}: section 'router'", what)));
  ROUTER_RETURN_IF_ERROR(CheckLimit(fmt::format("{}: a catalog", what),
                                    pipeline->router_->catalog().size(), limits.max_models,
                                    "max_models", absl::StatusCode::kResourceExhausted));
  if (embedder_section != nullptr) {
    auto featurizer = std::make_unique<TextFeaturizer>();
    ROUTER_RETURN_IF_ERROR(Annotate(featurizer->LoadState(embedder_section->bytes),
                                    fmt::format("{}: section 'embedder'", what)));
    if (featurizer->dim() != pipeline->router_->dim()) {
      return Corrupt(what, fmt::format("the featurizer makes {}-d vectors, the router expects {}",
                                       featurizer->dim(), pipeline->router_->dim()));
    }
    pipeline->featurizer_ = std::move(featurizer);
  }
  if (cost_section != nullptr) {
    auto cost_model = std::make_shared<CostModel>();
    ROUTER_RETURN_IF_ERROR(Annotate(cost_model->LoadState(cost_section->bytes),
                                    fmt::format("{}: section 'cost'", what)));
    if (cost_model->dim() != pipeline->router_->dim()) {
      return Corrupt(what, fmt::format("the cost model takes {}-d vectors, the router {}",
                                       cost_model->dim(), pipeline->router_->dim()));
    }
    for (const CostModel::ModelFit& fit : cost_model->models()) {
      if (!pipeline->router_->catalog().Find(fit.name).ok()) {
        return Corrupt(what, fmt::format("the cost model covers '{}', which the router lacks",
                                         fit.name));
      }
    }
    pipeline->cost_model_ = std::move(cost_model);
  }
  if (calibration_section != nullptr) {
    auto calibrator = std::make_shared<QualityCalibrator>();
    ROUTER_RETURN_IF_ERROR(Annotate(calibrator->LoadState(calibration_section->bytes),
                                    fmt::format("{}: section 'calibration'", what)));
    for (const std::string& name : calibrator->models()) {
      if (!pipeline->router_->catalog().Find(name).ok()) {
        return Corrupt(what, fmt::format("the calibration layer maps '{}', which the router lacks",
                                         name));
      }
    }
    pipeline->calibrator_ = std::move(calibrator);
  }
  ROUTER_ASSIGN_OR_RETURN(pipeline->policy_,
                          MakePolicy(config->policy, pipeline->router_->learns_online()));
  pipeline->config_ = *std::move(config);
  if (absl::Status models =
          pipeline->CheckPolicyModels(pipeline->config_.policy, *pipeline->policy_);
      !models.ok()) {
    return Corrupt(what, fmt::format("section 'config': {}", StdView(models.message())));
  }
  // Files of format 1 keep removed models in the router's state.
  if (absl::Status trimmed = pipeline->TrimRemovedModels(/*fitted_here=*/false); !trimmed.ok()) {
    return Corrupt(what, fmt::format("section 'config' does not fit the router: {}",
                                     StdView(trimmed.message())));
  }
  pipeline->data_fingerprint_ = meta["data_fingerprint"].get<std::string>();
  pipeline->training_rows_ = meta["training_rows"].get<int64_t>();
  absl::Status catalog = pipeline->BuildCatalog();
  if (!catalog.ok()) {
    return Corrupt(what, fmt::format("section 'config' does not fit the router: {}",
                                     StdView(catalog.message())));
  }
  return pipeline;
}

}  // namespace router
