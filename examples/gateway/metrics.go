// The gateway's metrics, written in Prometheus' text format for GET /metrics.

package main

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// counter is a family of counters told apart by label values.
type counter struct {
	name, help string
	labels     []string
	values     map[string]float64 // key: the label values joined by \x00
}

// histogram counts observations (seconds) into cumulative buckets.
type histogram struct {
	name, help string
	bounds     []float64
	counts     []uint64 // per bucket, not cumulative; the last is +Inf
	sum        float64
	count      uint64
}

// Metrics holds every metric; one mutex guards them all (each update is a
// few map operations).
type Metrics struct {
	mu        sync.Mutex
	requests  *counter // by path and status code
	decisions *counter // routed decisions, by the chosen model
	passed    *counter // explicit-model requests, by model
	answers   *counter // successful upstream answers, by the model that answered
	spend     *counter // realised cost, USD, by model
	unpriced  *counter // answers with usage but no price, by model
	costErrs  *counter // failed RecordCost calls (a routed answer's cost to the router)
	tokens    *counter // by model and type (prompt, completion)
	fallbacks *counter // attempts on a fallback model, by that model
	upErrors  *counter // failed upstream attempts, by model and reason
	feedback  *counter // POST /v1/feedback outcomes
	reloads   *counter // router reloads, by result
	inFlight  int64
	routing   *histogram
	upstream  *histogram
	counters  []*counter
}

func newCounter(name, help string, labels ...string) *counter {
	return &counter{name: name, help: help, labels: labels, values: map[string]float64{}}
}

// NewMetrics makes the gateway's metrics, all zero.
func NewMetrics() *Metrics {
	m := &Metrics{
		requests:  newCounter("gateway_requests_total", "HTTP requests served, by path and status code.", "path", "code"),
		decisions: newCounter("gateway_decisions_total", "Routing decisions, by the model the router chose.", "model"),
		passed:    newCounter("gateway_passthrough_total", "Requests naming a catalog model, sent to it unrouted.", "model"),
		answers:   newCounter("gateway_answers_total", "Successful upstream answers, by the model that answered.", "model"),
		spend:     newCounter("gateway_spend_usd_total", "Realised cost in USD: the answers' usage at the router's prices (or the config's overrides).", "model"),
		unpriced:  newCounter("gateway_unpriced_answers_total", "Answers with usage that no price covers (a model outside the router's catalog without an override).", "model"),
		costErrs:  newCounter("gateway_record_cost_errors_total", "Routed answers whose realised cost the router refused (RecordCost failed)."),
		tokens:    newCounter("gateway_tokens_total", "Tokens reported in the answers' usage.", "model", "type"),
		fallbacks: newCounter("gateway_fallbacks_total", "Attempts on a fallback model after the ones before it failed.", "model"),
		upErrors:  newCounter("gateway_upstream_errors_total", "Failed upstream attempts, by model and reason.", "model", "reason"),
		feedback:  newCounter("gateway_feedback_total", "POST /v1/feedback requests, by result.", "result"),
		reloads:   newCounter("gateway_reloads_total", "Router file reloads, by result.", "result"),
		routing: newHistogram("gateway_routing_duration_seconds", "Time to route one request (the librouter call).",
			[]float64{25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 2.5e-3, 5e-3, 10e-3, 25e-3, 100e-3}),
		upstream: newHistogram("gateway_upstream_duration_seconds", "One upstream attempt, to the end of a non-streamed body or to a stream's headers.",
			[]float64{1e-3, 5e-3, 10e-3, 25e-3, 50e-3, 100e-3, 250e-3, 500e-3, 1, 2.5, 5, 10, 30, 60}),
	}
	m.counters = []*counter{m.requests, m.decisions, m.passed, m.answers, m.spend, m.unpriced, m.tokens,
		m.fallbacks, m.upErrors, m.feedback, m.reloads, m.costErrs}
	m.costErrs.values[""] = 0 // no labels: shown as 0 before the first error
	return m
}

func newHistogram(name, help string, bounds []float64) *histogram {
	return &histogram{name: name, help: help, bounds: bounds, counts: make([]uint64, len(bounds)+1)}
}

// Add adds delta to c's counter for these label values (one per label).
func (m *Metrics) Add(c *counter, delta float64, labelValues ...string) {
	key := strings.Join(labelValues, "\x00")
	m.mu.Lock()
	c.values[key] += delta
	m.mu.Unlock()
}

// Observe records one duration in h.
func (m *Metrics) Observe(h *histogram, d time.Duration) {
	seconds := d.Seconds()
	i := sort.SearchFloat64s(h.bounds, seconds) // the first bound >= seconds
	m.mu.Lock()
	h.counts[i]++
	h.sum += seconds
	h.count++
	m.mu.Unlock()
}

// AddInFlight counts a request in (+1) or out (-1).
func (m *Metrics) AddInFlight(delta int64) {
	m.mu.Lock()
	m.inFlight += delta
	m.mu.Unlock()
}

// WriteTo writes every metric in Prometheus' text format (version 0.0.4).
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	m.mu.Lock()
	for _, c := range m.counters {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s counter\n", c.name, c.help, c.name)
		for _, key := range sortedKeys(c.values) {
			fmt.Fprintf(&b, "%s%s %s\n", c.name, labelText(c.labels, strings.Split(key, "\x00")),
				number(c.values[key]))
		}
	}
	fmt.Fprintf(&b, "# HELP gateway_requests_in_flight Requests being served.\n"+
		"# TYPE gateway_requests_in_flight gauge\ngateway_requests_in_flight %d\n", m.inFlight)
	for _, h := range []*histogram{m.routing, m.upstream} {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s histogram\n", h.name, h.help, h.name)
		var cumulative uint64
		for i, count := range h.counts {
			cumulative += count
			bound := "+Inf"
			if i < len(h.bounds) {
				bound = number(h.bounds[i])
			}
			fmt.Fprintf(&b, "%s_bucket{le=\"%s\"} %d\n", h.name, bound, cumulative)
		}
		fmt.Fprintf(&b, "%s_sum %s\n%s_count %d\n", h.name, number(h.sum), h.name, h.count)
	}
	m.mu.Unlock()
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

func labelText(names, values []string) string {
	if len(names) == 0 {
		return ""
	}
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = name + `="` + escapeLabel(values[i]) + `"`
	}
	return "{" + strings.Join(parts, ",") + "}"
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(value string) string { return labelEscaper.Replace(value) }

func number(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
