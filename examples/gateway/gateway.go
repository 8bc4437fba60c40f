// The Gateway: the router handle, the backends, the HTTP routes, and reload.

package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"librouter/router"
)

// Gateway serves the OpenAI-compatible API over one router.
type Gateway struct {
	cfg      *Config
	router   *router.Router
	aliases  map[string]*router.RouteOptions // nil options: the router's own policy
	client   *http.Client
	metrics  *Metrics
	outcomes *feedbackLog
	logf     func(format string, args ...interface{})
	reloadMu sync.Mutex // one reload at a time
	// recordCost is router.RecordCost; a test replaces it to see failures counted.
	recordCost func(expectedUSD, realisedUSD float64) error
}

// New loads cfg's router file and checks that every model of its catalog
// has a backend. logf receives one line per request and event (never a key).
func New(cfg *Config, logf func(format string, args ...interface{})) (*Gateway, error) {
	r, err := router.Load(cfg.RouterFile)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", cfg.RouterFile, err)
	}
	g := &Gateway{
		cfg:      cfg,
		router:   r,
		aliases:  make(map[string]*router.RouteOptions),
		metrics:  NewMetrics(),
		outcomes: newFeedbackLog(cfg.Limits.FeedbackEntries),
		logf:     logf,
		client: &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			ForceAttemptHTTP2:   true,
			MaxIdleConns:        1024,
			MaxIdleConnsPerHost: 256, // the default, 2, makes every burst open new connections
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		}},
	}
	g.recordCost = r.RecordCost
	if err := g.checkCatalog(); err != nil {
		r.Close()
		return nil, err
	}
	g.warnUnpriced()
	for name, alias := range cfg.Aliases {
		if alias.Lambda == nil && alias.Tau == nil && len(alias.AllowedModels) == 0 && alias.BudgetClass == "" &&
			alias.Task == "" {
			g.aliases[name] = nil
			continue
		}
		g.aliases[name] = &router.RouteOptions{Lambda: alias.Lambda, Tau: alias.Tau,
			AllowedModels: alias.AllowedModels, BudgetClass: alias.BudgetClass, Task: alias.Task}
	}
	return g, nil
}

// checkCatalog checks that every model of the router's catalog has a backend,
// and that the aliases allow only catalog models.
func (g *Gateway) checkCatalog() error {
	missing, err := g.modelsWithoutBackend()
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s: the router's models %v have no backend in the config's models", g.cfg.RouterFile, missing)
	}
	models, err := g.router.Models()
	if err != nil {
		return err
	}
	catalog := make(map[string]bool)
	for _, model := range models {
		catalog[model] = true
	}
	for name, alias := range g.cfg.Aliases {
		for _, model := range alias.AllowedModels {
			if !catalog[model] {
				return fmt.Errorf("aliases.%s.allowed_models: %q is not in the router's catalog %v", name, model, models)
			}
		}
	}
	return nil
}

// warnUnpriced logs the backends whose answers no price covers: outside the
// router's catalog (pass-through only) and without a price override.
func (g *Gateway) warnUnpriced() {
	for _, name := range sortedKeys(g.cfg.Models) {
		if g.cfg.Models[name].InputUSDPerMTok != nil {
			continue
		}
		if _, _, err := g.router.ModelPrice(name); err != nil {
			g.logf("models.%s: the router has no price for it (%v) and the config no override: its answers' cost is not counted", name, err)
		}
	}
}

// modelsWithoutBackend are the router's catalog models the config has no
// backend for.
func (g *Gateway) modelsWithoutBackend() ([]string, error) {
	models, err := g.router.Models()
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, model := range models {
		if g.cfg.Models[model] == nil {
			missing = append(missing, model)
		}
	}
	return missing, nil
}

// Reload swaps in the router file again (SIGHUP). librouter loads and checks
// the new file first, then swaps it in atomically: requests being routed
// finish on the router they started with, none waits or fails, and a bad
// file leaves the current router serving. Decision ids issued before stay
// valid for feedback. A model new to the catalog without a backend is marked
// unavailable, so the router never chooses it.
func (g *Gateway) Reload() error {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	start := time.Now()
	if err := g.router.Reload(g.cfg.RouterFile); err != nil {
		g.metrics.Add(g.metrics.reloads, 1, "error")
		g.logf("reload %s refused, the current router keeps serving: %v", g.cfg.RouterFile, err)
		return err
	}
	missing, err := g.modelsWithoutBackend()
	for _, model := range missing {
		if err == nil {
			err = g.router.SetModelAvailable(model, false)
		}
		g.logf("reload: model %s has no backend; marked unavailable", model)
	}
	if err != nil {
		g.metrics.Add(g.metrics.reloads, 1, "error")
		g.logf("reload %s: %v", g.cfg.RouterFile, err)
		return err
	}
	g.metrics.Add(g.metrics.reloads, 1, "ok")
	g.logf("reloaded %s in %v", g.cfg.RouterFile, time.Since(start).Round(time.Millisecond))
	return nil
}

// Close frees the router; no request may be in flight (shut the server down
// first).
func (g *Gateway) Close() { g.router.Close() }

// Handler serves the gateway's routes.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/chat/completions", g.serveChat)
	mux.HandleFunc("/v1/feedback", g.serveFeedback)
	mux.HandleFunc("/v1/models", g.serveModels)
	mux.HandleFunc("/metrics", g.serveMetrics)
	mux.HandleFunc("/healthz", g.serveHealth)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, invalidRequest(http.StatusNotFound, "unknown_url", "", "no route for "+r.Method+" "+r.URL.Path))
	})
	known := map[string]bool{"/v1/chat/completions": true, "/v1/feedback": true, "/v1/models": true,
		"/metrics": true, "/healthz": true}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.metrics.AddInFlight(1)
		defer g.metrics.AddInFlight(-1)
		rec := &recorder{ResponseWriter: w}
		mux.ServeHTTP(rec, r)
		path := r.URL.Path
		if !known[path] {
			path = "other" // bounded label values
		}
		g.metrics.Add(g.metrics.requests, 1, path, fmt.Sprint(rec.statusOr(499)))
	})
}

// readBody reads a request body of at most max_body_bytes.
func (g *Gateway) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *apiError) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, g.cfg.Limits.MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, invalidRequest(http.StatusRequestEntityTooLarge, "request_too_large", "",
			fmt.Sprintf("the request body exceeds the gateway's limit of %d bytes", g.cfg.Limits.MaxBodyBytes))
	}
	if err != nil {
		return nil, invalidRequest(http.StatusBadRequest, "unreadable_body", "", "reading the request body failed")
	}
	return body, nil
}

// serveModels lists the aliases and catalog models, as OpenAI's GET /v1/models.
func (g *Gateway) serveModels(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, r, http.MethodGet)
		return
	}
	type entry struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		OwnedBy string `json:"owned_by"`
	}
	var data []entry
	for _, name := range sortedKeys(g.cfg.Aliases) {
		data = append(data, entry{name, "model", "router"})
	}
	for _, name := range sortedKeys(g.cfg.Models) {
		data = append(data, entry{name, "model", "backend"})
	}
	writeJSON(w, http.StatusOK, map[string]interface{}{"object": "list", "data": data})
}

func (g *Gateway) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, r, http.MethodGet)
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	g.metrics.WriteTo(w)
}

// serveHealth answers 200 while the router routes.
func (g *Gateway) serveHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, r, http.MethodGet)
		return
	}
	models, err := g.router.Models()
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	sort.Strings(models)
	writeJSON(w, http.StatusOK, map[string]interface{}{"status": "ok", "models": models})
}

// recorder notes the status code written, and passes Flush on (streams).
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// statusOr is the status written, or otherwise (nothing was written: the
// client went away).
func (r *recorder) statusOr(otherwise int) int {
	if r.status == 0 {
		return otherwise
	}
	return r.status
}
