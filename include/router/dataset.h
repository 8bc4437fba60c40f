// File: router/dataset.h
//
// A Dataset is routing data: N queries x M models, with each model's observed
// score (quality in [0, 1]) and cost (USD) on each query, optional per-query
// vectors, and the prompt text, task label and split of each row.
//
// On disk it is JSONL, one query per line:
//   {"id": "q1", "prompt": "...", "source": "gsm8k", "split": "train",
//    "scores": {"model-a": 1.0, "model-b": 0.0},
//    "costs":  {"model-a": 0.00012, "model-b": 0.00003}}
// plus, optionally, a float32 .npy matrix of shape (N, d) aligned by row.
// Unknown fields are ignored. A model absent from a row's "scores" is a
// missing score (NaN in memory); routers skip missing cells.
//
// Fields: "id" (string or number; default "row-<0-based row index>"),
// "prompt" (string, required), "source" (string, default ""), "split"
// ("train", "validation" or "val", "test"; absent means kUnassigned),
// "scores" (required, non-empty object of numbers in [0, 1]) and "costs"
// (object of finite numbers >= 0). A JSON null counts as an absent optional
// field. The model columns are the union of the names in "scores" and
// "costs", in order of first appearance in the file.
#ifndef ROUTER_DATASET_H_
#define ROUTER_DATASET_H_

#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "router/export.h"
#include "router/npy.h"

namespace router {

enum class Split : uint8_t { kUnassigned = 0, kTrain = 1, kValidation = 2, kTest = 3 };

struct ROUTER_EXPORT Dataset {
  // Column order of `scores` and `costs`.
  std::vector<std::string> model_names;
  // Per row.
  std::vector<std::string> ids;
  std::vector<std::string> prompts;
  std::vector<std::string> sources;
  std::vector<Split> splits;
  // rows() x num_models(), row-major; NaN where the cell is missing.
  std::vector<double> scores;
  std::vector<double> costs;
  // rows() x dim, row-major; empty when the dataset carries no vectors.
  std::vector<float> vectors;
  int dim = 0;

  int64_t rows() const { return static_cast<int64_t>(ids.size()); }
  int num_models() const { return static_cast<int>(model_names.size()); }
  bool has_vectors() const { return dim > 0 && !vectors.empty(); }

  double score(int64_t row, int model) const { return scores[row * num_models() + model]; }
  double cost(int64_t row, int model) const { return costs[row * num_models() + model]; }
  absl::Span<const float> vector(int64_t row) const {
    return absl::MakeConstSpan(vectors.data() + row * dim, dim);
  }

  // Column of `name`, or -1.
  int ModelColumn(std::string_view name) const;

  // Checks that every array has the size the row and model counts imply
  // (vectors: empty, or rows() x dim), that scores lie in [0, 1] or are NaN,
  // that costs are finite and >= 0 or NaN, that ids and model names are
  // non-empty and unique, and that every split is a valid enumerator.
  absl::Status Validate() const;

  // The rows (in order) whose split is `split`.
  std::vector<int64_t> RowsOf(Split split) const;

  // The rows a fit uses, in order: those whose split is train or unset.
  // Validation and test rows are held out. This is the one rule of every
  // door that fits from a dataset: router_create_from_dataset, `router fit`
  // and `router eval` (which first gives unset rows a split, AssignSplits).
  std::vector<int64_t> FitRows() const;

  // A new dataset holding `rows` of this one, in the given order (repeats
  // allowed), with the vectors when this one has them. Every index must be
  // in [0, rows()).
  Dataset Subset(absl::Span<const int64_t> rows) const;
};

// Parses JSONL text. Blank lines are skipped; lines may end in "\r\n".
// Every problem is an InvalidArgument error whose message names the source
// and the 1-based line: "queries.jsonl:17: field 'scores' must be an object
// of numbers, not array". Also rejected: text that is not JSON, values
// outside the ranges above, an unknown split, a duplicate id (the message
// gives the first line too), a line over 64 MiB, and input with no rows.
ROUTER_EXPORT absl::StatusOr<Dataset> ParseJsonl(std::string_view text,
                                   std::string_view source_name = "<input>");

// Reads and parses a JSONL file; errors name `path` as the source. A missing
// file is NotFound; other I/O failures map from errno.
ROUTER_EXPORT absl::StatusOr<Dataset> LoadJsonl(const std::string& path);

// A 64-bit fingerprint of the data's content (ids, prompts, sources, splits,
// model names, scores, costs and vectors) as 16 hex digits: two datasets
// with the same fingerprint are, for all practical purposes, the same data.
ROUTER_EXPORT std::string Fingerprint(const Dataset& data);

// Writes `data` as JSONL (vectors are not written; see SaveNpy): id, prompt,
// source, split (omitted when unassigned), scores and costs (NaN cells
// omitted). Doubles are written so that they read back exactly. Fails
// without writing when `data` does not Validate(), when a row has no score
// (ParseJsonl could not read it back) or a string is not valid UTF-8.
ROUTER_EXPORT absl::Status SaveJsonl(const Dataset& data, const std::string& path);

// Attaches `matrix` as the dataset's vectors (moving its values); its row
// count must equal data->rows() and it must have at least one column.
ROUTER_EXPORT absl::Status AttachVectors(Dataset* data, NpyMatrix matrix);

// The labelled set that onboards one model (Pipeline::WithModel) from plain
// arrays, as the C ABI's router_add_model passes them: scores.size() rows,
// row i's vector at vectors[i * dim], its score in [0, 1], its cost in USD
// (`costs` empty: unknown). InvalidArgument for sizes that do not match or a
// NaN score.
ROUTER_EXPORT absl::StatusOr<Dataset> LabelledExamples(std::string_view model,
                                                      absl::Span<const float> vectors, int dim,
                                                      absl::Span<const double> scores,
                                                      absl::Span<const double> costs);

// Gives every row whose split is kUnassigned a split, by a seeded hash of its
// id, so the assignment is stable when rows are added or reordered. The hash
// (FNV-1a of the id's bytes, mixed with the seed by splitmix64) maps to
// u in [0, 1): u < test_fraction is test, u < test_fraction +
// validation_fraction is validation, the rest train. It is fixed arithmetic,
// identical on every platform. Fractions are clamped to [0, 1] (NaN is 0).
ROUTER_EXPORT void AssignSplits(Dataset* data, double test_fraction, double validation_fraction,
                  uint64_t seed);

}  // namespace router

#endif  // ROUTER_DATASET_H_
