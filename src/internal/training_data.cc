#include "internal/training_data.h"

#include <cmath>

#include "fmt/format.h"
#include "router/router.h"
#include "router/status.h"

namespace router::internal {

absl::StatusOr<std::vector<int>> TrainingColumns(const Dataset& data,
                                                 const Catalog& catalog,
                                                 std::string_view who) {
  auto fail = [who](const std::string& message) {
    return absl::InvalidArgumentError(fmt::format("{}: {}", who, message));
  };
  if (catalog.empty()) return fail("the catalog is empty");
  if (data.rows() == 0) return fail("the dataset has no rows");
  if (!data.has_vectors()) {
    return fail("the dataset has no query vectors (embed the prompts first)");
  }
  ROUTER_RETURN_IF_ERROR(data.Validate());
  for (int64_t r = 0; r < data.rows(); ++r) {
    absl::Status valid = ValidateVector(data.vector(r), data.dim, "training vector");
    if (!valid.ok()) return fail(fmt::format("row {}: {}", r, StdView(valid.message())));
  }
  std::vector<int> columns(catalog.size());
  for (int m = 0; m < catalog.size(); ++m) {
    const std::string& name = catalog.at(m).name;
    columns[m] = data.ModelColumn(name);
    if (columns[m] < 0) {
      return fail(fmt::format("model '{}' has no column in the training data", name));
    }
    bool scored = false;
    for (int64_t r = 0; r < data.rows() && !scored; ++r) {
      scored = !std::isnan(data.score(r, columns[m]));
    }
    if (!scored) return fail(fmt::format("model '{}' has no score in the training data", name));
  }
  return columns;
}

}  // namespace router::internal
