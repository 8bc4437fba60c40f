// C helpers shared by the cgo preambles of this package (each Go file that
// calls C includes this). They are static inline: every file's C part gets
// its own copy, and an unused one costs nothing.
#ifndef ROUTER_GO_CGO_HELPERS_H_
#define ROUTER_GO_CGO_HELPERS_H_

#include <stdlib.h>
#include <string.h>
#include "router_c.h"

// librouter keeps the last error message per OS thread, and a goroutine may
// be on another thread by its next cgo call: so each fallible call goes
// through a wrapper that makes it and copies the message in one cgo call.
typedef struct {
  router_status_t status;
  char* message;  // malloc'ed, NULL on success
} go_result;

static inline go_result go_check(router_status_t status) {
  go_result result = {status, NULL};
  if (status != ROUTER_OK) result.message = strdup(router_last_error_message());
  return result;
}

static inline go_result go_create_from_dataset(const char* dataset, const char* vectors,
                                        const char* config, router_t** out) {
  return go_check(vectors == NULL
                      ? router_create_from_dataset(dataset, config, out)
                      : router_create_from_dataset_with_vectors(dataset, vectors, config, out));
}
static inline go_result go_load(const char* path, router_t** out) {
  return go_check(router_load(path, out));
}
static inline go_result go_save(const router_t* router, const char* path) {
  return go_check(router_save(router, path));
}
static inline go_result go_reload(router_t* router, const char* path) {
  return go_check(router_reload(router, path));
}
static inline go_result go_feedback(const router_t* router, uint64_t id, double score, double cost) {
  return go_check(router_feedback(router, id, score, cost));
}
static inline go_result go_feedback_vector(const router_t* router, const float* vector, size_t dim,
                                    const char* model, double score, double cost) {
  return go_check(router_feedback_vector(router, vector, dim, model, score, cost));
}
static inline go_result go_remove_model(router_t* router, const char* model) {
  return go_check(router_remove_model(router, model));
}
static inline go_result go_set_model_price(router_t* router, const char* model, double input,
                                    double output) {
  return go_check(router_set_model_price(router, model, input, output));
}
static inline go_result go_model_price(const router_t* router, const char* model, double* input,
                                      double* output) {
  return go_check(router_model_price(router, model, input, output));
}
static inline go_result go_record_cost(router_t* router, double expected, double realised) {
  return go_check(router_record_cost(router, expected, realised));
}
static inline go_result go_add_model(router_t* router, const char* profile, const float* vectors,
                              size_t count, size_t dim, const double* scores,
                              const double* costs) {
  return go_check(router_add_model(router, profile, vectors, count, dim, scores, costs));
}
static inline go_result go_set_model_available(router_t* router, const char* model, int32_t available) {
  return go_check(router_set_model_available(router, model, available));
}
static inline go_result go_set_policy(router_t* router, const char* policy) {
  return go_check(router_set_policy(router, policy));
}
static inline go_result go_calibrate_threshold(router_t* router, const float* vectors, size_t count,
                                        size_t dim, double strong_share, double* out) {
  return go_check(router_calibrate_threshold(router, vectors, count, dim, strong_share, out));
}

// A JSON text that a call writes into a caller's buffer (text, capacity,
// *needed), malloc'ed into *out. Other threads change what the text says
// (and so its size) between calls: retry until it fits.
typedef router_status_t (*go_json_writer)(const void* handle, char* text, size_t capacity,
                                          size_t* needed);
static inline go_result go_json(go_json_writer write, const void* handle, size_t capacity,
                                char** out) {
  for (;;) {
    char* text = malloc(capacity);
    if (text == NULL) {
      go_result result = {ROUTER_RESOURCE_EXHAUSTED, strdup("out of memory")};
      return result;
    }
    size_t needed = 0;
    router_status_t status = write(handle, text, capacity, &needed);
    if (status == ROUTER_OK && needed <= capacity) {
      *out = text;
      return go_check(status);
    }
    free(text);
    if (status != ROUTER_OK) return go_check(status);
    capacity = needed + 64;
  }
}

static inline router_status_t go_write_policy_state(const void* router, char* text,
                                                    size_t capacity, size_t* needed) {
  return router_policy_state_json((const router_t*)router, text, capacity, needed);
}
// The policy state JSON, malloc'ed into *out.
static inline go_result go_policy_state(const router_t* router, char** out) {
  return go_json(go_write_policy_state, router, 256, out);
}
static inline go_result go_sync_start(router_t* router, const char* options, router_sync_t** out) {
  return go_check(router_sync_start(router, options, out));
}
static inline go_result go_sync_now(router_sync_t* sync) { return go_check(router_sync_now(sync)); }
static inline go_result go_sync_retire(router_sync_t* sync) {
  return go_check(router_sync_retire(sync));
}
static inline go_result go_sync_fold(router_sync_t* sync, const char* replica_id) {
  return go_check(router_sync_fold(sync, replica_id));
}
static inline router_status_t go_write_sync_status(const void* sync, char* text,
                                                   size_t capacity, size_t* needed) {
  return router_sync_status_json((const router_sync_t*)sync, text, capacity, needed);
}
// The sync's status JSON, malloc'ed into *out.
static inline go_result go_sync_status(const router_sync_t* sync, char** out) {
  return go_json(go_write_sync_status, sync, 512, out);
}
static inline go_result go_dim(const router_t* router, int32_t* out) {
  return go_check(router_dim(router, out));
}
static inline go_result go_model_count(const router_t* router, int32_t* out) {
  return go_check(router_model_count(router, out));
}
static inline go_result go_model_name(const router_t* router, int32_t index, const char** out) {
  return go_check(router_model_name(router, index, out));
}
static inline go_result go_embed_text(const router_t* router, const char* text, float* out,
                               size_t capacity) {
  return go_check(router_embed_text(router, text, out, capacity));
}

// router_route_options_t built here, so its struct_size is this header's.
static inline router_route_options_t go_options(uint32_t flags, double lambda, double tau,
                                         const char* const* allowed, size_t allowed_count,
                                         const char* budget_class, const char* task) {
  router_route_options_t options;
  memset(&options, 0, sizeof options);
  options.struct_size = sizeof options;
  options.flags = flags;
  options.lambda = lambda;
  options.tau = tau;
  options.allowed_models = allowed;
  options.allowed_model_count = allowed_count;
  options.budget_class = budget_class;
  options.task = task;
  return options;
}
static inline go_result go_route_text_with(const router_t* router, const char* text, uint32_t flags,
                                    double lambda, double tau, const char* const* allowed,
                                    size_t allowed_count, const char* budget_class,
                                    const char* task, router_decision_t** out) {
  router_route_options_t options =
      go_options(flags, lambda, tau, allowed, allowed_count, budget_class, task);
  return go_check(router_route_text_with(router, text, &options, out));
}
static inline go_result go_route_vector_with(const router_t* router, const float* vector, size_t dim,
                                      int64_t input_tokens, uint32_t flags, double lambda,
                                      double tau, const char* const* allowed,
                                      size_t allowed_count, const char* budget_class,
                                      const char* task, router_decision_t** out) {
  router_route_options_t options =
      go_options(flags, lambda, tau, allowed, allowed_count, budget_class, task);
  return go_check(
      router_route_vector_with(router, vector, dim, input_tokens, &options, out));
}
static inline go_result go_route_batch(const router_t* router, const float* vectors, size_t count,
                                size_t dim, size_t stride, const int64_t* input_tokens,
                                int32_t* model_index, double* quality, double* cost) {
  return go_check(router_route_batch(router, vectors, count, dim, stride, input_tokens,
                                     model_index, quality, cost));
}

// A decision's figures in one cgo call; its accessors fail only on NULL.
typedef struct {
  const char* model;
  int32_t model_index;
  double quality;
  double cost_usd;
  int32_t fallback_count;
  uint64_t id;
} go_figures;

static inline router_status_t go_decision_figures(const router_decision_t* d, go_figures* out) {
  router_status_t status = router_decision_model(d, &out->model);
  if (status == ROUTER_OK) status = router_decision_model_index(d, &out->model_index);
  if (status == ROUTER_OK) status = router_decision_quality(d, &out->quality);
  if (status == ROUTER_OK) status = router_decision_cost_usd(d, &out->cost_usd);
  if (status == ROUTER_OK) status = router_decision_fallback_count(d, &out->fallback_count);
  if (status == ROUTER_OK) status = router_decision_id(d, &out->id);
  return status;
}

// The explanation (json == 0) or the JSON text, malloc'ed; NULL on failure.
static inline char* go_decision_text(const router_decision_t* d, int json) {
  router_status_t (*write)(const router_decision_t*, char*, size_t, size_t*) =
      json ? router_decision_json : router_decision_explain;
  size_t needed = 0;
  if (write(d, NULL, 0, &needed) != ROUTER_OK) return NULL;
  char* text = malloc(needed);
  if (text != NULL && write(d, text, needed, NULL) != ROUTER_OK) {
    free(text);
    text = NULL;
  }
  return text;
}

#endif  // ROUTER_GO_CGO_HELPERS_H_
