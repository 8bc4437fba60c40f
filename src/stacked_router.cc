#include "router/stacked_router.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>

#include <Eigen/Dense>

#include "fmt/format.h"
#include "internal/byte_stream.h"
#include "internal/model_columns.h"
#include "internal/option_schemas.h"
#include "internal/training_data.h"
#include "router/pipeline_config.h"
#include "router/status.h"

namespace router {
namespace {

constexpr uint32_t kStackedStateVersion = 1;
// Projected-gradient steps of the weight fit. The problem has B (a few)
// unknowns; this many steps take it to within rounding of the optimum for
// any conditioning the bases' predictions have in practice, in microseconds.
constexpr int kWeightIterations = 5000;

// Euclidean projection of `v` onto the simplex {w >= 0, sum w = 1}
// (sort-based, Held, Wolfe and Crowder 1974).
Eigen::VectorXd ProjectOntoSimplex(const Eigen::VectorXd& v) {
  std::vector<double> sorted(v.data(), v.data() + v.size());
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  double sum = 0.0, shift = 0.0;
  for (size_t i = 0; i < sorted.size(); ++i) {
    sum += sorted[i];
    const double candidate = (sum - 1.0) / static_cast<double>(i + 1);
    if (sorted[i] - candidate > 0) shift = candidate;
  }
  return (v.array() - shift).max(0.0).matrix();
}

// The fold of every row: distinct vectors dealt round-robin in order of
// first appearance, so repeated prompts never straddle folds.
absl::StatusOr<std::vector<int>> FoldsByVector(const Dataset& data, int folds) {
  std::unordered_map<std::string_view, int> fold_of_vector;
  std::vector<int> fold(data.rows());
  const size_t bytes = static_cast<size_t>(data.dim) * sizeof(float);
  for (int64_t r = 0; r < data.rows(); ++r) {
    const std::string_view key(reinterpret_cast<const char*>(data.vector(r).data()), bytes);
    auto [it, added] =
        fold_of_vector.try_emplace(key, static_cast<int>(fold_of_vector.size() % folds));
    fold[r] = it->second;
  }
  if (static_cast<int64_t>(fold_of_vector.size()) < folds) {
    return absl::InvalidArgumentError(
        fmt::format("stacked: {} distinct query vectors, fewer than folds ({})",
                    fold_of_vector.size(), folds));
  }
  return fold;
}

std::vector<Query> QueriesOf(const Dataset& data, absl::Span<const int64_t> rows) {
  std::vector<Query> queries;
  queries.reserve(rows.size());
  for (int64_t r : rows) {
    Query query;
    query.vector = data.vector(r);
    if (static_cast<size_t>(r) < data.prompts.size()) query.text = data.prompts[r];
    queries.push_back(query);
  }
  return queries;
}

// Per base, each catalog model's index in the base's catalog, or -1 where
// the base lacks it (a model onboarded while that base cannot onboard).
// InvalidArgument if a base has a model the catalog does not.
absl::StatusOr<std::vector<std::vector<int>>> BaseColumns(
    const Catalog& catalog, const std::vector<std::unique_ptr<Router>>& bases) {
  std::vector<std::vector<int>> columns;
  for (const auto& base : bases) {
    std::vector<int> column(catalog.size(), -1);
    for (int i = 0; i < base->catalog().size(); ++i) {
      absl::StatusOr<int> m = catalog.Find(base->catalog().at(i).name);
      if (!m.ok()) {
        return absl::InvalidArgumentError(fmt::format(
            "base \"{}\" has model '{}', which the stacked router does not", base->kind(),
            base->catalog().at(i).name));
      }
      column[*m] = i;
    }
    columns.push_back(std::move(column));
  }
  return columns;
}

}  // namespace

absl::StatusOr<std::vector<double>> ConvexWeights(absl::Span<const double> predictions,
                                                  absl::Span<const double> scores, int bases) {
  if (bases < 1 || predictions.size() != scores.size() * static_cast<size_t>(bases)) {
    return absl::InvalidArgumentError(fmt::format(
        "ConvexWeights: {} predictions for {} scores and {} bases", predictions.size(),
        scores.size(), bases));
  }
  for (size_t r = 0; r < scores.size(); ++r) {
    if (std::isnan(scores[r])) continue;
    const bool finite = std::all_of(predictions.begin() + r * bases,
                                    predictions.begin() + (r + 1) * bases,
                                    [](double x) { return std::isfinite(x); });
    if (!finite || !std::isfinite(scores[r])) {
      return absl::InvalidArgumentError(
          fmt::format("ConvexWeights: row {} has a non-finite prediction or score", r));
    }
  }
  Eigen::MatrixXd gram = Eigen::MatrixXd::Zero(bases, bases);
  Eigen::VectorXd cross = Eigen::VectorXd::Zero(bases);
  int64_t rows = 0;
  for (size_t r = 0; r < scores.size(); ++r) {
    if (std::isnan(scores[r])) continue;
    const Eigen::Map<const Eigen::VectorXd> x(predictions.data() + r * bases, bases);
    gram.noalias() += x * x.transpose();
    cross += scores[r] * x;
    ++rows;
  }
  Eigen::VectorXd w = Eigen::VectorXd::Constant(bases, 1.0 / bases);
  if (rows > 0) {
    gram /= static_cast<double>(rows);
    cross /= static_cast<double>(rows);
    const double largest = Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(
                               gram, Eigen::EigenvaluesOnly)
                               .eigenvalues()
                               .maxCoeff();
    if (largest > 1e-12) {
      const double step = 1.0 / largest;
      for (int i = 0; i < kWeightIterations; ++i) {
        w = ProjectOntoSimplex(w - step * (gram * w - cross));
      }
    }
  }
  return std::vector<double>(w.data(), w.data() + w.size());
}

StackedRouter::StackedRouter(StackedOptions options, BaseFactory make_base)
    : options_(std::move(options)), make_base_(std::move(make_base)) {
  if (!make_base_) {
    make_base_ = [](std::string_view kind) {
      PipelineConfig config;
      config.router = std::string(kind);
      return MakeRouter(config);
    };
  }
}

StackedRouter::~StackedRouter() = default;

absl::StatusOr<std::vector<std::unique_ptr<Router>>> StackedRouter::MakeBases(
    const StackedOptions& options) const {
  ROUTER_RETURN_IF_ERROR(internal::CheckRanges(options));
  std::vector<std::unique_ptr<Router>> bases;
  for (const std::string& kind : options.bases) {
    absl::StatusOr<std::unique_ptr<Router>> base = make_base_(kind);
    if (!base.ok()) return Annotate(base.status(), fmt::format("stacked: base \"{}\"", kind));
    if (*base == nullptr || (*base)->kind() != kind) {
      return absl::InvalidArgumentError(
          fmt::format("stacked: the factory made no router of kind \"{}\"", kind));
    }
    bases.push_back(*std::move(base));
  }
  return bases;
}

absl::StatusOr<std::vector<std::unique_ptr<Router>>> StackedRouter::CloneBases() const {
  std::vector<std::unique_ptr<Router>> copies;
  for (const auto& base : bases_) {
    absl::StatusOr<std::unique_ptr<Router>> copy = base->Clone();
    if (!copy.ok()) {
      return Annotate(copy.status(), fmt::format("stacked: base \"{}\"", base->kind()));
    }
    copies.push_back(*std::move(copy));
  }
  return copies;
}

absl::Status StackedRouter::Fit(const Dataset& data, const Catalog& catalog) {
  ROUTER_RETURN_IF_ERROR(internal::CheckRanges(options_));
  ROUTER_ASSIGN_OR_RETURN(const std::vector<int> columns,
                          internal::TrainingColumns(data, catalog, "stacked"));
  ROUTER_ASSIGN_OR_RETURN(const std::vector<int> fold, FoldsByVector(data, options_.folds));
  const int bases = static_cast<int>(options_.bases.size());
  const int models = catalog.size();

  // Out-of-fold predicted quality: rows x models x bases.
  std::vector<double> predicted(static_cast<size_t>(data.rows()) * models * bases, 0.0);
  for (int k = 0; k < options_.folds; ++k) {
    std::vector<int64_t> fit_rows, held_rows;
    for (int64_t r = 0; r < data.rows(); ++r) (fold[r] == k ? held_rows : fit_rows).push_back(r);
    const Dataset fit_data = data.Subset(fit_rows);
    const std::vector<Query> queries = QueriesOf(data, held_rows);
    std::vector<Estimates> estimates(held_rows.size());
    ROUTER_ASSIGN_OR_RETURN(std::vector<std::unique_ptr<Router>> fold_bases, MakeBases(options_));
    for (int b = 0; b < bases; ++b) {
      const auto where = [&](const absl::Status& s) {
        return Annotate(s, fmt::format("stacked: base \"{}\", fold {}", options_.bases[b], k));
      };
      if (absl::Status s = fold_bases[b]->Fit(fit_data, catalog); !s.ok()) return where(s);
      if (absl::Status s = fold_bases[b]->EstimateBatch(queries, absl::MakeSpan(estimates));
          !s.ok()) {
        return where(s);
      }
      for (size_t i = 0; i < held_rows.size(); ++i) {
        for (int m = 0; m < models; ++m) {
          predicted[(static_cast<size_t>(held_rows[i]) * models + m) * bases + b] =
              estimates[i].per_model[m].quality;
        }
      }
      fold_bases[b].reset();  // free the fold's index before the next base
    }
  }

  std::vector<double> weights;
  weights.reserve(static_cast<size_t>(models) * bases);
  std::vector<double> x(static_cast<size_t>(data.rows()) * bases), y(data.rows());
  for (int m = 0; m < models; ++m) {
    for (int64_t r = 0; r < data.rows(); ++r) {
      y[r] = data.score(r, columns[m]);
      std::copy_n(predicted.begin() + (static_cast<size_t>(r) * models + m) * bases, bases,
                  x.begin() + static_cast<size_t>(r) * bases);
    }
    ROUTER_ASSIGN_OR_RETURN(const std::vector<double> w, ConvexWeights(x, y, bases));
    weights.insert(weights.end(), w.begin(), w.end());
  }

  ROUTER_ASSIGN_OR_RETURN(std::vector<std::unique_ptr<Router>> fitted, MakeBases(options_));
  for (int b = 0; b < bases; ++b) {
    if (absl::Status s = fitted[b]->Fit(data, catalog); !s.ok()) {
      return Annotate(s, fmt::format("stacked: base \"{}\"", options_.bases[b]));
    }
  }
  int lead = 0;
  std::vector<double> total(bases, 0.0);
  for (size_t i = 0; i < weights.size(); ++i) total[i % bases] += weights[i];
  for (int b = 1; b < bases; ++b) {
    if (total[b] > total[lead]) lead = b;
  }

  ROUTER_ASSIGN_OR_RETURN(std::vector<std::vector<int>> base_columns,
                          BaseColumns(catalog, fitted));
  catalog_ = catalog;
  dim_ = data.dim;
  bases_ = std::move(fitted);
  base_columns_ = std::move(base_columns);
  weights_ = std::move(weights);
  lead_base_ = lead;
  return absl::OkStatus();
}

void StackedRouter::Combine(absl::Span<const Estimates> base_estimates, Estimates* out) const {
  const int models = catalog_.size();
  const size_t bases = bases_.size();
  out->per_model.resize(models);
  for (int m = 0; m < models; ++m) {
    const double* w = weights_.data() + static_cast<size_t>(m) * bases;
    ModelEstimate combined;
    for (size_t b = 0; b < bases; ++b) {
      const int column = base_columns_[b][m];
      if (column < 0) continue;  // its weight is 0
      const ModelEstimate& e = base_estimates[b].per_model[column];
      combined.quality += w[b] * e.quality;
      combined.expected_cost_usd += w[b] * e.expected_cost_usd;
      if (w[b] > 0) combined.support = std::max(combined.support, e.support);
    }
    double spread = 0.0;
    for (size_t b = 0; b < bases; ++b) {
      const int column = base_columns_[b][m];
      if (column < 0) continue;
      const ModelEstimate& e = base_estimates[b].per_model[column];
      const double off = e.quality - combined.quality;
      spread += w[b] * (e.uncertainty * e.uncertainty + off * off);
    }
    combined.uncertainty = std::sqrt(std::max(spread, 0.0));
    out->per_model[m] = combined;
  }
  out->evidence.assign(base_estimates[lead_base_].evidence.begin(),
                       base_estimates[lead_base_].evidence.end());
}

absl::Status StackedRouter::Estimate(const Query& query, Estimates* out) const {
  if (bases_.empty()) return absl::FailedPreconditionError("stacked: the router is not fitted");
  thread_local std::vector<Estimates> scratch;
  if (scratch.size() < bases_.size()) scratch.resize(bases_.size());
  for (size_t b = 0; b < bases_.size(); ++b) {
    ROUTER_RETURN_IF_ERROR(bases_[b]->Estimate(query, &scratch[b]));
  }
  Combine(absl::MakeConstSpan(scratch.data(), bases_.size()), out);
  return absl::OkStatus();
}

absl::Status StackedRouter::EstimateBatch(absl::Span<const Query> queries,
                                          absl::Span<Estimates> out) const {
  ROUTER_RETURN_IF_ERROR(CheckBatchSizes(queries.size(), out.size()));
  if (bases_.empty()) return absl::FailedPreconditionError("stacked: the router is not fitted");
  // bases x queries, so each base answers the whole batch its own fast way.
  std::vector<Estimates> per_base(bases_.size() * queries.size());
  for (size_t b = 0; b < bases_.size(); ++b) {
    ROUTER_RETURN_IF_ERROR(bases_[b]->EstimateBatch(
        queries, absl::MakeSpan(per_base.data() + b * queries.size(), queries.size())));
  }
  std::vector<Estimates> one(bases_.size());
  for (size_t q = 0; q < queries.size(); ++q) {
    for (size_t b = 0; b < bases_.size(); ++b) {
      one[b] = std::move(per_base[b * queries.size() + q]);
    }
    Combine(one, &out[q]);
  }
  return absl::OkStatus();
}

absl::Status StackedRouter::Observe(const Feedback& feedback) {
  if (bases_.empty()) return absl::FailedPreconditionError("stacked: the router is not fitted");
  // Checked here in full, so that no base learns from feedback another
  // would refuse (they share one catalog and dimension).
  ROUTER_RETURN_IF_ERROR(Annotate(ValidateVector(feedback.vector, dim_, "feedback vector"), "stacked"));
  ROUTER_RETURN_IF_ERROR(Annotate(ValidateOutcome(feedback.score, feedback.cost_usd), "stacked"));
  ROUTER_RETURN_IF_ERROR(Annotate(catalog_.Find(feedback.model).status(), "stacked"));
  for (const auto& base : bases_) {
    if (base->catalog().Find(feedback.model).ok()) ROUTER_RETURN_IF_ERROR(base->Observe(feedback));
  }
  return absl::OkStatus();
}

bool StackedRouter::learns_online() const {
  return std::any_of(bases_.begin(), bases_.end(),
                     [](const auto& base) { return base->learns_online(); });
}

absl::Status StackedRouter::OnboardModel(const Profile& profile, const Dataset& labelled) {
  if (bases_.empty()) return absl::FailedPreconditionError("stacked: the router is not fitted");
  if (catalog_.Find(profile.name).ok()) {
    return absl::AlreadyExistsError(
        fmt::format("stacked: the catalog already has '{}'", profile.name));
  }
  Catalog catalog = catalog_;
  ROUTER_RETURN_IF_ERROR(Annotate(catalog.Add(profile), "stacked"));
  ROUTER_ASSIGN_OR_RETURN(std::vector<std::unique_ptr<Router>> copies, CloneBases());
  // Bases that cannot onboard (kNN) keep their catalog; the new model is
  // estimated by the others. Any other error is the onboarding's.
  const size_t bases = bases_.size();
  std::vector<bool> onboarded(bases, false);
  absl::Status first_refusal;
  for (size_t b = 0; b < bases; ++b) {
    absl::Status s = copies[b]->OnboardModel(profile, labelled);
    if (s.code() == absl::StatusCode::kUnimplemented) {
      if (first_refusal.ok()) first_refusal = Annotate(s, "stacked: no base can onboard");
      continue;
    }
    if (!s.ok()) return Annotate(s, fmt::format("stacked: base \"{}\"", copies[b]->kind()));
    onboarded[b] = true;
  }
  if (std::none_of(onboarded.begin(), onboarded.end(), [](bool b) { return b; })) {
    return first_refusal;
  }
  // The new model's weights: the fitted models' average over the bases that
  // have it, which is what their relative merit is known to be in general.
  std::vector<double> mean(bases, 0.0);
  for (size_t i = 0; i < weights_.size(); ++i) {
    if (onboarded[i % bases]) mean[i % bases] += weights_[i] / catalog_.size();
  }
  double sum = 0.0;
  for (double w : mean) sum += w;
  const double count = static_cast<double>(std::count(onboarded.begin(), onboarded.end(), true));
  for (size_t b = 0; b < bases; ++b) {
    mean[b] = sum > 0 ? mean[b] / sum : (onboarded[b] ? 1.0 / count : 0.0);
  }
  ROUTER_ASSIGN_OR_RETURN(std::vector<std::vector<int>> base_columns, BaseColumns(catalog, copies));
  std::vector<double> weights = weights_;
  weights.insert(weights.end(), mean.begin(), mean.end());

  catalog_ = std::move(catalog);
  bases_ = std::move(copies);
  base_columns_ = std::move(base_columns);
  weights_ = std::move(weights);
  return absl::OkStatus();
}

absl::Status StackedRouter::RemoveModel(std::string_view name) {
  if (bases_.empty()) return absl::FailedPreconditionError("stacked: the router is not fitted");
  ROUTER_ASSIGN_OR_RETURN(const int removed, internal::RemovableModel(catalog_, name, "stacked"));
  ROUTER_ASSIGN_OR_RETURN(std::vector<std::unique_ptr<Router>> copies, CloneBases());
  for (auto& copy : copies) {
    if (!copy->catalog().Find(name).ok()) continue;  // never onboarded there
    if (absl::Status s = copy->RemoveModel(name); !s.ok()) {
      return Annotate(s, fmt::format("stacked: base \"{}\"", copy->kind()));
    }
  }
  Catalog catalog = catalog_.Without(removed);
  ROUTER_ASSIGN_OR_RETURN(std::vector<std::vector<int>> base_columns, BaseColumns(catalog, copies));
  catalog_ = std::move(catalog);
  weights_ = internal::WithoutRow(weights_, static_cast<int>(bases_.size()), removed);
  bases_ = std::move(copies);
  base_columns_ = std::move(base_columns);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<Router>> StackedRouter::Clone() const {
  auto copy = std::make_unique<StackedRouter>(options_, make_base_);
  ROUTER_ASSIGN_OR_RETURN(copy->bases_, CloneBases());
  copy->catalog_ = catalog_;
  copy->dim_ = dim_;
  copy->weights_ = weights_;
  copy->base_columns_ = base_columns_;
  copy->lead_base_ = lead_base_;
  return std::unique_ptr<Router>(std::move(copy));
}

std::vector<std::pair<std::string, std::string>> StackedRouter::Describe() const {
  if (bases_.empty()) return {};
  std::vector<std::pair<std::string, std::string>> facts;
  facts.emplace_back("bases", fmt::format("{}", fmt::join(options_.bases, ",")));
  facts.emplace_back("folds", std::to_string(options_.folds));
  facts.emplace_back("evidence_from", options_.bases[lead_base_]);
  for (int m = 0; m < catalog_.size(); ++m) {
    std::string weights;
    for (size_t b = 0; b < bases_.size(); ++b) {
      weights += fmt::format("{}{} {:.3f}", b == 0 ? "" : ", ", options_.bases[b], weight(m, b));
    }
    facts.emplace_back("weights." + catalog_.at(m).name, std::move(weights));
  }
  for (const auto& base : bases_) {
    for (auto& [key, value] : base->Describe()) {
      facts.emplace_back(fmt::format("{}.{}", base->kind(), key), std::move(value));
    }
  }
  return facts;
}

absl::Status StackedRouter::SaveState(std::string* out) const {
  if (bases_.empty()) return absl::FailedPreconditionError("stacked: the router is not fitted");
  std::vector<std::string> states(bases_.size());
  for (size_t b = 0; b < bases_.size(); ++b) {
    ROUTER_RETURN_IF_ERROR(bases_[b]->SaveState(&states[b]));
  }
  internal::ByteWriter w(out);
  w.Put(kStackedStateVersion);
  internal::PutOptions(options_, &w);
  internal::PutCatalog(catalog_, &w);
  w.Put<int32_t>(dim_);
  w.Put<int32_t>(lead_base_);
  w.PutVector(weights_);
  for (size_t b = 0; b < bases_.size(); ++b) {
    w.PutString(bases_[b]->kind());
    w.PutString(states[b]);
  }
  return absl::OkStatus();
}

absl::Status StackedRouter::LoadState(std::string_view state) {
  internal::ByteReader r(state, "stacked router state");
  uint32_t version = 0;
  StackedOptions options = options_;
  Catalog catalog;
  int32_t dim = 0, lead = 0;
  std::vector<double> weights;
  r.GetVersion(&version, kStackedStateVersion) && internal::GetOptions(&r, &options) &&
      internal::GetCatalog(&r, &catalog) && r.Get(&dim, "dim") && r.Get(&lead, "lead base");
  if (!r.status().ok()) return r.status();
  const int bases = static_cast<int>(options.bases.size());
  if (catalog.empty()) {
    r.Fail("catalog", "empty");
  } else if (dim < 1 || lead < 0 || lead >= bases) {
    r.Fail("sizes", fmt::format("dim {}, lead base {} out of range", dim, lead));
  } else if (r.GetVector(&weights, static_cast<uint64_t>(catalog.size()) * bases, "weights")) {
    for (int m = 0; m < catalog.size(); ++m) {
      double sum = 0.0;
      bool valid = true;
      for (int b = 0; b < bases; ++b) {
        const double x = weights[static_cast<size_t>(m) * bases + b];
        valid = valid && std::isfinite(x) && x >= 0.0 && x <= 1.0;
        sum += x;
      }
      if (!valid || std::abs(sum - 1.0) > 1e-9) {
        r.Fail("weights", fmt::format("model {}'s are not a convex combination", m));
        break;
      }
    }
  }
  if (!r.status().ok()) return r.status();

  absl::StatusOr<std::vector<std::unique_ptr<Router>>> made = MakeBases(options);
  // A base kind this host did not register reads as a corrupt state, as an
  // unknown kind of the file's own router does (Pipeline::Load).
  if (!made.ok()) {
    return absl::DataLossError(
        fmt::format("stacked router state: {}", std::string(made.status().message())));
  }
  for (int b = 0; b < bases; ++b) {
    std::string kind, base_state;
    if (!r.GetString(&kind, "base kind") || !r.GetString(&base_state, "base state")) break;
    if (kind != options.bases[b]) {
      r.Fail("base kind", fmt::format("\"{}\" where the options say \"{}\"", kind,
                                      options.bases[b]));
      break;
    }
    Router& base = *(*made)[b];
    if (absl::Status s = base.LoadState(base_state); !s.ok()) {
      r.Fail("base state", fmt::format("{}: {}", kind, std::string(s.message())));
      break;
    }
    if (base.dim() != dim) {
      r.Fail("base state", fmt::format("{}'s dimension is {}, the router's {}", kind, base.dim(), dim));
      break;
    }
  }
  ROUTER_RETURN_IF_ERROR(r.Finish());
  absl::StatusOr<std::vector<std::vector<int>>> base_columns = BaseColumns(catalog, *made);
  if (!base_columns.ok()) return absl::DataLossError(base_columns.status().message());
  for (int b = 0; b < bases; ++b) {
    for (int m = 0; m < catalog.size(); ++m) {
      if ((*base_columns)[b][m] < 0 && weights[static_cast<size_t>(m) * bases + b] != 0.0) {
        return absl::DataLossError(fmt::format(
            "stacked router state: weights: base \"{}\" lacks '{}' but has weight in it",
            options.bases[b], catalog.at(m).name));
      }
    }
  }

  options_ = std::move(options);
  catalog_ = std::move(catalog);
  dim_ = dim;
  bases_ = *std::move(made);
  base_columns_ = *std::move(base_columns);
  weights_ = std::move(weights);
  lead_base_ = lead;
  return absl::OkStatus();
}

}  // namespace router
