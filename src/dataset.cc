#include "router/dataset.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "fmt/format.h"
#include "router/status.h"
#include "internal/file_io.h"
#include "internal/random.h"

namespace router {
namespace {

// ordered_json keeps keys in file order, which fixes the model column order.
using Json = nlohmann::ordered_json;

// Far above any real query, and low enough that one hostile line cannot make
// the JSON parser allocate without bound.
constexpr size_t kMaxLineBytes = size_t{64} << 20;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Cell {
  int64_t row;
  int model;
  double value;
};

// Everything ParseJsonl accumulates before it builds the dense matrices.
struct Builder {
  Dataset data;
  // Standard maps: Debian's Abseil flat_hash_map is not safe against an
  // allocation failure while it grows (see decision_log.h).
  std::unordered_map<std::string, int> model_index;
  std::unordered_map<std::string, int64_t> id_line;
  std::vector<Cell> scores;
  std::vector<Cell> costs;

  int Model(const std::string& name) {
    auto [it, inserted] = model_index.try_emplace(name, data.num_models());
    if (inserted) data.model_names.push_back(name);
    return it->second;
  }
};

bool IsBlank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

// Reads the model -> number object `field` into `cells`; `valid` says whether
// a value is allowed and `range` describes the allowed values for the message.
absl::Status ParseCells(const Json& row, const char* field, bool required, bool (*valid)(double),
                        const char* range, int64_t row_index, Builder& builder,
                        std::vector<Cell>& cells) {
  auto it = row.find(field);
  if (it == row.end() || it->is_null()) {
    if (!required) return absl::OkStatus();
    return absl::InvalidArgumentError(fmt::format("missing field '{}'", field));
  }
  if (!it->is_object()) {
    return absl::InvalidArgumentError(
        fmt::format("field '{}' must be an object of numbers, not {}", field, it->type_name()));
  }
  if (required && it->empty()) {
    return absl::InvalidArgumentError(fmt::format("field '{}' is empty", field));
  }
  for (const auto& [model, value] : it->items()) {
    if (model.empty()) {
      return absl::InvalidArgumentError(fmt::format("field '{}' has an empty model name", field));
    }
    if (!value.is_number()) {
      return absl::InvalidArgumentError(fmt::format(
          "field '{}' must be an object of numbers: '{}' is {}", field, model, value.type_name()));
    }
    const double x = value.get<double>();
    if (!valid(x)) {
      return absl::InvalidArgumentError(
          fmt::format("{}['{}'] = {} is not {}", field, model, value.dump(), range));
    }
    cells.push_back({row_index, builder.Model(model), x});
  }
  return absl::OkStatus();
}

absl::StatusOr<Split> ParseSplit(const Json& row) {
  auto it = row.find("split");
  if (it == row.end() || it->is_null()) return Split::kUnassigned;
  if (it->is_string()) {
    const std::string& name = it->get_ref<const std::string&>();
    if (name == "train") return Split::kTrain;
    if (name == "validation" || name == "val") return Split::kValidation;
    if (name == "test") return Split::kTest;
  }
  return absl::InvalidArgumentError(fmt::format(
      "field 'split' must be \"train\", \"validation\", \"val\" or \"test\", not {}", it->dump()));
}

// Parses one row object; errors are bare and get the "source:line: " prefix
// from the caller.
absl::Status ParseRow(const Json& row, int64_t line, Builder& builder) {
  if (!row.is_object()) {
    return absl::InvalidArgumentError(
        fmt::format("expected a JSON object, not {}", row.type_name()));
  }
  const int64_t row_index = builder.data.rows();

  std::string id;
  auto id_it = row.find("id");
  if (id_it == row.end() || id_it->is_null()) {
    id = fmt::format("row-{}", row_index);
  } else if (id_it->is_string()) {
    id = id_it->get<std::string>();
    if (id.empty()) return absl::InvalidArgumentError("field 'id' must not be empty");
  } else if (id_it->is_number()) {
    id = id_it->dump();
  } else {
    return absl::InvalidArgumentError(
        fmt::format("field 'id' must be a string or a number, not {}", id_it->type_name()));
  }

  auto prompt_it = row.find("prompt");
  if (prompt_it == row.end()) return absl::InvalidArgumentError("missing field 'prompt'");
  if (!prompt_it->is_string()) {
    return absl::InvalidArgumentError(
        fmt::format("field 'prompt' must be a string, not {}", prompt_it->type_name()));
  }

  std::string source;
  auto source_it = row.find("source");
  if (source_it != row.end() && !source_it->is_null()) {
    if (!source_it->is_string()) {
      return absl::InvalidArgumentError(
          fmt::format("field 'source' must be a string, not {}", source_it->type_name()));
    }
    source = source_it->get<std::string>();
  }

  ROUTER_ASSIGN_OR_RETURN(Split split, ParseSplit(row));
  ROUTER_RETURN_IF_ERROR(ParseCells(
      row, "scores", /*required=*/true,
      [](double x) { return x >= 0.0 && x <= 1.0; }, "in [0, 1]", row_index, builder,
      builder.scores));
  ROUTER_RETURN_IF_ERROR(ParseCells(
      row, "costs", /*required=*/false,
      [](double x) { return std::isfinite(x) && x >= 0.0; }, "finite and >= 0", row_index,
      builder, builder.costs));

  auto [first, inserted] = builder.id_line.try_emplace(id, line);
  if (!inserted) {
    return absl::InvalidArgumentError(
        fmt::format("duplicate id '{}' (first on line {})", id, first->second));
  }
  Dataset& data = builder.data;
  data.ids.push_back(std::move(id));
  data.prompts.push_back(prompt_it->get<std::string>());
  data.sources.push_back(std::move(source));
  data.splits.push_back(split);
  return absl::OkStatus();
}

void Fill(const std::vector<Cell>& cells, int num_models, std::vector<double>& matrix) {
  for (const Cell& cell : cells) matrix[cell.row * num_models + cell.model] = cell.value;
}

const char* SplitName(Split split) {
  switch (split) {
    case Split::kTrain: return "train";
    case Split::kValidation: return "validation";
    case Split::kTest: return "test";
    case Split::kUnassigned: break;
  }
  return nullptr;
}

// FNV-1a over the bytes, then mixed with the seed: fixed arithmetic, so the
// same id gets the same split on every platform and standard library.
uint64_t HashId(std::string_view id, uint64_t seed) {
  return internal::Mix64(internal::Fnv1a(id) ^ internal::Mix64(seed));
}

double Fraction(double x) { return std::isfinite(x) ? std::clamp(x, 0.0, 1.0) : 0.0; }

}  // namespace

int Dataset::ModelColumn(std::string_view name) const {
  auto it = std::find(model_names.begin(), model_names.end(), name);
  return it == model_names.end() ? -1 : static_cast<int>(it - model_names.begin());
}

absl::Status Dataset::Validate() const {
  const int64_t n = rows();
  const int m = num_models();
  auto size_error = [&](std::string_view what, size_t actual, int64_t expected) {
    return absl::InvalidArgumentError(
        fmt::format("{} has {} entries; expected {}", what, actual, expected));
  };
  if (static_cast<int64_t>(prompts.size()) != n) return size_error("prompts", prompts.size(), n);
  if (static_cast<int64_t>(sources.size()) != n) return size_error("sources", sources.size(), n);
  if (static_cast<int64_t>(splits.size()) != n) return size_error("splits", splits.size(), n);
  if (static_cast<int64_t>(scores.size()) != n * m) return size_error("scores", scores.size(), n * m);
  if (static_cast<int64_t>(costs.size()) != n * m) return size_error("costs", costs.size(), n * m);
  if (dim < 0) return absl::InvalidArgumentError(fmt::format("dim is {}", dim));
  if (!vectors.empty() && static_cast<int64_t>(vectors.size()) != n * dim) {
    return size_error("vectors", vectors.size(), n * dim);
  }

  // Not absl::flat_hash_set: Debian's (20220623) is not safe when an
  // allocation fails while it grows (see catalog.h).
  std::unordered_set<std::string_view> seen;
  for (const std::string& name : model_names) {
    if (name.empty()) return absl::InvalidArgumentError("a model name is empty");
    if (!seen.insert(name).second) {
      return absl::InvalidArgumentError(fmt::format("model '{}' appears twice", name));
    }
  }
  seen.clear();
  for (int64_t r = 0; r < n; ++r) {
    if (ids[r].empty()) {
      return absl::InvalidArgumentError(fmt::format("row {} has an empty id", r));
    }
    if (!seen.insert(ids[r]).second) {
      return absl::InvalidArgumentError(fmt::format("id '{}' appears twice", ids[r]));
    }
    if (static_cast<uint8_t>(splits[r]) > static_cast<uint8_t>(Split::kTest)) {
      return absl::InvalidArgumentError(fmt::format("row '{}' has an invalid split", ids[r]));
    }
    for (int c = 0; c < m; ++c) {
      const double s = score(r, c), k = cost(r, c);
      if (!std::isnan(s) && !(s >= 0.0 && s <= 1.0)) {
        return absl::InvalidArgumentError(fmt::format("row '{}': score of '{}' is {}, not in [0, 1]",
                                                      ids[r], model_names[c], s));
      }
      if (!std::isnan(k) && !(std::isfinite(k) && k >= 0.0)) {
        return absl::InvalidArgumentError(fmt::format("row '{}': cost of '{}' is {}, not finite and >= 0",
                                                      ids[r], model_names[c], k));
      }
    }
  }
  return absl::OkStatus();
}

std::vector<int64_t> Dataset::RowsOf(Split split) const {
  std::vector<int64_t> out;
  for (int64_t r = 0; r < static_cast<int64_t>(splits.size()); ++r) {
    if (splits[r] == split) out.push_back(r);
  }
  return out;
}

absl::StatusOr<Dataset> LabelledExamples(std::string_view model,
                                         absl::Span<const float> vectors, int dim,
                                         absl::Span<const double> scores,
                                         absl::Span<const double> costs) {
  const size_t count = scores.size();
  Dataset labelled;
  labelled.model_names = {std::string(model)};
  if (count == 0) return labelled;
  if (dim < 1 || vectors.size() != count * static_cast<size_t>(dim) ||
      (!costs.empty() && costs.size() != count)) {
    return absl::InvalidArgumentError(fmt::format(
        "labelled examples: {} scores, {} vector values of dimension {} and {} costs do not "
        "match", count, vectors.size(), dim, costs.size()));
  }
  for (size_t i = 0; i < count; ++i) {
    if (std::isnan(scores[i])) {
      return absl::InvalidArgumentError(fmt::format("example {}: the score is NaN", i));
    }
    labelled.ids.push_back(std::to_string(i));
  }
  labelled.dim = dim;
  labelled.vectors.assign(vectors.begin(), vectors.end());
  labelled.scores.assign(scores.begin(), scores.end());
  if (costs.empty()) {
    labelled.costs.assign(count, std::numeric_limits<double>::quiet_NaN());
  } else {
    labelled.costs.assign(costs.begin(), costs.end());
  }
  labelled.prompts.assign(count, "");
  labelled.sources.assign(count, "");
  labelled.splits.assign(count, Split::kTrain);
  return labelled;
}

std::vector<int64_t> Dataset::FitRows() const {
  std::vector<int64_t> out;
  for (int64_t r = 0; r < static_cast<int64_t>(splits.size()); ++r) {
    if (splits[r] == Split::kTrain || splits[r] == Split::kUnassigned) out.push_back(r);
  }
  return out;
}

Dataset Dataset::Subset(absl::Span<const int64_t> rows) const {
  Dataset out;
  out.model_names = model_names;
  const int m = num_models();
  const bool copy_vectors = has_vectors();
  if (copy_vectors) out.dim = dim;
  out.scores.reserve(rows.size() * m);
  out.costs.reserve(rows.size() * m);
  for (int64_t r : rows) {
    out.ids.push_back(ids[r]);
    out.prompts.push_back(prompts[r]);
    out.sources.push_back(sources[r]);
    out.splits.push_back(splits[r]);
    out.scores.insert(out.scores.end(), scores.begin() + r * m, scores.begin() + (r + 1) * m);
    out.costs.insert(out.costs.end(), costs.begin() + r * m, costs.begin() + (r + 1) * m);
    if (copy_vectors) {
      out.vectors.insert(out.vectors.end(), vectors.begin() + r * dim,
                         vectors.begin() + (r + 1) * dim);
    }
  }
  return out;
}

absl::StatusOr<Dataset> ParseJsonl(std::string_view text, std::string_view source_name) {
  Builder builder;
  int64_t line_number = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_number;
    auto error = [&](std::string_view what) {
      return absl::InvalidArgumentError(fmt::format("{}:{}: {}", source_name, line_number, what));
    };
    if (line.size() > kMaxLineBytes) {
      return error(fmt::format("line is {} bytes; the limit is {} MiB", line.size(),
                               kMaxLineBytes >> 20));
    }
    if (IsBlank(line)) continue;
    const Json row = Json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
    if (row.is_discarded()) return error("not valid JSON");
    if (absl::Status status = ParseRow(row, line_number, builder); !status.ok()) {
      return error(std::string(status.message()));
    }
  }
  if (builder.data.rows() == 0) {
    return absl::InvalidArgumentError(fmt::format("{}: no rows", source_name));
  }
  Dataset& data = builder.data;
  const size_t cells = static_cast<size_t>(data.rows()) * data.num_models();
  data.scores.assign(cells, kNaN);
  data.costs.assign(cells, kNaN);
  Fill(builder.scores, data.num_models(), data.scores);
  Fill(builder.costs, data.num_models(), data.costs);
  return std::move(data);
}

absl::StatusOr<Dataset> LoadJsonl(const std::string& path) {
  ROUTER_ASSIGN_OR_RETURN(std::string text, internal::ReadFile(path));
  return ParseJsonl(text, path);
}

absl::Status SaveJsonl(const Dataset& data, const std::string& path) {
  ROUTER_RETURN_IF_ERROR(data.Validate());
  std::string text;
  for (int64_t r = 0; r < data.rows(); ++r) {
    Json row = Json::object();
    row["id"] = data.ids[r];
    row["prompt"] = data.prompts[r];
    row["source"] = data.sources[r];
    if (const char* split = SplitName(data.splits[r])) row["split"] = split;
    Json scores = Json::object(), costs = Json::object();
    for (int c = 0; c < data.num_models(); ++c) {
      if (!std::isnan(data.score(r, c))) scores[data.model_names[c]] = data.score(r, c);
      if (!std::isnan(data.cost(r, c))) costs[data.model_names[c]] = data.cost(r, c);
    }
    // ParseJsonl requires a score per row; refuse to write what it cannot read.
    if (scores.empty()) {
      return absl::InvalidArgumentError(fmt::format("row '{}' has no scores", data.ids[r]));
    }
    row["scores"] = std::move(scores);
    if (!costs.empty()) row["costs"] = std::move(costs);
    // dump() throws on strings that are not UTF-8; report that as an error
    // instead of letting the exception leave the library.
    try {
      text += row.dump();
    } catch (const Json::exception& e) {
      return absl::InvalidArgumentError(
          fmt::format("row '{}' cannot be written: {}", data.ids[r], e.what()));
    }
    text += '\n';
  }
  return internal::WriteFile(path, text);
}

absl::Status AttachVectors(Dataset* data, NpyMatrix matrix) {
  if (data == nullptr) return absl::InvalidArgumentError("AttachVectors: data is null");
  if (matrix.rows != data->rows()) {
    return absl::InvalidArgumentError(fmt::format("vectors have {} rows but the dataset has {}",
                                                  matrix.rows, data->rows()));
  }
  if (matrix.cols <= 0 || matrix.cols > INT_MAX) {
    return absl::InvalidArgumentError(
        fmt::format("vectors must have 1 to {} columns, not {}", INT_MAX, matrix.cols));
  }
  if (matrix.values.size() != static_cast<size_t>(matrix.rows) * matrix.cols) {
    return absl::InvalidArgumentError(fmt::format("a {} x {} matrix holds {} values", matrix.rows,
                                                  matrix.cols, matrix.values.size()));
  }
  data->dim = static_cast<int>(matrix.cols);
  data->vectors = std::move(matrix.values);
  return absl::OkStatus();
}

void AssignSplits(Dataset* data, double test_fraction, double validation_fraction,
                  uint64_t seed) {
  if (data == nullptr) return;
  const double test = Fraction(test_fraction);
  const double test_or_validation = std::min(1.0, test + Fraction(validation_fraction));
  data->splits.resize(data->ids.size(), Split::kUnassigned);
  for (size_t r = 0; r < data->ids.size(); ++r) {
    if (data->splits[r] != Split::kUnassigned) continue;
    // The top 53 bits as a double in [0, 1).
    const double u = static_cast<double>(HashId(data->ids[r], seed) >> 11) * 0x1.0p-53;
    data->splits[r] = u < test ? Split::kTest
                      : u < test_or_validation ? Split::kValidation
                                               : Split::kTrain;
  }
}

}  // namespace router

namespace router {
namespace {

// Folds `bytes` into `h`, length first so that field boundaries count.
uint64_t Fold(uint64_t h, std::string_view bytes) {
  h = internal::Mix64(h ^ bytes.size());
  return internal::Mix64(h ^ internal::Fnv1a(bytes));
}

template <typename T>
uint64_t FoldArray(uint64_t h, const std::vector<T>& values) {
  return Fold(h, std::string_view(reinterpret_cast<const char*>(values.data()),
                                  values.size() * sizeof(T)));
}

}  // namespace

std::string Fingerprint(const Dataset& data) {
  uint64_t h = internal::Mix64(static_cast<uint64_t>(data.rows()));
  for (const std::string& name : data.model_names) h = Fold(h, name);
  for (int64_t r = 0; r < data.rows(); ++r) {
    if (r < static_cast<int64_t>(data.ids.size())) h = Fold(h, data.ids[r]);
    if (r < static_cast<int64_t>(data.prompts.size())) h = Fold(h, data.prompts[r]);
    if (r < static_cast<int64_t>(data.sources.size())) h = Fold(h, data.sources[r]);
  }
  h = FoldArray(h, data.splits);
  h = FoldArray(h, data.scores);
  h = FoldArray(h, data.costs);
  h = FoldArray(h, data.vectors);
  return fmt::format("{:016x}", h);
}

}  // namespace router
