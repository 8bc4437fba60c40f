// MeanRouter, kind "mean": predicts, for every query, each model's mean score
// and mean cost over the training rows (RouterBench's "zero router" made a
// router). It lives in tests only, as the proof that a router kind is one
// header, one source, one test and one registration line
// (docs/architecture.md).
#ifndef ROUTER_TESTS_MEAN_ROUTER_H_
#define ROUTER_TESTS_MEAN_ROUTER_H_

#include <string>
#include <string_view>
#include <vector>

#include "router/router.h"

namespace router {

// An option, for the test of a host kind's options in JSON: each model's
// mean is pulled towards 0.5 by this many pseudo-observations.
struct MeanOptions {
  double prior_weight = 0.0;
};

class MeanRouter : public Router {
 public:
  // `kind`: the name it is registered under.
  explicit MeanRouter(MeanOptions options = {}, std::string kind = "mean")
      : options_(options), kind_(std::move(kind)) {}
  std::string_view kind() const override { return kind_; }
  int dim() const override { return dim_; }
  const Catalog& catalog() const override { return catalog_; }

  absl::Status Fit(const Dataset& data, const Catalog& catalog) override;
  absl::Status Estimate(const Query& query, Estimates* out) const override;
  absl::Status SaveState(std::string* out) const override;
  absl::Status LoadState(std::string_view state) override;

 private:
  MeanOptions options_;
  std::string kind_;
  int dim_ = 0;
  Catalog catalog_;
  std::vector<ModelEstimate> means_;  // per catalog model
};

}  // namespace router

#endif  // ROUTER_TESTS_MEAN_ROUTER_H_
