// POST /v1/chat/completions: check the request, route it (an alias) or take
// the model it names, and hand it to the proxy.

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"librouter/router"
)

// chatRequest is a checked chat completion request.
type chatRequest struct {
	fields map[string]json.RawMessage // the whole body, forwarded with "model" replaced
	model  string                     // as the client named it
	stream bool
	text   string // the conversation's text, for routing
}

type message struct {
	Role    json.RawMessage `json:"role"`
	Content json.RawMessage `json:"content"`
}

type contentPart struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

// parseChatRequest checks body and extracts what routing and forwarding need;
// the routing text is the messages' texts joined by newlines, cut to its last
// maxText bytes.
func parseChatRequest(body []byte, maxText int) (*chatRequest, *apiError) {
	bad := func(code, param, format string, args ...interface{}) (*chatRequest, *apiError) {
		return nil, invalidRequest(http.StatusBadRequest, code, param, fmt.Sprintf(format, args...))
	}
	req := &chatRequest{}
	if err := json.Unmarshal(body, &req.fields); err != nil || req.fields == nil {
		return bad("invalid_json", "", "the body is not a valid JSON object")
	}
	if raw, ok := req.fields["model"]; !ok || isNull(raw) {
		return bad("missing_model", "model", "model is required: a catalog model, or an alias such as \"auto\" to route")
	} else if json.Unmarshal(raw, &req.model) != nil || req.model == "" {
		return bad("invalid_type", "model", "model must be a non-empty string")
	}
	if raw, ok := req.fields["stream"]; ok && !isNull(raw) && json.Unmarshal(raw, &req.stream) != nil {
		return bad("invalid_type", "stream", "stream must be a boolean")
	}
	raw, ok := req.fields["messages"]
	if !ok || isNull(raw) {
		return bad("missing_messages", "messages", "messages is required: a non-empty array of messages")
	}
	var messages []message
	if json.Unmarshal(raw, &messages) != nil {
		return bad("invalid_type", "messages", "messages must be an array of message objects")
	}
	if len(messages) == 0 {
		return bad("empty_messages", "messages", "messages must not be empty")
	}
	var texts []string
	for i, m := range messages {
		var role string
		if json.Unmarshal(m.Role, &role) != nil || role == "" {
			return bad("invalid_type", fmt.Sprintf("messages[%d].role", i), "messages[%d].role must be a non-empty string", i)
		}
		text, ok := contentText(m.Content)
		if !ok {
			return bad("invalid_type", fmt.Sprintf("messages[%d].content", i),
				"messages[%d].content must be a string, an array of content parts, or null", i)
		}
		if text != "" {
			texts = append(texts, text)
		}
	}
	req.text = lastBytes(strings.Join(texts, "\n"), maxText)
	return req, nil
}

// contentText is a message content's text: a string, or the text parts of an
// array of parts (images and other parts carry none); null has none.
func contentText(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || isNull(raw) {
		return "", true
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return text, true
	}
	var parts []contentPart
	if json.Unmarshal(raw, &parts) != nil {
		return "", false
	}
	var texts []string
	for _, p := range parts {
		if p.Type == "text" && p.Text != "" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n"), true
}

func isNull(raw json.RawMessage) bool { return strings.TrimSpace(string(raw)) == "null" }

// lastBytes is s's last max bytes, starting at a UTF-8 character boundary:
// the end of a long conversation is what the next answer is about.
func lastBytes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	s = s[len(s)-max:]
	for len(s) > 0 && !utf8.RuneStart(s[0]) {
		s = s[1:]
	}
	return s
}

func (g *Gateway) serveChat(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, r, http.MethodPost)
		return
	}
	body, apiErr := g.readBody(w, r)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	req, apiErr := parseChatRequest(body, g.cfg.Limits.MaxRouteTextBytes)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	call := &call{req: req, start: time.Now()}
	if opts, routed := g.aliases[req.model]; routed {
		if apiErr := g.route(call, opts); apiErr != nil {
			writeError(w, apiErr)
			return
		}
	} else if g.cfg.Models[req.model] != nil {
		call.candidates = []string{req.model}
		call.reason = "explicit model, not routed"
		g.metrics.Add(g.metrics.passed, 1, req.model)
	} else {
		writeError(w, invalidRequest(http.StatusNotFound, "model_not_found", "model", fmt.Sprintf(
			"the model %q does not exist: name a catalog model or a routing alias (GET /v1/models lists them)", req.model)))
		return
	}
	g.proxy(w, r, call)
}

// route asks the router for the call's model and its ranked fallbacks.
func (g *Gateway) route(c *call, opts *router.RouteOptions) *apiError {
	start := time.Now()
	d, err := g.router.RouteWith(c.req.text, opts)
	c.routing = time.Since(start)
	g.metrics.Observe(g.metrics.routing, c.routing)
	if err != nil {
		g.logf("routing failed: %v", err)
		var e *router.Error
		if errors.As(err, &e) && (e.Status == router.InvalidArgument || e.Status == router.OutOfRange) {
			return invalidRequest(http.StatusBadRequest, "routing_refused", "messages", "the router refused the request: "+e.Message)
		}
		return serverError(http.StatusInternalServerError, "routing_failed", "routing failed: "+err.Error())
	}
	g.metrics.Add(g.metrics.decisions, 1, d.Model)
	c.decision = &d
	c.info = parseDecisionJSON(d.JSON)
	c.reason = c.info.reason()
	c.candidates = append([]string{d.Model}, d.Fallbacks...)
	return nil
}

// decisionInfo is what the gateway reads from a decision's JSON: the ranked
// candidates' estimates, and the trace.
type decisionInfo struct {
	Ranked []struct {
		Model            string  `json:"model"`
		PredictedQuality float64 `json:"predicted_quality"`
		ExpectedCostUSD  float64 `json:"expected_cost_usd"`
	} `json:"ranked"`
	Trace struct {
		RouterKind       string `json:"router_kind"`
		Policy           string `json:"policy"`
		PolicyParameters string `json:"policy_parameters"`
		Note             string `json:"note"`
	} `json:"trace"`
}

func parseDecisionJSON(text string) decisionInfo {
	var info decisionInfo
	json.Unmarshal([]byte(text), &info) // best effort: it only feeds the reason and estimates
	return info
}

// reason is a one-line summary of the choice, e.g.
// "knn/max_utility lambda=100: q=0.96 est=$0.004 best of 3".
func (info decisionInfo) reason() string {
	t := info.Trace
	reason := t.RouterKind + "/" + t.Policy
	if t.PolicyParameters != "" {
		reason += " " + t.PolicyParameters
	}
	if len(info.Ranked) > 0 {
		best := info.Ranked[0]
		reason += fmt.Sprintf(": q=%.2f est=$%.6g best of %d", best.PredictedQuality, best.ExpectedCostUSD, len(info.Ranked))
	}
	if t.Note != "" {
		reason += "; " + t.Note
	}
	return reason
}

// expectedCost is the router's cost estimate for model, 0 if it has none.
func (info decisionInfo) expectedCost(model string) float64 {
	for _, c := range info.Ranked {
		if c.Model == model {
			return c.ExpectedCostUSD
		}
	}
	return 0
}
