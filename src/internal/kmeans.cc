#include "internal/kmeans.h"

#include <exception>
#include <new>

#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <omp.h>

#include "fmt/format.h"

namespace router::internal {
namespace {

// Limits OpenMP to `threads` (if > 0) while in scope; restores the caller's
// setting after.
class OmpThreadLimit {
 public:
  explicit OmpThreadLimit(int threads) : previous_(omp_get_max_threads()) {
    if (threads > 0) omp_set_num_threads(threads);
  }
  ~OmpThreadLimit() { omp_set_num_threads(previous_); }
  OmpThreadLimit(const OmpThreadLimit&) = delete;
  OmpThreadLimit& operator=(const OmpThreadLimit&) = delete;

 private:
  int previous_;
};

}  // namespace

absl::StatusOr<std::vector<float>> KMeans(absl::Span<const float> vectors, int64_t rows, int dim,
                                          const KMeansOptions& options) {
  if (options.clusters < 1 || rows < options.clusters ||
      vectors.size() != static_cast<size_t>(rows) * dim) {
    return absl::InvalidArgumentError(
        fmt::format("k-means of {} rows into {} clusters", rows, options.clusters));
  }
  try {
    faiss::ClusteringParameters params;
    params.niter = options.iterations;
    params.nredo = options.restarts;
    params.spherical = options.spherical;
    params.verbose = false;
    params.seed = static_cast<int>(options.seed);
    params.min_points_per_centroid = 1;  // small K/rows ratios are fine here
    faiss::Clustering kmeans(dim, options.clusters, params);
    faiss::IndexFlatIP by_inner_product(dim);
    faiss::IndexFlatL2 by_distance(dim);
    faiss::Index& assigner = options.spherical ? static_cast<faiss::Index&>(by_inner_product)
                                               : static_cast<faiss::Index&>(by_distance);
    OmpThreadLimit threads(options.threads);
    kmeans.train(rows, vectors.data(), assigner);
    if (kmeans.centroids.size() != static_cast<size_t>(options.clusters) * dim) {
      return absl::InternalError("k-means returned the wrong number of centroids");
    }
    return std::move(kmeans.centroids);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("out of memory in k-means");
  } catch (const std::exception& e) {
    return absl::InternalError(fmt::format("k-means failed: {}", e.what()));
  }
}

}  // namespace router::internal
