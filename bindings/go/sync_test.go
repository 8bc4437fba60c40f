package router_test

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"librouter/router"
)

// savedLinUCB fits a LinUCB router on two topics and saves it; every
// replica loads the same file. Scores stop short of 0 and 1, so that
// estimates move with feedback rather than sit at the ends of [0, 1].
func savedLinUCB(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	for row := 0; row < 160; row++ {
		words, coder := codeWords, 0.7
		if row%2 == 1 {
			words, coder = poemWords, 0.3
		}
		prompt := words[row%8] + " " + words[(row*3+1)%8] + " " + words[(row*5+2)%8]
		fmt.Fprintf(&b, `{"id": "r%d", "prompt": %q, "scores": {"coder": %g, "writer": %g}, `+
			`"costs": {"coder": 0.001, "writer": 0.001}}`+"\n", row, prompt, coder, 1-coder)
	}
	data := filepath.Join(dir, "data.jsonl")
	if err := os.WriteFile(data, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := router.FromDataset(data, `{"router": "linucb"}`)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	path := filepath.Join(dir, "linucb.router")
	if err := r.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func load(t *testing.T, path string) *router.Router {
	t.Helper()
	r, err := router.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

// syncOptions is the options JSON of replica id on a memory store named for
// this test and process (memory stores are process-wide).
func syncOptions(t *testing.T, id, extra string) string {
	store := fmt.Sprintf("memory:go-%d-%s", os.Getpid(), t.Name())
	return fmt.Sprintf(`{"replica_id": %q, "store": %q%s}`, id, store, extra)
}

// maxDifference is the largest difference between a's and b's estimates of
// every model on a few prompts.
func maxDifference(t *testing.T, a, b *router.Router) float64 {
	t.Helper()
	models, err := a.Models()
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for _, prompt := range []string{codePrompt, poemPrompt, "debug a pointer", "a haiku, a novel"} {
		for _, model := range models {
			opts := &router.RouteOptions{AllowedModels: []string{model}}
			x, errA := a.RouteWith(prompt, opts)
			y, errB := b.RouteWith(prompt, opts)
			if errA != nil || errB != nil {
				t.Fatalf("%q on %s: %v, %v", prompt, model, errA, errB)
			}
			worst = math.Max(worst, math.Abs(x.Quality-y.Quality))
		}
	}
	return worst
}

func TestSyncTwoReplicasConverge(t *testing.T) {
	saved := savedLinUCB(t)
	a, b, reference := load(t, saved), load(t, saved), load(t, saved)
	syncA, err := a.StartSync(syncOptions(t, "a", `, "interval_ms": 0`))
	if err != nil {
		t.Fatal(err)
	}
	defer syncA.Stop()
	syncB, err := b.StartSync(syncOptions(t, "b", `, "interval_ms": 0`))
	if err != nil {
		t.Fatal(err)
	}
	defer syncB.Stop()

	words := append(append([]string{}, codeWords...), poemWords...)
	for i := 0; i < 20; i++ {
		prompt := strings.Join([]string{words[i%16], words[i*3%16], words[i*7%16]}, " ")
		vector := embed(t, reference, prompt)
		model := []string{"coder", "writer"}[i%2]
		score := []float64{1, 0.25, 0}[i%3]
		replica := a
		if i%2 == 1 {
			replica = b
		}
		if err := replica.FeedbackVector(vector, model, score, 0.001); err != nil {
			t.Fatal(err)
		}
		if err := reference.FeedbackVector(vector, model, score, 0.001); err != nil {
			t.Fatal(err)
		}
	}
	if d := maxDifference(t, a, reference); d <= 1e-6 {
		t.Fatalf("before syncing, a already estimates as the reference (%g)", d)
	}
	for _, s := range []*router.Sync{syncA, syncB, syncA} {
		if err := s.Now(); err != nil {
			t.Fatal(err)
		}
	}
	for name, r := range map[string]*router.Router{"a": a, "b": b} {
		if d := maxDifference(t, r, reference); d > 1e-9 {
			t.Errorf("replica %s differs from the reference by %g", name, d)
		}
	}
	got := mustStatus(t, syncA)
	want := router.SyncStatus{ReplicaID: "a", Store: got.Store, Connected: true, Rounds: 3,
		Published: 2, Applied: 2, Replicas: 2, LagMs: got.LagMs}
	if len(got.Rows) == 1 { // b's row: how long it has not changed varies
		want.Rows = []router.SyncRow{{Replica: "b", UnchangedMs: got.Rows[0].UnchangedMs}}
	}
	if !reflect.DeepEqual(got, want) || !strings.HasPrefix(got.Store, "memory:go-") ||
		got.LagMs < 0 || got.Rows[0].UnchangedMs < 0 {
		t.Errorf("status %+v, want %+v", got, want)
	}
	syncA.Stop()
	syncA.Stop() // twice is fine
	if _, err := a.StartSync(syncOptions(t, "a", "")); status(err) != router.FailedPrecondition {
		t.Errorf("a second sync after Stop: %v", err) // a router syncs once
	}
	if err := syncA.Now(); err != router.ErrSyncStopped {
		t.Errorf("Now after Stop: %v", err)
	}
	if _, err := syncA.Status(); err != router.ErrSyncStopped {
		t.Errorf("Status after Stop: %v", err)
	}
}

func TestSyncRetiredReplicaStaysCounted(t *testing.T) {
	saved := savedLinUCB(t)
	a, b, reference := load(t, saved), load(t, saved), load(t, saved)
	syncA, err := a.StartSync(syncOptions(t, "a", `, "interval_ms": 0`))
	if err != nil {
		t.Fatal(err)
	}
	defer syncA.Stop()
	syncB, err := b.StartSync(syncOptions(t, "b", `, "interval_ms": 0`))
	if err != nil {
		t.Fatal(err)
	}
	defer syncB.Stop()
	words := append(append([]string{}, codeWords...), poemWords...)
	for i := 0; i < 12; i++ {
		vector := embed(t, reference, words[i%16]+" "+words[i*5%16])
		model := []string{"coder", "writer"}[i%2]
		replica := a
		if i >= 6 {
			replica = b
		}
		for _, r := range []*router.Router{replica, reference} {
			if err := r.FeedbackVector(vector, model, float64(1-i%2), 0.001); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := syncA.Now(); err != nil {
		t.Fatal(err)
	}
	// b publishes its feedback in Retire's last round, then folds its row.
	if err := syncB.Retire(); err != nil {
		t.Fatal(err)
	}
	if err := syncB.Now(); status(err) != router.FailedPrecondition {
		t.Errorf("Now after Retire: %v", err)
	}
	if err := syncA.Now(); err != nil {
		t.Fatal(err)
	}
	if got := mustStatus(t, syncA); got.Replicas != 1 {
		t.Errorf("rows after b retired: %d, want 1", got.Replicas)
	}
	if d := maxDifference(t, a, reference); d > 1e-9 {
		t.Errorf("a differs from the reference by %g after b retired", d)
	}
}

func TestSyncFoldsTheRowOfAReplicaGone(t *testing.T) {
	saved := savedLinUCB(t)
	a, c, reference := load(t, saved), load(t, saved), load(t, saved)
	syncA, err := a.StartSync(syncOptions(t, "a", `, "interval_ms": 0`))
	if err != nil {
		t.Fatal(err)
	}
	defer syncA.Stop()
	syncC, err := c.StartSync(syncOptions(t, "c", `, "interval_ms": 0`))
	if err != nil {
		t.Fatal(err)
	}
	words := append(append([]string{}, codeWords...), poemWords...)
	for i := 0; i < 8; i++ {
		vector := embed(t, reference, words[i%16]+" "+words[i*3%16])
		model := []string{"coder", "writer"}[i%2]
		for _, r := range []*router.Router{c, reference} {
			if err := r.FeedbackVector(vector, model, float64(1-i%2), 0.001); err != nil {
				t.Fatal(err)
			}
		}
	}
	syncC.Stop() // without retiring: its row stays and counts
	if err := syncA.Now(); err != nil {
		t.Fatal(err)
	}
	if got := mustStatus(t, syncA); got.Replicas != 2 || len(got.Rows) != 1 || got.Rows[0].Replica != "c" {
		t.Errorf("rows before the fold: %d, %+v; want 2, [c]", got.Replicas, got.Rows)
	}
	if err := syncA.Fold("nobody"); status(err) != router.NotFound {
		t.Errorf("Fold of an unknown replica: %v", err)
	}
	if err := syncA.Fold("a"); status(err) != router.InvalidArgument {
		t.Errorf("Fold of its own row: %v", err)
	}
	if err := syncA.Fold("c"); err != nil {
		t.Fatal(err)
	}
	if err := syncA.Now(); err != nil {
		t.Fatal(err)
	}
	if got := mustStatus(t, syncA); got.Replicas != 1 || len(got.Rows) != 0 {
		t.Errorf("rows after the fold: %d, %+v; want 1, []", got.Replicas, got.Rows)
	}
	if d := maxDifference(t, a, reference); d > 1e-9 {
		t.Errorf("a differs from the reference by %g after c was folded", d)
	}
}

func TestSyncRefusedOptions(t *testing.T) {
	r := load(t, savedLinUCB(t))
	store := fmt.Sprintf("memory:go-%d-refused", os.Getpid())
	cases := []struct{ options, named string }{
		{`{"store": "` + store + `"}`, "replica_id"},
		{`{"replica_id": "a"}`, "store"},
		{`{"replica_id": "a", "store": "` + store + `", "intervall_ms": 5}`, "intervall_ms"},
		{`{"replica_id": "a", "store": "` + store + `", "interval_ms": "fast"}`, "interval_ms"},
		{`{"replica_id": "a", "store": "memory:"}`, "store"},
		{`{"replica_id": "a", "store": "redis",
		   "redis": {"password": "hunter2-secret", "prot": 1}}`, "prot"},
		{`{`, "JSON"},
	}
	for _, c := range cases {
		options, named := c.options, c.named
		s, err := r.StartSync(options)
		if status(err) != router.InvalidArgument || s != nil {
			t.Errorf("%s: %v", options, err)
			continue
		}
		message := err.(*router.Error).Message
		if !strings.Contains(message, named) || strings.Contains(message, "hunter2-secret") {
			t.Errorf("%s: message %q", options, message)
		}
	}
	if _, err := r.StartSync("{\x00}"); status(err) != router.InvalidArgument {
		t.Errorf("a NUL byte: %v", err)
	}
	s, err := r.StartSync(syncOptions(t, "a", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if _, err := r.StartSync(syncOptions(t, "a2", "")); status(err) != router.FailedPrecondition {
		t.Errorf("a second sync on one router: %v", err)
	}
	if got := mustStatus(t, s); got.ReplicaID != "a" || !got.Connected || got.Replicas != 1 {
		t.Errorf("status %+v", got)
	}
}

// "{}" means "the config's sync block": on a router whose config has none,
// it is refused with a message that says what is missing and where it could
// come from; "" is not JSON at all.
func TestSyncEmptyOptionsWithoutASyncBlock(t *testing.T) {
	r := load(t, savedLinUCB(t))
	s, err := r.StartSync("{}")
	if status(err) != router.InvalidArgument || s != nil {
		t.Fatalf("{}: %v", err)
	}
	message := err.(*router.Error).Message
	if !strings.Contains(message, "'replica_id' is required") ||
		!strings.Contains(message, `"sync" block`) {
		t.Errorf("{}: message %q", message)
	}
	if _, err := r.StartSync(""); status(err) != router.InvalidArgument ||
		!strings.Contains(err.(*router.Error).Message, "not valid JSON") {
		t.Errorf(`"": %v`, err)
	}
	// Refused before anything started: the router may still sync.
	s, err = r.StartSync(syncOptions(t, "a", ""))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if got := mustStatus(t, s); got.ReplicaID != "a" {
		t.Errorf("status %+v", got)
	}
}

func TestSyncStoppedWhenTheRouterCloses(t *testing.T) {
	r, err := router.Load(savedLinUCB(t))
	if err != nil {
		t.Fatal(err)
	}
	s, err := r.StartSync(syncOptions(t, "a", ""))
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	if err := s.Now(); status(err) != router.FailedPrecondition {
		t.Errorf("Now after the router closed: %v", err)
	}
	s.Stop()
	if _, err := r.StartSync(syncOptions(t, "a", "")); err != router.ErrClosed {
		t.Errorf("StartSync on a closed router: %v", err)
	}
}

func mustStatus(t *testing.T, s *router.Sync) router.SyncStatus {
	t.Helper()
	status, err := s.Status()
	if err != nil {
		t.Fatal(err)
	}
	return status
}
