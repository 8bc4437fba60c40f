// Checks every router's Fit needs, written once.
#ifndef ROUTER_INTERNAL_TRAINING_DATA_H_
#define ROUTER_INTERNAL_TRAINING_DATA_H_

#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "router/catalog.h"
#include "router/dataset.h"

namespace router::internal {

// InvalidArgument (prefixed with `who`, e.g. "cluster") unless the catalog is
// non-empty and `data` has rows, vectors, passes Validate(), has only finite
// vectors, and has a column with at least one score for every catalog model.
// Returns the data column of each catalog model, in catalog order.
absl::StatusOr<std::vector<int>> TrainingColumns(const Dataset& data,
                                                 const Catalog& catalog,
                                                 std::string_view who);

}  // namespace router::internal

#endif  // ROUTER_INTERNAL_TRAINING_DATA_H_
