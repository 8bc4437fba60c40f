// POST /v1/feedback: a client's quality score for a routed answer, reported
// to the router with the answer's realised cost.
//
// librouter takes the score and the cost in one call (router_feedback), but
// the gateway learns the cost when the answer comes back and the score only
// later, from the client. So the gateway keeps, per decision id, what it
// learned from the answer (the model and its cost) in a bounded log, and
// reports both when the score arrives.

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"

	"librouter/router"
)

// outcome is what the gateway learned from one routed answer.
type outcome struct {
	model      string  // the model that answered
	costUSD    float64 // realised, or the router's estimate when the answer had no usage
	costSource string  // "usage" or "estimate"
	// vector is the query's vector when a fallback answered: the router's
	// log credits an id to the model it chose, so the outcome is reported
	// by vector and model instead (FeedbackVector). nil otherwise.
	vector []float32
}

// feedbackLog maps decision ids to outcomes, keeping the newest capacity.
type feedbackLog struct {
	mu       sync.Mutex
	entries  map[uint64]outcome
	order    []uint64 // ring of ids in arrival order; the oldest is evicted
	next     int
	capacity int
}

func newFeedbackLog(capacity int) *feedbackLog {
	return &feedbackLog{entries: make(map[uint64]outcome), order: make([]uint64, capacity), capacity: capacity}
}

func (l *feedbackLog) put(id uint64, o outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if old := l.order[l.next]; old != 0 {
		delete(l.entries, old) // a no-op when it was reported already
	}
	l.order[l.next] = id
	l.next = (l.next + 1) % l.capacity
	l.entries[id] = o
}

// take removes and returns id's outcome: each id is reported once.
func (l *feedbackLog) take(id uint64) (outcome, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	o, ok := l.entries[id]
	delete(l.entries, id)
	return o, ok
}

// restore puts back an outcome taken for a report that did not happen.
func (l *feedbackLog) restore(id uint64, o outcome) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries[id] = o
}

type feedbackRequest struct {
	DecisionID json.RawMessage `json:"decision_id"` // a number, or a decimal string (ids use all 64 bits)
	Score      *float64        `json:"score"`
}

func parseFeedback(body []byte) (uint64, float64, *apiError) {
	var req feedbackRequest
	if err := json.Unmarshal(body, &req); err != nil {
		return 0, 0, invalidRequest(http.StatusBadRequest, "invalid_json", "", "the body is not a valid JSON object: "+err.Error())
	}
	raw := bytes.TrimSpace(req.DecisionID)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, 0, invalidRequest(http.StatusBadRequest, "missing_decision_id", "decision_id", "decision_id is required (the X-Router-Decision-Id of the answer)")
	}
	if raw[0] == '"' {
		var text string
		if json.Unmarshal(raw, &text) == nil {
			raw = []byte(text)
		}
	}
	id, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil {
		return 0, 0, invalidRequest(http.StatusBadRequest, "invalid_type", "decision_id", "decision_id must be an unsigned 64-bit integer, as a number or a decimal string")
	}
	if id == 0 {
		return 0, 0, invalidRequest(http.StatusBadRequest, "no_decision_id", "decision_id",
			"decision_id 0 marks an answer nothing learns from: an explicit model, or a router that does not learn online (only linucb issues ids)")
	}
	if req.Score == nil || math.IsNaN(*req.Score) || *req.Score < 0 || *req.Score > 1 {
		return 0, 0, invalidRequest(http.StatusBadRequest, "invalid_score", "score", "score is required, a number in [0, 1]")
	}
	return id, *req.Score, nil
}

func (g *Gateway) serveFeedback(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, r, http.MethodPost)
		return
	}
	body, apiErr := g.readBody(w, r)
	if apiErr == nil {
		var id uint64
		var score float64
		if id, score, apiErr = parseFeedback(body); apiErr == nil {
			apiErr = g.report(w, id, score)
		}
	}
	if apiErr != nil {
		g.metrics.Add(g.metrics.feedback, 1, apiErr.Code)
		writeError(w, apiErr)
	}
}

// report sends id's score and realised cost to the router and answers 200.
func (g *Gateway) report(w http.ResponseWriter, id uint64, score float64) *apiError {
	o, ok := g.outcomes.take(id)
	if !ok {
		return invalidRequest(http.StatusNotFound, "decision_not_found", "decision_id", fmt.Sprintf(
			"decision %d is unknown: not issued by this gateway, already reported, or older than the last %d decisions",
			id, g.cfg.Limits.FeedbackEntries))
	}
	var err error
	if o.vector != nil {
		err = g.router.FeedbackVector(o.vector, o.model, score, o.costUSD)
	} else {
		err = g.router.Feedback(id, score, o.costUSD)
	}
	if err != nil {
		var e *router.Error
		if errors.As(err, &e) && e.Status == router.NotFound {
			// Expired from the router's own log, or its model was removed.
			return invalidRequest(http.StatusNotFound, "decision_not_found", "decision_id",
				fmt.Sprintf("the router no longer knows decision %d: %s", id, e.Message))
		}
		g.outcomes.restore(id, o)
		g.logf("feedback %d: %v", id, err)
		return serverError(http.StatusInternalServerError, "feedback_failed", "the router refused the feedback: "+err.Error())
	}
	g.metrics.Add(g.metrics.feedback, 1, "ok")
	g.logf("feedback decision=%d model=%s score=%g cost_usd=%g (%s)", id, o.model, score, o.costUSD, o.costSource)
	writeJSON(w, http.StatusOK, map[string]interface{}{
		"object": "feedback", "decision_id": strconv.FormatUint(id, 10), "model": o.model,
		"score": score, "cost_usd": o.costUSD, "cost_source": o.costSource,
	})
	return nil
}
