// The gateway's JSON config: where the router file is, where to listen, the
// aliases that mean "route this", the limits, and one backend per catalog
// model. Unknown keys are errors, as in librouter's own config.

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Config is the whole config file.
type Config struct {
	// Listen is the address to serve on, e.g. "127.0.0.1:8080".
	Listen string `json:"listen"`
	// RouterFile is a router saved by `router fit` or Save; relative paths
	// are relative to the config file. SIGHUP reloads it.
	RouterFile string `json:"router_file"`
	// Aliases are the "model" values that are routed, each with optional
	// per-request policy overrides. Default: {"auto": {}}.
	Aliases map[string]Alias `json:"aliases"`
	Limits  Limits           `json:"limits"`
	// Models maps each catalog model name (as the router knows it) to its
	// backend. Every model of the router's catalog needs one.
	Models map[string]*Backend `json:"models"`
}

// Alias is a routed "model" name and the policy overrides its requests carry
// (docs/policies.md, "Per-request overrides"); unset fields keep the router's.
// Task names the task its requests come from (an app's own alias), as the
// router's training rows named it: a cluster router then uses that task's
// estimates.
type Alias struct {
	Lambda        *float64 `json:"lambda"`
	Tau           *float64 `json:"tau"`
	AllowedModels []string `json:"allowed_models"`
	BudgetClass   string   `json:"budget_class"`
	Task          string   `json:"task"`
}

// Limits bound what one request may cost the gateway.
type Limits struct {
	MaxBodyBytes        int64 `json:"max_body_bytes"`         // request bodies above this: 413
	MaxResponseBytes    int64 `json:"max_response_bytes"`     // non-streamed upstream bodies above this fail the attempt
	MaxRetries          int   `json:"max_retries"`            // fallbacks tried after the first model fails
	UpstreamTimeoutMS   int   `json:"upstream_timeout_ms"`    // per attempt: to the headers, and to the end of a non-streamed body
	StreamIdleTimeoutMS int   `json:"stream_idle_timeout_ms"` // a stream that sends nothing for this long is cut
	MaxRouteTextBytes   int   `json:"max_route_text_bytes"`   // routing reads the conversation's last this many bytes
	FeedbackEntries     int   `json:"feedback_entries"`       // decisions remembered for POST /v1/feedback
	ShutdownTimeoutMS   int   `json:"shutdown_timeout_ms"`    // SIGTERM/SIGINT: wait this long for requests in flight
}

// Backend is an OpenAI-compatible endpoint serving one catalog model.
type Backend struct {
	// BaseURL is the API root; requests go to BaseURL + "/chat/completions"
	// (e.g. "https://api.openai.com/v1").
	BaseURL string `json:"base_url"`
	// UpstreamModel is the "model" sent upstream; default: the catalog name.
	UpstreamModel string `json:"upstream_model"`
	// APIKeyEnv names the environment variable holding the API key, sent as
	// "Authorization: Bearer ..."; "" sends none. The key itself never
	// appears in the config, the logs or an error.
	APIKeyEnv string `json:"api_key_env"`
	// Optional prices, USD per million tokens, that override the router's
	// for this model's realised cost (e.g. what the bill says when it differs
	// from the prices the router decides on, or a model outside its
	// catalog). Both or neither; pointers because 0 is a real price. Absent,
	// the router's current prices apply (ModelPrice).
	InputUSDPerMTok  *float64 `json:"input_usd_per_mtok"`
	OutputUSDPerMTok *float64 `json:"output_usd_per_mtok"`

	// Key is read from APIKeyEnv at load. Exported so that fmt's %v and %+v
	// print it through secret.String, redacted; never marshalled.
	Key secret `json:"-"`

	name string // the catalog name
}

// secret is an API key. Its String and JSON forms are redacted, so a key
// printed or marshalled by mistake does not leak.
type secret string

func (secret) String() string               { return "[redacted]" }
func (s secret) GoString() string           { return s.String() }
func (secret) MarshalJSON() ([]byte, error) { return []byte(`"[redacted]"`), nil }

// redact replaces the key in text (an upstream's error body may echo it).
func (s secret) redact(text []byte) []byte {
	if s == "" {
		return text
	}
	return bytes.ReplaceAll(text, []byte(s), []byte("[redacted]"))
}

func defaultConfig() Config {
	return Config{
		Listen: "127.0.0.1:8080",
		Limits: Limits{
			MaxBodyBytes:        4 << 20,
			MaxResponseBytes:    32 << 20,
			MaxRetries:          2,
			UpstreamTimeoutMS:   60000,
			StreamIdleTimeoutMS: 60000,
			MaxRouteTextBytes:   64 << 10,
			FeedbackEntries:     65536,
			ShutdownTimeoutMS:   30000,
		},
	}
}

// LoadConfig reads and checks a config file, and reads each backend's API key
// from its environment variable (getenv, os.Getenv in main).
func LoadConfig(path string, getenv func(string) string) (*Config, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cfg, err := ParseConfig(text, filepath.Dir(path), getenv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig parses config text; dir resolves a relative router_file.
func ParseConfig(text []byte, dir string, getenv func(string) string) (*Config, error) {
	cfg := defaultConfig()
	decoder := json.NewDecoder(bytes.NewReader(text))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&cfg); err != nil {
		return nil, err
	}
	if cfg.Aliases == nil {
		cfg.Aliases = map[string]Alias{"auto": {}}
	}
	if cfg.RouterFile == "" {
		return nil, fmt.Errorf("router_file is required")
	}
	if !filepath.IsAbs(cfg.RouterFile) {
		cfg.RouterFile = filepath.Join(dir, cfg.RouterFile)
	}
	if err := cfg.Limits.check(); err != nil {
		return nil, err
	}
	if len(cfg.Models) == 0 {
		return nil, fmt.Errorf("models: at least one backend is required")
	}
	for _, name := range sortedKeys(cfg.Models) {
		b := cfg.Models[name]
		if b == nil {
			return nil, fmt.Errorf("models.%s: null", name)
		}
		if err := b.check(name, getenv); err != nil {
			return nil, fmt.Errorf("models.%s: %w", name, err)
		}
	}
	for name, alias := range cfg.Aliases {
		if _, clash := cfg.Models[name]; clash {
			return nil, fmt.Errorf("aliases.%s: also a model name", name)
		}
		if alias.Lambda != nil && !(*alias.Lambda >= 0 && *alias.Lambda <= math.MaxFloat64) {
			return nil, fmt.Errorf("aliases.%s.lambda must be finite and >= 0", name)
		}
		if alias.Tau != nil && !(*alias.Tau >= -1 && *alias.Tau <= 1) {
			return nil, fmt.Errorf("aliases.%s.tau must be in [-1, 1]", name)
		}
		for _, model := range alias.AllowedModels {
			if _, ok := cfg.Models[model]; !ok {
				return nil, fmt.Errorf("aliases.%s.allowed_models: %q has no backend", name, model)
			}
		}
	}
	return &cfg, nil
}

func (l Limits) check() error {
	for _, limit := range []struct {
		name  string
		value int64
	}{
		{"max_body_bytes", l.MaxBodyBytes}, {"max_response_bytes", l.MaxResponseBytes},
		{"upstream_timeout_ms", int64(l.UpstreamTimeoutMS)},
		{"stream_idle_timeout_ms", int64(l.StreamIdleTimeoutMS)},
		{"max_route_text_bytes", int64(l.MaxRouteTextBytes)},
		{"feedback_entries", int64(l.FeedbackEntries)},
		{"shutdown_timeout_ms", int64(l.ShutdownTimeoutMS)},
	} {
		if limit.value <= 0 {
			return fmt.Errorf("limits.%s must be > 0, got %d", limit.name, limit.value)
		}
	}
	if l.MaxRetries < 0 {
		return fmt.Errorf("limits.max_retries must be >= 0, got %d", l.MaxRetries)
	}
	return nil
}

func (b *Backend) check(name string, getenv func(string) string) error {
	b.name = name
	u, err := url.Parse(b.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("base_url %q is not an http(s) URL", b.BaseURL)
	}
	if u.User != nil || u.RawQuery != "" {
		return fmt.Errorf("base_url must carry no credentials or query; name the key in api_key_env")
	}
	b.BaseURL = strings.TrimRight(b.BaseURL, "/")
	if b.UpstreamModel == "" {
		b.UpstreamModel = name
	}
	if (b.InputUSDPerMTok == nil) != (b.OutputUSDPerMTok == nil) {
		// Half an override would price input and output from different sources.
		return fmt.Errorf("input_usd_per_mtok and output_usd_per_mtok override the router's prices together: set both or neither")
	}
	if b.InputUSDPerMTok != nil && (*b.InputUSDPerMTok < 0 || *b.OutputUSDPerMTok < 0) {
		return fmt.Errorf("prices must be >= 0")
	}
	if b.APIKeyEnv != "" {
		key := getenv(b.APIKeyEnv)
		if key == "" {
			// Names the variable, never a value.
			return fmt.Errorf("environment variable %s (api_key_env) is not set", b.APIKeyEnv)
		}
		b.Key = secret(key)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
