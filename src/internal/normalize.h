// L2 normalisation, shared by the routers (cosine similarity is the inner
// product of unit vectors).
#ifndef ROUTER_INTERNAL_NORMALIZE_H_
#define ROUTER_INTERNAL_NORMALIZE_H_

#include <cmath>

#include <Eigen/Core>

#include "absl/types/span.h"

namespace router::internal {

// Copies `vector` into `out` (which may alias it), scaled to unit length;
// zero stays zero. The sum of squares runs in double, so finite elements
// whose squares overflow float still normalise.
inline void NormalizeInto(absl::Span<const float> vector, float* out) {
  double norm_sq = 0.0;
  for (float v : vector) norm_sq += static_cast<double>(v) * v;
  const float scale = norm_sq > 0.0 ? static_cast<float>(1.0 / std::sqrt(norm_sq)) : 0.0f;
  for (size_t i = 0; i < vector.size(); ++i) out[i] = vector[i] * scale;
}

// 1 / |v|, or 0 for the zero vector. The sum of squares runs in float with
// Eigen's SIMD (faster, rounded differently from NormalizeInto); only when it
// overflows is it redone in double.
inline float InverseNorm(absl::Span<const float> v) {
  const float sq =
      Eigen::Map<const Eigen::VectorXf>(v.data(), static_cast<Eigen::Index>(v.size()))
          .squaredNorm();
  if (!std::isfinite(sq)) {
    double sq_double = 0.0;
    for (float x : v) sq_double += static_cast<double>(x) * x;
    return static_cast<float>(1.0 / std::sqrt(sq_double));
  }
  return sq > 0.0f ? 1.0f / std::sqrt(sq) : 0.0f;
}

}  // namespace router::internal

#endif  // ROUTER_INTERNAL_NORMALIZE_H_
