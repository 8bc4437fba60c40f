#include "router/threshold_policy.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "fmt/format.h"
#include "router/policy_config.h"
#include "router/status.h"

namespace router {
namespace {

absl::Status ValidateThreshold(double threshold, const char* what) {
  if (!std::isfinite(threshold) || threshold < -1.0 || threshold > 1.0) {
    return absl::InvalidArgumentError(
        fmt::format("{} must lie in [-1, 1], got {}", what, threshold));
  }
  return absl::OkStatus();
}

double Optimistic(const ModelEstimate& e, double optimism) {
  return e.quality + optimism * e.uncertainty;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ThresholdPolicy>> ThresholdPolicy::Create(
    std::string strong, std::string weak, double threshold, Constraints constraints,
    double optimism) {
  if (strong.empty() || weak.empty() || strong == weak) {
    return absl::InvalidArgumentError(fmt::format(
        "the threshold policy needs two different models, got strong='{}' and weak='{}'", strong,
        weak));
  }
  ROUTER_RETURN_IF_ERROR(ValidateThreshold(threshold, "threshold"));
  ROUTER_RETURN_IF_ERROR(ValidateOptimism(optimism));
  return std::unique_ptr<ThresholdPolicy>(new ThresholdPolicy(
      std::move(strong), std::move(weak), threshold, std::move(constraints), optimism));
}

absl::StatusOr<double> ThresholdPolicy::Calibrate(absl::Span<const Estimates> sample,
                                                  const Catalog& catalog,
                                                  const std::string& strong,
                                                  const std::string& weak, double target_share,
                                                  double optimism) {
  if (sample.empty()) return absl::InvalidArgumentError("calibration needs a non-empty sample");
  if (!std::isfinite(target_share) || target_share < 0.0 || target_share > 1.0) {
    return absl::InvalidArgumentError(
        fmt::format("the strong share must lie in [0, 1], got {}", target_share));
  }
  ROUTER_RETURN_IF_ERROR(ValidateOptimism(optimism));
  ROUTER_ASSIGN_OR_RETURN(const int s, catalog.Find(strong));
  ROUTER_ASSIGN_OR_RETURN(const int w, catalog.Find(weak));
  std::vector<double> scores;
  scores.reserve(sample.size());
  for (const Estimates& e : sample) {
    if (e.per_model.size() != static_cast<size_t>(catalog.size())) {
      return absl::InvalidArgumentError(
          fmt::format("a calibration estimate covers {} models, the catalog {}", e.per_model.size(),
                      catalog.size()));
    }
    const double score = Optimistic(e.per_model[s], optimism) - Optimistic(e.per_model[w], optimism);
    if (!std::isfinite(score)) {
      return absl::InvalidArgumentError("a calibration estimate is not finite");
    }
    scores.push_back(score);
  }
  std::sort(scores.begin(), scores.end(), std::greater<>());
  // Strong iff score > threshold: the k highest scores go strong.
  const size_t n = scores.size();
  const size_t k = static_cast<size_t>(std::llround(target_share * static_cast<double>(n)));
  double threshold;
  if (k == 0) {
    threshold = scores.front() + 1e-9;
  } else if (k >= n) {
    threshold = scores.back() - 1e-9;
  } else {
    threshold = (scores[k - 1] + scores[k]) / 2;  // ties at the cut stay weak
  }
  return std::clamp(threshold, -1.0, 1.0);
}

absl::Status ThresholdPolicy::TrackShare(double target_share, double share_step) {
  if (!std::isfinite(target_share) || target_share > 1.0) {
    return absl::InvalidArgumentError(
        fmt::format("the target strong share must lie in [0, 1], got {}", target_share));
  }
  if (target_share >= 0.0 && (!std::isfinite(share_step) || share_step <= 0.0 || share_step > 1.0)) {
    return absl::InvalidArgumentError(
        fmt::format("share_step must lie in (0, 1], got {}", share_step));
  }
  target_share_ = target_share < 0.0 ? -1.0 : target_share;
  share_step_ = share_step;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<ThresholdPolicy>> ThresholdPolicy::Create(
    const ThresholdOptions& options, Constraints constraints, double optimism) {
  ROUTER_ASSIGN_OR_RETURN(std::unique_ptr<ThresholdPolicy> policy,
                          Create(options.strong, options.weak, options.threshold,
                                 std::move(constraints), optimism));
  ROUTER_RETURN_IF_ERROR(policy->TrackShare(options.strong_share, options.share_step));
  return policy;
}

absl::Status ThresholdPolicy::CheckModels(const Catalog& catalog) const {
  for (const auto& [name, role] : {std::pair{&strong_, "strong"}, std::pair{&weak_, "weak"}}) {
    if (!catalog.Find(*name).ok()) {
      return absl::InvalidArgumentError(
          fmt::format("policy: {} names '{}', which the router does not know", role, *name));
    }
  }
  return absl::OkStatus();
}

void ThresholdPolicy::Checkpoint(PolicyConfig* config) const {
  config->Set(ThresholdOptions{.strong = strong_,
                               .weak = weak_,
                               .threshold = threshold(),
                               .strong_share = target_share_,
                               .share_step = share_step_});
}

void ThresholdPolicy::AppendStateJson(std::string* json) const {
  const RoutingShare share = routing_share();
  *json += fmt::format(
      ",\"strong\":{},\"weak\":{},\"threshold\":{},\"target_share\":{},\"decisions\":{},"
      "\"strong_decisions\":{},\"strong_share\":{}",
      JsonQuote(strong_), JsonQuote(weak_), threshold(), target_share_, share.decisions,
      share.strong, share.share());
}

double ThresholdPolicy::threshold() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return threshold_;
}

RoutingShare ThresholdPolicy::routing_share() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {.strong = own_.strong + others_.strong,
          .decisions = own_.decisions + others_.decisions};
}

std::vector<double> ThresholdPolicy::SharedCounters() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {static_cast<double>(own_.strong), static_cast<double>(own_.decisions),
          static_cast<double>(own_steering_.strong),
          static_cast<double>(own_steering_.decisions)};
}

absl::Status ThresholdPolicy::OnSharedCounters(absl::Span<const double> increments) const {
  for (const double v : increments) {
    if (v < 0.0 || v != std::floor(v) || v > kMaxSharedCount) {
      return absl::InvalidArgumentError(fmt::format(
          "shared counters: threshold decisions must be whole numbers in [0, 2^50], got {}", v));
    }
  }
  if (increments[0] > increments[1] || increments[2] > increments[3]) {
    return absl::InvalidArgumentError(
        "shared counters: more strong decisions than decisions");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (static_cast<double>(others_.decisions) + increments[1] > kMaxSharedCount) {
    return absl::InvalidArgumentError("shared counters: the decision counts would overflow");
  }
  others_.strong += static_cast<int64_t>(increments[0]);
  others_.decisions += static_cast<int64_t>(increments[1]);
  if (target_share_ >= 0.0) {
    threshold_ = std::clamp(
        threshold_ + share_step_ * (increments[2] - target_share_ * increments[3]), -1.0, 1.0);
  }
  return absl::OkStatus();
}

absl::Status ThresholdPolicy::Decide(const Estimates& estimates, const Catalog& catalog,
                                     const Query& query, Decision* out) const {
  const double current = threshold();
  double threshold = current;
  const bool overridden = query.overrides != nullptr && query.overrides->tau.has_value();
  if (overridden) {
    threshold = *query.overrides->tau;
    ROUTER_RETURN_IF_ERROR(ValidateThreshold(threshold, "the request's threshold (tau)"));
  }
  ROUTER_ASSIGN_OR_RETURN(const int s, catalog.Find(strong_));
  ROUTER_ASSIGN_OR_RETURN(const int w, catalog.Find(weak_));
  ROUTER_RETURN_IF_ERROR(CollectEligible(estimates, catalog, query, out));
  // Keep the pair; every other model is recorded as outside it.
  const Candidate* strong = nullptr;
  const Candidate* weak = nullptr;
  for (const Candidate& c : out->ranked) {
    if (c.model_index == s) strong = &c;
    if (c.model_index == w) weak = &c;
  }
  std::vector<Candidate> pair;
  if (strong != nullptr) pair.push_back(*strong);
  if (weak != nullptr) pair.push_back(*weak);
  for (const Candidate& c : out->ranked) {
    if (c.model_index != s && c.model_index != w) {
      out->trace.excluded.push_back({c.model, "not in the strong/weak pair"});
    }
  }
  out->ranked = std::move(pair);
  out->trace.policy_parameters = fmt::format(
      "strong={}, weak={}, threshold={:g}{}{}{}", strong_, weak_, threshold,
      overridden ? " (request override)" : "",
      target_share_ >= 0.0 ? fmt::format(", target_share={:g}", target_share_) : std::string(),
      OptimismParameter());
  if (out->ranked.empty()) {
    return absl::FailedPreconditionError(
        fmt::format("no eligible model: both '{}' and '{}' are excluded", strong_, weak_));
  }
  bool choose_strong;
  if (out->ranked.size() == 2) {
    const double score = RankingQuality(out->ranked[0]) - RankingQuality(out->ranked[1]);
    out->ranked[0].utility = score;
    out->ranked[1].utility = -score;
    choose_strong = score > threshold;
    if (!choose_strong) std::swap(out->ranked[0], out->ranked[1]);
  } else {
    choose_strong = out->ranked[0].model_index == s;
    out->trace.note = fmt::format("'{}' is excluded; chose the other model of the pair",
                                  choose_strong ? weak_ : strong_);
  }
  out->chosen = out->ranked.front();
  std::lock_guard<std::mutex> lock(mutex_);
  ++own_.decisions;
  if (choose_strong) ++own_.strong;
  // Only free choices between the pair steer the share; overridden requests
  // and forced choices (half of the pair excluded) do not.
  if (!overridden && out->ranked.size() == 2) {
    ++own_steering_.decisions;
    if (choose_strong) ++own_steering_.strong;
    if (target_share_ >= 0.0) {
      threshold_ = std::clamp(
          threshold_ + share_step_ * ((choose_strong ? 1.0 : 0.0) - target_share_), -1.0, 1.0);
    }
  }
  return absl::OkStatus();
}

}  // namespace router
