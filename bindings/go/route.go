// Routing: decisions and per-request options.

package router

/*
#include "cgo_helpers.h"
*/
import "C"

import (
	"runtime"
	"unsafe"
)

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
// "Per-request overrides") and the task it comes from; what is left nil
// keeps the router's setting.
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
	// Task names the task or application the request comes from, as the
	// training rows named it (their "source"): a cluster router then uses
	// that task's estimates. A task the router did not learn is ignored.
	// "": none.
	Task string
}

// cOptions are RouteOptions in C form; free them with free.
type cOptions struct {
	flags       C.uint32_t
	lambda, tau C.double
	names       []*C.char // C strings: Go memory holding no Go pointers may go to C
	budgetClass *C.char   // nil: no budget class
	task        *C.char   // nil: no task
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
	var err error
	if c.budgetClass, err = cString(opts.BudgetClass, true); err != nil {
		c.free()
		return nil, err
	}
	if c.task, err = cString(opts.Task, true); err != nil {
		c.free()
		return nil, err
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
	C.free(unsafe.Pointer(c.task))
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
		C.size_t(len(c.names)), c.budgetClass, c.task, &d))
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
		c.budgetClass, c.task, &d))
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
