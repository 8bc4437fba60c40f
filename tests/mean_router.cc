#include "mean_router.h"

#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace router {
namespace {

// The state: dim, model count, then per model its name (length-prefixed),
// mean score and mean cost. Native byte order: a test fixture, not a format.
template <typename T>
void Put(std::string* out, const T& value) {
  out->append(reinterpret_cast<const char*>(&value), sizeof(value));
}

template <typename T>
bool Get(std::string_view* in, T* value) {
  if (in->size() < sizeof(T)) return false;
  std::memcpy(value, in->data(), sizeof(T));
  in->remove_prefix(sizeof(T));
  return true;
}

}  // namespace

absl::Status MeanRouter::Fit(const Dataset& data, const Catalog& catalog) {
  if (!data.has_vectors()) return absl::InvalidArgumentError("mean: the data has no vectors");
  std::vector<ModelEstimate> means(catalog.size());
  for (int m = 0; m < catalog.size(); ++m) {
    const int column = data.ModelColumn(catalog.at(m).name);
    if (column < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("mean: model '", catalog.at(m).name, "' is not in the data"));
    }
    double score_sum = 0.0, cost_sum = 0.0;
    int scored = 0, costed = 0;
    for (int64_t r = 0; r < data.rows(); ++r) {
      if (!std::isnan(data.score(r, column))) score_sum += data.score(r, column), ++scored;
      if (!std::isnan(data.cost(r, column))) cost_sum += data.cost(r, column), ++costed;
    }
    const double prior = options_.prior_weight;
    means[m].quality = scored + prior > 0 ? (score_sum + 0.5 * prior) / (scored + prior) : 0.0;
    means[m].expected_cost_usd = costed > 0 ? cost_sum / costed : 0.0;
    means[m].support = scored;
  }
  dim_ = data.dim;
  catalog_ = catalog;
  means_ = std::move(means);
  return absl::OkStatus();
}

absl::Status MeanRouter::Estimate(const Query& query, Estimates* out) const {
  if (out == nullptr) return absl::InvalidArgumentError("estimates output is null");
  if (dim_ == 0) return absl::FailedPreconditionError("mean: not fitted");
  if (absl::Status valid = ValidateVector(query.vector, dim_); !valid.ok()) return valid;
  out->per_model = means_;
  out->evidence.clear();
  return absl::OkStatus();
}

absl::Status MeanRouter::SaveState(std::string* out) const {
  if (dim_ == 0) return absl::FailedPreconditionError("mean: not fitted");
  Put(out, int32_t{dim_});
  Put(out, int32_t{catalog_.size()});
  for (int m = 0; m < catalog_.size(); ++m) {
    const std::string& name = catalog_.at(m).name;
    Put(out, static_cast<uint32_t>(name.size()));
    out->append(name);
    Put(out, means_[m].quality);
    Put(out, means_[m].expected_cost_usd);
  }
  return absl::OkStatus();
}

absl::Status MeanRouter::LoadState(std::string_view state) {
  const absl::Status corrupt = absl::DataLossError("mean: corrupt state");
  int32_t dim = 0, models = 0;
  if (!Get(&state, &dim) || !Get(&state, &models) || dim < 1 || models < 1) return corrupt;
  Catalog catalog;
  std::vector<ModelEstimate> means(models);
  for (int m = 0; m < models; ++m) {
    uint32_t length = 0;
    if (!Get(&state, &length) || state.size() < length) return corrupt;
    Profile profile;
    profile.name = std::string(state.substr(0, length));
    state.remove_prefix(length);
    if (!Get(&state, &means[m].quality) || !Get(&state, &means[m].expected_cost_usd) ||
        !catalog.Add(std::move(profile)).ok()) {
      return corrupt;
    }
  }
  if (!state.empty()) return corrupt;
  dim_ = dim;
  catalog_ = std::move(catalog);
  means_ = std::move(means);
  return absl::OkStatus();
}

}  // namespace router
