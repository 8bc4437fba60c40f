// The source classifier of the cluster router (internal/softmax_regression.h).
#include "internal/softmax_regression.h"

#include <cmath>
#include <random>
#include <vector>

#include "catch2/catch.hpp"

namespace router::internal {
namespace {

std::vector<double> Probabilities(const SoftmaxModel& model, const float* x, int dim,
                                  int classes) {
  std::vector<double> logit(classes);
  double top = -INFINITY;
  for (int k = 0; k < classes; ++k) {
    logit[k] = model.bias[k];
    for (int j = 0; j < dim; ++j) logit[k] += double{model.weights[k * dim + j]} * x[j];
    top = std::max(top, logit[k]);
  }
  double total = 0;
  for (double& v : logit) total += (v = std::exp(v - top));
  for (double& v : logit) v /= total;
  return logit;
}

TEST_CASE("softmax regression separates classes that a linear map can tell apart",
          "[softmax]") {
  // Three classes along three axes, with a shared fourth component and noise.
  const int dim = 4, classes = 3, rows = 300;
  std::mt19937 rng(5);
  std::normal_distribution<float> noise(0.0f, 0.1f);
  std::vector<float> x;
  std::vector<int> labels;
  for (int r = 0; r < rows; ++r) {
    const int label = r % classes;
    for (int j = 0; j < dim; ++j) x.push_back((j == label ? 1.0f : 0.0f) + 0.5f + noise(rng));
    labels.push_back(label);
  }
  const SoftmaxRegressionOptions options{.classes = classes, .l2 = 1e-4, .iterations = 200};
  absl::StatusOr<SoftmaxModel> model = FitSoftmaxRegression(x, rows, dim, labels, options);
  REQUIRE(model.ok());
  REQUIRE(model->weights.size() == static_cast<size_t>(classes * dim));
  REQUIRE(model->bias.size() == static_cast<size_t>(classes));
  int right = 0;
  double true_class_probability = 0;
  for (int r = 0; r < rows; ++r) {
    const std::vector<double> p = Probabilities(*model, x.data() + r * dim, dim, classes);
    right += std::max_element(p.begin(), p.end()) - p.begin() == labels[r];
    true_class_probability += p[labels[r]] / rows;
  }
  CHECK(right == rows);
  CHECK(true_class_probability > 0.9);

  // Deterministic: the same inputs give the same bits.
  absl::StatusOr<SoftmaxModel> again = FitSoftmaxRegression(x, rows, dim, labels, options);
  REQUIRE(again.ok());
  CHECK(again->weights == model->weights);
  CHECK(again->bias == model->bias);
}

TEST_CASE("with nothing to tell rows apart, the biases give the class shares", "[softmax]") {
  // Zero vectors: only the (unpenalised) biases can fit, and the maximum
  // likelihood is the labels' frequencies, 70/30.
  const int rows = 100, dim = 3;
  std::vector<float> x(rows * dim, 0.0f);
  std::vector<int> labels(rows, 0);
  for (int r = 0; r < 30; ++r) labels[r] = 1;
  absl::StatusOr<SoftmaxModel> model = FitSoftmaxRegression(
      x, rows, dim, labels, {.classes = 2, .l2 = 1.0, .iterations = 200});
  REQUIRE(model.ok());
  const std::vector<double> p = Probabilities(*model, x.data(), dim, 2);
  CHECK(p[0] == Approx(0.7).margin(1e-3));
  CHECK(p[1] == Approx(0.3).margin(1e-3));
}

TEST_CASE("softmax regression refuses bad input", "[softmax][errors]") {
  std::vector<float> x = {1, 0, 0, 1};
  std::vector<int> labels = {0, 1};
  const SoftmaxRegressionOptions two{.classes = 2};
  CHECK(FitSoftmaxRegression(x, 2, 2, labels, two).ok());
  CHECK(FitSoftmaxRegression(x, 2, 2, labels, {.classes = 1}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(FitSoftmaxRegression(x, 2, 2, {0, 2}, two).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(FitSoftmaxRegression(x, 2, 2, {0, -1}, two).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(FitSoftmaxRegression(x, 3, 2, labels, two).status().code() ==
        absl::StatusCode::kInvalidArgument);  // sizes disagree
  CHECK(FitSoftmaxRegression(x, 2, 2, labels, {.classes = 2, .l2 = -1}).status().code() ==
        absl::StatusCode::kInvalidArgument);
  x[1] = NAN;
  CHECK(FitSoftmaxRegression(x, 2, 2, labels, two).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace router::internal
