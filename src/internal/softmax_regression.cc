#include "internal/softmax_regression.h"

#include <cmath>
#include <utility>

#include <Eigen/Core>

#include "fmt/format.h"

namespace router::internal {
namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// The parameters as one point of the descent: weights dim x classes (the
// transpose of SoftmaxModel's layout, so logits are X * weights) and biases.
struct Point {
  Eigen::MatrixXf weights;
  Eigen::RowVectorXf bias;
};

}  // namespace

absl::StatusOr<SoftmaxModel> FitSoftmaxRegression(absl::Span<const float> vectors, int64_t rows,
                                                  int dim, absl::Span<const int> labels,
                                                  const SoftmaxRegressionOptions& options) {
  const int classes = options.classes;
  if (rows < 1 || dim < 1 || vectors.size() != static_cast<size_t>(rows) * dim ||
      labels.size() != static_cast<size_t>(rows)) {
    return absl::InvalidArgumentError(fmt::format(
        "softmax regression: {} rows of dimension {} need {} values and {} labels, got {} and {}",
        rows, dim, rows * dim, rows, vectors.size(), labels.size()));
  }
  if (classes < 2 || options.iterations < 0 || !(options.l2 >= 0) || !std::isfinite(options.l2)) {
    return absl::InvalidArgumentError(
        fmt::format("softmax regression: classes {} (>= 2), iterations {} (>= 0) or l2 {} (>= 0)",
                    classes, options.iterations, options.l2));
  }
  for (int64_t r = 0; r < rows; ++r) {
    if (labels[r] < 0 || labels[r] >= classes) {
      return absl::InvalidArgumentError(
          fmt::format("softmax regression: row {} has label {}, outside [0, {})", r, labels[r],
                      classes));
    }
  }
  const Eigen::Map<const RowMatrix> x(vectors.data(), rows, dim);
  if (!x.allFinite()) {
    return absl::InvalidArgumentError("softmax regression: a vector has a non-finite value");
  }
  RowMatrix target = RowMatrix::Zero(rows, classes);
  for (int64_t r = 0; r < rows; ++r) target(r, labels[r]) = 1.0f;

  // Cross-entropy's Hessian is at most |x~|^2 / 2 in any direction, x~ being
  // x with the constant 1 of the bias appended.
  const double lipschitz = 0.5 * (x.squaredNorm() / rows + 1.0) + options.l2;
  const float step = static_cast<float>(1.0 / lipschitz);
  const float inv_rows = 1.0f / static_cast<float>(rows);
  const float l2 = static_cast<float>(options.l2);

  Point current{Eigen::MatrixXf::Zero(dim, classes), Eigen::RowVectorXf::Zero(classes)};
  Point ahead = current;  // where the gradient is taken (the momentum's look-ahead)
  Point next;
  RowMatrix residual(rows, classes);  // softmax probabilities minus the targets
  double momentum = 1.0;
  for (int it = 0; it < options.iterations; ++it) {
    residual.noalias() = x * ahead.weights;
    residual.rowwise() += ahead.bias;
    for (int64_t r = 0; r < rows; ++r) {
      auto row = residual.row(r);
      row.array() = (row.array() - row.maxCoeff()).exp();
      row /= row.sum();
    }
    residual -= target;
    next.weights = ahead.weights - step * (inv_rows * (x.transpose() * residual) +
                                           l2 * ahead.weights);
    next.bias = ahead.bias - (step * inv_rows) * residual.colwise().sum();
    const double next_momentum = 0.5 * (1.0 + std::sqrt(1.0 + 4.0 * momentum * momentum));
    const float carry = static_cast<float>((momentum - 1.0) / next_momentum);
    ahead.weights = next.weights + carry * (next.weights - current.weights);
    ahead.bias = next.bias + carry * (next.bias - current.bias);
    std::swap(current, next);
    momentum = next_momentum;
  }

  SoftmaxModel model;
  model.weights.resize(static_cast<size_t>(classes) * dim);
  Eigen::Map<RowMatrix>(model.weights.data(), classes, dim) = current.weights.transpose();
  model.bias.assign(current.bias.data(), current.bias.data() + classes);
  return model;
}

}  // namespace router::internal
