// k-means through FAISS (faiss::Clustering), for the routers that cluster
// their training vectors: the cluster router (spherical) and LinUCB's
// cluster one-hot (Euclidean).
#ifndef ROUTER_INTERNAL_KMEANS_H_
#define ROUTER_INTERNAL_KMEANS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace router::internal {

struct KMeansOptions {
  int clusters = 1;
  int iterations = 25;  // Lloyd iterations
  int restarts = 1;     // the best of this many runs is kept
  uint64_t seed = 1234;  // FAISS takes its low 32 bits (as an int)
  // Unit centroids and assignment by inner product (for unit rows), else
  // centroids are means and assignment is by Euclidean distance.
  bool spherical = false;
  int threads = 1;  // OpenMP threads; 0 = the caller's setting
};

// The centroids (clusters x dim, row-major) of the rows of `vectors`
// (rows x dim, row-major). InvalidArgument for fewer rows than clusters;
// ResourceExhausted when out of memory; Internal if FAISS fails.
absl::StatusOr<std::vector<float>> KMeans(absl::Span<const float> vectors, int64_t rows, int dim,
                                          const KMeansOptions& options);

}  // namespace router::internal

#endif  // ROUTER_INTERNAL_KMEANS_H_
