// Sending a chat request upstream: one attempt per candidate model until one
// answers, and streams passed through as they arrive. cost.go accounts the
// answer.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"librouter/router"
)

// call is one chat request on its way through the gateway.
type call struct {
	req        *chatRequest
	start      time.Time
	decision   *router.Decision // nil for an explicit model
	info       decisionInfo     // from the decision's JSON
	reason     string           // for X-Router-Reason
	routing    time.Duration
	candidates []string // the models to try, in order
}

// answer is an upstream response the client gets: a 2xx, or a 4xx (other
// than 429) that another model would not fix.
type answer struct {
	resp      *http.Response
	body      []byte // the whole body, unless streaming
	streaming bool   // resp.Body is still open: pipe it through
	elapsed   time.Duration
	cancel    context.CancelFunc // ends the upstream request
}

// failure is a failed attempt: reason is short and safe to show clients
// ("http_500", "timeout", "connection"); detail goes to the log only.
type failure struct{ reason, detail string }

// proxy tries the call's candidates, at most 1 + max_retries of them, and
// writes the first answer, or a 502 (504 when the last attempt timed out).
func (g *Gateway) proxy(w http.ResponseWriter, r *http.Request, c *call) {
	var failures []string
	lastTimedOut := false
	tried := 0
	for _, model := range c.candidates {
		if tried == 1+g.cfg.Limits.MaxRetries {
			break
		}
		b := g.cfg.Models[model]
		if b == nil { // only after a reload brought a model the config lacks
			continue
		}
		if tried > 0 {
			g.metrics.Add(g.metrics.fallbacks, 1, model)
		}
		tried++
		a, f := g.attempt(r.Context(), b, c.req)
		if f == nil {
			g.answer(w, c, b, a, failures)
			g.logf("chat model=%s answered_by=%s attempts=%d status=%d in %v", c.req.model, model, tried,
				a.resp.StatusCode, time.Since(c.start).Round(time.Microsecond))
			return
		}
		if r.Context().Err() != nil {
			g.logf("chat model=%s: the client went away during the attempt on %s", c.req.model, model)
			return
		}
		g.metrics.Add(g.metrics.upErrors, 1, model, f.reason)
		g.logf("upstream %s (%s) failed: %s", model, b.BaseURL, f.detail)
		failures = append(failures, model+": "+f.reason)
		lastTimedOut = f.reason == "timeout"
	}
	status, code := http.StatusBadGateway, "upstream_error"
	if lastTimedOut {
		status, code = http.StatusGatewayTimeout, "upstream_timeout"
	}
	setRouterHeaders(w.Header(), c.candidates[0], c, "; no answer: "+strings.Join(failures, ", "))
	g.logf("chat model=%s failed after %d attempts: %s", c.req.model, tried, strings.Join(failures, "; "))
	writeError(w, serverError(status, code, fmt.Sprintf("no backend answered after %d attempt(s): %s",
		tried, strings.Join(failures, "; "))))
}

// attempt sends the request to one backend. The timeout covers the wait for
// the headers and, unless streaming, the whole body.
func (g *Gateway) attempt(ctx context.Context, b *Backend, req *chatRequest) (*answer, *failure) {
	body, err := req.bodyFor(b.UpstreamModel)
	if err != nil {
		return nil, &failure{"bad_request", err.Error()}
	}
	ctx, cancel := context.WithCancel(ctx)
	timeout := time.Duration(g.cfg.Limits.UpstreamTimeoutMS) * time.Millisecond
	var timedOut int32
	timer := time.AfterFunc(timeout, func() { atomic.StoreInt32(&timedOut, 1); cancel() })
	start := time.Now()
	fail := func(reason, detail string) (*answer, *failure) {
		timer.Stop()
		cancel()
		g.metrics.Observe(g.metrics.upstream, time.Since(start))
		if atomic.LoadInt32(&timedOut) == 1 {
			reason, detail = "timeout", fmt.Sprintf("no answer within %v", timeout)
		}
		return nil, &failure{reason, detail}
	}

	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, b.BaseURL+"/chat/completions", bytes.NewReader(body))
	if err != nil {
		return fail("bad_request", err.Error())
	}
	httpReq.Header.Set("Content-Type", "application/json")
	httpReq.Header.Set("Accept-Encoding", "identity") // pass bytes through as they come
	if req.stream {
		httpReq.Header.Set("Accept", "text/event-stream")
	}
	if b.Key != "" {
		httpReq.Header.Set("Authorization", "Bearer "+string(b.Key))
	}
	resp, err := g.client.Do(httpReq)
	if err != nil {
		return fail("connection", err.Error()) // names the URL, which holds no key
	}
	a := &answer{resp: resp, cancel: cancel}
	success := resp.StatusCode/100 == 2
	if success && req.stream {
		if !timer.Stop() { // the timeout fired as the headers came
			resp.Body.Close()
			return fail("timeout", "")
		}
		a.streaming = true
		a.elapsed = time.Since(start)
		g.metrics.Observe(g.metrics.upstream, a.elapsed)
		return a, nil
	}
	a.body, err = io.ReadAll(io.LimitReader(resp.Body, g.cfg.Limits.MaxResponseBytes+1))
	resp.Body.Close()
	if err != nil {
		return fail("connection", "reading the body: "+err.Error())
	}
	timer.Stop()
	cancel()
	a.elapsed = time.Since(start)
	g.metrics.Observe(g.metrics.upstream, a.elapsed)
	switch {
	case int64(len(a.body)) > g.cfg.Limits.MaxResponseBytes:
		return nil, &failure{"response_too_large", fmt.Sprintf("the body exceeds %d bytes", g.cfg.Limits.MaxResponseBytes)}
	case success || (resp.StatusCode/100 == 4 && resp.StatusCode != http.StatusTooManyRequests):
		return a, nil
	default: // 5xx, 429, or anything else unexpected: another model may answer
		return nil, &failure{"http_" + strconv.Itoa(resp.StatusCode), "HTTP " + resp.Status}
	}
}

// bodyFor is the request body with "model" set to the backend's name for it.
func (r *chatRequest) bodyFor(model string) ([]byte, error) {
	fields := make(map[string]json.RawMessage, len(r.fields))
	for k, v := range r.fields {
		fields[k] = v
	}
	fields["model"], _ = json.Marshal(model)
	return json.Marshal(fields)
}

// answer writes a to the client: the router's headers, then the body, or the
// stream chunk by chunk; then accounts its cost.
func (g *Gateway) answer(w http.ResponseWriter, c *call, b *Backend, a *answer, failures []string) {
	note := ""
	if len(failures) > 0 {
		note = "; answered by fallback " + b.name + " after " + strings.Join(failures, ", ")
	}
	h := w.Header()
	setRouterHeaders(h, b.name, c, note)
	h.Set("Server-Timing", fmt.Sprintf("route;dur=%.3f, upstream;dur=%.3f",
		c.routing.Seconds()*1e3, a.elapsed.Seconds()*1e3))
	if contentType := a.resp.Header.Get("Content-Type"); contentType != "" {
		h.Set("Content-Type", contentType)
	}
	if a.streaming {
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(a.resp.StatusCode)
		g.account(c, b, g.pipe(w, a, b))
		return
	}
	body := a.body
	if a.resp.StatusCode/100 != 2 {
		body = b.Key.redact(body) // an upstream error may quote the key it got
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(a.resp.StatusCode)
	w.Write(body)
	if a.resp.StatusCode/100 == 2 {
		var answer struct{ Usage *usage }
		json.Unmarshal(a.body, &answer)
		g.account(c, b, answer.Usage)
	}
}

// pipe copies a streamed body to the client as it arrives, flushing after
// each read, and returns the usage the stream reported, if any (OpenAI sends
// it when the request asks with stream_options.include_usage).
func (g *Gateway) pipe(w http.ResponseWriter, a *answer, b *Backend) *usage {
	defer a.cancel()
	defer a.resp.Body.Close()
	flusher, _ := w.(http.Flusher)
	if flusher != nil {
		flusher.Flush() // the headers go out now
	}
	idle := time.Duration(g.cfg.Limits.StreamIdleTimeoutMS) * time.Millisecond
	var idleFired int32
	timer := time.AfterFunc(idle, func() { atomic.StoreInt32(&idleFired, 1); a.cancel() })
	defer timer.Stop()
	var scan usageScanner
	buf := make([]byte, 32<<10)
	for {
		n, err := a.resp.Body.Read(buf)
		if n > 0 {
			timer.Reset(idle)
			scan.feed(buf[:n])
			if _, werr := w.Write(buf[:n]); werr != nil {
				g.logf("stream from %s: the client went away", b.name)
				return scan.usage
			}
			if flusher != nil {
				flusher.Flush()
			}
		}
		if err == io.EOF {
			return scan.usage
		}
		if err != nil {
			reason := "stream_broken"
			if atomic.LoadInt32(&idleFired) == 1 {
				reason = "stream_idle_timeout"
			}
			g.metrics.Add(g.metrics.upErrors, 1, b.name, reason)
			g.logf("stream from %s cut: %s: %v", b.name, reason, err)
			return scan.usage
		}
	}
}

// usageScanner finds the usage object in a stream of server-sent events.
type usageScanner struct {
	line  []byte // an incomplete line
	usage *usage
}

func (s *usageScanner) feed(chunk []byte) {
	s.line = append(s.line, chunk...)
	for {
		end := bytes.IndexByte(s.line, '\n')
		if end < 0 {
			break
		}
		s.scanLine(s.line[:end])
		s.line = s.line[:copy(s.line, s.line[end+1:])]
	}
	if len(s.line) > 1<<20 { // no usage line is this long
		s.line = s.line[:0]
	}
}

func (s *usageScanner) scanLine(line []byte) {
	data := bytes.TrimSpace(line)
	if !bytes.HasPrefix(data, []byte("data:")) || !bytes.Contains(data, []byte(`"usage"`)) {
		return
	}
	var event struct{ Usage *usage }
	if json.Unmarshal(bytes.TrimSpace(data[len("data:"):]), &event) == nil && event.Usage != nil {
		s.usage = event.Usage
	}
}

// setRouterHeaders sets X-Router-Model (the model that answered, or was
// chosen), X-Router-Decision-Id (0: nothing to report feedback for) and
// X-Router-Reason.
func setRouterHeaders(h http.Header, model string, c *call, note string) {
	var id uint64
	if c.decision != nil {
		id = c.decision.ID
	}
	h.Set("X-Router-Model", model)
	h.Set("X-Router-Decision-Id", strconv.FormatUint(id, 10))
	h.Set("X-Router-Reason", headerText(c.reason+note, 240))
}

// headerText is s as printable ASCII, at most max bytes.
func headerText(s string, max int) string {
	out := []byte(s)
	for i, c := range out {
		if c < 0x20 || c > 0x7e {
			out[i] = '?'
		}
	}
	if len(out) > max {
		out = append(out[:max-3], "..."...)
	}
	return string(out)
}
