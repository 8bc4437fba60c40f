// LinUcbRouter's learned statistics, the part of its state that replicas
// exchange (Router::SaveLearned, AddLearned; router/state_sync.h).
//
// Layout (little-endian, ByteWriter): u32 version, u64 base, i32 context
// size c, u64 arm count, then per arm: name, i64 updates, f64 cost sum,
// i64 cost count, the upper triangle of sum z z^T (c(c+1)/2 doubles, column
// by column) and sum r z (c doubles).
#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "fmt/format.h"
#include "internal/byte_stream.h"
#include "internal/linucb_state.h"
#include "router/linucb_router.h"
#include "router/status.h"

namespace router {
namespace {

using internal::LinUcbArm;
using internal::LinUcbLearned;
using internal::LinUcbState;

constexpr uint32_t kLearnedVersion = 1;
// Rounding slack of the checks on increments (now - before of sums that
// only grow).
constexpr double kSlack = 1e-9;
// Counts above this are refused (no arm gets near it: 2^50 updates), so sums
// of counts cannot overflow.
constexpr int64_t kMaxCount = int64_t{1} << 50;

struct LearnedStats {
  uint64_t base = 0;
  int context = 0;
  std::map<std::string, LinUcbLearned> arms;
};

void PutLearned(const std::string& name, const LinUcbLearned& l, internal::ByteWriter* w) {
  const Eigen::Index c = l.a.rows();
  w->PutString(name);
  w->Put<int64_t>(l.updates);
  w->Put<double>(l.cost_sum);
  w->Put<int64_t>(l.cost_count);
  std::vector<double> upper;
  upper.reserve(static_cast<size_t>(c * (c + 1) / 2));
  for (Eigen::Index j = 0; j < c; ++j) {
    for (Eigen::Index i = 0; i <= j; ++i) upper.push_back(l.a(i, j));
  }
  w->PutVector(upper);
  w->PutArray<double>(absl::MakeConstSpan(l.b.data(), static_cast<size_t>(c)));
}

// Checks one arm's statistics as another replica sent them: finite, counts
// >= 0, and what sums of z z^T and r z with r in [0, 1] satisfy: a
// non-negative diagonal, |a_ij| <= sqrt(a_ii a_jj) and |b_i| <= sqrt(n a_ii).
bool CheckLearned(const LinUcbLearned& l, const std::string& field, internal::ByteReader* r) {
  if (l.updates < 0 || l.cost_count < 0 || l.updates > kMaxCount || l.cost_count > kMaxCount ||
      !std::isfinite(l.cost_sum) || l.cost_sum < 0.0) {
    return r->Fail(field, "counts or costs out of range");
  }
  if (!l.a.allFinite() || !l.b.allFinite()) return r->Fail(field, "non-finite value");
  const Eigen::Index c = l.a.rows();
  const double n = static_cast<double>(l.updates);
  for (Eigen::Index j = 0; j < c; ++j) {
    const double ajj = l.a(j, j);
    if (ajj < 0.0) return r->Fail(field, "negative diagonal");
    if (std::abs(l.b[j]) > std::sqrt(n * ajj) * (1.0 + kSlack) + kSlack) {
      return r->Fail(field, "sum r z exceeds what the updates allow");
    }
    for (Eigen::Index i = 0; i < j; ++i) {
      if (std::abs(l.a(i, j)) > std::sqrt(l.a(i, i) * ajj) * (1.0 + kSlack) + kSlack) {
        return r->Fail(field, "sum z z^T is not positive semi-definite");
      }
    }
  }
  return true;
}

absl::StatusOr<LearnedStats> ReadLearned(std::string_view bytes) {
  internal::ByteReader r(bytes, "linucb learned statistics");
  uint32_t version = 0;
  LearnedStats stats;
  int32_t context = 0;
  uint64_t count = 0;
  if (!(r.GetVersion(&version, kLearnedVersion) && r.Get(&stats.base, "base") &&
        r.Get(&context, "context size") && r.Get(&count, "arm count"))) {
    return r.status();
  }
  // An arm takes at least its context's doubles, so a count the bytes cannot
  // hold is refused before anything is allocated.
  if (context < 1 || context > 4096 ||
      count > r.remaining() / (sizeof(double) * static_cast<uint64_t>(context))) {
    r.Fail("sizes", fmt::format("context size {} or arm count {} out of range", context, count));
    return r.status();
  }
  stats.context = context;
  const Eigen::Index c = context;
  for (uint64_t k = 0; k < count; ++k) {
    std::string name;
    LinUcbLearned l;
    std::vector<double> upper, b;
    if (!(r.GetString(&name, "arm name") && r.Get(&l.updates, name) &&
          r.Get(&l.cost_sum, name) && r.Get(&l.cost_count, name) &&
          r.GetVector(&upper, static_cast<uint64_t>(c * (c + 1) / 2), name) &&
          r.GetVector(&b, static_cast<uint64_t>(c), name))) {
      return r.status();
    }
    l.a.resize(c, c);
    size_t next = 0;
    for (Eigen::Index j = 0; j < c; ++j) {
      for (Eigen::Index i = 0; i <= j; ++i) l.a(i, j) = l.a(j, i) = upper[next++];
    }
    l.b = Eigen::Map<const Eigen::VectorXd>(b.data(), c);
    const std::string field = fmt::format("arm '{}'", name);
    if (!CheckLearned(l, field, &r)) return r.status();
    if (!stats.arms.emplace(std::move(name), std::move(l)).second) {
      r.Fail(field, "listed twice");
      return r.status();
    }
  }
  ROUTER_RETURN_IF_ERROR(r.Finish());
  return stats;
}

// now - before for one arm; `before` null or ahead of `now` (the sender's
// arm started again: removed, then onboarded anew) counts as nothing.
LinUcbLearned Increment(const LinUcbLearned& now, const LinUcbLearned* before) {
  if (before == nullptr || before->updates > now.updates ||
      before->cost_count > now.cost_count) {
    return now;
  }
  LinUcbLearned d;
  d.a = now.a - before->a;
  d.b = now.b - before->b;
  d.updates = now.updates - before->updates;
  d.cost_sum = std::max(0.0, now.cost_sum - before->cost_sum);
  d.cost_count = now.cost_count - before->cost_count;
  return d;
}

void PutHeader(uint64_t base, int32_t context, uint64_t arms, internal::ByteWriter* w) {
  w->Put(kLearnedVersion);
  w->Put<uint64_t>(base);
  w->Put<int32_t>(context);
  w->Put<uint64_t>(arms);
}

}  // namespace

uint64_t LinUcbRouter::shared_base() const { return Current()->base; }

absl::StatusOr<std::string> LinUcbRouter::LearnedWithout(
    std::string_view learned, const std::vector<std::string>& models) const {
  ROUTER_ASSIGN_OR_RETURN(LearnedStats stats, ReadLearned(learned));
  for (const std::string& name : models) stats.arms.erase(name);
  std::string out;
  internal::ByteWriter w(&out);
  PutHeader(stats.base, stats.context, stats.arms.size(), &w);
  for (const auto& [name, arm] : stats.arms) PutLearned(name, arm, &w);
  return out;
}

absl::StatusOr<std::string> LinUcbRouter::SumLearned(std::string_view a,
                                                     std::string_view b) const {
  if (a.empty()) std::swap(a, b);
  if (a.empty()) return std::string();
  ROUTER_ASSIGN_OR_RETURN(LearnedStats sum, ReadLearned(a));
  if (!b.empty()) {
    ROUTER_ASSIGN_OR_RETURN(LearnedStats more, ReadLearned(b));
    if (more.base != sum.base || more.context != sum.context) {
      return absl::InvalidArgumentError(
          "linucb: cannot add learned statistics of two bases or context sizes");
    }
    for (auto& [name, arm] : more.arms) {
      LinUcbLearned& into = sum.arms[name];
      if (into.a.size() == 0) {
        into = std::move(arm);
        continue;
      }
      if (into.updates + arm.updates > kMaxCount || into.cost_count + arm.cost_count > kMaxCount) {
        return absl::DataLossError(
            fmt::format("linucb: learned statistics for '{}' overflow its counts", name));
      }
      into.a += arm.a;
      into.b += arm.b;
      into.updates += arm.updates;
      into.cost_sum += arm.cost_sum;
      into.cost_count += arm.cost_count;
    }
  }
  std::string out;
  internal::ByteWriter w(&out);
  PutHeader(sum.base, sum.context, sum.arms.size(), &w);
  for (const auto& [name, arm] : sum.arms) PutLearned(name, arm, &w);
  return out;
}

absl::Status LinUcbRouter::SaveLearned(std::string* out) const {
  if (out == nullptr) return absl::InvalidArgumentError("linucb: learned output is null");
  std::lock_guard<std::mutex> lock(update_mu_);  // the catalog and own_learned_ together
  const std::shared_ptr<const LinUcbState> s = Current();
  if (s->projection == nullptr) {
    return absl::FailedPreconditionError("linucb: the router is not fitted");
  }
  internal::ByteWriter w(out);
  uint64_t learned = 0;
  for (const LinUcbLearned& l : own_learned_) learned += l.updates > 0 ? 1 : 0;
  PutHeader(s->base, s->context_dim(), learned, &w);
  for (size_t m = 0; m < own_learned_.size(); ++m) {
    const LinUcbLearned& l = own_learned_[m];
    if (l.updates > 0) PutLearned(s->catalog->at(static_cast<int>(m)).name, l, &w);
  }
  return absl::OkStatus();
}

absl::Status LinUcbRouter::AddLearned(std::string_view now, std::string_view before,
                                      bool adopt) {
  ROUTER_ASSIGN_OR_RETURN(LearnedStats later, ReadLearned(now));
  LearnedStats earlier;
  if (!before.empty()) {
    ROUTER_ASSIGN_OR_RETURN(earlier, ReadLearned(before));
    if (earlier.base != later.base || earlier.context != later.context) {
      return absl::InvalidArgumentError(
          "linucb: the two learned statistics come from different bases");
    }
  }
  std::lock_guard<std::mutex> lock(update_mu_);
  const std::shared_ptr<const LinUcbState> current = Current();
  if (current->projection == nullptr) {
    return absl::FailedPreconditionError("linucb: the router is not fitted");
  }
  if (later.base != current->base || later.context != current->context_dim()) {
    return absl::FailedPreconditionError(fmt::format(
        "linucb: learned statistics of base {:016x} (context size {}) do not fit this router's "
        "base {:016x} (context size {}): replicas must start from the same fitted file",
        later.base, later.context, current->base, current->context_dim()));
  }
  auto next = std::make_shared<LinUcbState>(*current);
  bool changed = false;
  std::vector<std::pair<int, LinUcbLearned>> adopted;  // added to own_learned_ on success
  for (const auto& [name, stats] : later.arms) {
    absl::StatusOr<int> m = current->catalog->Find(name);
    if (!m.ok()) continue;  // a model this replica does not have
    const auto found = earlier.arms.find(name);
    const LinUcbLearned d = Increment(stats, found == earlier.arms.end() ? nullptr : &found->second);
    if (d.updates == 0 && d.cost_count == 0) continue;
    const LinUcbArm& old = *current->arms[*m];
    if (old.updates + d.updates > kMaxCount || old.cost_count + d.cost_count > kMaxCount ||
        !std::isfinite(old.cost_sum + d.cost_sum)) {
      return absl::DataLossError(
          fmt::format("linucb: learned statistics for '{}' overflow its counts", name));
    }
    auto arm = std::make_shared<LinUcbArm>(old);
    arm->a += d.a;
    arm->b += d.b;
    arm->updates += d.updates;
    arm->cost_sum += d.cost_sum;
    arm->cost_count += d.cost_count;
    if (!Reinvert(arm.get())) {
      return absl::DataLossError(fmt::format(
          "linucb: learned statistics for '{}' leave its matrix not positive definite", name));
    }
    next->arms[*m] = std::move(arm);
    if (adopt) adopted.emplace_back(*m, d);
    changed = true;
  }
  if (changed) Publish(std::move(next));
  for (const auto& [m, d] : adopted) own_learned_[m].Add(d);
  return absl::OkStatus();
}

}  // namespace router
