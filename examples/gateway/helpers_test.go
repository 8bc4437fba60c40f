// Test fixtures: routers fitted on generated data, fake OpenAI-compatible
// backends on loopback, a gateway over them, and readers for its answers.

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"librouter/router"
)

// TestMain runs the gateway's main instead of the tests when
// GATEWAY_TEST_MAIN=1: process_test.go starts this test binary as the
// gateway process (no separate build step).
func TestMain(m *testing.M) {
	if os.Getenv("GATEWAY_TEST_MAIN") == "1" {
		os.Args = append([]string{"gateway"}, strings.Fields(os.Getenv("GATEWAY_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	code := m.Run()
	if fixtureDir != "" {
		os.RemoveAll(fixtureDir)
	}
	os.Exit(code)
}

// The three topics of the generated data, and one prompt of each.
var topicWords = map[string][]string{
	"code": strings.Fields("python function code bug compile segfault debug pointer"),
	"poem": strings.Fields("poem story rhyme novel verse stanza sonnet haiku"),
	"chat": strings.Fields("hello weather lunch weekend movie coffee friends holiday"),
}

const (
	codePrompt = "fix this python bug, it will not compile"
	poemPrompt = "a sonnet with rhyme, verse and a story"
	chatPrompt = "any plans for the weekend? coffee or a movie"
)

// The prices (input, output USD per million tokens) the test routers are
// fitted with: routerA and routerOnline carry routerPrices, routerB twice
// those, so a reload visibly changes them. The gateway's configs in the tests
// give none: the gateway reads the router's. Each fake backend reports the
// same usage.
var routerPrices = map[string][2]float64{"coder": {3, 15}, "writer": {2.5, 10}, "small": {0.1, 0.4}}

const promptTokens, completionTokens = 120, 30

// tokensCost is the fake usage's cost at these prices, computed as the
// gateway does.
func tokensCost(p [2]float64) float64 {
	return (promptTokens*p[0] + completionTokens*p[1]) / 1e6
}

// routerCost is one answer's realised cost from model under routerPrices.
func routerCost(model string) float64 { return tokensCost(routerPrices[model]) }

// modelsJSON is a fit config's "models" list with routerPrices times scale.
func modelsJSON(scale float64) string {
	var profiles []string
	for _, name := range []string{"coder", "writer", "small"} {
		p := routerPrices[name]
		profiles = append(profiles, fmt.Sprintf(`{"name": %q, "input_usd_per_mtok": %g, "output_usd_per_mtok": %g}`,
			name, scale*p[0], scale*p[1]))
	}
	return "[" + strings.Join(profiles, ", ") + "]"
}

// API keys the gateway reads from the environment; they must never show up
// in a log or an error body.
var apiKeys = map[string]string{
	"coder": "sk-test-coder-7f3a9c1e5b", "writer": "sk-test-writer-2d8e4f6a0c", "small": "sk-test-small-9b1c3e5d7f",
}

func keyEnv(model string) string { return "GW_TEST_KEY_" + strings.ToUpper(model) }

// writeDataset writes 240 prompts of three topics: codeBest scores best on
// code, poemBest on poems (both expensive), and "small" is cheap and good
// enough for chat, so a router routes the three topics to three models.
func writeDataset(path, codeBest, poemBest string) error {
	scores := map[string]map[string]float64{
		"code": {codeBest: 1.0, poemBest: 0.2, "small": 0.5},
		"poem": {codeBest: 0.3, poemBest: 1.0, "small": 0.6},
		"chat": {codeBest: 0.9, poemBest: 0.9, "small": 0.85},
	}
	costs := `{"coder": 0.004, "writer": 0.003, "small": 0.0002}`
	var b strings.Builder
	topics := []string{"code", "poem", "chat"}
	for row := 0; row < 240; row++ {
		topic := topics[row%3]
		words := topicWords[topic]
		prompt := words[row%8] + " " + words[(row*3+1)%8] + " " + words[(row*5+2)%8]
		noise := float64(row*7%10) / 100
		s := scores[topic]
		fmt.Fprintf(&b, `{"id": "q%d", "prompt": %q, "scores": {"coder": %.2f, "writer": %.2f, "small": %.2f}, "costs": %s}`+"\n",
			row, prompt, s["coder"]-noise, s["writer"]-noise, s["small"]-noise, costs)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

var (
	fixtureOnce sync.Once
	fixtureDir  string
	fixtureErr  error
	// Saved routers: routerA sends code to coder and poems to writer,
	// routerB the other way round (at twice the prices); routerOnline is a
	// LinUCB router (it issues decision ids). All send chat to small.
	routerA, routerB, routerOnline string
)

// savedRouters are the paths of the fitted routers.
type savedRouters struct{ a, b, online string }

// fixtures fits the three routers once per test process, with the Go binding,
// on data written here.
func fixtures(t testing.TB) savedRouters {
	t.Helper()
	fixtureOnce.Do(func() {
		fixtureDir, fixtureErr = os.MkdirTemp("", "gateway-test-")
		if fixtureErr != nil {
			return
		}
		fit := func(out, codeBest, poemBest, config string) error {
			data := filepath.Join(fixtureDir, "data-"+codeBest+".jsonl")
			if err := writeDataset(data, codeBest, poemBest); err != nil {
				return err
			}
			r, err := router.FromDataset(data, config)
			if err != nil {
				return err
			}
			defer r.Close()
			return r.Save(out)
		}
		routerA = filepath.Join(fixtureDir, "a.router")
		routerB = filepath.Join(fixtureDir, "b.router")
		routerOnline = filepath.Join(fixtureDir, "online.router")
		knn := `{"knn": {"k": 10}, "policy": {"lambda": 100}, "models": %s}`
		for _, f := range []struct{ out, codeBest, poemBest, config string }{
			{routerA, "coder", "writer", fmt.Sprintf(knn, modelsJSON(1))},
			{routerB, "writer", "coder", fmt.Sprintf(knn, modelsJSON(2))},
			{routerOnline, "coder", "writer", `{"router": "linucb", "policy": {"lambda": 100}, "models": ` + modelsJSON(1) + `}`},
		} {
			if fixtureErr = fit(f.out, f.codeBest, f.poemBest, f.config); fixtureErr != nil {
				return
			}
		}
	})
	if fixtureErr != nil {
		t.Fatalf("fitting the test routers: %v", fixtureErr)
	}
	return savedRouters{routerA, routerB, routerOnline}
}

// Backend behaviours.
const (
	answerOK   int32 = iota
	answer500        // HTTP 500, with a body quoting the key it got
	answer401        // HTTP 401, with a body quoting the key it got
	answerHang       // no answer until the request is cancelled
)

// received is what a fake backend saw of one request.
type received struct {
	Model         string
	Authorization string
	Text          string // the messages' contents joined by newlines
	Stream        bool
	Body          map[string]json.RawMessage
}

// fakeBackend is an OpenAI-compatible chat endpoint for one model.
type fakeBackend struct {
	name    string
	server  *httptest.Server
	mode    int32         // an answer* behaviour
	delayNS int64         // added to each OK answer (atomic)
	release chan struct{} // a stream waits on it after its first chunk; nil: no wait
	mu      sync.Mutex
	got     []received
	// streamDone is set when a stream's handler has written its last byte.
	streamDone int32
}

func newBackend(t testing.TB, name string) *fakeBackend {
	b := &fakeBackend{name: name}
	b.server = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.server.Close)
	return b
}

func (b *fakeBackend) setMode(mode int32) { atomic.StoreInt32(&b.mode, mode) }

func (b *fakeBackend) requests() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.got...)
}

func (b *fakeBackend) serve(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		http.Error(w, "wrong endpoint "+r.Method+" "+r.URL.Path, http.StatusTeapot)
		return
	}
	var body map[string]json.RawMessage
	var req struct {
		Model    string `json:"model"`
		Stream   bool   `json:"stream"`
		Messages []struct {
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	text, _ := io.ReadAll(r.Body)
	if json.Unmarshal(text, &body) != nil || json.Unmarshal(text, &req) != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	var texts []string
	for _, m := range req.Messages {
		t, _ := contentText(m.Content)
		texts = append(texts, t)
	}
	b.mu.Lock()
	b.got = append(b.got, received{Model: req.Model, Authorization: r.Header.Get("Authorization"),
		Text: strings.Join(texts, "\n"), Stream: req.Stream, Body: body})
	b.mu.Unlock()

	switch atomic.LoadInt32(&b.mode) {
	case answer500:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, `{"error": {"message": "overloaded; you sent %s"}}`, r.Header.Get("Authorization"))
		return
	case answer401:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintf(w, `{"error": {"message": "invalid key %s", "type": "auth"}}`, r.Header.Get("Authorization"))
		return
	case answerHang:
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return
	}
	if delay := atomic.LoadInt64(&b.delayNS); delay > 0 {
		time.Sleep(time.Duration(delay))
	}
	usage := fmt.Sprintf(`{"prompt_tokens": %d, "completion_tokens": %d, "total_tokens": %d}`,
		promptTokens, completionTokens, promptTokens+completionTokens)
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"id": "chatcmpl-%s", "object": "chat.completion", "model": %q, "choices": [{"index": 0, `+
			`"message": {"role": "assistant", "content": "answer from %s"}, "finish_reason": "stop"}], "usage": %s, `+
			`"backend_us": %d}`, b.name, req.Model, b.name, usage, time.Since(start).Microseconds())
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	flusher := w.(http.Flusher)
	chunk := func(content string) {
		fmt.Fprintf(w, "data: {\"id\": \"chatcmpl-%s\", \"object\": \"chat.completion.chunk\", \"choices\": "+
			"[{\"index\": 0, \"delta\": {\"content\": %q}}]}\n\n", b.name, content)
		flusher.Flush()
	}
	chunk("first from " + b.name)
	if b.release != nil {
		select {
		case <-b.release:
		case <-r.Context().Done():
			return
		}
	}
	for i := 2; i <= 4; i++ {
		chunk(fmt.Sprintf("chunk %d", i))
	}
	fmt.Fprintf(w, "data: {\"id\": \"chatcmpl-%s\", \"object\": \"chat.completion.chunk\", \"choices\": [], \"usage\": %s}\n\n", b.name, usage)
	fmt.Fprint(w, "data: [DONE]\n\n")
	flusher.Flush()
	atomic.StoreInt32(&b.streamDone, 1)
}

// testGateway is a gateway over fake backends, served on loopback.
type testGateway struct {
	*Gateway
	url      string
	backends map[string]*fakeBackend
	log      *syncBuffer
}

// syncBuffer collects the gateway's log lines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) logf(format string, args ...interface{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(&s.b, format+"\n", args...)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// configJSON is a gateway config with a backend per entry of backends and
// no prices, except overrides' (model -> input, output); limits is the
// "limits" object's inner text ("" for the defaults).
func configJSON(routerFile string, backends map[string]*fakeBackend, limits string, overrides map[string][2]float64) string {
	var models []string
	for _, name := range sortedKeys(backends) {
		price := ""
		if p, ok := overrides[name]; ok {
			price = fmt.Sprintf(`, "input_usd_per_mtok": %g, "output_usd_per_mtok": %g`, p[0], p[1])
		}
		models = append(models, fmt.Sprintf(`%q: {"base_url": %q, "upstream_model": %q, "api_key_env": %q%s}`,
			name, backends[name].server.URL+"/v1", name+"-upstream", keyEnv(name), price))
	}
	return fmt.Sprintf(`{"listen": "127.0.0.1:0", "router_file": %q, "aliases": {"auto": {}, "cheap": {"lambda": 100000, "task": "chores"}},
 "limits": {%s}, "models": {%s}}`, routerFile, limits, strings.Join(models, ", "))
}

func testGetenv(name string) string {
	for model, key := range apiKeys {
		if name == keyEnv(model) {
			return key
		}
	}
	return "sk-test-other" // a backend outside the three (not checked in the logs)
}

// newTestGateway serves a gateway over routerFile and three fake backends.
// At cleanup it checks that no API key reached the gateway's log.
func newTestGateway(t testing.TB, routerFile, limits string) *testGateway {
	t.Helper()
	return newGatewayWith(t, routerFile, limits, nil)
}

// newGatewayWith is newTestGateway with the config's price overrides
// (model -> input, output) and more backends, named by extra.
func newGatewayWith(t testing.TB, routerFile, limits string, overrides map[string][2]float64, extra ...string) *testGateway {
	t.Helper()
	fixtures(t)
	backends := map[string]*fakeBackend{}
	for _, name := range append([]string{"coder", "writer", "small"}, extra...) {
		backends[name] = newBackend(t, name)
	}
	cfg, err := ParseConfig([]byte(configJSON(routerFile, backends, limits, overrides)), "", testGetenv)
	if err != nil {
		t.Fatal(err)
	}
	log := &syncBuffer{}
	g, err := New(cfg, log.logf)
	if err != nil {
		t.Fatal(err)
	}
	server := httptest.NewServer(g.Handler())
	t.Cleanup(func() {
		server.Close()
		g.Close()
		assertNoKeys(t, "the gateway's log", log.String())
	})
	return &testGateway{Gateway: g, url: server.URL, backends: backends, log: log}
}

func assertNoKeys(t testing.TB, where, text string) {
	t.Helper()
	for model, key := range apiKeys {
		if strings.Contains(text, key) {
			t.Errorf("%s contains %s's API key:\n%s", where, model, text)
		}
	}
}

// counts is how many requests each backend got.
func (tg *testGateway) counts() map[string]int {
	out := map[string]int{}
	for name, b := range tg.backends {
		out[name] = len(b.requests())
	}
	return out
}

// response is a finished HTTP exchange.
type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t testing.TB, method, url, contentType, body string) response {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, text}
}

func chatBody(model, prompt string, extra string) string {
	return fmt.Sprintf(`{"model": %q, "messages": [{"role": "user", "content": %q}]%s}`, model, prompt, extra)
}

func (tg *testGateway) chat(t testing.TB, model, prompt string) response {
	t.Helper()
	return do(t, http.MethodPost, tg.url+"/v1/chat/completions", "application/json", chatBody(model, prompt, ""))
}

// content is the answer's message text.
func content(t testing.TB, r response) string {
	t.Helper()
	var answer struct {
		Choices []struct {
			Message struct{ Content string }
		}
	}
	if err := json.Unmarshal(r.body, &answer); err != nil || len(answer.Choices) != 1 {
		t.Fatalf("not a chat completion (%v): %s", err, r.body)
	}
	return answer.Choices[0].Message.Content
}

// errorObject is an OpenAI-style error body, checked to have exactly the
// four fields.
type errorObject struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    string  `json:"code"`
}

func decodeError(t testing.TB, r response) errorObject {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type %q", ct)
	}
	var outer map[string]map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &outer); err != nil || len(outer) != 1 || outer["error"] == nil {
		t.Fatalf("not an error object (%v): %s", err, r.body)
	}
	for _, field := range []string{"message", "type", "param", "code"} {
		if _, ok := outer["error"][field]; !ok {
			t.Errorf("error object without %q: %s", field, r.body)
		}
	}
	var e struct{ Error errorObject }
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error.Message == "" {
		t.Fatalf("bad error object (%v): %s", err, r.body)
	}
	return e.Error
}

// metrics reads GET /metrics into series -> value ("name{labels}" as
// written).
func (tg *testGateway) metrics(t testing.TB) map[string]float64 {
	t.Helper()
	return scrape(t, tg.url)
}

func scrape(t testing.TB, base string) map[string]float64 {
	t.Helper()
	r := do(t, http.MethodGet, base+"/metrics", "", "")
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics: %d %q", r.status, r.header.Get("Content-Type"))
	}
	values := map[string]float64{}
	lines := bufio.NewScanner(bytes.NewReader(r.body))
	for lines.Scan() {
		line := lines.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		cut := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[cut+1:], 64)
		if cut < 0 || err != nil {
			t.Fatalf("bad metrics line %q", line)
		}
		values[line[:cut]] = v
	}
	return values
}
