#include "data_input.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include "fmt/format.h"
#include "router/npy.h"
#include "parallel.h"
#include "progress.h"
#include "router/status.h"

namespace router::cli {
namespace {

// ParseJsonl's notion of a blank line, which it skips without counting a row.
bool IsBlank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

const char* SplitName(Split split) {
  switch (split) {
    case Split::kTrain: return "train";
    case Split::kValidation: return "validation";
    case Split::kTest: return "test";
    default: return "unassigned";
  }
}

}  // namespace

absl::StatusOr<std::string> ReadTextFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    const int error = errno;
    const std::string message = fmt::format("{}: cannot open: {}", path, std::strerror(error));
    return error == ENOENT ? absl::NotFoundError(message) : absl::InvalidArgumentError(message);
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return absl::DataLossError(fmt::format("{}: read error", path));
  return text.str();
}

absl::StatusOr<InputData> LoadInput(const std::string& path, const std::string& vectors_path) {
  InputData input;
  input.path = path;
  ROUTER_ASSIGN_OR_RETURN(const std::string text, ReadTextFile(path));
  ROUTER_ASSIGN_OR_RETURN(input.data, ParseJsonl(text, path));
  int64_t line_number = 0;
  for (size_t pos = 0; pos < text.size();) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    ++line_number;
    if (!IsBlank(std::string_view(text).substr(pos, end - pos))) {
      input.line_of_row.push_back(line_number);
    }
    pos = end + 1;
  }
  if (static_cast<int64_t>(input.line_of_row.size()) != input.data.rows()) {
    return absl::InternalError(fmt::format("{}: counted {} rows, the parser {}", path,
                                           input.line_of_row.size(), input.data.rows()));
  }
  if (!vectors_path.empty()) {
    ROUTER_ASSIGN_OR_RETURN(NpyMatrix matrix, LoadNpy(vectors_path));
    ROUTER_RETURN_IF_ERROR(Annotate(AttachVectors(&input.data, std::move(matrix)),
                                    fmt::format("{} (vectors for {})", vectors_path, path)));
  }
  return input;
}

absl::Status RequireCompleteRows(const InputData& input, absl::Span<const int64_t> rows) {
  const Dataset& d = input.data;
  for (int64_t r : rows) {
    for (int m = 0; m < d.num_models(); ++m) {
      const bool no_score = std::isnan(d.score(r, m)), no_cost = std::isnan(d.cost(r, m));
      if (!no_score && !no_cost) continue;
      return absl::InvalidArgumentError(fmt::format(
          "{}:{}: row '{}' has no {} for model '{}', which other rows have; evaluation "
          "needs every model's score and cost on every evaluated row",
          input.path, input.line_of_row[r], d.ids[r], no_score ? "score" : "cost",
          d.model_names[m]));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<PipelineConfig> LoadConfig(const std::string& path) {
  if (path.empty()) return PipelineConfig{};
  ROUTER_ASSIGN_OR_RETURN(const std::string text, ReadTextFile(path));
  auto config = ParsePipelineConfig(text);
  if (!config.ok()) return Annotate(config.status(), path);
  return config;
}

absl::StatusOr<Split> ParseSplitName(std::string_view name) {
  if (name == "train") return Split::kTrain;
  if (name == "validation" || name == "val") return Split::kValidation;
  if (name == "test") return Split::kTest;
  return absl::InvalidArgumentError(
      fmt::format("unknown split '{}' (expected train, validation or test)", name));
}

absl::StatusOr<TrainEvalRows> SplitTrainEval(InputData* input, Split eval_split,
                                             bool drop_eval_prompts_in_train) {
  Dataset& d = input->data;
  TrainEvalRows out;
  for (Split s : d.splits) out.assigned += s == Split::kUnassigned ? 1 : 0;
  if (out.assigned > 0) AssignSplits(&d, 0.2, 0.1, /*seed=*/0);
  out.train = d.FitRows();  // the train split: no row is unset any more
  if (eval_split == Split::kTrain) {
    return absl::InvalidArgumentError("cannot evaluate on the training split");
  }
  std::unordered_set<std::string_view> train_prompts;
  if (drop_eval_prompts_in_train) {
    for (int64_t r : out.train) train_prompts.insert(d.prompts[r]);
  }
  for (int64_t r : d.RowsOf(eval_split)) {
    if (train_prompts.contains(d.prompts[r])) {
      ++out.dropped_duplicates;
    } else {
      out.eval.push_back(r);
    }
  }
  if (out.train.empty()) {
    return absl::InvalidArgumentError(fmt::format("{}: no rows in the train split", input->path));
  }
  if (out.eval.empty()) {
    return absl::InvalidArgumentError(fmt::format("{}: no rows to evaluate in the {} split{}",
                                                  input->path, SplitName(eval_split),
                                                  out.dropped_duplicates > 0
                                                      ? " (all their prompts occur in train)"
                                                      : ""));
  }
  return out;
}

absl::Status EmbedAll(const TextFeaturizer& featurizer, const std::string& what, int threads,
                      bool quiet, Dataset* data) {
  data->dim = featurizer.dim();
  data->vectors.assign(static_cast<size_t>(data->rows()) * data->dim, 0.0f);
  Progress progress("featurizing " + what, data->rows(), !quiet);
  return ParallelFor(data->rows(), 32, threads, &progress, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      ROUTER_RETURN_IF_ERROR(Annotate(
          featurizer.Embed(data->prompts[r],
                           absl::MakeSpan(data->vectors.data() + r * data->dim, data->dim)),
          fmt::format("embedding row '{}'", data->ids[r])));
    }
    return absl::OkStatus();
  });
}

}  // namespace router::cli
