package router_test

import (
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
		fmt.Fprintf(&b, `{"id": "r%d", "prompt": %q, "scores": {"coder": %d, "writer": %d}, `+
			`"costs": {"coder": 0.001, "writer": 0.001}}`+"\n", row, prompt, score("coder"), score("writer"))
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fitted(t *testing.T) (*router.Router, string) {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data.jsonl")
	writeDataset(t, data, "coder")
	r, err := router.FromDataset(data, knnConfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r, dir
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
