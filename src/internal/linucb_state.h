// LinUcbRouter's state (router/linucb_router.h), shared by its two source
// files: linucb_router.cc (fit, estimate, update, save and load) and
// linucb_learned.cc (the learned statistics replicas exchange).
#ifndef ROUTER_INTERNAL_LINUCB_STATE_H_
#define ROUTER_INTERNAL_LINUCB_STATE_H_

#include <cstdint>
#include <memory>
#include <vector>

#include <Eigen/Core>

#include "router/catalog.h"
#include "router/linucb_router.h"

namespace router::internal {

// The learned map from a query vector to its context:
// [principal components (reduced); one-hot nearest centroid (clusters); 1].
struct LinUcbProjection {
  int dim = 0;
  int reduced = 0;
  int clusters = 0;
  std::vector<float> mean;        // dim: mean of the L2-normalised training vectors
  std::vector<float> components;  // reduced x dim, row-major, scale folded in
  std::vector<float> centroids;   // clusters x dim, row-major (k-means of the unit vectors)
  // The same two tables in simd::ToPanels's layout (derived, not saved),
  // which routing projects with (simd::MatVecPanels).
  std::vector<float> components_panels;
  std::vector<float> centroids_panels;
  Eigen::VectorXf mean_projected; // components * mean (derived, not saved)
  Eigen::VectorXf centroid_half_sq;  // |centroid|^2 / 2 (derived, not saved)

  int context() const { return reduced + clusters + 1; }
};

// What one arm learned from this router's own Observe calls since the
// router's base (its last Fit or LoadState), and for a model it onboarded
// since, from the labelled rows it was given: the additive part of the arm
// that replicas exchange (Router::SaveLearned). Statistics added from other
// replicas (AddLearned) are not in it, so nothing travels back to where it
// came from. The router keeps these outside its published state and adds to
// them in place, so that an update copies no matrix for them.
struct LinUcbLearned {
  // c x c: sum of z z^T, of which only the upper triangle (i <= j) is kept:
  // the sum is symmetric and only that triangle is saved. Empty = no update.
  Eigen::MatrixXd a;
  Eigen::VectorXd b;  // c: sum of r z
  int64_t updates = 0;
  double cost_sum = 0.0;
  int64_t cost_count = 0;

  // One update: context z, reward r, cost.
  void Add(const Eigen::VectorXd& z, double reward, double cost) {
    if (a.size() == 0) Reset(z.size());
    for (Eigen::Index j = 0; j < z.size(); ++j) a.col(j).head(j + 1) += z.head(j + 1) * z[j];
    b += reward * z;
    ++updates;
    cost_sum += cost;
    ++cost_count;
  }
  // Another set of sums of the same context size.
  void Add(const LinUcbLearned& more) {
    if (a.size() == 0) Reset(more.b.size());
    a += more.a;
    b += more.b;
    updates += more.updates;
    cost_sum += more.cost_sum;
    cost_count += more.cost_count;
  }

 private:
  void Reset(Eigen::Index c) {
    a = Eigen::MatrixXd::Zero(c, c);
    b = Eigen::VectorXd::Zero(c);
  }
};

// One model's ridge regression. Immutable once published.
struct LinUcbArm {
  Eigen::MatrixXd a;      // c x c
  Eigen::MatrixXd a_inv;  // c x c, kept by Sherman-Morrison
  Eigen::VectorXd b;      // c
  Eigen::VectorXd theta;  // a_inv * b (derived, not saved)
  // a_inv's upper triangle by simd::PackSymmetric (derived, not saved): the
  // uncertainty's quadratic form reads half the bytes of a_inv.
  std::vector<double> a_inv_packed;
  int64_t updates = 0;
  int32_t since_reinvert = 0;
  double cost_sum = 0.0;
  int64_t cost_count = 0;
};

struct LinUcbState {
  LinUcbOptions options;
  uint64_t version = 0;
  int64_t online_updates = 0;
  // Fingerprint of the state the router was fitted to or loaded from
  // (Router::shared_base): replicas exchange learned statistics only with
  // replicas of the same base. Kept through updates, onboarding and removal.
  uint64_t base = 0;
  std::shared_ptr<const Catalog> catalog;
  std::shared_ptr<const LinUcbProjection> projection;  // null before Fit
  std::vector<std::shared_ptr<const LinUcbArm>> arms;  // indexed like catalog

  int dim() const { return projection ? projection->dim : 0; }
  int context_dim() const { return projection ? projection->context() : 0; }
};

// Recomputes arm->a_inv from arm->a (Cholesky), symmetrised, and what is
// derived from it (theta, a_inv_packed).
// False, changing nothing that matters, if A is not numerically positive
// definite or the inverse is not finite.
bool Reinvert(LinUcbArm* arm);

// Sets what is derived from arm->a_inv and arm->b: theta and a_inv_packed.
void DeriveFromInverse(LinUcbArm* arm);

}  // namespace router::internal

#endif  // ROUTER_INTERNAL_LINUCB_STATE_H_
