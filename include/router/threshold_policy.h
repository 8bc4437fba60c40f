// File: router/threshold_policy.h
//
// ThresholdPolicy is RouteLLM's rule for a strong/weak pair: send a query to
// the strong model when the router expects it to gain enough over the weak
// one,
//     score = q'_strong - q'_weak   (q' = quality + optimism * uncertainty)
//     strong if score > threshold, else weak,
// and only those two models are ever chosen. Operators think in shares
// ("20% of traffic to the strong model"), so Calibrate turns a target share
// into the threshold that sends that share of a sample of queries to the
// strong model; recalibrate on recent traffic when it drifts. The realised
// share since creation is counted (routing_share()).
//
// Traffic drifts, and a sample is never quite like the stream, so the policy
// can also hold the share itself: with a target share set, after each
// decision
//     threshold <- clamp(threshold + share_step * (strong ? 1 - share : -share), -1, 1)
// (the same integral control BudgetPacingPolicy applies to spend), which
// bounds the cumulative share error, so the realised share converges to the
// target whatever the estimates' distribution. Calibrate gives it a good
// starting threshold.
//
// When constraints (or the request's allow-list, or an outage) exclude one
// of the pair, the other is chosen and the trace says why; when both are
// excluded Decide fails with FailedPrecondition.
//
// Thread safety: Decide may run on many threads; the counters are atomic.
#ifndef ROUTER_THRESHOLD_POLICY_H_
#define ROUTER_THRESHOLD_POLICY_H_

#include <cstdint>
#include <mutex>
#include <string>

#include "absl/types/span.h"
#include "router/export.h"
#include "router/policy.h"

namespace router {

struct RoutingShare {
  int64_t strong = 0;    // decisions that chose the strong model
  int64_t decisions = 0; // decisions made
  double share() const { return decisions > 0 ? static_cast<double>(strong) / decisions : 0.0; }
};

// Options of the "threshold" kind (PolicyConfig::Set).
struct ThresholdOptions {
  static constexpr const char* kKind = "threshold";
  std::string strong;  // the pair; they must differ
  std::string weak;
  double threshold = 0.0;     // strong when q_strong - q_weak exceeds it; [-1, 1]
  double strong_share = -1.0; // share of strong decisions to hold; < 0: fixed threshold
  double share_step = 0.01;   // step of the share control; (0, 1]
};

class ROUTER_EXPORT ThresholdPolicy : public Policy {
 public:
  // `strong` and `weak` must differ; `threshold` must lie in [-1, 1]. The
  // names are checked against the catalog at each decision.
  static absl::StatusOr<std::unique_ptr<ThresholdPolicy>> Create(
      std::string strong, std::string weak, double threshold, Constraints constraints = {},
      double optimism = 0.0);

  // Create, then TrackShare(options.strong_share, options.share_step).
  static absl::StatusOr<std::unique_ptr<ThresholdPolicy>> Create(
      const ThresholdOptions& options, Constraints constraints = {}, double optimism = 0.0);

  // Share tracking: `target_share` in [0, 1] (or < 0 for a fixed threshold,
  // the default) and `share_step` in (0, 1]. InvalidArgument otherwise.
  absl::Status TrackShare(double target_share, double share_step);

  // The threshold that sends `target_share` (in [0, 1]) of `sample` to the
  // strong model: a quantile of the sample's scores, placed midway between
  // two distinct scores so that small estimate noise does not flip queries.
  // Estimates are indexed like `catalog`. InvalidArgument for an empty
  // sample, an unknown model, a share outside [0, 1] or a non-finite score.
  static absl::StatusOr<double> Calibrate(absl::Span<const Estimates> sample,
                                          const Catalog& catalog, const std::string& strong,
                                          const std::string& weak, double target_share,
                                          double optimism = 0.0);

  std::string_view name() const override { return "threshold"; }
  // InvalidArgument unless `catalog` has both the strong and the weak model.
  absl::Status CheckModels(const Catalog& catalog) const override;
  absl::Status Decide(const Estimates& estimates, const Catalog& catalog,
                      const Query& query, Decision* out) const override;

  const std::string& strong() const { return strong_; }
  const std::string& weak() const { return weak_; }
  // The current threshold (it moves when the share is tracked).
  double threshold() const;
  // The tracked share, or a negative value for a fixed threshold.
  double target_share() const { return target_share_; }
  // Decisions made by this policy object, and how many went to the strong
  // model; with replicas sharing state (StateSync), other replicas'
  // decisions too.
  RoutingShare routing_share() const;

  // Sets `config`'s options to this policy's, with the current threshold.
  void Checkpoint(PolicyConfig* config) const override;

  // {strong decisions, decisions, strong steering decisions, steering
  // decisions} of this policy object (steering: the free choices between
  // the pair that move a tracked share's threshold).
  std::vector<double> SharedCounters() const override;

 protected:
  void AppendStateJson(std::string* json) const override;
  // Counts other replicas' decisions and moves a tracked share's threshold
  // by their steering decisions, as if they were this policy's.
  absl::Status OnSharedCounters(absl::Span<const double> increments) const override;

 private:
  ThresholdPolicy(std::string strong, std::string weak, double threshold,
                  Constraints constraints, double optimism)
      : Policy(std::move(constraints), optimism),
        strong_(std::move(strong)), weak_(std::move(weak)), threshold_(threshold) {}

  std::string strong_;
  std::string weak_;
  double target_share_ = -1.0;
  double share_step_ = 0.01;  // ThresholdOptions::share_step's default
  // Guards threshold_ and the counters below.
  mutable std::mutex mutex_;
  mutable double threshold_;
  mutable RoutingShare own_;        // this object's decisions
  mutable RoutingShare own_steering_;  // the free choices among them
  mutable RoutingShare others_;     // other replicas' (AddSharedCounters)
};

}  // namespace router

#endif  // ROUTER_THRESHOLD_POLICY_H_
