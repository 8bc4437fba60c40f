// Multinomial logistic regression (a linear softmax classifier), for the
// cluster router's learned assignment of queries to the training data's
// sources (cluster_router.h).
#ifndef ROUTER_INTERNAL_SOFTMAX_REGRESSION_H_
#define ROUTER_INTERNAL_SOFTMAX_REGRESSION_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace router::internal {

struct SoftmaxRegressionOptions {
  int classes = 2;
  // L2 strength on the weights (not the biases), per row of the mean loss.
  double l2 = 2e-5;
  int iterations = 200;  // accelerated gradient steps
};

// Weights (classes x dim, row-major) and biases (classes): class k's logit
// for a vector x is <weights_k, x> + bias_k.
struct SoftmaxModel {
  std::vector<float> weights;
  std::vector<float> bias;
};

// Fits the classifier of `labels` (each in [0, classes)) on the rows of
// `vectors` (rows x dim, row-major): it minimises the mean cross-entropy
// plus l2 / 2 * |weights|^2 by Nesterov's accelerated gradient (FISTA's
// momentum) from zero, for a fixed number of steps of size 1 / L, where
// L = |x|^2 / 2 averaged over the rows (the bias counted as a constant 1)
// plus l2 bounds the gradient's Lipschitz constant. Deterministic.
// InvalidArgument for no rows, a label out of range, fewer than two classes
// or non-finite inputs.
absl::StatusOr<SoftmaxModel> FitSoftmaxRegression(absl::Span<const float> vectors, int64_t rows,
                                                  int dim, absl::Span<const int> labels,
                                                  const SoftmaxRegressionOptions& options);

}  // namespace router::internal

#endif  // ROUTER_INTERNAL_SOFTMAX_REGRESSION_H_
