package router_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"librouter/router"
)

var (
	codeWords = strings.Fields("python function code bug compile segfault debug pointer")
	poemWords = strings.Fields("poem story rhyme novel verse stanza sonnet haiku")
)

const (
	codePrompt = "fix this python bug, it will not compile"
	poemPrompt = "a sonnet with rhyme, verse and a story"
	knnConfig  = `{"knn": {"k": 10}}`
)

// writeDataset writes 160 prompts of two topics: bestOnCode scores 1 on code
// prompts, the other model on poems.
func writeDataset(t *testing.T, path, bestOnCode string) {
	t.Helper()
	writeDatasetWith(t, path, bestOnCode, false)
}

// writeDatasetWith: with sources, each row names its topic ("code",
// "poems") as its source.
func writeDatasetWith(t *testing.T, path, bestOnCode string, sources bool) {
	t.Helper()
	other := map[string]string{"coder": "writer", "writer": "coder"}[bestOnCode]
	var b strings.Builder
	for row := 0; row < 160; row++ {
		words, best := codeWords, bestOnCode
		if row%2 == 1 {
			words, best = poemWords, other
		}
		prompt := words[row%8] + " " + words[(row*3+1)%8] + " " + words[(row*5+2)%8]
		score := func(model string) int {
			if model == best {
				return 1
			}
			return 0
		}
		source := ""
		if sources {
			source = map[bool]string{true: `"source": "code", `, false: `"source": "poems", `}[row%2 == 0]
		}
		fmt.Fprintf(&b, `{"id": "r%d", "prompt": %q, %s"scores": {"coder": %d, "writer": %d}, `+
			`"costs": {"coder": 0.001, "writer": 0.001}}`+"\n", row, prompt, source, score("coder"), score("writer"))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fitted(t *testing.T) (*router.Router, string) {
	t.Helper()
	return fittedWith(t, knnConfig)
}

// fittedWith fits a router with config on the dataset, in a fresh directory.
func fittedWith(t *testing.T, config string) (*router.Router, string) {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data.jsonl")
	writeDataset(t, data, "coder")
	r, err := router.FromDataset(data, config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r, dir
}

// embed is the router's vector for each prompt, rows back to back.
func embed(t *testing.T, r *router.Router, prompts ...string) []float32 {
	t.Helper()
	dim, err := r.Dim()
	if err != nil {
		t.Fatal(err)
	}
	vectors := make([]float32, len(prompts)*dim)
	for i, p := range prompts {
		if _, err := r.EmbedText(p, vectors[i*dim:(i+1)*dim]); err != nil {
			t.Fatal(err)
		}
	}
	return vectors
}

// routed is the model r routes prompt to with opts; it fails t on error.
func routed(t *testing.T, r *router.Router, prompt string, opts *router.RouteOptions) string {
	t.Helper()
	d, err := r.RouteWith(prompt, opts)
	if err != nil {
		t.Fatalf("%q with %+v: %v", prompt, opts, err)
	}
	return d.Model
}

// policyState is r's policy state, decoded.
func policyState(t *testing.T, r *router.Router) map[string]interface{} {
	t.Helper()
	text, err := r.PolicyState()
	if err != nil {
		t.Fatal(err)
	}
	var state map[string]interface{}
	if err := json.Unmarshal([]byte(text), &state); err != nil {
		t.Fatalf("policy state %q: %v", text, err)
	}
	return state
}

// status is err's librouter status, or -1 if err is not an *Error.
func status(err error) router.Status {
	var e *router.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return -1
}

func TestVersions(t *testing.T) {
	if router.LinkedABIVersion() != router.ABIVersion {
		t.Fatalf("linked ABI %d, package ABI %d", router.LinkedABIVersion(), router.ABIVersion)
	}
	if len(strings.Split(router.Version(), ".")) != 3 {
		t.Fatalf("version %q", router.Version())
	}
	if router.NotFound.String() != "ROUTER_NOT_FOUND" {
		t.Fatalf("status name %q", router.NotFound.String())
	}
}

// SimdTarget is a Highway target name (hwy/targets.h TargetName: 1.0.3's,
// plus the ones later releases added), the same on every call.
func TestSimdTarget(t *testing.T) {
	known := map[string]bool{}
	for _, name := range strings.Fields(`AVX3 AVX3_DL AVX3_ZEN4 AVX3_SPR AVX10_2 AVX10_2_512
		AVX2 SSE4 SSSE3 SSE2 NEON NEON_WITHOUT_AES NEON_BF16 SVE SVE2 SVE_256 SVE2_128
		PPC8 PPC9 PPC10 Z14 Z15 WASM WASM_EMU256 RVV LSX LASX EMU128 SCALAR`) {
		known[name] = true
	}
	target := router.SimdTarget()
	if !known[target] {
		t.Fatalf("SIMD target %q is not a Highway target name", target)
	}
	if again := router.SimdTarget(); again != target {
		t.Fatalf("SIMD target %q, then %q", target, again)
	}
}

func TestRoutesTextByTopic(t *testing.T) {
	r, _ := fitted(t)
	code, err := r.Route(codePrompt)
	if err != nil {
		t.Fatal(err)
	}
	poem, err := r.Route(poemPrompt)
	if err != nil {
		t.Fatal(err)
	}
	if code.Model != "coder" || poem.Model != "writer" {
		t.Fatalf("code -> %s, poem -> %s", code.Model, poem.Model)
	}
	models, err := r.Models()
	if err != nil || models[code.ModelIndex] != "coder" || len(models) != 2 {
		t.Fatalf("models %v (%v), index %d", models, err, code.ModelIndex)
	}
	if len(code.Fallbacks) != 1 || code.Fallbacks[0] != "writer" {
		t.Fatalf("fallbacks %v", code.Fallbacks)
	}
	if code.Quality <= 0.5 || code.Quality > 1 || code.CostUSD <= 0 || code.ID != 0 {
		t.Fatalf("figures %+v", code)
	}
	if !strings.Contains(code.Explanation, "coder") || !strings.Contains(code.JSON, `"model":"coder"`) {
		t.Fatalf("explanation %q, json %q", code.Explanation, code.JSON)
	}
}

func TestRouteBatchMatchesSingleRoutes(t *testing.T) {
	r, _ := fitted(t)
	prompts := []string{codePrompt, poemPrompt, "debug a pointer", "a haiku", "compile", "verse"}
	dim, err := r.Dim()
	if err != nil {
		t.Fatal(err)
	}
	// Padded rows: stride > dim, the padding NaN (never read).
	stride := dim + 3
	vectors := make([]float32, len(prompts)*stride)
	for i := range vectors {
		vectors[i] = float32(math.NaN())
	}
	tokens := make([]int64, len(prompts))
	for i, p := range prompts {
		if _, err := r.EmbedText(p, vectors[i*stride:i*stride+dim]); err != nil {
			t.Fatal(err)
		}
		tokens[i] = int64(i + 1)
	}
	index := make([]int32, len(prompts))
	quality := make([]float64, len(prompts))
	cost := make([]float64, len(prompts))
	if err := r.RouteBatch(vectors, stride, tokens, index, quality, cost); err != nil {
		t.Fatal(err)
	}
	models, _ := r.Models()
	want := []string{"coder", "writer", "coder", "writer", "coder", "writer"}
	for i := range prompts {
		single, err := r.RouteVector(vectors[i*stride:i*stride+dim], tokens[i])
		if err != nil {
			t.Fatal(err)
		}
		if models[index[i]] != want[i] || int(index[i]) != single.ModelIndex ||
			quality[i] != single.Quality || cost[i] != single.CostUSD {
			t.Fatalf("query %d: batch (%d, %v, %v), single %+v", i, index[i], quality[i], cost[i], single)
		}
	}
	// Optional outputs left out.
	if err := r.RouteBatch(vectors, stride, nil, index, nil, nil); err != nil {
		t.Fatal(err)
	}
}

func TestRouteBatchChecksLengthsBeforeTheCall(t *testing.T) {
	r, _ := fitted(t)
	dim, _ := r.Dim()
	vectors := make([]float32, 2*dim)
	if err := r.RouteBatch(vectors, dim, nil, make([]int32, 3), nil, nil); status(err) != router.InvalidArgument {
		t.Fatalf("three queries, two rows: %v", err)
	}
	if err := r.RouteBatch(vectors, dim-1, nil, make([]int32, 2), nil, nil); status(err) != router.InvalidArgument {
		t.Fatalf("stride below dim: %v", err)
	}
	err := r.RouteBatch(vectors, dim, nil, make([]int32, 2), make([]float64, 1), nil)
	if status(err) != router.InvalidArgument || !strings.Contains(err.Error(), "quality") {
		t.Fatalf("short quality: %v", err)
	}
	vectors[dim] = float32(math.NaN())
	err = r.RouteBatch(vectors, dim, nil, make([]int32, 2), nil, nil)
	if status(err) != router.InvalidArgument || !strings.HasPrefix(err.(*router.Error).Message, "query 1: ") {
		t.Fatalf("NaN in query 1: %v", err)
	}
}

func TestErrorsCarryStatusAndMessage(t *testing.T) {
	dir := t.TempDir()
	_, err := router.FromDataset(filepath.Join(dir, "missing.jsonl"), "")
	if status(err) != router.NotFound || !strings.Contains(err.Error(), "missing.jsonl") ||
		!strings.HasPrefix(err.Error(), "ROUTER_NOT_FOUND: ") {
		t.Fatalf("missing file: %v", err)
	}
	data := filepath.Join(dir, "data.jsonl")
	writeDataset(t, data, "coder")
	if _, err := router.FromDataset(data, `{"no_such_key": 1}`); status(err) != router.InvalidArgument ||
		!strings.Contains(err.Error(), "no_such_key") {
		t.Fatalf("bad config: %v", err)
	}
	garbage := filepath.Join(dir, "garbage.router")
	os.WriteFile(garbage, []byte("not a router file at all"), 0o644)
	if _, err := router.Load(garbage); status(err) != router.DataLoss {
		t.Fatalf("garbage file: %v", err)
	}
	r, err := router.FromDataset(data, knnConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.RemoveModel("nobody"); status(err) != router.NotFound {
		t.Fatalf("remove unknown: %v", err)
	}
	if err := r.SetModelPrice("coder", -1, 1); status(err) != router.InvalidArgument {
		t.Fatalf("negative price: %v", err)
	}
	if _, err := r.RouteVector([]float32{1, 2}, 0); status(err) != router.InvalidArgument {
		t.Fatalf("wrong dim: %v", err)
	}
	if _, err := r.RouteVector(nil, 0); status(err) != router.InvalidArgument {
		t.Fatalf("nil vector: %v", err)
	}
	// C would see "fix"; refused instead.
	if _, err := r.Route("fix\x00 this"); status(err) != router.InvalidArgument {
		t.Fatalf("NUL in a prompt: %v", err)
	}
}

func TestSaveLoadReload(t *testing.T) {
	r, dir := fitted(t)
	saved := filepath.Join(dir, "router.bin")
	if err := r.Save(saved); err != nil {
		t.Fatal(err)
	}
	loaded, err := router.Load(saved)
	if err != nil {
		t.Fatal(err)
	}
	defer loaded.Close()
	if d, _ := loaded.Route(codePrompt); d.Model != "coder" {
		t.Fatalf("loaded router: %+v", d)
	}
	flippedData := filepath.Join(dir, "flipped.jsonl")
	writeDataset(t, flippedData, "writer")
	other, err := router.FromDataset(flippedData, knnConfig)
	if err != nil {
		t.Fatal(err)
	}
	flipped := filepath.Join(dir, "flipped.bin")
	if err := other.Save(flipped); err != nil {
		t.Fatal(err)
	}
	other.Close()
	if err := loaded.Reload(flipped); err != nil {
		t.Fatal(err)
	}
	if d, _ := loaded.Route(codePrompt); d.Model != "writer" {
		t.Fatalf("after reload: %+v", d)
	}
	if err := loaded.Reload(filepath.Join(dir, "missing.bin")); status(err) != router.NotFound {
		t.Fatalf("reload of a missing file: %v", err)
	}
	if d, _ := loaded.Route(codePrompt); d.Model != "writer" {
		t.Fatalf("after a refused reload: %+v", d)
	}
}

func TestModelChangesAndClose(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data.jsonl")
	writeDataset(t, data, "coder")
	r, err := router.FromDataset(data, knnConfig)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.SetModelPrice("writer", 0.5, 1.5); err != nil {
		t.Fatal(err)
	}
	// Read back in their order: swapped prices would fail here.
	if in, out, err := r.ModelPrice("writer"); err != nil || in != 0.5 || out != 1.5 {
		t.Fatalf("writer's prices: %v %v %v", in, out, err)
	}
	if _, _, err := r.ModelPrice("nobody"); status(err) != router.NotFound {
		t.Fatalf("unknown model's price: %v", err)
	}
	// A budget policy's spend moves by realised - expected.
	if err := r.SetPolicy(`{"kind": "budget", "target_cost_usd": 1}`); err != nil {
		t.Fatal(err)
	}
	if err := r.RecordCost(1e-3, 4e-3); err != nil {
		t.Fatal(err)
	}
	if state, err := r.PolicyState(); err != nil || !strings.Contains(state, `"spend_usd":0.003,`) {
		t.Fatalf("budget state after a realised cost: %q %v", state, err)
	}
	if err := r.RecordCost(-1, 0); status(err) != router.InvalidArgument {
		t.Fatalf("negative cost: %v", err)
	}
	if err := r.RemoveModel("writer"); err != nil {
		t.Fatal(err)
	}
	if d, _ := r.Route(poemPrompt); d.Model != "coder" {
		t.Fatalf("after removing writer: %+v", d)
	}
	if err := r.RemoveModel("coder"); status(err) != router.FailedPrecondition {
		t.Fatalf("removing the last model: %v", err)
	}
	r.Close()
	r.Close()
	if _, err := r.Route(codePrompt); err != router.ErrClosed {
		t.Fatalf("route after Close: %v", err)
	}
}

func TestFeedbackOnAnOnlineRouter(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data.jsonl")
	writeDataset(t, data, "coder")
	r, err := router.FromDataset(data, `{"router": "linucb"}`)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	d, err := r.Route(codePrompt)
	if err != nil || d.ID == 0 {
		t.Fatalf("decision %+v (%v): want a non-zero ID", d, err)
	}
	if err := r.Feedback(d.ID, 1.5, 0.001); status(err) != router.InvalidArgument {
		t.Fatalf("score 1.5: %v", err)
	}
	if err := r.Feedback(d.ID, 1, 0.001); err != nil {
		t.Fatal(err)
	}
	if err := r.Feedback(d.ID, 1, 0.001); status(err) != router.NotFound {
		t.Fatalf("reported twice: %v", err)
	}
	dim, _ := r.Dim()
	vector, err := r.EmbedText(poemPrompt, make([]float32, dim))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.FeedbackVector(vector, "writer", 1, 0.001); err != nil {
		t.Fatal(err)
	}
	if err := r.FeedbackVector(vector, "nobody", 1, 0.001); status(err) != router.NotFound {
		t.Fatalf("unknown model: %v", err)
	}
}

func TestRouteOptions(t *testing.T) {
	r, _ := fitted(t)
	if m := routed(t, r, codePrompt, nil); m != "coder" {
		t.Fatalf("no options: %s", m)
	}
	// A request allow-list forces the allowed model, for text and vectors.
	writerOnly := &router.RouteOptions{AllowedModels: []string{"writer"}}
	if m := routed(t, r, codePrompt, writerOnly); m != "writer" {
		t.Fatalf("allow-list [writer]: %s", m)
	}
	vector := embed(t, r, codePrompt)
	if d, err := r.RouteVectorWith(vector, 5, writerOnly); err != nil || d.Model != "writer" {
		t.Fatalf("vector with allow-list [writer]: %+v, %v", d, err)
	}
	if d, err := r.RouteVectorWith(vector, 5, nil); err != nil || d.Model != "coder" {
		t.Fatalf("vector without options: %+v, %v", d, err)
	}
	// An overridden lambda is used, and the explanation says so.
	lambda := 12345.0
	d, err := r.RouteWith(codePrompt, &router.RouteOptions{Lambda: &lambda})
	if err != nil || !strings.Contains(d.Explanation, "lambda=12345 (request override)") {
		t.Fatalf("lambda override: %q, %v", d.Explanation, err)
	}
	// Bad overrides are refused by the library.
	_, err = r.RouteWith(codePrompt, &router.RouteOptions{AllowedModels: []string{"no-such-model"}})
	if status(err) != router.InvalidArgument || !strings.Contains(err.Error(), "no-such-model") {
		t.Fatalf("unknown allowed model: %v", err)
	}
	nan := math.NaN()
	if _, err := r.RouteWith(codePrompt, &router.RouteOptions{Lambda: &nan}); status(err) != router.InvalidArgument {
		t.Fatalf("NaN lambda: %v", err)
	}
	if _, err := r.RouteVectorWith(vector[1:], 0, writerOnly); status(err) != router.InvalidArgument {
		t.Fatalf("wrong dim: %v", err)
	}
	bad := &router.RouteOptions{AllowedModels: []string{"writer", "co\x00der"}}
	if _, err := r.RouteWith(codePrompt, bad); status(err) != router.InvalidArgument {
		t.Fatalf("NUL in an allowed model: %v", err)
	}
}

// A request naming its task gets that task's cluster where the text cannot
// tell; a task the router did not learn leaves the text to decide.
func TestTask(t *testing.T) {
	data := filepath.Join(t.TempDir(), "tasks.jsonl")
	writeDatasetWith(t, data, "coder", true)
	r, err := router.FromDataset(data, `{"router": "cluster"}`)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const vague = "please help me with this"
	zero := 0.0
	inferred := routed(t, r, vague, &router.RouteOptions{Lambda: &zero})
	for task, want := range map[string]string{"code": "coder", "poems": "writer"} {
		if m := routed(t, r, vague, &router.RouteOptions{Lambda: &zero, Task: task}); m != want {
			t.Errorf("task %s: routed to %s, want %s", task, m, want)
		}
	}
	if m := routed(t, r, vague, &router.RouteOptions{Lambda: &zero, Task: "limericks"}); m != inferred {
		t.Errorf("unknown task: routed to %s, want %s as without a task", m, inferred)
	}
}

func TestBudgetClass(t *testing.T) {
	r, _ := fitted(t)
	if err := r.SetPolicy(`{"budget_classes": {"poets": {"allowed_models": ["writer"]}}}`); err != nil {
		t.Fatal(err)
	}
	// A class carries an allow-list by name; the request's own wins.
	if m := routed(t, r, codePrompt, &router.RouteOptions{BudgetClass: "poets"}); m != "writer" {
		t.Fatalf("class poets: %s", m)
	}
	own := &router.RouteOptions{BudgetClass: "poets", AllowedModels: []string{"coder"}}
	if m := routed(t, r, codePrompt, own); m != "coder" {
		t.Fatalf("own allow-list: %s", m)
	}
	_, err := r.RouteWith(codePrompt, &router.RouteOptions{BudgetClass: "platinum"})
	if status(err) != router.NotFound {
		t.Fatalf("unknown class: %v", err)
	}
}

func TestAvailabilityAndPolicies(t *testing.T) {
	r, _ := fitted(t)
	// An outage: the model is skipped until it is marked up.
	if err := r.SetModelAvailable("coder", false); err != nil {
		t.Fatal(err)
	}
	for _, prompt := range []string{codePrompt, poemPrompt} {
		if m := routed(t, r, prompt, nil); m != "writer" {
			t.Fatalf("coder down, %q -> %s", prompt, m)
		}
	}
	if err := r.SetModelAvailable("coder", true); err != nil {
		t.Fatal(err)
	}
	if m := routed(t, r, codePrompt, nil); m != "coder" {
		t.Fatalf("coder up again: %s", m)
	}
	if err := r.SetModelAvailable("nobody", false); status(err) != router.NotFound {
		t.Fatalf("unknown model: %v", err)
	}

	// A budget policy shows its pacing state; a bad policy changes nothing.
	if err := r.SetPolicy(`{"kind": "budget", "target_cost_usd": 0.001}`); err != nil {
		t.Fatal(err)
	}
	routed(t, r, codePrompt, nil)
	if state := policyState(t, r); state["kind"] != "budget" || state["requests"] != 1.0 {
		t.Fatalf("budget state %v", state)
	}
	if err := r.SetPolicy("{not json"); status(err) != router.InvalidArgument {
		t.Fatalf("bad policy JSON: %v", err)
	}
	if state := policyState(t, r); state["kind"] != "budget" || state["requests"] != 1.0 {
		t.Fatalf("after a refused policy: %v", state)
	}

	// Calibrating needs a threshold policy.
	dim, _ := r.Dim()
	sample := embed(t, r, codePrompt, poemPrompt)
	if _, err := r.CalibrateThreshold(sample, dim, 0.5); status(err) != router.FailedPrecondition {
		t.Fatalf("calibrating a budget policy: %v", err)
	}
	if err := r.SetPolicy(`{"kind": "threshold", "strong": "coder", "weak": "writer"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := r.CalibrateThreshold(sample[:2*(dim-1)], dim-1, 0.5); status(err) != router.InvalidArgument {
		t.Fatalf("wrong dim: %v", err)
	}
	if _, err := r.CalibrateThreshold(sample[1:], dim, 0.5); status(err) != router.InvalidArgument {
		t.Fatalf("not whole rows: %v", err)
	}
	threshold, err := r.CalibrateThreshold(sample, dim, 0.5)
	if err != nil || math.IsNaN(threshold) || threshold < -1 || threshold > 1 {
		t.Fatalf("calibrated threshold %v, %v", threshold, err)
	}
	state := policyState(t, r)
	if state["kind"] != "threshold" || state["threshold"] != threshold {
		t.Fatalf("threshold state %v, calibrated %v", state, threshold)
	}
	// Half the sample goes to the strong model: the code prompt. A request's
	// own threshold of 1 sends everything to the weak one.
	if m := routed(t, r, codePrompt, nil); m != "coder" {
		t.Fatalf("calibrated threshold, code -> %s", m)
	}
	one := 1.0
	if m := routed(t, r, codePrompt, &router.RouteOptions{Tau: &one}); m != "writer" {
		t.Fatalf("tau 1, code -> %s", m)
	}
}

func TestAddModel(t *testing.T) {
	// A cluster router learns a cheaper poet from embedded examples (good on
	// poems, bad on code) and, under a quality floor, sends poems to it and
	// code still to the coder.
	r, _ := fittedWith(t, `{"router": "cluster", "policy": {"kind": "quality_floor", "tau": 0.7}}`)
	dim, _ := r.Dim()
	var prompts []string
	var scores, costs []float64
	for i := 0; i < 20; i++ {
		prompts = append(prompts, poemPrompt, codePrompt)
		scores = append(scores, 1, 0)
		costs = append(costs, 0.0001, 0.0001)
	}
	vectors := embed(t, r, prompts...)
	poet := `{"name": "poet", "input_usd_per_mtok": 0.01, "output_usd_per_mtok": 0.02}`
	if err := r.AddModel(poet, vectors[:40*(dim-1)], dim-1, scores, nil); status(err) != router.InvalidArgument {
		t.Fatalf("wrong dim: %v", err)
	}
	if err := r.AddModel(poet, vectors, dim, scores[:39], nil); status(err) != router.InvalidArgument {
		t.Fatalf("39 scores for 40 rows: %v", err)
	}
	if err := r.AddModel(poet, vectors, dim, scores, costs[:39]); status(err) != router.InvalidArgument {
		t.Fatalf("39 costs for 40 rows: %v", err)
	}
	if models, _ := r.Models(); len(models) != 2 {
		t.Fatalf("a refused model was added: %v", models)
	}
	if err := r.AddModel(poet, vectors, dim, scores, costs); err != nil {
		t.Fatal(err)
	}
	if models, _ := r.Models(); strings.Join(models, ",") != "coder,writer,poet" {
		t.Fatalf("models %v", models)
	}
	if m := routed(t, r, poemPrompt, nil); m != "poet" {
		t.Fatalf("poem -> %s", m)
	}
	if m := routed(t, r, codePrompt, nil); m != "coder" {
		t.Fatalf("code -> %s", m)
	}
	if err := r.AddModel(poet, vectors, dim, scores, nil); status(err) != router.AlreadyExists {
		t.Fatalf("poet twice: %v", err)
	}

	// Without examples: a linucb router starts the arm at its prior.
	online, _ := fittedWith(t, `{"router": "linucb"}`)
	if err := online.AddModel(`{"name": "fresh"}`, nil, 0, nil, nil); err != nil {
		t.Fatal(err)
	}
	if models, _ := online.Models(); len(models) != 3 || models[2] != "fresh" {
		t.Fatalf("models %v", models)
	}
	// kNN needs every model's score on every reference prompt.
	knn, _ := fitted(t)
	if err := knn.AddModel(poet, vectors, dim, scores, nil); status(err) != router.Unimplemented {
		t.Fatalf("kNN add: %v", err)
	}
}

// Many goroutines route and fail at once; goroutines move between OS
// threads, yet each error carries the message of its own call.
func TestConcurrentUse(t *testing.T) {
	r, _ := fitted(t)
	var wg sync.WaitGroup
	failures := make(chan string, 64)
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 40; i++ {
				prompt, want := codePrompt, "coder"
				if (g+i)%2 == 1 {
					prompt, want = poemPrompt, "writer"
				}
				if d, err := r.Route(prompt); err != nil || d.Model != want {
					failures <- fmt.Sprintf("goroutine %d: %+v, %v", g, d, err)
					return
				}
				name := fmt.Sprintf("nobody-%d-%d", g, i)
				if err := r.RemoveModel(name); status(err) != router.NotFound ||
					!strings.Contains(err.Error(), name) {
					failures <- fmt.Sprintf("goroutine %d: the error for %s was %v", g, name, err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(failures)
	for failure := range failures {
		t.Error(failure)
	}
}
