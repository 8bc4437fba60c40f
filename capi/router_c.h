/*
 * router_c.h: the stable C ABI of librouter (ABI version 1).
 *
 * ===========================================================================
 * Introduction
 * ===========================================================================
 *
 * librouter decides, for each prompt, which LLM should answer it, trading
 * predicted quality against cost. This header is its C interface: plain C99,
 * usable from C, C++, Python ctypes, Go cgo and Rust FFI. It is the reference
 * documentation of the ABI; docs/c-api.md is a short overview of it.
 *
 *   router_t* router = NULL;
 *   if (router_create_from_dataset("queries.jsonl", "{\"policy\": {\"lambda\": 2000}}",
 *                                  &router) != ROUTER_OK) {
 *     fprintf(stderr, "%s\n", router_last_error_message());
 *     return 1;
 *   }
 *   router_decision_t* decision = NULL;
 *   if (router_route_text(router, "Fix this segfault in my C code", &decision) == ROUTER_OK) {
 *     const char* model = NULL;
 *     router_decision_model(decision, &model);
 *     printf("send it to %s\n", model);
 *     router_decision_free(decision);
 *   }
 *   router_free(router);
 *
 * ===========================================================================
 * Conventions (they hold for every function below unless it says otherwise)
 * ===========================================================================
 *
 * Handles. Objects are opaque, typed handles (router_t, router_decision_t,
 *   router_sync_t). Each has one way to be made and one matching *_free
 *   function (for a router_sync_t, router_sync_stop, which also stops it);
 *   every *_free accepts NULL and then does nothing.
 *
 * Status. Every call that can fail returns a router_status_t: ROUTER_OK (0)
 *   on success, otherwise one of the ROUTER_* codes below. Their values equal
 *   absl::StatusCode's and are frozen: a value is never renumbered or reused.
 *   Results come back through out-parameters (named out_* or out), which are
 *   written only on success; on failure they keep whatever the caller put in
 *   them (the functions that make a handle, router_create_*, router_load
 *   and router_sync_start, are the one exception: they set *out to NULL on
 *   failure, so a failed create never leaves a stale handle).
 *
 * Error messages. router_last_error_message() returns the message of the last
 *   failed call made on the calling thread, e.g.
 *   "queries.jsonl:17: 'scores' must be an object". Every function that returns
 *   a router_status_t clears the message when it starts, so after a
 *   successful call it is "". Functions that cannot fail (router_free,
 *   router_status_name, the version functions, ...) leave it alone.
 *
 * Exceptions and output. No C++ exception ever leaves the library: an
 *   unexpected exception becomes ROUTER_INTERNAL (its what() as the message)
 *   or ROUTER_UNKNOWN. The library never writes to stdout or stderr.
 *
 * NULL. A NULL pointer where the documentation does not allow one gives
 *   ROUTER_INVALID_ARGUMENT with a message naming the argument.
 *
 * Strings. Strings passed in are NUL-terminated UTF-8 and are only read during
 *   the call. Strings returned as `const char*` are borrowed: the library owns
 *   them and each function says how long they stay valid; never free them.
 *   Longer text (an explanation, JSON) is copied into a buffer the caller owns,
 *   snprintf-style: pass the buffer and its capacity, get the size needed.
 *
 * Threads. A fitted router is immutable: every function taking a
 *   `const router_t*` may be called from many threads at once on the same
 *   router. Creating and freeing a router must not overlap any other use of
 *   that router. Decisions belong to the caller; a decision may be read from
 *   several threads at once and freed from any thread, once, after its last
 *   use. The last-error message is per thread (Go callers: read it inside the
 *   same cgo call, since goroutines move between OS threads).
 *
 * Versions. Three layers: the library version (ROUTER_C_VERSION_* macros and
 *   router_version_number()/router_version_string()); the ABI version
 *   (ROUTER_ABI_VERSION and router_abi_version(), also the shared library's
 *   SONAME major, librouter_c.so.1); and, separately, the format version of
 *   saved router files. Compare the macros with the run-time values to catch
 *   a header/library mismatch.
 */
#ifndef ROUTER_C_H_
#define ROUTER_C_H_

#include <stddef.h> /* size_t */
#include <stdint.h> /* int32_t, int64_t, uint32_t */

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------
 * Export macro
 * ---------------------------------------------------------------------------
 * ROUTER_API marks the functions librouter_c exports. The library is built
 * with hidden visibility and a linker version script, so only router_*
 * symbols are exported. On Windows, define ROUTER_C_STATIC when linking a
 * static router_c; ROUTER_C_BUILD is defined only while building the library.
 */
#if defined(_WIN32) || defined(__CYGWIN__)
#  if defined(ROUTER_C_BUILD)
#    define ROUTER_API __declspec(dllexport)
#  elif defined(ROUTER_C_STATIC)
#    define ROUTER_API
#  else
#    define ROUTER_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__) && __GNUC__ >= 4
#  define ROUTER_API __attribute__((visibility("default")))
#else
#  define ROUTER_API
#endif

/* ---------------------------------------------------------------------------
 * Versions
 * ------------------------------------------------------------------------- */

/* The library version this header belongs to (equal to the C++ library's
 * ROUTER_VERSION_* in router/version.h). */
#define ROUTER_C_VERSION_MAJOR 0
#define ROUTER_C_VERSION_MINOR 1
#define ROUTER_C_VERSION_PATCH 0
#define ROUTER_C_VERSION_NUMBER                                      \
  (ROUTER_C_VERSION_MAJOR * 10000 + ROUTER_C_VERSION_MINOR * 100 + \
   ROUTER_C_VERSION_PATCH)

/* The ABI version: raised only when a change breaks existing binaries (a
 * function removed or its meaning changed). Adding functions keeps it. */
#define ROUTER_ABI_VERSION 1

/**
 * @brief  The ABI version of the linked library (ROUTER_ABI_VERSION it was
 *         built with). A host built against this header should check
 *         router_abi_version() == ROUTER_ABI_VERSION once at start-up.
 * @return The ABI version, e.g. 1.
 * Thread-safe; never fails; does not touch the last-error message.
 */
ROUTER_API uint32_t router_abi_version(void);

/**
 * @brief  The version of the linked library as a number,
 *         MAJOR * 10000 + MINOR * 100 + PATCH (0.1.0 -> 100), comparable with
 *         ROUTER_C_VERSION_NUMBER.
 * Thread-safe; never fails; does not touch the last-error message.
 */
ROUTER_API uint32_t router_version_number(void);

/**
 * @brief  The version of the linked library as "MAJOR.MINOR.PATCH".
 * @return A static string; never NULL, never to be freed.
 * Thread-safe; never fails; does not touch the last-error message.
 */
ROUTER_API const char* router_version_string(void);

/**
 * @brief  The instruction set the library's SIMD kernels (featurizer, kNN, LinUCB)
 *         chose at run time for this CPU, as Highway names it: "AVX3"
 *         (AVX-512), "AVX3_DL", "AVX2", "SSE4", "SSSE3", "NEON", "SVE", ...,
 *         or "EMU128" / "SCALAR" (no SIMD beyond the baseline). The build
 *         targets no CPU in particular, so this is what to quote in a
 *         performance report. Names a newer Highway adds may appear; treat
 *         the value as text to show, not as a closed enum.
 * @return A static string; never NULL, never to be freed; the same for the
 *         life of the process.
 * Thread-safe; never fails; does not touch the last-error message.
 */
ROUTER_API const char* router_simd_target(void);

/* ---------------------------------------------------------------------------
 * Status codes and errors
 * ---------------------------------------------------------------------------
 * router_status_t is an int32_t, not a C enum, so its size is fixed across
 * compilers. The values equal absl::StatusCode's and are frozen: a code is
 * never renumbered, and a removed code's value is never reused. Most failures
 * are INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION or OUT_OF_RANGE; I/O
 * errors map errno (e.g. PERMISSION_DENIED); out of memory is
 * RESOURCE_EXHAUSTED. Treat any non-zero value as a failure, including codes
 * this list does not have yet.
 */
typedef int32_t router_status_t;

#define ROUTER_OK 0                   /* success */
#define ROUTER_CANCELLED 1            /* the operation was cancelled */
#define ROUTER_UNKNOWN 2              /* an unknown error (e.g. a non-std exception) */
#define ROUTER_INVALID_ARGUMENT 3     /* a bad argument: NULL, wrong size, NaN, bad JSON */
#define ROUTER_DEADLINE_EXCEEDED 4    /* a deadline passed */
#define ROUTER_NOT_FOUND 5            /* a file or a model does not exist */
#define ROUTER_ALREADY_EXISTS 6       /* e.g. a model name is taken */
#define ROUTER_PERMISSION_DENIED 7    /* e.g. a file cannot be read */
#define ROUTER_RESOURCE_EXHAUSTED 8   /* out of memory or a size limit */
#define ROUTER_FAILED_PRECONDITION 9  /* wrong state: e.g. text routing without an embedder,
                                         or every model excluded by the constraints */
#define ROUTER_ABORTED 10             /* aborted, e.g. by a concurrent change */
#define ROUTER_OUT_OF_RANGE 11        /* an index past the end */
#define ROUTER_UNIMPLEMENTED 12       /* not supported (yet) */
#define ROUTER_INTERNAL 13            /* a bug in librouter (an unexpected exception) */
#define ROUTER_UNAVAILABLE 14         /* a transient failure; retrying may help */
#define ROUTER_DATA_LOSS 15           /* corrupted or truncated data */
#define ROUTER_UNAUTHENTICATED 16     /* missing credentials */

/**
 * @brief  The name of a status code: "ROUTER_OK", "ROUTER_INVALID_ARGUMENT",
 *         ...; "ROUTER_UNKNOWN_STATUS" for a value that is not a code.
 * @param[in] status  Any value.
 * @return A static string; never NULL, never to be freed.
 * Thread-safe; never fails; does not touch the last-error message.
 */
ROUTER_API const char* router_status_name(router_status_t status);

/**
 * @brief  The message of the last call on this thread that failed, or "" if
 *         the last status-returning call on this thread succeeded (or there
 *         was none).
 * @return A NUL-terminated UTF-8 string owned by the library; never NULL.
 *         It stays valid until the next router_* call on the same thread;
 *         copy it to keep it.
 * Thread-local: each thread sees only its own calls' message.
 */
ROUTER_API const char* router_last_error_message(void);

/* ---------------------------------------------------------------------------
 * Routers
 * ---------------------------------------------------------------------------
 * A router_t is a fitted routing pipeline: an embedder (the built-in text
 * featurizer, unless the data brings its own vectors), a router that
 * predicts each model's quality and cost, and a policy that picks a model.
 * A fitted pipeline never changes, which is why concurrent routing is safe;
 * router_reload swaps in a whole new one atomically: each call routes on the
 * pipeline that was current when it started.
 */
typedef struct router_s router_t;

/* A routing decision: the chosen model, its ranked fallbacks, and the figures
 * and trace behind the choice. Made by router_route_text/router_route_vector,
 * freed by router_decision_free. It does not refer to its router: it may
 * outlive it. */
typedef struct router_decision_s router_decision_t;

/**
 * @brief  Fits a router on a JSONL routing dataset.
 *
 * The file holds one query per line,
 *   {"id": "q1", "prompt": "...", "split": "train",
 *    "scores": {"model-a": 1.0, "model-b": 0.0},
 *    "costs":  {"model-a": 0.00012, "model-b": 0.00003}}
 * The router is fitted on the rows whose "split" is "train" or absent
 * (unassigned); rows marked "validation" or "test" are left out. The
 * built-in text featurizer is fitted on their prompts, so the router routes
 * text (router_route_text) and vectors of router_dim() floats.
 *
 * @param[in]  dataset_jsonl_path  Path of the JSONL file. Not NULL.
 * @param[in]  config_json  The pipeline configuration as a JSON object, or
 *             NULL or "" for the defaults (kNN router, max-utility policy
 *             with lambda 0). Every key is optional; an unknown key is an
 *             error. Example: {"router": "knn", "knn": {"k": 20},
 *             "policy": {"kind": "quality_floor", "tau": 0.8},
 *             "models": [{"name": "model-a", "input_usd_per_mtok": 0.15}]}.
 * @param[out] out  Receives the new router on success, NULL on failure. Not
 *             NULL. Free it with router_free().
 * @return ROUTER_OK; ROUTER_INVALID_ARGUMENT for a NULL argument, malformed
 *         JSON (in the file or the config), an unknown config key, or a
 *         dataset with no usable rows; ROUTER_NOT_FOUND if the file does not
 *         exist; other codes for I/O errors.
 * Thread-safe with respect to other routers; may take seconds on large data.
 */
ROUTER_API router_status_t router_create_from_dataset(const char* dataset_jsonl_path,
                                                      const char* config_json,
                                                      router_t** out);

/**
 * @brief  Like router_create_from_dataset, with the query vectors the host
 *         computed with its own embedding model.
 *
 * Row i of the float32 (or float64) .npy matrix (shape N x d, C order) is the
 * vector of line i of the JSONL. With the default embedder setting ("auto")
 * the router then routes vectors only: router_route_text fails with
 * ROUTER_FAILED_PRECONDITION, and router_route_vector takes vectors from the
 * same embedding model (router_dim() == d). Set "embedder": "builtin" in the
 * config to ignore the vectors and fit the text featurizer instead.
 *
 * @param[in]  dataset_jsonl_path  Path of the JSONL file. Not NULL.
 * @param[in]  vectors_npy_path    Path of the .npy file. Not NULL.
 * @param[in]  config_json  As for router_create_from_dataset (NULL or "" =
 *             defaults).
 * @param[out] out  Receives the new router on success, NULL on failure. Not
 *             NULL. Free it with router_free().
 * @return As router_create_from_dataset; also ROUTER_INVALID_ARGUMENT when
 *         the matrix's row count differs from the dataset's or the .npy
 *         file is malformed.
 */
ROUTER_API router_status_t router_create_from_dataset_with_vectors(
    const char* dataset_jsonl_path, const char* vectors_npy_path, const char* config_json,
    router_t** out);

/**
 * @brief  Saves a router to one file (docs/file-format.md): configuration,
 *         models, featurizer and fitted state, with a checksum per section.
 *
 * The write is atomic: the file is written beside `path` under a temporary
 * name, flushed to disk, then renamed over `path`; an existing file is
 * replaced only by a complete new one, and is left untouched on error.
 *
 * @param[in] router  Not NULL.
 * @param[in] path    Destination path. Not NULL.
 * @return ROUTER_OK; ROUTER_INVALID_ARGUMENT for NULL; ROUTER_UNAVAILABLE
 *         when the file cannot be written (missing directory, no permission,
 *         disk full), with the path and the system's reason in the message.
 * Thread-safe; may run while other threads route.
 */
ROUTER_API router_status_t router_save(const router_t* router, const char* path);

/**
 * @brief  Loads a router that router_save wrote.
 *
 * Everything is validated before use: a truncated or damaged file, a file
 * that is not a librouter file, or one with inconsistent contents is
 * ROUTER_DATA_LOSS; a file from a newer format version is
 * ROUTER_FAILED_PRECONDITION; a missing file ROUTER_NOT_FOUND. The message
 * names the file and the problem.
 *
 * @param[in]  path  Not NULL.
 * @param[out] out   Receives the router on success, NULL on failure. Not
 *             NULL. Free it with router_free().
 * Thread-safe.
 */
ROUTER_API router_status_t router_load(const char* path, router_t** out);

/**
 * @brief  Replaces a router's pipeline by the one saved at `path`, while
 *         other threads keep routing.
 *
 * The file is loaded and validated first; only then is it swapped in.
 * Routes already running finish on the old pipeline; routes that start after
 * router_reload returns use the new one. On any error the old pipeline keeps
 * serving and the status says why the file was refused (codes as
 * router_load). Model indexes and router_dim() may change with the new
 * pipeline: read them again after a reload. Names from router_model_name stay
 * valid until router_free.
 *
 * @param[in] router  Not NULL.
 * @param[in] path    Not NULL.
 * Thread-safe: may run concurrently with routing and with other reloads.
 */
ROUTER_API router_status_t router_reload(router_t* router, const char* path);

/**
 * @brief  The id under which to report this decision's outcome.
 *
 * Routers that learn online (LinUCB) log each decision they make through
 * router_route_text / router_route_vector; its id is then non-zero. For
 * other routers the id is 0 and feedback by id is not needed.
 *
 * @param[in]  decision  Not NULL.
 * @param[out] out_id    Receives the id (0 = not logged). Not NULL.
 */
ROUTER_API router_status_t router_decision_id(const router_decision_t* decision,
                                              uint64_t* out_id);

/**
 * @brief  Reports the outcome of a routed request, by its decision id.
 *
 * The router learns from it (LinUCB: only the chosen model's outcome is seen,
 * bandit feedback). Each id is reported at most once; the router keeps the
 * last 65536 decisions.
 *
 * @param[in] router       Not NULL.
 * @param[in] decision_id  From router_decision_id.
 * @param[in] score        Observed quality in [0, 1].
 * @param[in] cost_usd     Observed cost, finite and >= 0.
 * @return ROUTER_OK; ROUTER_INVALID_ARGUMENT for NULL, a NaN or out-of-range
 *         score or a bad cost (the id stays usable); ROUTER_NOT_FOUND for an
 *         id never issued, already reported or expired, or whose model was
 *         removed since.
 * Thread-safe: may run concurrently with routing and other feedback.
 */
ROUTER_API router_status_t router_feedback(const router_t* router, uint64_t decision_id,
                                           double score, double cost_usd);

/**
 * @brief  Reports an outcome with the routed query's vector and model name,
 *         for hosts that keep their own records.
 *
 * @param[in] router  Not NULL.
 * @param[in] vector  router_dim() floats, finite. Not NULL.
 * @param[in] dim     Must equal router_dim().
 * @param[in] model   The model that answered. Not NULL.
 * @param[in] score, cost_usd  As router_feedback.
 * @return As router_feedback; ROUTER_NOT_FOUND for an unknown model.
 * Thread-safe, as router_feedback.
 */
ROUTER_API router_status_t router_feedback_vector(const router_t* router, const float* vector,
                                                  size_t dim, const char* model, double score,
                                                  double cost_usd);

/**
 * @brief  Takes a model out of service while other threads keep routing.
 *
 * Routes that start after this returns never choose the model, and it no
 * longer counts in router_model_count (indexes of the models after it shift
 * down by one). The change is kept by router_save.
 *
 * @param[in] router  Not NULL.
 * @param[in] model   The model's name. Not NULL.
 * @return ROUTER_OK; ROUTER_NOT_FOUND for an unknown (or already removed)
 *         model; ROUTER_FAILED_PRECONDITION for the last model or one the
 *         threshold policy's pair needs; ROUTER_INVALID_ARGUMENT for NULL.
 *         On error nothing changes.
 * Thread-safe: may run concurrently with routing, reloads and other changes;
 * router_feedback waits while it runs (the router is changed on a copy).
 */
ROUTER_API router_status_t router_remove_model(router_t* router, const char* model);

/**
 * @brief  Adds a model to the catalog while other threads keep routing, and
 *         has the router learn it from labelled examples.
 *
 * Routers that can onboard a model (cluster, mf, linucb) learn its quality
 * from the examples: the vectors of queries it answered and its scores on
 * them (embed prompts with router_embed_text for a text router). With no
 * examples, a linucb router starts the model's arm at its prior and its
 * uncertainty bonus gets it explored. kNN cannot onboard (it needs the model's
 * score on every reference prompt): refit it instead. The change is kept by
 * router_save.
 *
 * @param[in] router        Not NULL.
 * @param[in] profile_json  The model's profile, as an entry of the config's
 *            "models" list: {"name": "m", "input_usd_per_mtok": 0.5,
 *            "output_usd_per_mtok": 1.5, ...}. Not NULL.
 * @param[in] vectors   count x dim floats, row-major; NULL when count is 0.
 * @param[in] count     The number of examples; may be 0.
 * @param[in] dim       Must equal router_dim() when count > 0.
 * @param[in] scores    count scores of the new model, each in [0, 1]; NULL
 *            when count is 0.
 * @param[in] costs_usd count observed costs (finite, >= 0), or NULL to use
 *            the profile's prices.
 * @return ROUTER_OK; ROUTER_ALREADY_EXISTS when the name is taken (a
 *         removed model's name is free again); ROUTER_UNIMPLEMENTED for a
 *         kNN router;
 *         ROUTER_INVALID_ARGUMENT for NULL, malformed JSON, a wrong dim, a
 *         non-finite vector, a score or cost out of range, a catalog past
 *         limits.max_models or more examples than limits.max_batch_size;
 *         ROUTER_RESOURCE_EXHAUSTED when out of memory. On error nothing
 *         changes.
 * Thread-safe, as router_remove_model.
 */
ROUTER_API router_status_t router_add_model(router_t* router, const char* profile_json,
                                            const float* vectors, size_t count, size_t dim,
                                            const double* scores, const double* costs_usd);

/**
 * @brief  Changes a model's prices while other threads keep routing.
 *
 * Cost estimates for the model scale by the ratio of its new to its old
 * expected cost per request. The change is kept by router_save.
 *
 * @param[in] router  Not NULL.
 * @param[in] model   The model's name. Not NULL.
 * @param[in] input_usd_per_mtok, output_usd_per_mtok  New prices in USD per
 *            million tokens; finite and >= 0.
 * @return ROUTER_OK; ROUTER_NOT_FOUND for an unknown model;
 *         ROUTER_INVALID_ARGUMENT for NULL or a negative or non-finite price.
 *         On error nothing changes.
 * Thread-safe, as router_remove_model.
 */
ROUTER_API router_status_t router_set_model_price(router_t* router, const char* model,
                                                  double input_usd_per_mtok,
                                                  double output_usd_per_mtok);

/**
 * @brief  A model's current prices (as router_set_model_price left them), in
 *         USD per million tokens: what a host multiplies a response's token
 *         counts by to know what the call cost.
 * @param[in]  router  Not NULL.
 * @param[in]  model   The model's name. Not NULL.
 * @param[out] out_input_usd_per_mtok, out_output_usd_per_mtok  Receive the
 *             prices. Not NULL.
 * @return ROUTER_OK; ROUTER_NOT_FOUND for an unknown (or removed) model;
 *         ROUTER_INVALID_ARGUMENT for NULL.
 * Thread-safe.
 */
ROUTER_API router_status_t router_model_price(const router_t* router, const char* model,
                                              double* out_input_usd_per_mtok,
                                              double* out_output_usd_per_mtok);

/**
 * @brief  Reports what an earlier decision really cost, for a policy that
 *         paces on spend: the "budget" policy adds realised - expected to its
 *         spend, so estimates that run high or low do not bias the pacing;
 *         the other policies ignore it. Works with every router (no decision
 *         id needed), and may be called once per decision, in any order.
 * @param[in] router             Not NULL.
 * @param[in] expected_cost_usd  The decision's router_decision_cost_usd.
 * @param[in] realised_cost_usd  What the call cost, e.g. its tokens times
 *            router_model_price.
 * @return ROUTER_OK; ROUTER_INVALID_ARGUMENT for NULL or a cost that is
 *         negative or not finite. On error nothing changes.
 * Thread-safe.
 */
ROUTER_API router_status_t router_record_cost(router_t* router, double expected_cost_usd,
                                              double realised_cost_usd);

/**
 * @brief  Marks a model down (every policy skips it, as if the constraints
 *         excluded it) or up again, while other threads keep routing.
 *
 * For outages and rate limits: the host marks the model down when its calls
 * fail and up when they succeed again. Decisions list the model among the
 * excluded ones, with the reason "marked unavailable". Kept by router_save.
 *
 * @param[in] router     Not NULL.
 * @param[in] model      The model's name. Not NULL.
 * @param[in] available  0 marks the model down, any other value up.
 * @return ROUTER_OK; ROUTER_NOT_FOUND for an unknown model;
 *         ROUTER_INVALID_ARGUMENT for NULL. On error nothing changes.
 * Thread-safe, as router_remove_model.
 */
ROUTER_API router_status_t router_set_model_available(router_t* router, const char* model,
                                                      int32_t available);

/**
 * @brief  Replaces the policy while other threads keep routing.
 *
 * @param[in] router       Not NULL.
 * @param[in] policy_json  The "policy" object of the configuration
 *            (docs/configuration.md, docs/policies.md), e.g.
 *            {"kind": "budget", "target_cost_usd": 0.0002}. Not NULL.
 * @return ROUTER_OK; ROUTER_INVALID_ARGUMENT for NULL, malformed JSON, an
 *         unknown key or kind, a bad value, or a model name the router does
 *         not know. On error the current policy stays.
 * Thread-safe, as router_remove_model. A budget policy set this way starts
 * from the pacing state in the JSON (zero by default).
 */
ROUTER_API router_status_t router_set_policy(router_t* router, const char* policy_json);

/**
 * @brief  Sets the threshold of a "threshold" policy so that a target share
 *         of the given queries goes to the strong model (RouteLLM-style
 *         calibration), e.g. on a sample of recent traffic.
 *
 * @param[in]  router  Not NULL; its policy must be of kind "threshold".
 * @param[in]  vectors  count rows of dim floats, row-major. Not NULL.
 * @param[in]  count   Number of sample queries, >= 1.
 * @param[in]  dim     Must equal router_dim().
 * @param[in]  strong_share  Target share of strong-model decisions, in [0, 1].
 * @param[out] out_threshold  NULL, or receives the new threshold.
 * @return ROUTER_OK; ROUTER_FAILED_PRECONDITION if the policy is not a
 *         threshold policy; ROUTER_INVALID_ARGUMENT for NULL, count 0, a
 *         wrong dim, a non-finite element or a share outside [0, 1]. On error
 *         nothing changes.
 * Thread-safe, as router_remove_model.
 */
ROUTER_API router_status_t router_calibrate_threshold(router_t* router, const float* vectors,
                                                      size_t count, size_t dim,
                                                      double strong_share,
                                                      double* out_threshold);

/**
 * @brief  Writes the policy's live state as one JSON object: its kind and
 *         parameters; for "budget" the dual price, spend, request count and
 *         average cost so far; for "threshold" the decisions made and the
 *         realised strong share. Buffer rules as router_decision_explain.
 * @param[in]  router      Not NULL.
 * @param[out] buf         The caller's buffer; NULL only when capacity is 0.
 * @param[in]  capacity    Size of buf in bytes.
 * @param[out] out_needed  NULL, or receives the full size including the NUL.
 * @return ROUTER_OK, also when truncated; ROUTER_INVALID_ARGUMENT for NULL.
 * Thread-safe.
 */
ROUTER_API router_status_t router_policy_state_json(const router_t* router, char* buf,
                                                    size_t capacity, size_t* out_needed);

/**
 * @brief  Frees a router and everything it owns (model names included).
 * @param[in] router  A router, or NULL (then nothing happens).
 * Must not overlap any other call using the same router (router_sync_*
 * calls on its sync included). Decisions made by the router stay valid: free
 * them separately. A state sync still running on the router is stopped
 * first, as router_sync_stop would (after one last round), but its handle is
 * not freed: call router_sync_stop on it as usual; until then its other
 * calls fail with ROUTER_FAILED_PRECONDITION. Stopping the sync before
 * freeing its router is the clearer order.
 */
ROUTER_API void router_free(router_t* router);

/**
 * @brief  The dimension of the query vectors the router takes.
 * @param[in]  router   Not NULL.
 * @param[out] out_dim  Receives the dimension (> 0). Not NULL.
 * @return ROUTER_OK or ROUTER_INVALID_ARGUMENT.
 * Thread-safe.
 */
ROUTER_API router_status_t router_dim(const router_t* router, int32_t* out_dim);

/**
 * @brief  The number of candidate models the router chooses from.
 * @param[in]  router     Not NULL.
 * @param[out] out_count  Receives the count (> 0). Not NULL.
 * @return ROUTER_OK or ROUTER_INVALID_ARGUMENT.
 * Thread-safe.
 */
ROUTER_API router_status_t router_model_count(const router_t* router, int32_t* out_count);

/**
 * @brief  The name of the model at `index` (0 <= index < router_model_count).
 *         Model indexes are the ones decisions and router_route_batch report.
 * @param[in]  router    Not NULL.
 * @param[in]  index     The model's index.
 * @param[out] out_name  Receives the name, borrowed: valid until
 *             router_free(router). Not NULL.
 * @return ROUTER_OK; ROUTER_OUT_OF_RANGE for a bad index;
 *         ROUTER_INVALID_ARGUMENT for a NULL argument.
 * Thread-safe.
 */
ROUTER_API router_status_t router_model_name(const router_t* router, int32_t index,
                                             const char** out_name);

/**
 * @brief  Embeds a prompt with the router's text featurizer, giving the vector
 *         router_route_text would route. Useful to embed prompts once and
 *         route them in batches with router_route_batch.
 * @param[in]  router    Not NULL.
 * @param[in]  text      NUL-terminated UTF-8 prompt. Not NULL; "" is allowed.
 * @param[out] out_vector  Receives router_dim() floats. Not NULL.
 * @param[in]  capacity  Number of floats out_vector can hold; must be at least
 *             router_dim().
 * @return ROUTER_OK; ROUTER_INVALID_ARGUMENT for a NULL argument or a small
 *         capacity; ROUTER_FAILED_PRECONDITION if the router has no text
 *         featurizer (it was fitted on host vectors).
 * Thread-safe.
 */
ROUTER_API router_status_t router_embed_text(const router_t* router, const char* text,
                                             float* out_vector, size_t capacity);

/**
 * @brief  Routes a prompt: embeds it with the router's text featurizer and
 *         picks a model. Its token count is estimated from its length.
 * @param[in]  router  Not NULL.
 * @param[in]  text    NUL-terminated UTF-8 prompt. Not NULL; "" is allowed.
 * @param[out] out     Receives a new decision on success. Not NULL. Free it
 *             with router_decision_free().
 * @return ROUTER_OK; ROUTER_INVALID_ARGUMENT for a NULL argument or an
 *         over-long prompt; ROUTER_FAILED_PRECONDITION if the router has no
 *         text featurizer, or if the configured constraints exclude every
 *         model.
 * Thread-safe.
 */
ROUTER_API router_status_t router_route_text(const router_t* router, const char* text,
                                             router_decision_t** out);

/**
 * @brief  Routes a query given as a vector the host computed.
 * @param[in]  router  Not NULL.
 * @param[in]  vector  `dim` floats, all finite. Not NULL. Need not be
 *             normalised. Only read during the call.
 * @param[in]  dim     Must equal router_dim().
 * @param[in]  input_tokens  The prompt's length in tokens, used for costs and
 *             context-window constraints; 0 = unknown (then 1 is assumed).
 *             Must not be negative.
 * @param[out] out     Receives a new decision on success. Not NULL. Free it
 *             with router_decision_free().
 * @return ROUTER_OK; ROUTER_INVALID_ARGUMENT for a NULL argument, a wrong
 *         dim, a NaN or infinite element, or negative input_tokens;
 *         ROUTER_FAILED_PRECONDITION if the constraints exclude every model.
 * Thread-safe.
 */
ROUTER_API router_status_t router_route_vector(const router_t* router, const float* vector,
                                               size_t dim, int64_t input_tokens,
                                               router_decision_t** out);

/* Per-request policy parameters for router_route_text_with and
 * router_route_vector_with. Size-prefixed: set struct_size to
 * sizeof(router_route_options_t), zero the rest, then set what applies.
 * Fields that flags do not mark are ignored. */
typedef struct router_route_options_s {
  uint32_t struct_size;  /* sizeof(router_route_options_t) */
  uint32_t flags;        /* ROUTER_OVERRIDE_* bits: which of the fields below are set */
  double lambda;         /* quality per USD for max_utility, or in place of budget
                            pacing's dual price; finite, >= 0 */
  double tau;            /* quality_floor's floor [0, 1], or the threshold policy's
                            threshold [-1, 1] */
  const char* const* allowed_models;  /* allowed_model_count names of catalog models */
  size_t allowed_model_count;         /* 0: no request allow-list */
  const char* budget_class;  /* NULL or "": none. Else one of the policy's
                                "budget_classes": its lambda, tau and allow-list
                                apply where the fields above set none */
  /* Added after the struct's first layout: a host built against a header
   * without it passes the smaller struct_size, and it reads as NULL. */
  const char* task;          /* NULL or "": none. Else the task or application the
                                request comes from, as the training rows named
                                it ("source"): a cluster router with source
                                clusters then uses that task's estimates
                                instead of inferring the task from the text.
                                A task the router did not learn is ignored */
} router_route_options_t;

#define ROUTER_OVERRIDE_LAMBDA 1u
#define ROUTER_OVERRIDE_TAU 2u

/**
 * @brief  router_route_text with this request's own policy parameters.
 * @param[in]  options  NULL (same as router_route_text) or filled as the
 *             struct's comment says.
 * @return As router_route_text; also ROUTER_INVALID_ARGUMENT for a bad
 *         struct_size, unknown flag bits, a value out of range, a NULL name
 *         in allowed_models, or a name the catalog does not have;
 *         ROUTER_NOT_FOUND for a budget class the policy does not have.
 * Thread-safe.
 */
ROUTER_API router_status_t router_route_text_with(const router_t* router, const char* text,
                                                  const router_route_options_t* options,
                                                  router_decision_t** out);

/**
 * @brief  router_route_vector with this request's own policy parameters
 *         (options as router_route_text_with).
 * Thread-safe.
 */
ROUTER_API router_status_t router_route_vector_with(const router_t* router, const float* vector,
                                                    size_t dim, int64_t input_tokens,
                                                    const router_route_options_t* options,
                                                    router_decision_t** out);

/**
 * @brief  Routes many vectors in one call and writes, per query, the chosen
 *         model's index and (optionally) its predicted quality and cost.
 *
 * Query i is the `dim` floats at vectors + i * stride_floats, so rows may be
 * padded or be a column slice of a wider matrix. Decisions are not made for
 * the batch; route one query with router_route_vector to get fallbacks and
 * an explanation. Each query gives the same result router_route_vector would.
 *
 * @param[in]  router  Not NULL.
 * @param[in]  vectors  count rows of floats, as described. Not NULL unless
 *             count is 0.
 * @param[in]  count  Number of queries; 0 is allowed and does nothing.
 * @param[in]  dim  Must equal router_dim().
 * @param[in]  stride_floats  Distance between consecutive rows, in floats;
 *             must be >= dim.
 * @param[in]  input_tokens  NULL (every query's token count is unknown), or
 *             `count` values >= 0 (0 = unknown).
 * @param[out] out_model_index  `count` model indexes (see router_model_name).
 *             Not NULL unless count is 0.
 * @param[out] out_quality   NULL, or room for `count` predicted qualities.
 * @param[out] out_cost_usd  NULL, or room for `count` expected costs in USD.
 * @return ROUTER_OK; ROUTER_INVALID_ARGUMENT for a NULL argument, a wrong
 *         dim or stride, or a bad row. When a query fails, the call stops
 *         and returns that query's status, with a message that starts with
 *         "query <i>: "; the outputs are then unspecified (some rows may be
 *         written).
 * Thread-safe (the output arrays must not be shared with a concurrent call).
 */
ROUTER_API router_status_t router_route_batch(const router_t* router, const float* vectors,
                                              size_t count, size_t dim, size_t stride_floats,
                                              const int64_t* input_tokens,
                                              int32_t* out_model_index, double* out_quality,
                                              double* out_cost_usd);

/* ---------------------------------------------------------------------------
 * Decisions
 * ---------------------------------------------------------------------------
 * A decision's accessors only read it: they may run concurrently on one
 * decision. Each returns ROUTER_INVALID_ARGUMENT for a NULL argument.
 */

/**
 * @brief  The chosen model's name.
 * @param[in]  decision  Not NULL.
 * @param[out] out_name  Receives the name, borrowed: valid until
 *             router_decision_free(decision). Not NULL.
 */
ROUTER_API router_status_t router_decision_model(const router_decision_t* decision,
                                                 const char** out_name);

/**
 * @brief  The chosen model's index in the router's catalog (see
 *         router_model_name).
 * @param[in]  decision   Not NULL.
 * @param[out] out_index  Receives the index. Not NULL.
 */
ROUTER_API router_status_t router_decision_model_index(const router_decision_t* decision,
                                                       int32_t* out_index);

/**
 * @brief  The chosen model's predicted quality (expected score) in [0, 1].
 * @param[in]  decision     Not NULL.
 * @param[out] out_quality  Receives the quality. Not NULL.
 */
ROUTER_API router_status_t router_decision_quality(const router_decision_t* decision,
                                                   double* out_quality);

/**
 * @brief  The chosen model's expected cost for this query, in USD.
 * @param[in]  decision      Not NULL.
 * @param[out] out_cost_usd  Receives the cost (>= 0). Not NULL.
 */
ROUTER_API router_status_t router_decision_cost_usd(const router_decision_t* decision,
                                                    double* out_cost_usd);

/**
 * @brief  The number of fallbacks: the other eligible models, in the order a
 *         host should retry them if the chosen model fails.
 * @param[in]  decision   Not NULL.
 * @param[out] out_count  Receives the count (>= 0). Not NULL.
 */
ROUTER_API router_status_t router_decision_fallback_count(const router_decision_t* decision,
                                                          int32_t* out_count);

/**
 * @brief  The name of fallback `index` (0 = the first to retry).
 * @param[in]  decision  Not NULL.
 * @param[in]  index     0 <= index < router_decision_fallback_count.
 * @param[out] out_name  Receives the name, borrowed: valid until
 *             router_decision_free(decision). Not NULL.
 * @return ROUTER_OK; ROUTER_OUT_OF_RANGE for a bad index;
 *         ROUTER_INVALID_ARGUMENT for a NULL argument.
 */
ROUTER_API router_status_t router_decision_fallback(const router_decision_t* decision,
                                                    int32_t index, const char** out_name);

/**
 * @brief  Writes a readable paragraph explaining the decision from its trace
 *         (router, policy and its parameters, the figures of the chosen model
 *         and its fallbacks, models the constraints excluded).
 *
 * snprintf-style: writes at most capacity - 1 bytes of the text followed by a
 * NUL (nothing when capacity is 0), and reports the full size. Truncation
 * never splits a UTF-8 character, so the buffer always holds valid UTF-8. To
 * size a buffer, call once with buf = NULL and capacity = 0.
 *
 * @param[in]  decision    Not NULL.
 * @param[out] buf         The caller's buffer; NULL only when capacity is 0.
 * @param[in]  capacity    Size of buf in bytes.
 * @param[out] out_needed  NULL, or receives the size of the whole text in
 *             bytes including its NUL; the text was truncated when this is
 *             greater than capacity.
 * @return ROUTER_OK, also when the text was truncated;
 *         ROUTER_INVALID_ARGUMENT for a NULL decision, or a NULL buf with a
 *         non-zero capacity.
 */
ROUTER_API router_status_t router_decision_explain(const router_decision_t* decision,
                                                   char* buf, size_t capacity,
                                                   size_t* out_needed);

/**
 * @brief  Writes the decision as one JSON object (the chosen model, the ranked
 *         candidates with their quality, cost and utility, and the trace).
 *         Buffer rules as router_decision_explain; a truncated JSON text is
 *         not valid JSON, so size the buffer first.
 * @param[in]  decision    Not NULL.
 * @param[out] buf         The caller's buffer; NULL only when capacity is 0.
 * @param[in]  capacity    Size of buf in bytes.
 * @param[out] out_needed  NULL, or receives the full size including the NUL.
 * @return ROUTER_OK, also when truncated; ROUTER_INVALID_ARGUMENT as for
 *         router_decision_explain.
 */
ROUTER_API router_status_t router_decision_json(const router_decision_t* decision, char* buf,
                                                size_t capacity, size_t* out_needed);

/**
 * @brief  Frees a decision, and the strings borrowed from it.
 * @param[in] decision  A decision, or NULL (then nothing happens).
 * May be called from any thread, once, after the decision's last use.
 */
ROUTER_API void router_decision_free(router_decision_t* decision);

/* ---------------------------------------------------------------------------
 * Replica state sync
 * ---------------------------------------------------------------------------
 * When N replicas of a service each run a router, each learns from 1/N of the
 * feedback and paces its budget on 1/N of the traffic. A state sync lets the
 * replicas share both through a store (Redis in production): each publishes
 * its own contribution (what its LinUCB router learned from feedback, its
 * budget or threshold policy's counters) and adds the others'. A replica that
 * has merged everything routes as one router that got all the feedback would,
 * up to rounding. docs/scale-out.md explains the design and its faults.
 *
 *   router_sync_t* sync = NULL;
 *   if (router_sync_start(router, "{\"replica_id\": \"pod-3\", \"store\": \"redis\", "
 *                                 "\"redis\": {\"host\": \"redis.internal\"}}",
 *                         &sync) != ROUTER_OK) { ... router_last_error_message() ... }
 *   (or, for a router whose configuration has a "sync" block:
 *    router_sync_start(router, "{}", &sync))
 *   ... route and report feedback on `router` as usual ...
 *   router_sync_stop(sync);   (before router_free(router))
 *
 * Routing never waits for the store: a background thread runs a round every
 * interval_ms, and a route sees other replicas' feedback at most one interval
 * plus one store round trip late. Learned statistics are shared only between
 * routers loaded from the same fitted file (or fitted identically), policy
 * counters between policies of the same kind.
 */
typedef struct router_sync_s router_sync_t;

/**
 * @brief  Starts sharing a router's state with the other replicas that use
 *         the same store.
 *
 * The first round runs before the call returns when the store can be reached
 * (an unreachable store is not an error here: rounds retry, with a backoff,
 * and router_sync_status_json reports connected: false).
 *
 * @param[in]  router  Not NULL. A router syncs once in its life: a new sync on
 *             a router whose sync was stopped would count what it learned
 *             twice. To sync anew (another store, say), load the router
 *             again (router_load) and start the sync under the same
 *             replica_id: it takes back the row it published.
 * @param[in]  options_json  A JSON object. Not NULL. Keys:
 *   "replica_id"   required: this replica's name in the store, unique in the
 *                  deployment and best kept across restarts (a pod name), so
 *                  that a restarted replica takes its row back; 1 to 128
 *                  letters, digits or "-_.:".
 *   "store"        required: "redis", or "memory:NAME" for a store in this
 *                  process's memory (NAME: 1 to 128 letters, digits or
 *                  "-_.:"), for in-process replicas and tests: routers
 *                  started with the same NAME share it. A memory store lives
 *                  while a sync uses it; when the last one stops, its rows
 *                  are gone.
 *   "interval_ms"  milliseconds between background rounds, in [0, 3600000];
 *                  default 200. 0 starts no thread: the host calls
 *                  router_sync_now.
 *   "redis"        only with "store": "redis"; an object, every key optional:
 *                  "host" (default "127.0.0.1"), "port" (6379),
 *                  "key_prefix" ("router": one per deployment; letters,
 *                  digits and "-_.:{}"), "timeout_ms" (connect and command
 *                  timeout, [1, 60000], default 1000), "password_env" (the
 *                  environment variable holding the AUTH password, default
 *                  "ROUTER_REDIS_PASSWORD"), "password" (the password itself;
 *                  prefer password_env, so that no password sits in a
 *                  configuration). A password never appears in a message.
 *   An unknown key is an error.
 *   From the configuration: when the router's configuration (the
 *   config_json it was created with, or the one saved in the file it was
 *   loaded from; router_reload brings the new file's) has a "sync" block
 *   (docs/configuration.md), every key above is optional: the block gives
 *   the defaults and the keys given here override it. "{}" starts the sync
 *   the block describes; "{\"replica_id\": \"pod-3\"}" names this replica
 *   (a block's replica_id "" means "<host name>-<process id>"). The block
 *   never holds a password: it names the environment variable that does.
 * @param[out] out  Receives the new sync on success, NULL on failure. Not
 *             NULL. Stop and free it with router_sync_stop().
 * @return ROUTER_OK; ROUTER_INVALID_ARGUMENT for NULL, malformed JSON, an
 *         unknown key, a value of the wrong type or out of range, or a bad
 *         replica id or store name; ROUTER_FAILED_PRECONDITION if the router
 *         has a sync, or had one; ROUTER_ALREADY_EXISTS if another
 *         router of this process already syncs under the same replica_id
 *         through the same memory store; ROUTER_UNIMPLEMENTED for "redis" in
 *         a build of librouter without Redis support (no hiredis). On error
 *         nothing is started and nothing is written to the store.
 * Thread-safe with respect to routing and every other call on the router
 * (not router_free). The sync keeps a pointer to the router: stop it before
 * router_free(router) (see router_free for what happens otherwise).
 */
ROUTER_API router_status_t router_sync_start(router_t* router, const char* options_json,
                                             router_sync_t** out);

/**
 * @brief  Runs one round now, on the calling thread: reads what the other
 *         replicas published since the last round, adds it to the router,
 *         and publishes this replica's contribution if it changed. With
 *         interval_ms 0 this is the only way rounds run.
 * @param[in] sync  Not NULL.
 * @return ROUTER_OK (a payload another replica wrote that was refused, as
 *         corrupt or from another fitted file, is counted in the status's
 *         "rejected", not an error); ROUTER_UNAVAILABLE when the store cannot
 *         be reached (routing goes on, on local state; nothing is lost: the
 *         next round that reaches the store publishes everything);
 *         ROUTER_INVALID_ARGUMENT for NULL; ROUTER_FAILED_PRECONDITION after
 *         the router was freed.
 * Thread-safe: may run concurrently with routing, feedback and the
 * background rounds (rounds run one at a time). May block for up to the
 * store's timeout.
 */
ROUTER_API router_status_t router_sync_now(router_sync_t* sync);

/**
 * @brief  Retires this replica for good (a pod deleted at a rollout; call it
 *         on SIGTERM, then router_sync_stop): runs one last round, then, in
 *         one atomic step of the store, adds this replica's contribution to
 *         the store's archive row and deletes its own row. The others keep
 *         everything it learned, and the store keeps no row per replica id
 *         that ever ran. Afterwards the sync runs no more rounds (also not in
 *         router_sync_stop); router_sync_now returns
 *         ROUTER_FAILED_PRECONDITION. Without it, a replica that stops leaves
 *         its row, which keeps counting.
 * @param[in] sync  Not NULL.
 * @return ROUTER_OK; on any error nothing was folded and the replica's row
 *         stays and counts (retiring only saves space, it never loses
 *         learning): ROUTER_UNAVAILABLE when the store cannot be reached;
 *         ROUTER_ABORTED when other replicas kept changing the archive
 *         (retry); ROUTER_FAILED_PRECONDITION when already retired, after the
 *         router was freed, or when the archive holds another fitted file's
 *         statistics or another policy kind's counters; ROUTER_DATA_LOSS for
 *         a damaged archive row; ROUTER_INVALID_ARGUMENT for NULL.
 * Thread-safe like router_sync_now. May block for a few store round trips.
 */
ROUTER_API router_status_t router_sync_retire(router_sync_t* sync);

/**
 * @brief  Folds the row of replica `replica_id`, known to be gone for good
 *         (its process killed, its node lost, and no restart under that id
 *         to take the row back), into the store's archive row, as its own
 *         router_sync_retire would have, and deletes the row. What it
 *         published still counts, once; the store no longer holds it. For a
 *         host that knows which replicas are gone (an orchestrator's pod
 *         list). Runs a round first. A replica folded while still alive
 *         finds itself folded at its next round and stops syncing
 *         (router_sync_now: ROUTER_FAILED_PRECONDITION); what it learned
 *         after the fold is not shared.
 * @param[in] sync        Not NULL.
 * @param[in] replica_id  Not NULL; another replica's id.
 * @return ROUTER_OK; on any error nothing changed: ROUTER_INVALID_ARGUMENT
 *         for NULL, a string that is not a replica id, or this replica's own
 *         id (it retires); ROUTER_NOT_FOUND when the store holds no such
 *         row; ROUTER_FAILED_PRECONDITION for a row of another fitted file
 *         (a replica of that file folds it), after this replica retired, or
 *         after the router was freed; ROUTER_ABORTED when the archive or the
 *         row kept changing (is that replica alive?); ROUTER_UNAVAILABLE when
 *         the store cannot be reached; ROUTER_DATA_LOSS for a damaged row.
 * Thread-safe like router_sync_now. May block for a few store round trips.
 */
ROUTER_API router_status_t router_sync_fold(router_sync_t* sync, const char* replica_id);

/**
 * @brief  Writes the sync's state as one JSON object:
 *   {"replica_id": "pod-3", "store": "redis", "connected": true,
 *    "rounds": 12, "failed_rounds": 0, "published": 3, "applied": 20,
 *    "rejected": 0, "replicas": 3, "lag_ms": 140, "last_error": "",
 *    "rows": [{"replica": "pod-1", "unchanged_ms": 180},
 *             {"replica": "pod-7", "unchanged_ms": 5400000}]}
 *   connected: the last round reached the store; rounds / failed_rounds:
 *   rounds that reached the store / did not; published: payloads this
 *   replica wrote; applied: other replicas' payloads added; rejected:
 *   payloads refused (corrupt, hostile, from another fitted file); replicas:
 *   rows in the store at the last round, this one included; lag_ms:
 *   milliseconds since the last round that reached the store (-1: never),
 *   how stale this replica's view of the others may be; last_error: the last
 *   refusal or store error, for logs ("" if none); rows: the other
 *   replicas' rows in the store at the last round, each with the
 *   milliseconds since this replica saw it change (or first saw it), where
 *   to look for rows of replicas that are gone (router_sync_fold; an idle
 *   replica's row does not change either). Keys may be added.
 *   Buffer rules as router_decision_explain.
 * @param[in]  sync        Not NULL.
 * @param[out] buf         The caller's buffer; NULL only when capacity is 0.
 * @param[in]  capacity    Size of buf in bytes.
 * @param[out] out_needed  NULL, or receives the full size including the NUL.
 * @return ROUTER_OK, also when truncated; ROUTER_INVALID_ARGUMENT for NULL;
 *         ROUTER_FAILED_PRECONDITION after the router was freed.
 * Thread-safe. Never waits for the store.
 */
ROUTER_API router_status_t router_sync_status_json(const router_sync_t* sync, char* buf,
                                                   size_t capacity, size_t* out_needed);

/**
 * @brief  Stops a sync and frees it: the background thread ends, one last
 *         round publishes what was learned since the previous one (if the
 *         store can be reached), and the handle is freed. The router keeps
 *         what it learned from the others, and routes on as a replica that
 *         no longer syncs (it cannot sync again, see router_sync_start). The
 *         replica's row stays in the store (while the store lives), so a
 *         replica restarted under the same replica_id takes it back.
 * @param[in] sync  A sync, or NULL (then nothing happens).
 * Must not overlap another call on the same sync; may block for up to the
 * store's timeout (the last round). Call it before router_free of the
 * sync's router.
 */
ROUTER_API void router_sync_stop(router_sync_t* sync);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* ROUTER_C_H_ */
