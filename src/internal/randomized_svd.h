// The randomized truncated SVD shared by the text featurizer (its sparse
// tf-idf matrix) and LinUCB (its centred context matrix above
// kExactPcaMaxDim dimensions): Halko, Martinsson & Tropp (2011),
// algorithms 4.4 and 5.1, with Cholesky QR twice for the orthonormal bases.
#ifndef ROUTER_INTERNAL_RANDOMIZED_SVD_H_
#define ROUTER_INTERNAL_RANDOMIZED_SVD_H_

#include <algorithm>
#include <cstdint>

#include <Eigen/Dense>

#include "internal/random.h"

namespace router::internal {

using RowMatrixXd = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Orthonormal basis of the columns of `m` (n x w, n >= w), in place.
void Orthonormalize(RowMatrixXd* m);

// Flips each column of `vectors` so that its largest-magnitude entry (the
// first on ties) is positive: singular and eigenvectors are defined up to
// sign, and a pinned sign makes refits agree across platforms.
void PinSigns(Eigen::MatrixXd* vectors);

struct SvdSettings {
  int64_t rank = 0;  // singular triplets wanted
  // Extra columns of the test matrix (Halko et al. suggest 5-10): they make
  // the top `rank` directions accurate.
  int64_t oversample = 10;
  int power_iterations = 2;
  uint64_t seed = 0;
};

struct TruncatedSvd {
  Eigen::VectorXd singular_values;  // descending, at most rank + oversample
  Eigen::MatrixXd right_vectors;    // d x that many, signs pinned
};

// Top right singular vectors of `x` (n x d, dense or sparse Eigen). All the
// test matrix's width is returned; the caller keeps those above its own
// rank tolerance.
template <typename Matrix>
TruncatedSvd RandomizedSvd(const Matrix& x, const SvdSettings& settings) {
  const int64_t n = x.rows(), d = x.cols();
  const int64_t width = std::min<int64_t>({settings.rank + settings.oversample, n, d});
  RowMatrixXd omega(d, width);
  SplitMix64 rng(settings.seed);
  for (int64_t i = 0; i < d; ++i) {
    for (int64_t j = 0; j < width; ++j) omega(i, j) = rng.Gaussian();
  }
  // Row-major dense operands and noalias() keep Eigen's sparse products
  // streaming along rows instead of through a column-major temporary.
  RowMatrixXd q(n, width), z(d, width);
  q.noalias() = x * omega;
  omega = RowMatrixXd();
  Orthonormalize(&q);
  for (int it = 0; it < settings.power_iterations; ++it) {
    z.noalias() = x.transpose() * q;
    Orthonormalize(&z);
    q.noalias() = x * z;
    Orthonormalize(&q);
  }
  // B = Q^T X is small (width x d); its right singular vectors approximate
  // those of X. Decompose B^T = U S V^T so that they are the columns of U.
  z.noalias() = x.transpose() * q;
  const Eigen::BDCSVD<Eigen::MatrixXd> svd(Eigen::MatrixXd(z), Eigen::ComputeThinU);
  TruncatedSvd out{svd.singularValues(), svd.matrixU()};
  PinSigns(&out.right_vectors);
  return out;
}

}  // namespace router::internal

#endif  // ROUTER_INTERNAL_RANDOMIZED_SVD_H_
