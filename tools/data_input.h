// Reading the user's files for the commands: routing data (JSONL plus
// optional .npy vectors) with each row's line number, so that every later
// complaint about a row can name file:line; the config; and the train /
// evaluation split.
#ifndef ROUTER_TOOLS_DATA_INPUT_H_
#define ROUTER_TOOLS_DATA_INPUT_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "router/dataset.h"
#include "router/pipeline.h"
#include "router/text_featurizer.h"

namespace router::cli {

struct InputData {
  Dataset data;
  std::string path;
  std::vector<int64_t> line_of_row;  // 1-based line in `path` of each row
};

// The whole file; NotFound (or the errno's code) with a message naming it.
absl::StatusOr<std::string> ReadTextFile(const std::string& path);

// Reads JSONL routing data and, when `vectors_path` is not empty, attaches
// the .npy matrix (one row per JSONL row). Errors name the file and line.
absl::StatusOr<InputData> LoadInput(const std::string& path, const std::string& vectors_path);

// InvalidArgument naming "file:line" of the first of `rows` that lacks a
// score or a cost for a model other rows have: evaluation compares every
// model on every row.
absl::Status RequireCompleteRows(const InputData& input, absl::Span<const int64_t> rows);

// A config file's PipelineConfig (defaults when `path` is empty); errors are
// prefixed with the path.
absl::StatusOr<PipelineConfig> LoadConfig(const std::string& path);

// "train", "validation" (or "val"), "test".
absl::StatusOr<Split> ParseSplitName(std::string_view name);

struct TrainEvalRows {
  std::vector<int64_t> train;
  std::vector<int64_t> eval;
  int64_t dropped_duplicates = 0;  // eval rows whose prompt occurs in train
  int64_t assigned = 0;            // rows that had no split and got one
};

// The training rows (split "train") and the rows of `eval_split`. Rows
// without a split are first given one by AssignSplits (20% test, 10%
// validation, seed 0). With `drop_eval_prompts_in_train`, evaluation rows
// whose prompt text also occurs in a training row are left out, so that the
// figures measure generalisation rather than recall. Fails when either side
// ends up empty.
absl::StatusOr<TrainEvalRows> SplitTrainEval(InputData* input, Split eval_split,
                                             bool drop_eval_prompts_in_train);

// Embeds every prompt of `data` into its vectors with `featurizer` on
// `threads` threads, showing progress as "featurizing <what>" unless `quiet`.
absl::Status EmbedAll(const TextFeaturizer& featurizer, const std::string& what, int threads,
                      bool quiet, Dataset* data);

}  // namespace router::cli

#endif  // ROUTER_TOOLS_DATA_INPUT_H_
