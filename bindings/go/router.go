// Package router routes each prompt to the LLM that should answer it: the Go
// binding of librouter's C ABI (router_c.h), through cgo.
//
//	r, err := router.FromDataset("queries.jsonl", `{"policy": {"lambda": 100}}`)
//	if err != nil { ... }
//	defer r.Close()
//	d, err := r.Route("Why does free() crash?")
//	fmt.Println(d.Model, d.Quality, d.CostUSD)
//
// Building needs librouter_c's pkg-config file (router_c.pc) on
// PKG_CONFIG_PATH, or CGO_CFLAGS/CGO_LDFLAGS naming its include and lib dirs.
//
// Threads: every method of a Router may be called from many goroutines at
// once, except Close, which must not overlap any other call. Errors are
// *Error values carrying the C status and message.
package router

/*
#cgo pkg-config: router_c
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

static go_result go_check(router_status_t status) {
  go_result result = {status, NULL};
  if (status != ROUTER_OK) result.message = strdup(router_last_error_message());
  return result;
}

static go_result go_create_from_dataset(const char* dataset, const char* vectors,
                                        const char* config, router_t** out) {
  return go_check(vectors == NULL
                      ? router_create_from_dataset(dataset, config, out)
                      : router_create_from_dataset_with_vectors(dataset, vectors, config, out));
}
static go_result go_load(const char* path, router_t** out) {
  return go_check(router_load(path, out));
}
static go_result go_save(const router_t* router, const char* path) {
  return go_check(router_save(router, path));
}
static go_result go_reload(router_t* router, const char* path) {
  return go_check(router_reload(router, path));
}
static go_result go_feedback(const router_t* router, uint64_t id, double score, double cost) {
  return go_check(router_feedback(router, id, score, cost));
}
static go_result go_feedback_vector(const router_t* router, const float* vector, size_t dim,
                                    const char* model, double score, double cost) {
  return go_check(router_feedback_vector(router, vector, dim, model, score, cost));
}
static go_result go_remove_model(router_t* router, const char* model) {
  return go_check(router_remove_model(router, model));
}
static go_result go_set_model_price(router_t* router, const char* model, double input,
                                    double output) {
  return go_check(router_set_model_price(router, model, input, output));
}
static go_result go_add_model(router_t* router, const char* profile, const float* vectors,
                              size_t count, size_t dim, const double* scores,
                              const double* costs) {
  return go_check(router_add_model(router, profile, vectors, count, dim, scores, costs));
}
static go_result go_set_model_available(router_t* router, const char* model, int32_t available) {
  return go_check(router_set_model_available(router, model, available));
}
static go_result go_set_policy(router_t* router, const char* policy) {
  return go_check(router_set_policy(router, policy));
}
static go_result go_calibrate_threshold(router_t* router, const float* vectors, size_t count,
                                        size_t dim, double strong_share, double* out) {
  return go_check(router_calibrate_threshold(router, vectors, count, dim, strong_share, out));
}

// The policy state JSON, malloc'ed into *out. Other threads' routes change
// the state (and so its size) between calls: retry until it fits.
static go_result go_policy_state(const router_t* router, char** out) {
  size_t capacity = 256;
  for (;;) {
    char* text = malloc(capacity);
    if (text == NULL) {
      go_result result = {ROUTER_RESOURCE_EXHAUSTED, strdup("out of memory")};
      return result;
    }
    size_t needed = 0;
    router_status_t status = router_policy_state_json(router, text, capacity, &needed);
    if (status == ROUTER_OK && needed <= capacity) {
      *out = text;
      return go_check(status);
    }
    free(text);
    if (status != ROUTER_OK) return go_check(status);
    capacity = needed + 64;
  }
}
static go_result go_dim(const router_t* router, int32_t* out) {
  return go_check(router_dim(router, out));
}
static go_result go_model_count(const router_t* router, int32_t* out) {
  return go_check(router_model_count(router, out));
}
static go_result go_model_name(const router_t* router, int32_t index, const char** out) {
  return go_check(router_model_name(router, index, out));
}
static go_result go_embed_text(const router_t* router, const char* text, float* out,
                               size_t capacity) {
  return go_check(router_embed_text(router, text, out, capacity));
}

// router_route_options_t built here, so its struct_size is this header's.
static router_route_options_t go_options(uint32_t flags, double lambda, double tau,
                                         const char* const* allowed, size_t allowed_count,
                                         const char* budget_class) {
  router_route_options_t options;
  memset(&options, 0, sizeof options);
  options.struct_size = sizeof options;
  options.flags = flags;
  options.lambda = lambda;
  options.tau = tau;
  options.allowed_models = allowed;
  options.allowed_model_count = allowed_count;
  options.budget_class = budget_class;
  return options;
}
static go_result go_route_text_with(const router_t* router, const char* text, uint32_t flags,
                                    double lambda, double tau, const char* const* allowed,
                                    size_t allowed_count, const char* budget_class,
                                    router_decision_t** out) {
  router_route_options_t options =
      go_options(flags, lambda, tau, allowed, allowed_count, budget_class);
  return go_check(router_route_text_with(router, text, &options, out));
}
static go_result go_route_vector_with(const router_t* router, const float* vector, size_t dim,
                                      int64_t input_tokens, uint32_t flags, double lambda,
                                      double tau, const char* const* allowed,
                                      size_t allowed_count, const char* budget_class,
                                      router_decision_t** out) {
  router_route_options_t options =
      go_options(flags, lambda, tau, allowed, allowed_count, budget_class);
  return go_check(
      router_route_vector_with(router, vector, dim, input_tokens, &options, out));
}
static go_result go_route_batch(const router_t* router, const float* vectors, size_t count,
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

static router_status_t go_decision_figures(const router_decision_t* d, go_figures* out) {
  router_status_t status = router_decision_model(d, &out->model);
  if (status == ROUTER_OK) status = router_decision_model_index(d, &out->model_index);
  if (status == ROUTER_OK) status = router_decision_quality(d, &out->quality);
  if (status == ROUTER_OK) status = router_decision_cost_usd(d, &out->cost_usd);
  if (status == ROUTER_OK) status = router_decision_fallback_count(d, &out->fallback_count);
  if (status == ROUTER_OK) status = router_decision_id(d, &out->id);
  return status;
}

// The explanation (json == 0) or the JSON text, malloc'ed; NULL on failure.
static char* go_decision_text(const router_decision_t* d, int json) {
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
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"unsafe"
)

// ABIVersion is the C ABI version this package is written against.
const ABIVersion = 1

// Status is a C status code (ROUTER_* in router_c.h); the values are frozen.
type Status int32

const (
	OK                 Status = 0
	Cancelled          Status = 1
	Unknown            Status = 2
	InvalidArgument    Status = 3
	DeadlineExceeded   Status = 4
	NotFound           Status = 5
	AlreadyExists      Status = 6
	PermissionDenied   Status = 7
	ResourceExhausted  Status = 8
	FailedPrecondition Status = 9
	Aborted            Status = 10
	OutOfRange         Status = 11
	Unimplemented      Status = 12
	Internal           Status = 13
	Unavailable        Status = 14
	DataLoss           Status = 15
	Unauthenticated    Status = 16
)

// String is the code's C name, e.g. "ROUTER_NOT_FOUND".
func (s Status) String() string {
	return C.GoString(C.router_status_name(C.router_status_t(s)))
}

// Error is a failed call: its status and librouter's message.
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string { return e.Status.String() + ": " + e.Message }

// ErrClosed is returned by calls on a Router after Close.
var ErrClosed = errors.New("router: the router is closed")

func toError(result C.go_result) error {
	if result.status == C.ROUTER_OK {
		return nil
	}
	err := &Error{Status: Status(result.status), Message: C.GoString(result.message)}
	C.free(unsafe.Pointer(result.message))
	return err
}

func invalidArgument(format string, args ...interface{}) error {
	return &Error{Status: InvalidArgument, Message: fmt.Sprintf(format, args...)}
}

// cString is a C copy of s (NULL for "" when emptyIsNull); free it with
// C.free. A NUL byte would silently cut the string short in C: refused.
func cString(s string, emptyIsNull bool) (*C.char, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, invalidArgument("%q contains a NUL byte", s)
	}
	if s == "" && emptyIsNull {
		return nil, nil
	}
	return C.CString(s), nil
}

func floats(v []float32) *C.float {
	if len(v) == 0 {
		return nil
	}
	return (*C.float)(unsafe.Pointer(&v[0]))
}

func doubles(v []float64) *C.double {
	if len(v) == 0 {
		return nil
	}
	return (*C.double)(unsafe.Pointer(&v[0]))
}

// Version is the linked librouter_c's version, "MAJOR.MINOR.PATCH".
func Version() string { return C.GoString(C.router_version_string()) }

// LinkedABIVersion is the linked librouter_c's ABI version.
func LinkedABIVersion() int { return int(C.router_abi_version()) }

// Router is a fitted router (a C router_t). Free it with Close; a finalizer
// frees one that is dropped unclosed.
type Router struct {
	raw *C.router_t
}

func newRouter(raw *C.router_t) *Router {
	r := &Router{raw: raw}
	runtime.SetFinalizer(r, (*Router).Close)
	return r
}

// FromDataset fits a router on a JSONL dataset (rows with split "train" or
// none). config is the pipeline configuration as JSON, "" for the defaults.
func FromDataset(dataset, config string) (*Router, error) {
	return FromDatasetWithVectors(dataset, "", config)
}

// FromDatasetWithVectors is FromDataset with the host's query vectors (a
// .npy matrix, one row per JSONL line); "" for none.
func FromDatasetWithVectors(dataset, vectors, config string) (*Router, error) {
	cDataset, err := cString(dataset, false)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cDataset))
	cVectors, err := cString(vectors, true)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cVectors))
	cConfig, err := cString(config, true)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cConfig))
	var raw *C.router_t
	if err := toError(C.go_create_from_dataset(cDataset, cVectors, cConfig, &raw)); err != nil {
		return nil, err
	}
	return newRouter(raw), nil
}

// Load loads a router written by Save; a damaged file is a DataLoss error.
func Load(path string) (*Router, error) {
	cPath, err := cString(path, false)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cPath))
	var raw *C.router_t
	if err := toError(C.go_load(cPath, &raw)); err != nil {
		return nil, err
	}
	return newRouter(raw), nil
}

// Close frees the router. It must not overlap any other call on r; calling
// it again does nothing.
func (r *Router) Close() {
	if r.raw != nil {
		C.router_free(r.raw)
		r.raw = nil
		runtime.SetFinalizer(r, nil)
	}
}

// withString calls call with r's handle and text as a C string (freed after
// the call), for the calls that take one string.
func (r *Router) withString(text string, call func(raw *C.router_t, cText *C.char) C.go_result) error {
	if r.raw == nil {
		return ErrClosed
	}
	cText, err := cString(text, false)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cText))
	err = toError(call(r.raw, cText))
	runtime.KeepAlive(r) // the finalizer must not free r.raw during the call
	return err
}

// Save writes the router to one file, atomically.
func (r *Router) Save(path string) error {
	return r.withString(path, func(raw *C.router_t, c *C.char) C.go_result {
		return C.go_save(raw, c)
	})
}

// Reload swaps in the router saved at path while other goroutines keep
// routing; on error the current one keeps serving.
func (r *Router) Reload(path string) error {
	return r.withString(path, func(raw *C.router_t, c *C.char) C.go_result {
		return C.go_reload(raw, c)
	})
}

// Feedback reports a routed request's outcome by its Decision.ID: the
// observed quality in [0, 1] and cost in USD. Each ID is reported once.
func (r *Router) Feedback(decisionID uint64, score, costUSD float64) error {
	if r.raw == nil {
		return ErrClosed
	}
	err := toError(C.go_feedback(r.raw, C.uint64_t(decisionID), C.double(score), C.double(costUSD)))
	runtime.KeepAlive(r)
	return err
}

// FeedbackVector reports an outcome by the query's vector and the model that
// answered.
func (r *Router) FeedbackVector(vector []float32, model string, score, costUSD float64) error {
	if r.raw == nil {
		return ErrClosed
	}
	cModel, err := cString(model, false)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cModel))
	err = toError(C.go_feedback_vector(r.raw, floats(vector), C.size_t(len(vector)), cModel,
		C.double(score), C.double(costUSD)))
	runtime.KeepAlive(r)
	return err
}

// RemoveModel takes a model out of service; later models' indexes shift down.
func (r *Router) RemoveModel(model string) error {
	return r.withString(model, func(raw *C.router_t, c *C.char) C.go_result {
		return C.go_remove_model(raw, c)
	})
}

// SetModelPrice changes a model's prices, in USD per million tokens.
func (r *Router) SetModelPrice(model string, inputUSDPerMTok, outputUSDPerMTok float64) error {
	return r.withString(model, func(raw *C.router_t, c *C.char) C.go_result {
		return C.go_set_model_price(raw, c, C.double(inputUSDPerMTok), C.double(outputUSDPerMTok))
	})
}

// AddModel adds a model while other goroutines keep routing, and has the
// router learn it from labelled examples. profile is the model's entry of the
// config's "models" list as JSON ({"name": ..., "input_usd_per_mtok": ...,
// "output_usd_per_mtok": ...}). The examples are len(scores) queries: vectors
// holds their rows of dim floats back to back, scores the new model's score
// on each in [0, 1], costsUSD its observed cost on each (nil: the profile's
// prices). Without examples (all nil, dim 0) only a linucb router can add a
// model; kNN cannot add one at all (Unimplemented). A taken name, removed
// models' included, is AlreadyExists; on error nothing changes.
func (r *Router) AddModel(profile string, vectors []float32, dim int, scores, costsUSD []float64) error {
	if r.raw == nil {
		return ErrClosed
	}
	// C reads count rows through raw pointers: check every length first.
	count := len(scores)
	if dim < 0 || (dim > 0 && count > math.MaxInt/dim) || len(vectors) != count*dim {
		return invalidArgument("%d scores with dim %d need %d floats, got %d",
			count, dim, count*dim, len(vectors))
	}
	if costsUSD != nil && len(costsUSD) != count {
		return invalidArgument("costsUSD has %d entries for %d examples", len(costsUSD), count)
	}
	cProfile, err := cString(profile, false)
	if err != nil {
		return err
	}
	defer C.free(unsafe.Pointer(cProfile))
	err = toError(C.go_add_model(r.raw, cProfile, floats(vectors), C.size_t(count),
		C.size_t(dim), doubles(scores), doubles(costsUSD)))
	runtime.KeepAlive(r)
	return err
}

// SetModelAvailable marks a model down (every policy skips it, e.g. during
// an outage) or up again.
func (r *Router) SetModelAvailable(model string, available bool) error {
	var flag C.int32_t
	if available {
		flag = 1
	}
	return r.withString(model, func(raw *C.router_t, c *C.char) C.go_result {
		return C.go_set_model_available(raw, c, flag)
	})
}

// SetPolicy replaces the policy by the config's "policy" object given as
// JSON, e.g. `{"kind": "budget", "target_cost_usd": 0.0002}`. On error the
// current policy stays.
func (r *Router) SetPolicy(policyJSON string) error {
	return r.withString(policyJSON, func(raw *C.router_t, c *C.char) C.go_result {
		return C.go_set_policy(raw, c)
	})
}

// CalibrateThreshold sets a threshold policy's threshold so that a share
// strongShare (in [0, 1]) of the sample queries goes to the strong model,
// and returns it. vectors holds the queries' rows of dim floats back to
// back. A policy of another kind is FailedPrecondition.
func (r *Router) CalibrateThreshold(vectors []float32, dim int, strongShare float64) (float64, error) {
	if r.raw == nil {
		return 0, ErrClosed
	}
	if dim <= 0 || len(vectors)%dim != 0 {
		return 0, invalidArgument("%d floats are not whole rows of dim %d", len(vectors), dim)
	}
	var threshold C.double
	err := toError(C.go_calibrate_threshold(r.raw, floats(vectors), C.size_t(len(vectors)/dim),
		C.size_t(dim), C.double(strongShare), &threshold))
	runtime.KeepAlive(r)
	return float64(threshold), err
}

// PolicyState is the policy's live state as one JSON object: its kind and
// parameters; for "budget" the pacing price, spend and requests so far; for
// "threshold" the threshold, decisions made and realised strong share.
func (r *Router) PolicyState() (string, error) {
	if r.raw == nil {
		return "", ErrClosed
	}
	var text *C.char
	err := toError(C.go_policy_state(r.raw, &text))
	runtime.KeepAlive(r)
	if err != nil {
		return "", err
	}
	defer C.free(unsafe.Pointer(text))
	return C.GoString(text), nil
}

// Dim is the size of the query vectors the router takes.
func (r *Router) Dim() (int, error) {
	if r.raw == nil {
		return 0, ErrClosed
	}
	var dim C.int32_t
	err := toError(C.go_dim(r.raw, &dim))
	runtime.KeepAlive(r)
	return int(dim), err
}

// Models are the candidate models' names, in index order.
func (r *Router) Models() ([]string, error) {
	if r.raw == nil {
		return nil, ErrClosed
	}
	defer runtime.KeepAlive(r)
	var count C.int32_t
	if err := toError(C.go_model_count(r.raw, &count)); err != nil {
		return nil, err
	}
	names := make([]string, count)
	for i := range names {
		var name *C.char
		if err := toError(C.go_model_name(r.raw, C.int32_t(i), &name)); err != nil {
			return nil, err
		}
		names[i] = C.GoString(name)
	}
	return names, nil
}

// EmbedText writes the vector the router routes text by into out (Dim
// floats) and returns out[:Dim].
func (r *Router) EmbedText(text string, out []float32) ([]float32, error) {
	if r.raw == nil {
		return nil, ErrClosed
	}
	cText, err := cString(text, false)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cText))
	err = toError(C.go_embed_text(r.raw, cText, floats(out), C.size_t(len(out))))
	runtime.KeepAlive(r)
	if err != nil {
		return nil, err
	}
	dim, err := r.Dim()
	if err != nil {
		return nil, err
	}
	return out[:dim], nil
}

// Decision is one routing decision, copied out of the C decision.
type Decision struct {
	Model       string
	ModelIndex  int      // indexes Models()
	Quality     float64  // predicted quality of the chosen model, in [0, 1]
	CostUSD     float64  // its expected cost for this prompt
	Fallbacks   []string // the other eligible models, in retry order
	ID          uint64   // for Feedback; 0 unless the router learns online
	Explanation string   // a readable paragraph: why this model
	JSON        string   // the decision and its trace as one JSON object
}

// copyDecision copies a C decision into Go memory and frees it.
func copyDecision(d *C.router_decision_t) (Decision, error) {
	defer C.router_decision_free(d)
	var figures C.go_figures
	if status := C.go_decision_figures(d, &figures); status != C.ROUTER_OK {
		return Decision{}, &Error{Status: Status(status), Message: "reading a decision failed"}
	}
	decision := Decision{
		Model:      C.GoString(figures.model),
		ModelIndex: int(figures.model_index),
		Quality:    float64(figures.quality),
		CostUSD:    float64(figures.cost_usd),
		Fallbacks:  make([]string, figures.fallback_count),
		ID:         uint64(figures.id),
	}
	for i := range decision.Fallbacks {
		var name *C.char
		C.router_decision_fallback(d, C.int32_t(i), &name)
		decision.Fallbacks[i] = C.GoString(name)
	}
	for _, text := range []struct {
		json int
		into *string
	}{{0, &decision.Explanation}, {1, &decision.JSON}} {
		c := C.go_decision_text(d, C.int(text.json))
		if c == nil {
			return Decision{}, &Error{Status: ResourceExhausted, Message: "reading a decision failed"}
		}
		*text.into = C.GoString(c)
		C.free(unsafe.Pointer(c))
	}
	return decision, nil
}

// Route routes a prompt.
func (r *Router) Route(prompt string) (Decision, error) {
	return r.RouteWith(prompt, nil)
}

// RouteVector routes a query vector the host computed (Dim floats);
// inputTokens is the prompt's length in tokens, 0 if unknown.
func (r *Router) RouteVector(vector []float32, inputTokens int64) (Decision, error) {
	return r.RouteVectorWith(vector, inputTokens, nil)
}

// RouteOptions are one request's own policy parameters (docs/policies.md,
// "Per-request overrides"); what is left nil keeps the router's setting.
type RouteOptions struct {
	// Lambda is quality per USD for max_utility, or replaces budget pacing's
	// dual price; finite, >= 0.
	Lambda *float64
	// Tau is quality_floor's floor in [0, 1], or the threshold policy's
	// threshold in [-1, 1].
	Tau *float64
	// AllowedModels are the only catalog models this request may go to;
	// nil or empty: any.
	AllowedModels []string
	// BudgetClass names one of the policy's budget classes: its lambda, tau
	// and allow-list apply where the fields above set none. "": none.
	BudgetClass string
}

// cOptions are RouteOptions in C form; free them with free.
type cOptions struct {
	flags       C.uint32_t
	lambda, tau C.double
	names       []*C.char // C strings: Go memory holding no Go pointers may go to C
	budgetClass *C.char   // nil: no budget class
}

func newCOptions(opts *RouteOptions) (*cOptions, error) {
	c := &cOptions{}
	if opts == nil {
		return c, nil
	}
	if opts.Lambda != nil {
		c.flags |= C.ROUTER_OVERRIDE_LAMBDA
		c.lambda = C.double(*opts.Lambda)
	}
	if opts.Tau != nil {
		c.flags |= C.ROUTER_OVERRIDE_TAU
		c.tau = C.double(*opts.Tau)
	}
	for _, model := range opts.AllowedModels {
		name, err := cString(model, false)
		if err != nil {
			c.free()
			return nil, err
		}
		c.names = append(c.names, name)
	}
	if opts.BudgetClass != "" {
		name, err := cString(opts.BudgetClass, false)
		if err != nil {
			c.free()
			return nil, err
		}
		c.budgetClass = name
	}
	return c, nil
}

func (c *cOptions) allowed() **C.char {
	if len(c.names) == 0 {
		return nil
	}
	return &c.names[0]
}

func (c *cOptions) free() {
	for _, name := range c.names {
		C.free(unsafe.Pointer(name))
	}
	C.free(unsafe.Pointer(c.budgetClass))
}

// RouteWith routes a prompt with this request's own policy parameters (nil
// opts: as Route). An unknown allowed model is InvalidArgument.
func (r *Router) RouteWith(prompt string, opts *RouteOptions) (Decision, error) {
	if r.raw == nil {
		return Decision{}, ErrClosed
	}
	cPrompt, err := cString(prompt, false)
	if err != nil {
		return Decision{}, err
	}
	defer C.free(unsafe.Pointer(cPrompt))
	c, err := newCOptions(opts)
	if err != nil {
		return Decision{}, err
	}
	defer c.free()
	var d *C.router_decision_t
	err = toError(C.go_route_text_with(r.raw, cPrompt, c.flags, c.lambda, c.tau, c.allowed(),
		C.size_t(len(c.names)), c.budgetClass, &d))
	runtime.KeepAlive(r)
	if err != nil {
		return Decision{}, err
	}
	return copyDecision(d)
}

// RouteVectorWith is RouteVector with this request's own policy parameters
// (nil opts: as RouteVector).
func (r *Router) RouteVectorWith(vector []float32, inputTokens int64, opts *RouteOptions) (Decision, error) {
	if r.raw == nil {
		return Decision{}, ErrClosed
	}
	c, err := newCOptions(opts)
	if err != nil {
		return Decision{}, err
	}
	defer c.free()
	var d *C.router_decision_t
	err = toError(C.go_route_vector_with(r.raw, floats(vector), C.size_t(len(vector)),
		C.int64_t(inputTokens), c.flags, c.lambda, c.tau, c.allowed(), C.size_t(len(c.names)),
		c.budgetClass, &d))
	runtime.KeepAlive(r)
	if err != nil {
		return Decision{}, err
	}
	return copyDecision(d)
}

// RouteBatch routes len(modelIndex) queries in one call into the caller's
// slices: query i is the Dim floats at vectors[i*stride:] (stride >= Dim, so
// rows may be padded). inputTokens (nil: all unknown), quality and costUSD
// (nil: not wanted) have one entry per query. When a query fails the error
// says which ("query 3: ...") and the outputs are unspecified.
func (r *Router) RouteBatch(vectors []float32, stride int, inputTokens []int64,
	modelIndex []int32, quality, costUSD []float64) error {
	dim, err := r.Dim()
	if err != nil {
		return err
	}
	// C reads and writes through raw pointers: check every length first. (A
	// concurrent Reload changing Dim makes C refuse our dim, so this holds.)
	count := len(modelIndex)
	if stride < dim {
		return invalidArgument("stride %d is below dim %d", stride, dim)
	}
	if count > 0 && len(vectors) < (count-1)*stride+dim {
		return invalidArgument("%d rows of stride %d need %d floats, got %d",
			count, stride, (count-1)*stride+dim, len(vectors))
	}
	if inputTokens != nil && len(inputTokens) != count {
		return invalidArgument("inputTokens has %d entries for %d queries", len(inputTokens), count)
	}
	if quality != nil && len(quality) != count {
		return invalidArgument("quality has %d entries for %d queries", len(quality), count)
	}
	if costUSD != nil && len(costUSD) != count {
		return invalidArgument("costUSD has %d entries for %d queries", len(costUSD), count)
	}
	if count == 0 {
		return nil
	}
	var tokens *C.int64_t
	if inputTokens != nil {
		tokens = (*C.int64_t)(unsafe.Pointer(&inputTokens[0]))
	}
	err = toError(C.go_route_batch(r.raw, floats(vectors), C.size_t(count), C.size_t(dim),
		C.size_t(stride), tokens, (*C.int32_t)(unsafe.Pointer(&modelIndex[0])),
		doubles(quality), doubles(costUSD)))
	runtime.KeepAlive(r)
	return err
}
