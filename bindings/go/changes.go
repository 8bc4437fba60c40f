// Run-time changes of a Router: feedback, the catalog, prices, availability
// and the policy.

package router

/*
#include "cgo_helpers.h"
*/
import "C"

import (
	"math"
	"runtime"
	"unsafe"
)

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
	return r.withString(model, func(raw *C.router_t, c *C.char) C.go_result {
		return C.go_feedback_vector(raw, floats(vector), C.size_t(len(vector)), c,
			C.double(score), C.double(costUSD))
	})
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

// ModelPrice returns a model's current prices, in USD per million tokens:
// what a host multiplies a response's token counts by to know its cost.
func (r *Router) ModelPrice(model string) (inputUSDPerMTok, outputUSDPerMTok float64, err error) {
	var input, output C.double
	err = r.withString(model, func(raw *C.router_t, c *C.char) C.go_result {
		return C.go_model_price(raw, c, &input, &output)
	})
	return float64(input), float64(output), err
}

// RecordCost reports what a decision really cost: expectedUSD is the
// decision's CostUSD, realisedUSD what the call cost. A budget policy paces
// on the difference; other policies ignore it. Any router, no decision id.
func (r *Router) RecordCost(expectedUSD, realisedUSD float64) error {
	if r.raw == nil {
		return ErrClosed
	}
	err := toError(C.go_record_cost(r.raw, C.double(expectedUSD), C.double(realisedUSD)))
	runtime.KeepAlive(r)
	return err
}

// AddModel adds a model while other goroutines keep routing, and has the
// router learn it from labelled examples. profile is the model's entry of the
// config's "models" list as JSON ({"name": ..., "input_usd_per_mtok": ...,
// "output_usd_per_mtok": ...}). The examples are len(scores) queries: vectors
// holds their rows of dim floats back to back, scores the new model's score
// on each in [0, 1], costsUSD its observed cost on each (nil: the profile's
// prices). Without examples (all nil, dim 0) only a linucb router can add a
// model; kNN cannot add one at all (Unimplemented). A taken name is
// AlreadyExists (a removed model's name is free again); on error nothing
// changes.
func (r *Router) AddModel(profile string, vectors []float32, dim int, scores, costsUSD []float64) error {
	if r.raw == nil { // a closed router is ErrClosed before any argument is checked
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
	return r.withString(profile, func(raw *C.router_t, c *C.char) C.go_result {
		return C.go_add_model(raw, c, floats(vectors), C.size_t(count), C.size_t(dim),
			doubles(scores), doubles(costsUSD))
	})
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
