// The C ABI (router_c.h) over router::Pipeline. Every entry point clears the
// thread's last error, checks its pointers, and runs its body inside Guard(),
// which turns an absl::Status or any exception into a router_status_t
// (router_c_internal.h). State sync (router_sync_*) is in sync_c.cc.
#include "router_c.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "fmt/format.h"
#include "router/dataset.h"
#include "router/decision.h"
#include "router/live_pipeline.h"
#include "router/npy.h"
#include "router/pipeline.h"
#include "router/query.h"
#include "router/router.h"
#include "router/status.h"
#include "router/version.h"
#include "router_c_internal.h"

struct router_decision_s {
  router::Decision decision;
  std::vector<router::Candidate> fallbacks;  // decision.Fallbacks(), kept for borrowing
};

// The C values are frozen and must equal absl::StatusCode's.
#define ROUTER_C_CHECK_CODE(c_value, absl_code) \
  static_assert((c_value) == static_cast<int>(absl::StatusCode::absl_code), #c_value)
ROUTER_C_CHECK_CODE(ROUTER_OK, kOk);
ROUTER_C_CHECK_CODE(ROUTER_CANCELLED, kCancelled);
ROUTER_C_CHECK_CODE(ROUTER_UNKNOWN, kUnknown);
ROUTER_C_CHECK_CODE(ROUTER_INVALID_ARGUMENT, kInvalidArgument);
ROUTER_C_CHECK_CODE(ROUTER_DEADLINE_EXCEEDED, kDeadlineExceeded);
ROUTER_C_CHECK_CODE(ROUTER_NOT_FOUND, kNotFound);
ROUTER_C_CHECK_CODE(ROUTER_ALREADY_EXISTS, kAlreadyExists);
ROUTER_C_CHECK_CODE(ROUTER_PERMISSION_DENIED, kPermissionDenied);
ROUTER_C_CHECK_CODE(ROUTER_RESOURCE_EXHAUSTED, kResourceExhausted);
ROUTER_C_CHECK_CODE(ROUTER_FAILED_PRECONDITION, kFailedPrecondition);
ROUTER_C_CHECK_CODE(ROUTER_ABORTED, kAborted);
ROUTER_C_CHECK_CODE(ROUTER_OUT_OF_RANGE, kOutOfRange);
ROUTER_C_CHECK_CODE(ROUTER_UNIMPLEMENTED, kUnimplemented);
ROUTER_C_CHECK_CODE(ROUTER_INTERNAL, kInternal);
ROUTER_C_CHECK_CODE(ROUTER_UNAVAILABLE, kUnavailable);
ROUTER_C_CHECK_CODE(ROUTER_DATA_LOSS, kDataLoss);
ROUTER_C_CHECK_CODE(ROUTER_UNAUTHENTICATED, kUnauthenticated);
#undef ROUTER_C_CHECK_CODE

static_assert(ROUTER_C_VERSION_MAJOR == ROUTER_VERSION_MAJOR &&
                  ROUTER_C_VERSION_MINOR == ROUTER_VERSION_MINOR &&
                  ROUTER_C_VERSION_PATCH == ROUTER_VERSION_PATCH &&
                  ROUTER_C_VERSION_NUMBER == ROUTER_VERSION_NUMBER,
              "router_c.h and router/version.h disagree on the version");
static_assert(std::is_same_v<router_status_t, int32_t>);

namespace {

using router::capi::CopyOut;
using router::capi::Guard;
using router::capi::LastError;

// The rows a router is fitted on (Dataset::FitRows).
absl::StatusOr<router::Dataset> TrainingRows(router::Dataset data) {
  if (data.rows() == 0) return absl::InvalidArgumentError("the dataset has no rows");
  const std::vector<int64_t> rows = data.FitRows();
  if (rows.empty()) {
    return absl::InvalidArgumentError(
        fmt::format("the dataset has no rows with split \"train\" or no split (all {} rows are "
                    "validation or test)",
                    data.rows()));
  }
  if (static_cast<int64_t>(rows.size()) == data.rows()) return data;
  return data.Subset(rows);
}

absl::Status Create(const char* jsonl_path, const char* npy_path, const char* config_json,
                    router_t** out) {
  router::PipelineConfig config;
  if (config_json != nullptr && config_json[0] != '\0') {
    ROUTER_ASSIGN_OR_RETURN(config, router::ParsePipelineConfig(config_json));
  }
  ROUTER_ASSIGN_OR_RETURN(router::Dataset data, router::LoadJsonl(jsonl_path));
  if (npy_path != nullptr) {
    ROUTER_ASSIGN_OR_RETURN(router::NpyMatrix matrix, router::LoadNpy(npy_path));
    ROUTER_RETURN_IF_ERROR(router::AttachVectors(&data, std::move(matrix)));
  }
  ROUTER_ASSIGN_OR_RETURN(router::Dataset train, TrainingRows(std::move(data)));
  ROUTER_ASSIGN_OR_RETURN(std::unique_ptr<router::Pipeline> pipeline,
                          router::Pipeline::Fit(train, config));
  *out = new router_s(std::move(pipeline));
  return absl::OkStatus();
}

// Checks a query vector the way every route call does.
absl::Status CheckVector(const router::Pipeline& pipeline, const float* vector, size_t dim,
                         int64_t input_tokens) {
  if (dim != static_cast<size_t>(pipeline.dim())) {
    return absl::InvalidArgumentError(
        fmt::format("the vector has dimension {}, the router expects {}", dim, pipeline.dim()));
  }
  if (input_tokens < 0) {
    return absl::InvalidArgumentError(
        fmt::format("input_tokens must be >= 0, got {}", input_tokens));
  }
  return router::ValidateVector(absl::MakeConstSpan(vector, dim), pipeline.dim(), "the vector");
}

// The RequestOverrides a C caller's options describe (null options: none).
absl::Status ReadOptions(const router_route_options_t* options,
                         router::RequestOverrides* overrides) {
  if (options == nullptr) return absl::OkStatus();
  // Version 1 ended before `task`; a host built against its header passes
  // that size.
  constexpr size_t kVersion1Size = offsetof(router_route_options_t, task);
  constexpr size_t kVersion2Size = sizeof(router_route_options_t);
  if (options->struct_size != kVersion1Size && options->struct_size != kVersion2Size) {
    return absl::InvalidArgumentError(
        fmt::format("options->struct_size is {}; this librouter knows sizes {} and {} (set it "
                    "to sizeof(router_route_options_t))",
                    options->struct_size, kVersion1Size, kVersion2Size));
  }
  constexpr uint32_t kKnownFlags = ROUTER_OVERRIDE_LAMBDA | ROUTER_OVERRIDE_TAU;
  if ((options->flags & ~kKnownFlags) != 0) {
    return absl::InvalidArgumentError(
        fmt::format("options->flags has unknown bits: {}", options->flags & ~kKnownFlags));
  }
  if (options->flags & ROUTER_OVERRIDE_LAMBDA) overrides->lambda = options->lambda;
  if (options->flags & ROUTER_OVERRIDE_TAU) overrides->tau = options->tau;
  if (options->allowed_model_count > 0 && options->allowed_models == nullptr) {
    return absl::InvalidArgumentError(
        "options->allowed_models is NULL but allowed_model_count is not 0");
  }
  for (size_t i = 0; i < options->allowed_model_count; ++i) {
    if (options->allowed_models[i] == nullptr) {
      return absl::InvalidArgumentError(fmt::format("options->allowed_models[{}] is NULL", i));
    }
    overrides->allowed_models.emplace_back(options->allowed_models[i]);
  }
  if (options->budget_class != nullptr) overrides->budget_class = options->budget_class;
  if (options->struct_size >= kVersion2Size && options->task != nullptr) {
    overrides->task = options->task;
  }
  return absl::OkStatus();
}

}  // namespace

extern "C" {

uint32_t router_abi_version(void) { return ROUTER_ABI_VERSION; }

uint32_t router_version_number(void) { return ROUTER_C_VERSION_NUMBER; }

const char* router_version_string(void) { return router::VersionString(); }

const char* router_simd_target(void) { return router::SimdTargetName(); }

const char* router_status_name(router_status_t status) {
  switch (status) {
    case ROUTER_OK: return "ROUTER_OK";
    case ROUTER_CANCELLED: return "ROUTER_CANCELLED";
    case ROUTER_UNKNOWN: return "ROUTER_UNKNOWN";
    case ROUTER_INVALID_ARGUMENT: return "ROUTER_INVALID_ARGUMENT";
    case ROUTER_DEADLINE_EXCEEDED: return "ROUTER_DEADLINE_EXCEEDED";
    case ROUTER_NOT_FOUND: return "ROUTER_NOT_FOUND";
    case ROUTER_ALREADY_EXISTS: return "ROUTER_ALREADY_EXISTS";
    case ROUTER_PERMISSION_DENIED: return "ROUTER_PERMISSION_DENIED";
    case ROUTER_RESOURCE_EXHAUSTED: return "ROUTER_RESOURCE_EXHAUSTED";
    case ROUTER_FAILED_PRECONDITION: return "ROUTER_FAILED_PRECONDITION";
    case ROUTER_ABORTED: return "ROUTER_ABORTED";
    case ROUTER_OUT_OF_RANGE: return "ROUTER_OUT_OF_RANGE";
    case ROUTER_UNIMPLEMENTED: return "ROUTER_UNIMPLEMENTED";
    case ROUTER_INTERNAL: return "ROUTER_INTERNAL";
    case ROUTER_UNAVAILABLE: return "ROUTER_UNAVAILABLE";
    case ROUTER_DATA_LOSS: return "ROUTER_DATA_LOSS";
    case ROUTER_UNAUTHENTICATED: return "ROUTER_UNAUTHENTICATED";
    default: return "ROUTER_UNKNOWN_STATUS";
  }
}

const char* router_last_error_message(void) { return LastError().c_str(); }

router_status_t router_create_from_dataset(const char* dataset_jsonl_path,
                                           const char* config_json, router_t** out) {
  if (out != nullptr) *out = nullptr;
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(dataset_jsonl_path);
    ROUTER_C_REQUIRE(out);
    return Create(dataset_jsonl_path, nullptr, config_json, out);
  });
}

router_status_t router_create_from_dataset_with_vectors(const char* dataset_jsonl_path,
                                                        const char* vectors_npy_path,
                                                        const char* config_json,
                                                        router_t** out) {
  if (out != nullptr) *out = nullptr;
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(dataset_jsonl_path);
    ROUTER_C_REQUIRE(vectors_npy_path);
    ROUTER_C_REQUIRE(out);
    return Create(dataset_jsonl_path, vectors_npy_path, config_json, out);
  });
}

void router_free(router_t* router) { delete router; }

router_status_t router_dim(const router_t* router, int32_t* out_dim) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(router);
    ROUTER_C_REQUIRE(out_dim);
    *out_dim = router->live.Snapshot()->dim();
    return absl::OkStatus();
  });
}

router_status_t router_model_count(const router_t* router, int32_t* out_count) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(router);
    ROUTER_C_REQUIRE(out_count);
    *out_count = router->live.Snapshot()->catalog().size();
    return absl::OkStatus();
  });
}

router_status_t router_model_name(const router_t* router, int32_t index,
                                  const char** out_name) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(router);
    ROUTER_C_REQUIRE(out_name);
    const auto snapshot = router->live.Snapshot();
    const router::Catalog& catalog = snapshot->catalog();
    if (index < 0 || index >= catalog.size()) {
      return absl::OutOfRangeError(
          fmt::format("model index {} is out of range [0, {})", index, catalog.size()));
    }
    std::lock_guard lock(router->names_mutex);
    *out_name = router->names.insert(catalog.at(index).name).first->c_str();
    return absl::OkStatus();
  });
}

router_status_t router_embed_text(const router_t* router, const char* text, float* out_vector,
                                  size_t capacity) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(router);
    ROUTER_C_REQUIRE(text);
    ROUTER_C_REQUIRE(out_vector);
    const auto snapshot = router->live.Snapshot();
    const size_t dim = static_cast<size_t>(snapshot->dim());
    if (capacity < dim) {
      return absl::InvalidArgumentError(fmt::format(
          "the output has room for {} floats, the router's dimension is {}", capacity, dim));
    }
    return snapshot->Embed(text, absl::MakeSpan(out_vector, dim));
  });
}

router_status_t router_route_text(const router_t* router, const char* text,
                                  router_decision_t** out) {
  return router_route_text_with(router, text, nullptr, out);
}

router_status_t router_route_text_with(const router_t* router, const char* text,
                                       const router_route_options_t* options,
                                       router_decision_t** out) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(router);
    ROUTER_C_REQUIRE(text);
    ROUTER_C_REQUIRE(out);
    router::RequestOverrides overrides;
    ROUTER_RETURN_IF_ERROR(ReadOptions(options, &overrides));
    auto handle = std::make_unique<router_decision_s>();
    ROUTER_RETURN_IF_ERROR(router->live.RouteText(
        text, &handle->decision, overrides.empty() ? nullptr : &overrides));
    handle->fallbacks = handle->decision.Fallbacks();
    *out = handle.release();
    return absl::OkStatus();
  });
}

router_status_t router_route_vector(const router_t* router, const float* vector, size_t dim,
                                    int64_t input_tokens, router_decision_t** out) {
  return router_route_vector_with(router, vector, dim, input_tokens, nullptr, out);
}

router_status_t router_route_vector_with(const router_t* router, const float* vector,
                                         size_t dim, int64_t input_tokens,
                                         const router_route_options_t* options,
                                         router_decision_t** out) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(router);
    ROUTER_C_REQUIRE(vector);
    ROUTER_C_REQUIRE(out);
    const auto snapshot = router->live.Snapshot();
    const router::Pipeline& pipeline = *snapshot;
    ROUTER_RETURN_IF_ERROR(CheckVector(pipeline, vector, dim, input_tokens));
    router::RequestOverrides overrides;
    ROUTER_RETURN_IF_ERROR(ReadOptions(options, &overrides));
    router::Query query;
    query.vector = absl::MakeConstSpan(vector, dim);
    query.input_tokens = input_tokens;
    query.overrides = overrides.empty() ? nullptr : &overrides;
    auto handle = std::make_unique<router_decision_s>();
    ROUTER_RETURN_IF_ERROR(router->live.Route(query, &handle->decision));
    handle->fallbacks = handle->decision.Fallbacks();
    *out = handle.release();
    return absl::OkStatus();
  });
}

router_status_t router_route_batch(const router_t* router, const float* vectors, size_t count,
                                   size_t dim, size_t stride_floats,
                                   const int64_t* input_tokens, int32_t* out_model_index,
                                   double* out_quality, double* out_cost_usd) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(router);
    const auto snapshot = router->live.Snapshot();
    const router::Pipeline& pipeline = *snapshot;
    if (dim != static_cast<size_t>(pipeline.dim())) {
      return absl::InvalidArgumentError(
          fmt::format("dim is {}, the router expects {}", dim, pipeline.dim()));
    }
    if (stride_floats < dim) {
      return absl::InvalidArgumentError(
          fmt::format("stride_floats ({}) is less than dim ({})", stride_floats, dim));
    }
    if (count == 0) return absl::OkStatus();
    ROUTER_RETURN_IF_ERROR(router::CheckLimit("a batch", static_cast<int64_t>(
                                                  std::min<size_t>(count, std::numeric_limits<int64_t>::max())),
                                              pipeline.config().limits.max_batch_size,
                                              "max_batch_size"));
    ROUTER_C_REQUIRE(vectors);
    ROUTER_C_REQUIRE(out_model_index);
    if (count - 1 > (std::numeric_limits<size_t>::max() - dim) / stride_floats) {
      return absl::InvalidArgumentError("count * stride_floats overflows");
    }
    router::Decision decision;
    for (size_t i = 0; i < count; ++i) {
      const float* vector = vectors + i * stride_floats;
      const int64_t tokens = input_tokens != nullptr ? input_tokens[i] : 0;
      absl::Status status = CheckVector(pipeline, vector, dim, tokens);
      if (status.ok()) {
        router::Query query;
        query.vector = absl::MakeConstSpan(vector, dim);
        query.input_tokens = tokens;
        status = pipeline.Route(query, &decision);
      }
      if (!status.ok()) {
        return absl::Status(status.code(),
                            fmt::format("query {}: {}", i, router::StdView(status.message())));
      }
      out_model_index[i] = decision.chosen.model_index;
      if (out_quality != nullptr) out_quality[i] = decision.chosen.predicted_quality;
      if (out_cost_usd != nullptr) out_cost_usd[i] = decision.chosen.expected_cost_usd;
    }
    return absl::OkStatus();
  });
}

router_status_t router_save(const router_t* router, const char* path) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(router);
    ROUTER_C_REQUIRE(path);
    return router->live.Snapshot()->Save(path);
  });
}

router_status_t router_load(const char* path, router_t** out) {
  if (out != nullptr) *out = nullptr;
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(path);
    ROUTER_C_REQUIRE(out);
    ROUTER_ASSIGN_OR_RETURN(std::unique_ptr<router::Pipeline> pipeline,
                            router::Pipeline::Load(path));
    *out = new router_s(std::move(pipeline));
    return absl::OkStatus();
  });
}

router_status_t router_reload(router_t* router, const char* path) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(router);
    ROUTER_C_REQUIRE(path);
    return router->live.Reload(path);
  });
}

router_status_t router_decision_id(const router_decision_t* decision, uint64_t* out_id) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(decision);
    ROUTER_C_REQUIRE(out_id);
    *out_id = decision->decision.id;
    return absl::OkStatus();
  });
}

router_status_t router_feedback(const router_t* router, uint64_t decision_id, double score,
                                double cost_usd) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(router);
    return router->live.Feedback(decision_id, score, cost_usd);
  });
}

router_status_t router_feedback_vector(const router_t* router, const float* vector, size_t dim,
                                       const char* model, double score, double cost_usd) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(router);
    ROUTER_C_REQUIRE(vector);
    ROUTER_C_REQUIRE(model);
    router::Feedback feedback;
    feedback.vector = absl::MakeConstSpan(vector, dim);
    feedback.model = model;
    feedback.score = score;
    feedback.cost_usd = cost_usd;
    return router->live.Observe(feedback);
  });
}

router_status_t router_remove_model(router_t* router, const char* model) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(router);
    ROUTER_C_REQUIRE(model);
    return router->live.RemoveModel(model);
  });
}

router_status_t router_add_model(router_t* router, const char* profile_json,
                                 const float* vectors, size_t count, size_t dim,
                                 const double* scores, const double* costs_usd) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(router);
    ROUTER_C_REQUIRE(profile_json);
    ROUTER_ASSIGN_OR_RETURN(const router::Profile profile, router::ParseProfile(profile_json));
    if (count > 0) {
      ROUTER_C_REQUIRE(vectors);
      ROUTER_C_REQUIRE(scores);
      // Refused before the examples are copied (WithModel checks it again
      // for C++ callers, who arrive with the copy made).
      ROUTER_RETURN_IF_ERROR(router::CheckLimit(
          "a set of examples",
          static_cast<int64_t>(std::min<size_t>(count, std::numeric_limits<int64_t>::max())),
          router->live.Snapshot()->config().limits.max_batch_size, "max_batch_size"));
    }
    // A count or dimension beyond any real set would overflow count * dim.
    const size_t dim_checked = count > 0 ? dim : 0;
    if (count > 0 && (dim == 0 || dim > static_cast<size_t>(std::numeric_limits<int>::max()) ||
                      count > std::numeric_limits<size_t>::max() / dim)) {
      return absl::InvalidArgumentError(
          fmt::format("examples of dimension {} and count {} are out of range", dim, count));
    }
    ROUTER_ASSIGN_OR_RETURN(
        const router::Dataset labelled,
        router::LabelledExamples(profile.name,
                                 absl::MakeConstSpan(vectors, count * dim_checked),
                                 static_cast<int>(dim_checked), absl::MakeConstSpan(scores, count),
                                 costs_usd != nullptr ? absl::MakeConstSpan(costs_usd, count)
                                                      : absl::Span<const double>()));
    return router->live.AddModel(profile, labelled);
  });
}

router_status_t router_set_model_price(router_t* router, const char* model,
                                       double input_usd_per_mtok, double output_usd_per_mtok) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(router);
    ROUTER_C_REQUIRE(model);
    return router->live.SetPrice(model, input_usd_per_mtok, output_usd_per_mtok);
  });
}

router_status_t router_model_price(const router_t* router, const char* model,
                                   double* out_input_usd_per_mtok,
                                   double* out_output_usd_per_mtok) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(router);
    ROUTER_C_REQUIRE(model);
    ROUTER_C_REQUIRE(out_input_usd_per_mtok);
    ROUTER_C_REQUIRE(out_output_usd_per_mtok);
    const auto snapshot = router->live.Snapshot();
    ROUTER_ASSIGN_OR_RETURN(const int index, snapshot->catalog().Find(model));
    const router::Profile& profile = snapshot->catalog().at(index);
    *out_input_usd_per_mtok = profile.input_usd_per_mtok;
    *out_output_usd_per_mtok = profile.output_usd_per_mtok;
    return absl::OkStatus();
  });
}

router_status_t router_record_cost(router_t* router, double expected_cost_usd,
                                   double realised_cost_usd) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(router);
    return router->live.RecordRealisedCost(expected_cost_usd, realised_cost_usd);
  });
}

router_status_t router_set_model_available(router_t* router, const char* model,
                                           int32_t available) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(router);
    ROUTER_C_REQUIRE(model);
    return router->live.SetAvailable(model, available != 0);
  });
}

router_status_t router_set_policy(router_t* router, const char* policy_json) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(router);
    ROUTER_C_REQUIRE(policy_json);
    ROUTER_ASSIGN_OR_RETURN(router::PolicyConfig policy, router::ParsePolicyConfig(policy_json));
    return router->live.SetPolicy(policy);
  });
}

router_status_t router_calibrate_threshold(router_t* router, const float* vectors, size_t count,
                                           size_t dim, double strong_share,
                                           double* out_threshold) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(router);
    ROUTER_C_REQUIRE(vectors);
    if (count == 0) return absl::InvalidArgumentError("count must be >= 1");
    const auto snapshot = router->live.Snapshot();
    std::vector<router::Query> sample(count);
    for (size_t i = 0; i < count; ++i) {
      ROUTER_RETURN_IF_ERROR(router::Annotate(CheckVector(*snapshot, vectors + i * dim, dim, 0),
                                              fmt::format("query {}", i)));
      sample[i].vector = absl::MakeConstSpan(vectors + i * dim, dim);
    }
    ROUTER_ASSIGN_OR_RETURN(const double threshold,
                            router->live.CalibrateThreshold(sample, strong_share));
    if (out_threshold != nullptr) *out_threshold = threshold;
    return absl::OkStatus();
  });
}

router_status_t router_policy_state_json(const router_t* router, char* buf, size_t capacity,
                                         size_t* out_needed) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(router);
    if (capacity > 0) ROUTER_C_REQUIRE(buf);
    CopyOut(router->live.Snapshot()->PolicyStateJson(), buf, capacity, out_needed);
    return absl::OkStatus();
  });
}

router_status_t router_decision_model(const router_decision_t* decision,
                                      const char** out_name) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(decision);
    ROUTER_C_REQUIRE(out_name);
    *out_name = decision->decision.chosen.model.c_str();
    return absl::OkStatus();
  });
}

router_status_t router_decision_model_index(const router_decision_t* decision,
                                            int32_t* out_index) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(decision);
    ROUTER_C_REQUIRE(out_index);
    *out_index = decision->decision.chosen.model_index;
    return absl::OkStatus();
  });
}

router_status_t router_decision_quality(const router_decision_t* decision,
                                        double* out_quality) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(decision);
    ROUTER_C_REQUIRE(out_quality);
    *out_quality = decision->decision.chosen.predicted_quality;
    return absl::OkStatus();
  });
}

router_status_t router_decision_cost_usd(const router_decision_t* decision,
                                         double* out_cost_usd) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(decision);
    ROUTER_C_REQUIRE(out_cost_usd);
    *out_cost_usd = decision->decision.chosen.expected_cost_usd;
    return absl::OkStatus();
  });
}

router_status_t router_decision_fallback_count(const router_decision_t* decision,
                                               int32_t* out_count) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(decision);
    ROUTER_C_REQUIRE(out_count);
    *out_count = static_cast<int32_t>(decision->fallbacks.size());
    return absl::OkStatus();
  });
}

router_status_t router_decision_fallback(const router_decision_t* decision, int32_t index,
                                         const char** out_name) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(decision);
    ROUTER_C_REQUIRE(out_name);
    const size_t count = decision->fallbacks.size();
    if (index < 0 || static_cast<size_t>(index) >= count) {
      return absl::OutOfRangeError(
          fmt::format("fallback index {} is out of range [0, {})", index, count));
    }
    *out_name = decision->fallbacks[index].model.c_str();
    return absl::OkStatus();
  });
}

router_status_t router_decision_explain(const router_decision_t* decision, char* buf,
                                        size_t capacity, size_t* out_needed) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(decision);
    if (capacity > 0) ROUTER_C_REQUIRE(buf);
    CopyOut(decision->decision.Explain(), buf, capacity, out_needed);
    return absl::OkStatus();
  });
}

router_status_t router_decision_json(const router_decision_t* decision, char* buf,
                                     size_t capacity, size_t* out_needed) {
  return Guard(__func__, [&](const char* fn) -> absl::Status {
    ROUTER_C_REQUIRE(decision);
    if (capacity > 0) ROUTER_C_REQUIRE(buf);
    CopyOut(decision->decision.ToJson(), buf, capacity, out_needed);
    return absl::OkStatus();
  });
}

void router_decision_free(router_decision_t* decision) { delete decision; }

}  // extern "C"
