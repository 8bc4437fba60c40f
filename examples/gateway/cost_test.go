// Tests of the realised cost: prices read from the live router, the config's
// overrides, and the cost reported back to a budget policy.

package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"librouter/router"
)

// pacingState is the part of a budget policy's PolicyState the tests read.
type pacingState struct {
	Kind     string  `json:"kind"`
	SpendUSD float64 `json:"spend_usd"`
	Requests int64   `json:"requests"`
}

func policyState(t testing.TB, r *router.Router) pacingState {
	t.Helper()
	text, err := r.PolicyState()
	var s pacingState
	if err == nil {
		err = json.Unmarshal([]byte(text), &s)
	}
	if err != nil || s.Kind != "budget" {
		t.Fatalf("policy state %s: %v", text, err)
	}
	return s
}

// waitServed waits until the gateway has finished n chat requests with 200:
// a handler accounts its answer after the client has read the last byte of a
// stream, and counts the request only once it has returned.
func (tg *testGateway) waitServed(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := tg.metrics(t)[`gateway_requests_total{path="/v1/chat/completions",code="200"}`]
		if got == float64(n) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%v chat requests served, want %d", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// countRecordCost wraps the gateway's RecordCost to count its calls.
func (tg *testGateway) countRecordCost() *int64 {
	var calls int64
	record := tg.recordCost
	tg.recordCost = func(expected, realised float64) error {
		atomic.AddInt64(&calls, 1)
		return record(expected, realised)
	}
	return &calls
}

func relativelyNear(got, want, tolerance float64) bool {
	return math.Abs(got-want) <= tolerance*math.Abs(want)
}

func TestPricesAreTheLiveRoutersAtEachAnswer(t *testing.T) {
	fixtures(t)
	live := t.TempDir() + "/live.router"
	copyFile(t, routerA, live)
	tg := newTestGateway(t, live, "")
	spend := func(model string) float64 { return tg.metrics(t)[`gateway_spend_usd_total{model="`+model+`"}`] }
	answeredBy := func(model, prompt, want string) {
		t.Helper()
		if r := tg.chat(t, model, prompt); r.status != http.StatusOK || r.header.Get("X-Router-Model") != want {
			t.Fatalf("%s %q: %d %v", model, prompt, r.status, r.header)
		}
	}
	answeredBy("auto", codePrompt, "coder")
	if got := spend("coder"); got != routerCost("coder") {
		t.Fatalf("coder under router A: spend %g, want %g", got, routerCost("coder"))
	}
	// Router B has twice A's prices: after the reload, the next answer costs
	// B's prices, routed or passed through.
	copyFile(t, routerB, live)
	if err := tg.Reload(); err != nil {
		t.Fatal(err)
	}
	answeredBy("auto", codePrompt, "writer")
	answeredBy("coder", chatPrompt, "coder")
	for model, want := range map[string]float64{
		"coder":  routerCost("coder") + tokensCost([2]float64{6, 30}),
		"writer": tokensCost([2]float64{5, 20}),
	} {
		if got := spend(model); got != want {
			t.Errorf("%s after the reload: spend %g, want %g", model, got, want)
		}
	}
	// A price changed at run time applies to the next answer too. (It also
	// changes the router's estimates, hence an explicit model.)
	if err := tg.router.SetModelPrice("small", 7, 11); err != nil {
		t.Fatal(err)
	}
	answeredBy("small", chatPrompt, "small")
	if got, want := spend("small"), tokensCost([2]float64{7, 11}); got != want {
		t.Errorf("small after SetModelPrice: spend %g, want %g", got, want)
	}
}

func TestConfigPriceOverridesWin(t *testing.T) {
	// writer's override is 0 (a real price, not "unset"), small's differs
	// from the router's; coder has none. "extra" is outside the router's
	// catalog with an override; "unpriced" is outside it without one.
	overrides := map[string][2]float64{"writer": {0, 0}, "small": {1, 2}, "extra": {4, 8}}
	tg := newGatewayWith(t, fixtures(t).a, "", overrides, "extra", "unpriced")
	// A budget policy held at lambda ~ 50 (mu 0.05 / target 0.001, a step too
	// small to move it), which sends each topic to its own model.
	if err := tg.router.SetPolicy(`{"kind": "budget", "target_cost_usd": 0.001, "pacing_step": 1e-9,
	  "pacing_state": {"multiplier": 0.05}}`); err != nil {
		t.Fatal(err)
	}
	realised := 0.0 // what the routed answers cost at the prices that apply
	for _, c := range []struct {
		model, prompt, answeredBy string
		cost                      float64
	}{
		{"auto", codePrompt, "coder", routerCost("coder")},
		{"auto", poemPrompt, "writer", 0},
		{"auto", chatPrompt, "small", tokensCost([2]float64{1, 2})},
		{"extra", chatPrompt, "extra", tokensCost([2]float64{4, 8})},
		{"unpriced", chatPrompt, "unpriced", 0},
	} {
		r := tg.chat(t, c.model, c.prompt)
		if r.status != http.StatusOK || r.header.Get("X-Router-Model") != c.answeredBy {
			t.Fatalf("%s %q: %d %v %s", c.model, c.prompt, r.status, r.header, r.body)
		}
		if c.model == "auto" {
			realised += c.cost
		}
	}
	m := tg.metrics(t)
	for model, want := range map[string]float64{
		"coder": routerCost("coder"), "writer": 0, "small": tokensCost([2]float64{1, 2}), "extra": tokensCost([2]float64{4, 8}),
	} {
		got, ok := m[`gateway_spend_usd_total{model="`+model+`"}`]
		if !ok || got != want {
			t.Errorf("%s: spend %g (present %v), want %g", model, got, ok, want)
		}
	}
	// No price covers "unpriced": its tokens count, its cost does not.
	if _, ok := m[`gateway_spend_usd_total{model="unpriced"}`]; ok || m[`gateway_unpriced_answers_total{model="unpriced"}`] != 1 ||
		m[`gateway_tokens_total{model="unpriced",type="prompt"}`] != promptTokens {
		t.Errorf("unpriced: spend present %v, unpriced answers %v", ok, m[`gateway_unpriced_answers_total{model="unpriced"}`])
	}
	if log := tg.log.String(); !strings.Contains(log, "models.unpriced: the router has no price for it") ||
		strings.Contains(log, "models.extra:") {
		t.Errorf("start-up warnings:\n%s", log)
	}
	// The router was told the overridden costs.
	if s := policyState(t, tg.router); s.Requests != 3 || !relativelyNear(s.SpendUSD, realised, 1e-12) {
		t.Errorf("policy spend %v over %d decisions, want %v over 3", s.SpendUSD, s.Requests, realised)
	}
}

// estimate reads the router's cost estimate of the chosen model from
// X-Router-Reason ("... est=$0.004 best of 3").
var estimate = regexp.MustCompile(`est=\$([0-9.e+-]+) `)

func TestBudgetPolicySpendIsTheRealisedSpend(t *testing.T) {
	tg := newTestGateway(t, fixtures(t).a, "")
	// Pacing to 0.001 per request: the router's estimates (0.004 for coder)
	// are well above what the fake usage costs (0.00081), so the spend is
	// right only if the gateway reports each realised cost.
	if err := tg.router.SetPolicy(`{"kind": "budget", "target_cost_usd": 0.001}`); err != nil {
		t.Fatal(err)
	}
	calls := tg.countRecordCost()
	realised, estimated := 0.0, 0.0
	served, fallbacks := 0, 0
	send := func(body string) response {
		t.Helper()
		r := do(t, http.MethodPost, tg.url+"/v1/chat/completions", "application/json", body)
		model := r.header.Get("X-Router-Model")
		if r.status != http.StatusOK || routerPrices[model] == [2]float64{} {
			t.Fatalf("%s: %d %v %s", body, r.status, r.header, r.body)
		}
		served++
		realised += routerCost(model)
		match := estimate.FindStringSubmatch(r.header.Get("X-Router-Reason"))
		if match == nil {
			t.Fatalf("no estimate in %q", r.header.Get("X-Router-Reason"))
		}
		e, _ := strconv.ParseFloat(match[1], 64)
		estimated += e
		if strings.Contains(r.header.Get("X-Router-Reason"), "answered by fallback") {
			fallbacks++
		}
		return r
	}
	// A fallback first (the pacing starts at lambda 0: code goes to coder,
	// which fails): the policy charged coder's estimate, the answer cost the
	// fallback's price; the spend must still be the realised one.
	tg.backends["coder"].setMode(answer500)
	send(chatBody("auto", codePrompt, ""))
	tg.backends["coder"].setMode(answerOK)
	if fallbacks != 1 {
		t.Fatal("the first code request was not answered by a fallback")
	}
	const routed = 30
	prompts := []string{codePrompt, poemPrompt, chatPrompt}
	for i := 1; i < routed; i++ {
		alias, extra := "auto", ""
		if i%5 == 0 {
			alias = "cheap" // a per-request lambda still counts towards the budget
		}
		if i%4 == 0 {
			extra = `, "stream": true, "stream_options": {"include_usage": true}`
		}
		send(chatBody(alias, prompts[i%3], extra))
	}
	tg.waitServed(t, served)
	s := policyState(t, tg.router)
	if s.Requests != routed || atomic.LoadInt64(calls) != routed {
		t.Errorf("%d decisions paced, %d RecordCost calls, want %d", s.Requests, atomic.LoadInt64(calls), routed)
	}
	if !relativelyNear(s.SpendUSD, realised, 1e-12) {
		t.Errorf("policy spend %.17g, want the realised %.17g (the estimates summed to %g)", s.SpendUSD, realised, estimated)
	}
	if relativelyNear(estimated, realised, 0.5) {
		t.Errorf("the estimates (%g) are close to the realised cost (%g): the test shows nothing", estimated, realised)
	}
	if m := tg.metrics(t); m["gateway_record_cost_errors_total"] != 0 {
		t.Errorf("record cost errors %v", m["gateway_record_cost_errors_total"])
	}

	// Pass-through requests are not the policy's decisions: no RecordCost,
	// the spend stays, while the gateway's own spend metric counts them.
	before := tg.metrics(t)[`gateway_spend_usd_total{model="coder"}`]
	for _, model := range []string{"coder", "writer", "small", "coder"} {
		if r := tg.chat(t, model, codePrompt); r.status != http.StatusOK {
			t.Fatalf("%s: %d", model, r.status)
		}
		served++
	}
	tg.waitServed(t, served)
	if after := policyState(t, tg.router); after != s || atomic.LoadInt64(calls) != routed {
		t.Errorf("pass-through changed the policy: %+v -> %+v, %d RecordCost calls", s, after, atomic.LoadInt64(calls))
	}
	if got := tg.metrics(t)[`gateway_spend_usd_total{model="coder"}`]; got != before+2*routerCost("coder") {
		t.Errorf("pass-through spend on coder %g, want %g", got-before, 2*routerCost("coder"))
	}
}

func TestRecordCostFailuresAreCountedAndLogged(t *testing.T) {
	tg := newTestGateway(t, fixtures(t).a, "")
	tg.recordCost = func(expected, realised float64) error {
		return &router.Error{Status: router.Internal, Message: fmt.Sprintf("refused %g", realised)}
	}
	for _, prompt := range []string{codePrompt, chatPrompt} {
		if r := tg.chat(t, "auto", prompt); r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.body) // the answer is unaffected
		}
	}
	tg.chat(t, "writer", poemPrompt) // a pass-through reports nothing
	tg.waitServed(t, 3)
	m := tg.metrics(t)
	if m["gateway_record_cost_errors_total"] != 2 || m[`gateway_spend_usd_total{model="coder"}`] != routerCost("coder") {
		t.Errorf("errors %v, coder spend %v", m["gateway_record_cost_errors_total"], m[`gateway_spend_usd_total{model="coder"}`])
	}
	want := fmt.Sprintf(`answer from coder: reporting its cost to the router \(expected 0\.004\d*, realised %g\) failed: ROUTER_INTERNAL: refused`,
		routerCost("coder"))
	if log := tg.log.String(); !regexp.MustCompile(want).MatchString(log) || strings.Count(log, "reporting its cost") != 2 {
		t.Errorf("log lacks %q:\n%s", want, log)
	}
}

func TestConfigPriceOverrideChecks(t *testing.T) {
	parse := func(prices string) (*Backend, error) {
		cfg, err := ParseConfig([]byte(`{"router_file": "r", "models": {"m": {"base_url": "http://127.0.0.1:1/v1"`+prices+`}}}`),
			"", func(string) string { return "" })
		if err != nil {
			return nil, err
		}
		return cfg.Models["m"], nil
	}
	for prices, want := range map[string]string{
		`, "input_usd_per_mtok": 1`:                              "models.m: input_usd_per_mtok and output_usd_per_mtok override the router's prices together",
		`, "output_usd_per_mtok": 0`:                             "set both or neither",
		`, "input_usd_per_mtok": -1, "output_usd_per_mtok": 1`:   "models.m: prices must be >= 0",
		`, "input_usd_per_mtok": 1, "output_usd_per_mtok": -0.5`: "prices must be >= 0",
		`, "input_usd_per_mtok": "1", "output_usd_per_mtok": 1`:  "cannot unmarshal string",
	} {
		if _, err := parse(prices); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", prices, err, want)
		}
	}
	// Absent (or null): the router's prices. 0 is a price.
	for _, prices := range []string{"", `, "input_usd_per_mtok": null, "output_usd_per_mtok": null`} {
		if b, err := parse(prices); err != nil || b.InputUSDPerMTok != nil || b.OutputUSDPerMTok != nil {
			t.Errorf("%q: %+v %v", prices, b, err)
		}
	}
	b, err := parse(`, "input_usd_per_mtok": 0, "output_usd_per_mtok": 2.5`)
	if err != nil || b.InputUSDPerMTok == nil || *b.InputUSDPerMTok != 0 || *b.OutputUSDPerMTok != 2.5 {
		t.Errorf("an override of 0 and 2.5: %+v %v", b, err)
	}
	// The example config keeps one override (small, self-hosted); the others
	// take the router's prices.
	example, err := LoadConfig("gateway.example.json", func(string) string { return "sk-example" })
	if err != nil {
		t.Fatal(err)
	}
	for name, overridden := range map[string]bool{"coder": false, "writer": false, "small": true} {
		if b := example.Models[name]; b == nil || (b.InputUSDPerMTok != nil) != overridden {
			t.Errorf("gateway.example.json: %s overridden %v, want %v", name, b != nil && b.InputUSDPerMTok != nil, overridden)
		}
	}
}
