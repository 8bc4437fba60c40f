#include "router/router.h"

#include <cmath>

#include "fmt/format.h"
#include "router/status.h"

namespace router {

absl::Status Router::EstimateBatch(absl::Span<const Query> queries,
                                   absl::Span<Estimates> out) const {
  ROUTER_RETURN_IF_ERROR(CheckBatchSizes(queries.size(), out.size()));
  for (size_t i = 0; i < queries.size(); ++i) {
    ROUTER_RETURN_IF_ERROR(Annotate(Estimate(queries[i], &out[i]), fmt::format("query {}", i)));
  }
  return absl::OkStatus();
}

absl::Status Router::CheckBatchSizes(size_t queries, size_t outputs) {
  if (outputs == queries) return absl::OkStatus();
  return absl::InvalidArgumentError(
      fmt::format("EstimateBatch: {} queries but {} outputs", queries, outputs));
}

absl::Status Router::Observe(const Feedback& feedback) {
  ROUTER_RETURN_IF_ERROR(ValidateVector(feedback.vector, dim(), "feedback vector"));
  ROUTER_RETURN_IF_ERROR(catalog().Find(feedback.model).status());
  return ValidateOutcome(feedback.score, feedback.cost_usd);  // offline: nothing to learn
}

absl::Status ValidateOutcome(double score, double cost_usd) {
  if (!(score >= 0.0 && score <= 1.0)) {
    return absl::InvalidArgumentError(
        fmt::format("feedback score must be in [0, 1], got {}", score));
  }
  if (!std::isfinite(cost_usd) || cost_usd < 0.0) {
    return absl::InvalidArgumentError(
        fmt::format("feedback cost must be finite and >= 0, got {}", cost_usd));
  }
  return absl::OkStatus();
}

absl::Status Router::OnboardModel(const Profile& profile, const Dataset&) {
  return absl::UnimplementedError(
      fmt::format("the {} router cannot onboard a model ({})", kind(), profile.name));
}

absl::Status Router::RemoveModel(std::string_view name) {
  return absl::UnimplementedError(
      fmt::format("the {} router cannot remove a model ({})", kind(), name));
}

absl::StatusOr<std::unique_ptr<Router>> Router::Clone() const {
  return absl::UnimplementedError(
      fmt::format("the {} router cannot be copied (Router::Clone)", kind()));
}

absl::Status Router::SaveLearned(std::string*) const {
  return absl::UnimplementedError(
      fmt::format("the {} router does not share what it learns (Router::SaveLearned)", kind()));
}

absl::Status Router::AddLearned(std::string_view, std::string_view, bool) {
  return absl::UnimplementedError(
      fmt::format("the {} router does not share what it learns (Router::AddLearned)", kind()));
}

absl::StatusOr<std::string> Router::LearnedWithout(std::string_view,
                                                   const std::vector<std::string>&) const {
  return absl::UnimplementedError(
      fmt::format("the {} router does not share what it learns (Router::LearnedWithout)",
                  kind()));
}

absl::StatusOr<std::string> Router::SumLearned(std::string_view, std::string_view) const {
  return absl::UnimplementedError(
      fmt::format("the {} router does not share what it learns (Router::SumLearned)", kind()));
}

absl::Status ValidateVector(absl::Span<const float> vector, int dim,
                            std::string_view what) {
  if (dim <= 0) {
    return absl::FailedPreconditionError("the router is not fitted");
  }
  if (vector.data() == nullptr || vector.size() != static_cast<size_t>(dim)) {
    return absl::InvalidArgumentError(
        fmt::format("{} has dimension {}, the router expects {}", what, vector.size(), dim));
  }
  for (size_t i = 0; i < vector.size(); ++i) {
    if (!std::isfinite(vector[i])) {
      return absl::InvalidArgumentError(
          fmt::format("{} has a non-finite value at index {}", what, i));
    }
  }
  return absl::OkStatus();
}

}  // namespace router
