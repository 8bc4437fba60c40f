// End-to-end tests: a gateway over fake backends on loopback and a router
// fitted on generated data.

package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"librouter/router"
)

func TestRoutesEachTopicToItsBackend(t *testing.T) {
	tg := newTestGateway(t, fixtures(t).a, "")
	for _, c := range []struct{ prompt, model string }{
		{codePrompt, "coder"}, {poemPrompt, "writer"}, {chatPrompt, "small"},
	} {
		before := tg.counts()
		r := tg.chat(t, "auto", c.prompt)
		if r.status != http.StatusOK {
			t.Fatalf("%q: %d %s", c.prompt, r.status, r.body)
		}
		after := tg.counts()
		for name := range after {
			want := before[name]
			if name == c.model {
				want++
			}
			if after[name] != want {
				t.Errorf("%q: backend %s got %d requests, want %d", c.prompt, name, after[name]-before[name], want-before[name])
			}
		}
		got := tg.backends[c.model].requests()
		last := got[len(got)-1]
		if last.Model != c.model+"-upstream" || last.Text != c.prompt || last.Stream {
			t.Errorf("%s received %+v", c.model, last)
		}
		if last.Authorization != "Bearer "+apiKeys[c.model] {
			t.Errorf("%s received the wrong key", c.model)
		}
		if got := content(t, r); got != "answer from "+c.model {
			t.Errorf("%q: answer %q", c.prompt, got)
		}
		if r.header.Get("X-Router-Model") != c.model || r.header.Get("X-Router-Decision-Id") != "0" {
			t.Errorf("%q: headers %v", c.prompt, r.header)
		}
		reason := r.header.Get("X-Router-Reason")
		if !strings.HasPrefix(reason, "knn/max_utility lambda=100: q=") || !strings.Contains(reason, "best of 3") {
			t.Errorf("%q: reason %q", c.prompt, reason)
		}
		if !strings.HasPrefix(r.header.Get("Server-Timing"), "route;dur=") {
			t.Errorf("Server-Timing %q", r.header.Get("Server-Timing"))
		}
	}
	m := tg.metrics(t)
	for _, model := range []string{"coder", "writer", "small"} {
		if m[`gateway_decisions_total{model="`+model+`"}`] != 1 || m[`gateway_answers_total{model="`+model+`"}`] != 1 {
			t.Errorf("%s: decisions %v answers %v", model, m[`gateway_decisions_total{model="`+model+`"}`],
				m[`gateway_answers_total{model="`+model+`"}`])
		}
		if got := m[`gateway_spend_usd_total{model="`+model+`"}`]; got != routerCost(model) {
			t.Errorf("%s: spend %g, want %g", model, got, routerCost(model))
		}
		if m[`gateway_tokens_total{model="`+model+`",type="prompt"}`] != promptTokens ||
			m[`gateway_tokens_total{model="`+model+`",type="completion"}`] != completionTokens {
			t.Errorf("%s: tokens in metrics wrong", model)
		}
	}
	if m["gateway_routing_duration_seconds_count"] != 3 || m[`gateway_routing_duration_seconds_bucket{le="+Inf"}`] != 3 ||
		m["gateway_routing_duration_seconds_sum"] <= 0 {
		t.Errorf("routing histogram: count %v sum %v", m["gateway_routing_duration_seconds_count"], m["gateway_routing_duration_seconds_sum"])
	}
	if m[`gateway_requests_total{path="/v1/chat/completions",code="200"}`] != 3 {
		t.Errorf("requests: %v", m)
	}
}

func TestRoutesOnTheWholeConversationAndForwardsOtherFields(t *testing.T) {
	tg := newTestGateway(t, fixtures(t).a, "")
	// A system message, an earlier turn about poems, and the last user
	// message in content parts: the code words of all turns together decide.
	body := `{"model": "auto", "temperature": 0.25, "max_tokens": 64, "user": "u-1", "messages": [
	  {"role": "system", "content": "You debug python code."},
	  {"role": "user", "content": [{"type": "text", "text": "my function has a bug"},
	                               {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
	  {"role": "assistant", "content": null, "tool_calls": []},
	  {"role": "user", "content": [{"type": "text", "text": "it will not compile: segfault, pointer"}]}]}`
	r := do(t, http.MethodPost, tg.url+"/v1/chat/completions", "application/json", body)
	if r.status != http.StatusOK || r.header.Get("X-Router-Model") != "coder" {
		t.Fatalf("%d %v %s", r.status, r.header, r.body)
	}
	got := tg.backends["coder"].requests()[0]
	want := "You debug python code.\nmy function has a bug\n\nit will not compile: segfault, pointer"
	if got.Text != want {
		t.Errorf("backend text %q, want %q", got.Text, want)
	}
	for field, value := range map[string]string{"temperature": "0.25", "max_tokens": "64", "user": `"u-1"`, "model": `"coder-upstream"`} {
		if string(got.Body[field]) != value {
			t.Errorf("forwarded %s = %s, want %s", field, got.Body[field], value)
		}
	}
	// The alias "cheap" carries lambda=100000: the same code prompt goes to
	// small. It names its task too, which reaches the router (this kNN
	// router has no per-task estimates and ignores it).
	r = tg.chat(t, "cheap", codePrompt)
	if r.status != http.StatusOK || r.header.Get("X-Router-Model") != "small" ||
		!strings.Contains(r.header.Get("X-Router-Reason"), "lambda=100000") ||
		!strings.Contains(r.header.Get("X-Router-Reason"), "task=chores") {
		t.Errorf("alias cheap: %d %v", r.status, r.header)
	}
}

func TestExplicitModelPassesThroughUnrouted(t *testing.T) {
	tg := newTestGateway(t, fixtures(t).a, "")
	r := tg.chat(t, "writer", codePrompt) // the router would pick coder
	if r.status != http.StatusOK || content(t, r) != "answer from writer" {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if got := tg.counts(); !reflect.DeepEqual(got, map[string]int{"coder": 0, "writer": 1, "small": 0}) {
		t.Errorf("backend counts %v", got)
	}
	if r.header.Get("X-Router-Model") != "writer" || r.header.Get("X-Router-Decision-Id") != "0" ||
		r.header.Get("X-Router-Reason") != "explicit model, not routed" {
		t.Errorf("headers %v", r.header)
	}
	m := tg.metrics(t)
	if m[`gateway_passthrough_total{model="writer"}`] != 1 || m["gateway_routing_duration_seconds_count"] != 0 ||
		m[`gateway_decisions_total{model="coder"}`] != 0 {
		t.Errorf("metrics: passthrough %v routing count %v", m[`gateway_passthrough_total{model="writer"}`], m["gateway_routing_duration_seconds_count"])
	}
	if got := m[`gateway_spend_usd_total{model="writer"}`]; got != routerCost("writer") {
		t.Errorf("spend %g", got)
	}
}

func TestStreamsChunksAsTheyArrive(t *testing.T) {
	tg := newTestGateway(t, fixtures(t).a, "")
	coder := tg.backends["coder"]
	coder.release = make(chan struct{})
	body := chatBody("auto", codePrompt, `, "stream": true, "stream_options": {"include_usage": true}`)
	// The backend holds the rest of the stream until released: the headers
	// and the first chunk must reach the client before the backend finishes.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	buffered := time.AfterFunc(5*time.Second, cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, tg.url+"/v1/chat/completions", strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("no headers while the backend was still streaming (buffered?): %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" ||
		resp.Header.Get("X-Router-Model") != "coder" {
		t.Fatalf("%d %v", resp.StatusCode, resp.Header)
	}
	events := make(chan string)
	go func() {
		defer close(events)
		lines := bufio.NewScanner(resp.Body)
		for lines.Scan() {
			if line := lines.Text(); line != "" {
				events <- line
			}
		}
	}()
	first, ok := <-events
	if !ok || !strings.Contains(first, "first from coder") {
		t.Fatalf("no first chunk while the backend was still streaming (buffered?): %q", first)
	}
	if !buffered.Stop() || atomic.LoadInt32(&coder.streamDone) != 0 {
		t.Fatal("the backend finished before the first chunk arrived")
	}
	close(coder.release)
	var rest []string
	for event := range events {
		rest = append(rest, event)
	}
	if len(rest) != 5 || !strings.Contains(rest[0], "chunk 2") || !strings.Contains(rest[2], "chunk 4") ||
		!strings.Contains(rest[3], `"usage"`) || rest[4] != "data: [DONE]" {
		t.Fatalf("rest of the stream: %q", rest)
	}
	if got := coder.requests()[0]; !got.Stream || string(got.Body["stream_options"]) != `{"include_usage":true}` {
		t.Errorf("backend got %+v", got)
	}
	// The stream's usage chunk was accounted once the stream ended.
	deadline := time.Now().Add(2 * time.Second)
	for {
		got := tg.metrics(t)[`gateway_spend_usd_total{model="coder"}`]
		if got == routerCost("coder") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("spend after the stream: %g, want %g", got, routerCost("coder"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFallsBackWhenABackendFails(t *testing.T) {
	tg := newTestGateway(t, fixtures(t).a, `"upstream_timeout_ms": 300`)
	d, err := tg.router.Route(codePrompt)
	if err != nil || d.Model != "coder" || len(d.Fallbacks) != 2 {
		t.Fatalf("decision %+v, %v", d, err)
	}
	next := d.Fallbacks[0] // the router's second choice for code
	for _, c := range []struct {
		mode   int32
		reason string
	}{{answer500, "http_500"}, {answerHang, "timeout"}} {
		tg.backends["coder"].setMode(c.mode)
		before := tg.counts()
		start := time.Now()
		r := tg.chat(t, "auto", codePrompt)
		elapsed := time.Since(start)
		if r.status != http.StatusOK || content(t, r) != "answer from "+next {
			t.Fatalf("%s: %d %s", c.reason, r.status, r.body)
		}
		after := tg.counts()
		if after["coder"] != before["coder"]+1 || after[next] != before[next]+1 {
			t.Errorf("%s: counts %v -> %v", c.reason, before, after)
		}
		if r.header.Get("X-Router-Model") != next ||
			!strings.HasSuffix(r.header.Get("X-Router-Reason"), "; answered by fallback "+next+" after coder: "+c.reason) {
			t.Errorf("%s: headers %v", c.reason, r.header)
		}
		if c.mode == answerHang && (elapsed < 300*time.Millisecond || elapsed > 3*time.Second) {
			t.Errorf("the timeout fallback took %v", elapsed)
		}
		assertNoKeys(t, "the answer", string(r.body))
	}
	m := tg.metrics(t)
	if m[`gateway_fallbacks_total{model="`+next+`"}`] != 2 || m[`gateway_upstream_errors_total{model="coder",reason="http_500"}`] != 1 ||
		m[`gateway_upstream_errors_total{model="coder",reason="timeout"}`] != 1 || m[`gateway_decisions_total{model="coder"}`] != 2 {
		t.Errorf("metrics: fallbacks %v", m)
	}
	// The realised cost is the answering model's.
	if got := m[`gateway_spend_usd_total{model="`+next+`"}`]; got != 2*routerCost(next) {
		t.Errorf("spend of %s: %g", next, got)
	}
}

func TestAllBackendsFailing(t *testing.T) {
	for _, c := range []struct {
		mode          int32
		retries       int
		status        int
		code, reason  string
		wantAttempted int
	}{
		{answer500, 2, http.StatusBadGateway, "upstream_error", "http_500", 3},
		{answer500, 1, http.StatusBadGateway, "upstream_error", "http_500", 2},
		{answer500, 0, http.StatusBadGateway, "upstream_error", "http_500", 1},
		{answerHang, 1, http.StatusGatewayTimeout, "upstream_timeout", "timeout", 2},
	} {
		t.Run(fmt.Sprintf("%s-retries-%d", c.reason, c.retries), func(t *testing.T) {
			tg := newTestGateway(t, fixtures(t).a, fmt.Sprintf(`"upstream_timeout_ms": 200, "max_retries": %d`, c.retries))
			for _, b := range tg.backends {
				b.setMode(c.mode)
			}
			d, _ := tg.router.Route(codePrompt)
			order := append([]string{d.Model}, d.Fallbacks...)
			r := tg.chat(t, "auto", codePrompt)
			if r.status != c.status {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			e := decodeError(t, r)
			if e.Type != "server_error" || e.Code != c.code || e.Param != nil {
				t.Errorf("error %+v", e)
			}
			var parts []string
			for i, model := range order {
				want := 0
				if i < c.wantAttempted {
					want = 1
					parts = append(parts, model+": "+c.reason)
				}
				if got := len(tg.backends[model].requests()); got != want {
					t.Errorf("%s got %d requests, want %d", model, got, want)
				}
			}
			wantMessage := fmt.Sprintf("no backend answered after %d attempt(s): %s", c.wantAttempted, strings.Join(parts, "; "))
			if e.Message != wantMessage {
				t.Errorf("message %q, want %q", e.Message, wantMessage)
			}
			if r.header.Get("X-Router-Model") != "coder" {
				t.Errorf("X-Router-Model %q", r.header.Get("X-Router-Model"))
			}
			assertNoKeys(t, "the error body", string(r.body))
			assertNoKeys(t, "the error headers", fmt.Sprint(r.header))
		})
	}
}

func TestUpstreamClientErrorIsPassedOnRedacted(t *testing.T) {
	tg := newTestGateway(t, fixtures(t).a, "")
	tg.backends["coder"].setMode(answer401) // its body quotes the key it got
	r := tg.chat(t, "auto", codePrompt)
	if r.status != http.StatusUnauthorized {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// A 4xx is the upstream's answer: not retried elsewhere, body passed on
	// with the key blanked out.
	if got := tg.counts(); !reflect.DeepEqual(got, map[string]int{"coder": 1, "writer": 0, "small": 0}) {
		t.Errorf("counts %v", got)
	}
	if string(r.body) != `{"error": {"message": "invalid key Bearer [redacted]", "type": "auth"}}` {
		t.Errorf("body %s", r.body)
	}
	assertNoKeys(t, "the passed-on error", string(r.body))
}

func TestFeedbackReportsScoreAndRealisedCost(t *testing.T) {
	tg := newTestGateway(t, fixtures(t).online, "")
	r := tg.chat(t, "auto", codePrompt)
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	model := r.header.Get("X-Router-Model")
	id, err := strconv.ParseUint(r.header.Get("X-Router-Decision-Id"), 10, 64)
	if err != nil || id == 0 {
		t.Fatalf("decision id %q from an online router", r.header.Get("X-Router-Decision-Id"))
	}
	if !strings.HasPrefix(r.header.Get("X-Router-Reason"), "linucb/max_utility") {
		t.Errorf("reason %q", r.header.Get("X-Router-Reason"))
	}
	feedback := func(body string) response {
		return do(t, http.MethodPost, tg.url+"/v1/feedback", "application/json", body)
	}
	f := feedback(fmt.Sprintf(`{"decision_id": %d, "score": 0.9}`, id))
	if f.status != http.StatusOK {
		t.Fatalf("feedback: %d %s", f.status, f.body)
	}
	var ok struct {
		DecisionID string  `json:"decision_id"`
		Model      string  `json:"model"`
		Score      float64 `json:"score"`
		CostUSD    float64 `json:"cost_usd"`
		CostSource string  `json:"cost_source"`
	}
	json.Unmarshal(f.body, &ok)
	if ok.DecisionID != fmt.Sprint(id) || ok.Model != model || ok.Score != 0.9 || ok.CostUSD != routerCost(model) ||
		ok.CostSource != "usage" {
		t.Errorf("feedback answer %s, want cost %g", f.body, routerCost(model))
	}
	// The gateway reported it: the router now refuses the id as used.
	var e *router.Error
	if err := tg.router.Feedback(id, 0.5, 0); !errors.As(err, &e) || e.Status != router.NotFound {
		t.Errorf("the router still had decision %d open: %v", id, err)
	}
	// Each id once.
	if f := feedback(fmt.Sprintf(`{"decision_id": %d, "score": 0.9}`, id)); f.status != http.StatusNotFound ||
		decodeError(t, f).Code != "decision_not_found" {
		t.Errorf("second report: %d %s", f.status, f.body)
	}
	// An id as a decimal string (ids use 64 bits, beyond JSON's safe integers).
	r = tg.chat(t, "auto", poemPrompt)
	if f := feedback(fmt.Sprintf(`{"decision_id": "%s", "score": 0}`, r.header.Get("X-Router-Decision-Id"))); f.status != http.StatusOK {
		t.Errorf("string id: %d %s", f.status, f.body)
	}

	for _, c := range []struct {
		body, code, param string
		status            int
	}{
		{`{"decision_id": 0, "score": 1}`, "no_decision_id", "decision_id", 400},
		{`{"decision_id": 987654321, "score": 1}`, "decision_not_found", "decision_id", 404},
		{`{"score": 1}`, "missing_decision_id", "decision_id", 400},
		{`{"decision_id": -3, "score": 1}`, "invalid_type", "decision_id", 400},
		{fmt.Sprintf(`{"decision_id": %d, "score": 1.5}`, id+1), "invalid_score", "score", 400},
		{fmt.Sprintf(`{"decision_id": %d}`, id+1), "invalid_score", "score", 400},
		{`{"decision_id": 1, "score": `, "invalid_json", "", 400},
	} {
		f := feedback(c.body)
		e := decodeError(t, f)
		param := ""
		if e.Param != nil {
			param = *e.Param
		}
		if f.status != c.status || e.Code != c.code || param != c.param || e.Type != "invalid_request_error" {
			t.Errorf("%s: %d %s", c.body, f.status, f.body)
		}
	}
	if f := do(t, http.MethodGet, tg.url+"/v1/feedback", "", ""); f.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/feedback: %d", f.status)
	}
	m := tg.metrics(t)
	if m[`gateway_feedback_total{result="ok"}`] != 2 || m[`gateway_feedback_total{result="decision_not_found"}`] != 2 {
		t.Errorf("feedback metrics %v", m)
	}
}

func TestFeedbackForAFallbackAnswerCreditsTheFallback(t *testing.T) {
	tg := newTestGateway(t, fixtures(t).online, "")
	d, err := tg.router.Route(codePrompt) // the same state decides the same
	if err != nil {
		t.Fatal(err)
	}
	tg.backends[d.Model].setMode(answer500)
	r := tg.chat(t, "auto", codePrompt)
	next := d.Fallbacks[0]
	if r.status != http.StatusOK || r.header.Get("X-Router-Model") != next {
		t.Fatalf("%d %v", r.status, r.header)
	}
	f := do(t, http.MethodPost, tg.url+"/v1/feedback", "application/json",
		fmt.Sprintf(`{"decision_id": %s, "score": 1}`, r.header.Get("X-Router-Decision-Id")))
	var ok struct {
		Model   string  `json:"model"`
		CostUSD float64 `json:"cost_usd"`
	}
	json.Unmarshal(f.body, &ok)
	if f.status != http.StatusOK || ok.Model != next || ok.CostUSD != routerCost(next) {
		t.Fatalf("feedback %d %s", f.status, f.body)
	}
	// Reported by vector for the model that answered, so the router's logged
	// id (which names the model it chose) is still open.
	id, _ := strconv.ParseUint(r.header.Get("X-Router-Decision-Id"), 10, 64)
	if err := tg.router.Feedback(id, 0.5, 0); err != nil {
		t.Errorf("the fallback's outcome went to the chosen model's id: %v", err)
	}
}

func TestFeedbackFromAnOfflineRouter(t *testing.T) {
	tg := newTestGateway(t, fixtures(t).a, "")
	r := tg.chat(t, "auto", codePrompt)
	if id := r.header.Get("X-Router-Decision-Id"); id != "0" {
		t.Fatalf("knn issued decision id %s", id)
	}
	f := do(t, http.MethodPost, tg.url+"/v1/feedback", "application/json", `{"decision_id": 0, "score": 1}`)
	if e := decodeError(t, f); f.status != http.StatusBadRequest || e.Code != "no_decision_id" ||
		!strings.Contains(e.Message, "does not learn online") {
		t.Errorf("%d %s", f.status, f.body)
	}
}

// copyFile replaces dst by src's bytes atomically (rename), as a deploy would.
func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst+".tmp", data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dst+".tmp", dst); err != nil {
		t.Fatal(err)
	}
}

// load sends routed requests from clients goroutines until stop is closed,
// and counts the answers whose model fits the prompt's topic under either
// router (code and poem may swap, chat stays on small).
type load struct {
	ok, failed int64
	errs       chan string
	wg         sync.WaitGroup
}

func startLoad(t testing.TB, url string, clients int, stop chan struct{}) *load {
	l := &load{errs: make(chan string, 100)}
	prompts := []string{codePrompt, poemPrompt, chatPrompt}
	allowed := map[string]map[string]bool{
		codePrompt: {"coder": true, "writer": true}, poemPrompt: {"coder": true, "writer": true}, chatPrompt: {"small": true},
	}
	client := &http.Client{Timeout: 10 * time.Second}
	for c := 0; c < clients; c++ {
		l.wg.Add(1)
		go func(c int) {
			defer l.wg.Done()
			for i := c; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				prompt := prompts[i%3]
				resp, err := client.Post(url+"/v1/chat/completions", "application/json",
					strings.NewReader(chatBody("auto", prompt, "")))
				problem := ""
				if err != nil {
					problem = err.Error()
				} else {
					var body struct {
						Choices []struct{ Message struct{ Content string } }
					}
					decodeErr := json.NewDecoder(resp.Body).Decode(&body)
					resp.Body.Close()
					model := resp.Header.Get("X-Router-Model")
					if resp.StatusCode != http.StatusOK || decodeErr != nil || !allowed[prompt][model] ||
						len(body.Choices) != 1 || body.Choices[0].Message.Content != "answer from "+model {
						problem = fmt.Sprintf("%q: %d model %q", prompt, resp.StatusCode, model)
					}
				}
				if problem != "" {
					atomic.AddInt64(&l.failed, 1)
					select {
					case l.errs <- problem:
					default:
					}
				} else {
					atomic.AddInt64(&l.ok, 1)
				}
			}
		}(c)
	}
	return l
}

func (l *load) wait(t testing.TB) {
	t.Helper()
	l.wg.Wait()
	close(l.errs)
	for problem := range l.errs {
		t.Error(problem)
	}
	if l.failed != 0 || l.ok == 0 {
		t.Errorf("%d requests failed, %d succeeded", l.failed, l.ok)
	}
}

func TestReloadUnderLoadDropsNothing(t *testing.T) {
	fixtures(t)
	live := t.TempDir() + "/live.router"
	copyFile(t, routerA, live)
	tg := newTestGateway(t, live, "")
	stop := make(chan struct{})
	l := startLoad(t, tg.url, 8, stop)
	routedTo := func(prompt string) string {
		r := tg.chat(t, "auto", prompt)
		if r.status != http.StatusOK {
			t.Fatalf("%d %s", r.status, r.body)
		}
		return r.header.Get("X-Router-Model")
	}
	for i := 0; i < 10; i++ {
		next, codeTo, poemTo := routerB, "writer", "coder"
		if i%2 == 1 {
			next, codeTo, poemTo = routerA, "coder", "writer"
		}
		copyFile(t, next, live)
		if err := tg.Reload(); err != nil {
			t.Fatal(err)
		}
		// A route that starts after Reload returned sees the new router.
		if got := routedTo(codePrompt); got != codeTo {
			t.Errorf("reload %d: code went to %s, want %s", i, got, codeTo)
		}
		if got := routedTo(poemPrompt); got != poemTo {
			t.Errorf("reload %d: poem went to %s, want %s", i, got, poemTo)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A damaged file is refused and the current router keeps serving.
	if err := os.WriteFile(live, []byte("not a router"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := tg.Reload(); err == nil {
		t.Error("a damaged router file was accepted")
	}
	if got := routedTo(codePrompt); got != "coder" {
		t.Errorf("after a refused reload, code went to %s", got)
	}
	close(stop)
	l.wait(t)
	t.Logf("%d requests under 10 reloads, %d failed", l.ok, l.failed)
	m := tg.metrics(t)
	if m[`gateway_reloads_total{result="ok"}`] != 10 || m[`gateway_reloads_total{result="error"}`] != 1 {
		t.Errorf("reload metrics: ok %v error %v", m[`gateway_reloads_total{result="ok"}`], m[`gateway_reloads_total{result="error"}`])
	}
	if !strings.Contains(tg.log.String(), "refused, the current router keeps serving") {
		t.Errorf("log: %s", tg.log.String())
	}
}

func TestBadRequests(t *testing.T) {
	tg := newTestGateway(t, fixtures(t).a, `"max_body_bytes": 4096`)
	chat := tg.url + "/v1/chat/completions"
	for _, c := range []struct {
		name, method, url, body string
		status                  int
		kind, code, param       string
	}{
		{"malformed JSON", "POST", chat, `{"model": "auto", "messages": [`, 400, "invalid_request_error", "invalid_json", ""},
		{"not an object", "POST", chat, `[1, 2]`, 400, "invalid_request_error", "invalid_json", ""},
		{"empty body", "POST", chat, ``, 400, "invalid_request_error", "invalid_json", ""},
		{"missing messages", "POST", chat, `{"model": "auto"}`, 400, "invalid_request_error", "missing_messages", "messages"},
		{"null messages", "POST", chat, `{"model": "auto", "messages": null}`, 400, "invalid_request_error", "missing_messages", "messages"},
		{"empty messages", "POST", chat, `{"model": "auto", "messages": []}`, 400, "invalid_request_error", "empty_messages", "messages"},
		{"messages not an array", "POST", chat, `{"model": "auto", "messages": "hi"}`, 400, "invalid_request_error", "invalid_type", "messages"},
		{"content a number", "POST", chat, `{"model": "auto", "messages": [{"role": "user", "content": 7}]}`, 400, "invalid_request_error", "invalid_type", "messages[0].content"},
		{"no role", "POST", chat, `{"model": "auto", "messages": [{"content": "hi"}]}`, 400, "invalid_request_error", "invalid_type", "messages[0].role"},
		{"missing model", "POST", chat, `{"messages": [{"role": "user", "content": "hi"}]}`, 400, "invalid_request_error", "missing_model", "model"},
		{"model not a string", "POST", chat, `{"model": 4, "messages": [{"role": "user", "content": "hi"}]}`, 400, "invalid_request_error", "invalid_type", "model"},
		{"stream not a boolean", "POST", chat, chatBody("auto", "hi", `, "stream": "yes"`), 400, "invalid_request_error", "invalid_type", "stream"},
		{"unknown model", "POST", chat, chatBody("gpt-9", "hi", ""), 404, "invalid_request_error", "model_not_found", "model"},
		{"oversized body", "POST", chat, chatBody("auto", strings.Repeat("code ", 1000), ""), 413, "invalid_request_error", "request_too_large", ""},
		{"wrong method", "GET", chat, ``, 405, "invalid_request_error", "method_not_allowed", ""},
		{"wrong method on metrics", "POST", tg.url + "/metrics", ``, 405, "invalid_request_error", "method_not_allowed", ""},
		{"unknown path", "POST", tg.url + "/v1/completions", chatBody("auto", "hi", ""), 404, "invalid_request_error", "unknown_url", ""},
	} {
		r := do(t, c.method, c.url, "application/json", c.body)
		if r.status != c.status {
			t.Errorf("%s: status %d, want %d: %s", c.name, r.status, c.status, r.body)
			continue
		}
		e := decodeError(t, r)
		param := ""
		if e.Param != nil {
			param = *e.Param
		}
		if e.Type != c.kind || e.Code != c.code || param != c.param {
			t.Errorf("%s: error %s", c.name, r.body)
		}
		if c.status == 405 && r.header.Get("Allow") == "" {
			t.Errorf("%s: no Allow header", c.name)
		}
	}
	if got := tg.counts(); !reflect.DeepEqual(got, map[string]int{"coder": 0, "writer": 0, "small": 0}) {
		t.Errorf("bad requests reached backends: %v", got)
	}
	m := tg.metrics(t)
	if m["gateway_routing_duration_seconds_count"] != 0 || m[`gateway_requests_total{path="/v1/chat/completions",code="400"}`] != 12 ||
		m[`gateway_requests_total{path="other",code="404"}`] != 1 {
		t.Errorf("metrics after bad requests: %v", m)
	}
	// Within the limit, a message with empty content is routed (on "").
	if r := tg.chat(t, "auto", ""); r.status != http.StatusOK {
		t.Errorf("empty content: %d %s", r.status, r.body)
	}
}

func TestHealthModelsAndMetricsFormat(t *testing.T) {
	tg := newTestGateway(t, fixtures(t).a, "")
	r := do(t, http.MethodGet, tg.url+"/healthz", "", "")
	if r.status != http.StatusOK || string(r.body) != `{"models":["coder","small","writer"],"status":"ok"}`+"\n" {
		t.Errorf("healthz: %d %s", r.status, r.body)
	}
	r = do(t, http.MethodGet, tg.url+"/v1/models", "", "")
	var models struct{ Data []struct{ ID string } }
	json.Unmarshal(r.body, &models)
	var ids []string
	for _, m := range models.Data {
		ids = append(ids, m.ID)
	}
	if !reflect.DeepEqual(ids, []string{"auto", "cheap", "coder", "small", "writer"}) {
		t.Errorf("models %s", r.body)
	}
	tg.chat(t, "auto", codePrompt)
	text := string(do(t, http.MethodGet, tg.url+"/metrics", "", "").body)
	for _, want := range []string{
		"# TYPE gateway_decisions_total counter\n", "# TYPE gateway_spend_usd_total counter\n",
		"# TYPE gateway_routing_duration_seconds histogram\n", "# TYPE gateway_requests_in_flight gauge\n",
		"gateway_requests_in_flight 1\n", // this very scrape
		`gateway_decisions_total{model="coder"} 1` + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q:\n%s", want, text)
		}
	}
	// Buckets are cumulative and end at the count.
	var last float64
	m := scrape(t, tg.url)
	for _, le := range []string{"2.5e-05", "5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.1", "+Inf"} {
		v, ok := m[`gateway_routing_duration_seconds_bucket{le="`+le+`"}`]
		if !ok || v < last {
			t.Errorf("bucket %s: %v (previous %v)", le, v, last)
		}
		last = v
	}
	if last != m["gateway_routing_duration_seconds_count"] || last != 1 {
		t.Errorf("+Inf bucket %v, count %v", last, m["gateway_routing_duration_seconds_count"])
	}
}

func TestConfigChecksAndKeyRedaction(t *testing.T) {
	fixtures(t)
	base := `{"router_file": "r", "models": {"m": {"base_url": "http://127.0.0.1:1/v1", "api_key_env": "GW_KEY"}}%s}`
	for _, c := range []struct{ extra, want string }{
		{`, "limitz": {}`, `unknown field "limitz"`},
		{`, "limits": {"max_retries": -1}`, "limits.max_retries must be >= 0"},
		{`, "limits": {"max_body_bytes": 0}`, "limits.max_body_bytes must be > 0"},
		{`, "aliases": {"m": {}}`, "aliases.m: also a model name"},
		{`, "aliases": {"auto": {"allowed_models": ["x"]}}`, `"x" has no backend`},
	} {
		_, err := ParseConfig([]byte(fmt.Sprintf(base, c.extra)), "", func(string) string { return "sk-secret-value" })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v", c.extra, err)
		}
	}
	_, err := ParseConfig([]byte(fmt.Sprintf(base, "")), "", func(string) string { return "" })
	if err == nil || err.Error() != "models.m: environment variable GW_KEY (api_key_env) is not set" {
		t.Errorf("missing key: %v", err)
	}
	cfg, err := ParseConfig([]byte(fmt.Sprintf(base, "")), "/etc/gw", func(string) string { return "sk-secret-value" })
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RouterFile != "/etc/gw/r" || cfg.Models["m"].UpstreamModel != "m" || cfg.Limits.MaxRetries != 2 {
		t.Errorf("defaults: %+v", cfg)
	}
	// A config printed or marshalled by mistake shows no key.
	text, _ := json.Marshal(cfg)
	printed := fmt.Sprintf("%v %+v %#v", cfg.Models["m"], *cfg.Models["m"], cfg.Models["m"].Key)
	if strings.Contains(printed+string(text), "sk-secret-value") || strings.Count(printed, "[redacted]") != 3 {
		t.Errorf("printed config: %s\nmarshalled: %s", printed, text)
	}
	// The example config shipped beside the gateway parses.
	example, err := LoadConfig("gateway.example.json", func(string) string { return "sk-example" })
	if err != nil || example.RouterFile != "model.router" || len(example.Models) != 3 || len(example.Aliases) != 3 {
		t.Errorf("gateway.example.json: %v %+v", err, example)
	}
	// A router whose catalog has a model without a backend is refused at start.
	cfg, err = ParseConfig([]byte(`{"router_file": "`+routerA+`", "models": {"coder": {"base_url": "http://127.0.0.1:1/v1"}}}`), "", os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, t.Logf); err == nil || !strings.Contains(err.Error(), "[writer small] have no backend") {
		t.Errorf("a catalog model without a backend: %v", err)
	}
}
