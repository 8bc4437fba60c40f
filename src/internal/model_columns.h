// Removing one model from a router's per-model tables: the shared step of
// every router's RemoveModel.
#ifndef ROUTER_INTERNAL_MODEL_COLUMNS_H_
#define ROUTER_INTERNAL_MODEL_COLUMNS_H_

#include <cstddef>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "fmt/format.h"
#include "router/catalog.h"
#include "router/status.h"

namespace router::internal {

// The index of the model a router may remove from `catalog`: NotFound for
// an unknown one, FailedPrecondition for the last one. `kind` prefixes the
// message ("cluster").
inline absl::StatusOr<int> RemovableModel(const Catalog& catalog, std::string_view name,
                                          std::string_view kind) {
  absl::StatusOr<int> index = catalog.Find(name);
  if (!index.ok()) return Annotate(index.status(), kind);
  if (catalog.size() == 1) {
    return absl::FailedPreconditionError(
        fmt::format("{}: cannot remove '{}', the last model", kind, name));
  }
  return index;
}

// `table` (rows x `columns`, row-major) without column `column`.
template <typename T>
std::vector<T> WithoutColumn(const std::vector<T>& table, int columns, int column) {
  std::vector<T> out;
  out.reserve(table.size() - table.size() / columns);
  for (size_t i = 0; i < table.size(); ++i) {
    if (static_cast<int>(i % columns) != column) out.push_back(table[i]);
  }
  return out;
}

// `table` (rows x `width`, row-major) without row `row`.
template <typename T>
std::vector<T> WithoutRow(const std::vector<T>& table, int width, int row) {
  std::vector<T> out(table);
  out.erase(out.begin() + static_cast<ptrdiff_t>(row) * width,
            out.begin() + static_cast<ptrdiff_t>(row + 1) * width);
  return out;
}

}  // namespace router::internal

#endif  // ROUTER_INTERNAL_MODEL_COLUMNS_H_
