// File: router/cost_model.h
//
// A CostModel predicts what one request to a model will cost for this prompt:
// the prompt's own input part (its tokens at the model's input price) plus an
// output part learned from the training data. Per priced model, it fits a
// ridge regression of log(output tokens) on the query vector and
// log(1 + prompt tokens); a row's output tokens are recovered from its
// observed cost as (cost - input price x prompt tokens) / output price.
//
// Why a component of its own: routers estimate a model's cost from costs
// observed near the query (kNN's neighbours, a cluster's rows), which were
// paid for other prompts' lengths, and a price table assumes one completion
// length per model, where real completions vary with the prompt and the
// model. Predicting tokens, not dollars, keeps a later price change exact.
//
// Models without an output price, or with fewer than two observed costs, are
// not covered: their cost stays the router's estimate. The ridge penalty of
// each model is chosen by generalized cross-validation (Golub, Heath and
// Wahba, 1979) over a fixed grid, and a prediction is clamped to the range
// of output tokens observed in training, so a vector unlike the training
// data cannot produce an absurd cost. A fit reads at most 200,000 rows per
// model (evenly spaced beyond that), in blocks, so its memory is the
// (dim + 1)^2 Gram matrix and one block, however large the data.
#ifndef ROUTER_COST_MODEL_H_
#define ROUTER_COST_MODEL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "router/catalog.h"
#include "router/dataset.h"
#include "router/export.h"

namespace router {

class ROUTER_EXPORT CostModel {
 public:
  // One covered model's regression: log(output tokens) = intercept +
  // weights . [vector, log(1 + prompt tokens)], clamped to
  // [min_log_tokens, max_log_tokens].
  struct ModelFit {
    std::string name;
    std::vector<double> weights;  // dim + 1
    double intercept = 0.0;
    double min_log_tokens = 0.0;
    double max_log_tokens = 0.0;
    double ridge = 0.0;      // the penalty GCV chose
    int64_t rows = 0;        // observed costs it was fitted on
  };

  // Fits every model of `catalog` that has an output price and at least two
  // observed costs in `data` (which must carry vectors; its prompts give the
  // token counts, by EstimateInputTokens). A model the catalog names must be
  // a column of `data`. InvalidArgument for data without vectors.
  static absl::StatusOr<CostModel> Fit(const Dataset& data, const Catalog& catalog);

  int dim() const { return dim_; }
  const std::vector<ModelFit>& models() const { return models_; }
  // Index into models() of `name`, or -1 when the model is not covered.
  int Find(std::string_view name) const;

  // Predicted output tokens of model `index` (into models()) for a query of
  // `vector` (dimension dim()) and `input_tokens` prompt tokens.
  double OutputTokens(int index, absl::Span<const float> vector, int64_t input_tokens) const;

  // This model without `name` (a no-op when it is not covered).
  void Remove(std::string_view name);
  // Adds `other`'s models (an onboarded model's fit). InvalidArgument, with
  // nothing changed, when the dimensions differ or a name is covered here.
  absl::Status Merge(const CostModel& other);

  // The "cost" section of a saved pipeline. LoadState changes nothing and
  // returns DataLoss on truncated, oversized or non-finite state.
  void SaveState(std::string* out) const;
  absl::Status LoadState(std::string_view bytes);

 private:
  int dim_ = 0;
  std::vector<ModelFit> models_;
};

}  // namespace router

#endif  // ROUTER_COST_MODEL_H_
