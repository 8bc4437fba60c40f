// A bounded load test on loopback: 16 clients for 10 s (GATEWAY_LOAD_SECONDS
// changes the duration), no failed request, and the gateway's own overhead
// beside the backends' latency and the routing step's share of it. With
// GATEWAY_LOAD_REPORT set, the figures are written there as JSON.

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sample is one request's timings, in milliseconds.
type sample struct {
	endToEnd float64 // as the client saw it
	backend  float64 // the fake backend's own handling time (reported in its body)
	routing  float64 // the librouter call (the gateway's Server-Timing "route")
}

type percentiles struct {
	P50  float64 `json:"p50"`
	P99  float64 `json:"p99"`
	Mean float64 `json:"mean"`
}

func summarize(values []float64) percentiles {
	sorted := append([]float64(nil), values...)
	sort.Float64s(sorted)
	at := func(q float64) float64 {
		return sorted[int(math.Min(float64(len(sorted)-1), math.Floor(q*float64(len(sorted)))))]
	}
	sum := 0.0
	for _, v := range sorted {
		sum += v
	}
	round := func(v float64) float64 { return math.Round(v*1000) / 1000 }
	return percentiles{round(at(0.50)), round(at(0.99)), round(sum / float64(len(sorted)))}
}

// serverTiming reads one metric's dur (ms) from a Server-Timing header.
func serverTiming(header, name string) (float64, bool) {
	for _, part := range strings.Split(header, ",") {
		fields := strings.Split(strings.TrimSpace(part), ";")
		if fields[0] == name && len(fields) == 2 && strings.HasPrefix(fields[1], "dur=") {
			v, err := strconv.ParseFloat(strings.TrimPrefix(fields[1], "dur="), 64)
			return v, err == nil
		}
	}
	return 0, false
}

func TestLoad(t *testing.T) {
	duration := 10 * time.Second
	if s := os.Getenv("GATEWAY_LOAD_SECONDS"); s != "" {
		seconds, err := strconv.ParseFloat(s, 64)
		if err != nil || seconds <= 0 {
			t.Fatalf("GATEWAY_LOAD_SECONDS=%q", s)
		}
		duration = time.Duration(seconds * float64(time.Second))
	}
	const clients = 16
	const backendDelay = 2 * time.Millisecond
	tg := newTestGateway(t, fixtures(t).a, "")
	for _, b := range tg.backends {
		atomic.StoreInt64(&b.delayNS, int64(backendDelay))
	}
	want := map[string]string{codePrompt: "coder", poemPrompt: "writer", chatPrompt: "small"}
	prompts := []string{codePrompt, poemPrompt, chatPrompt}
	transport := &http.Transport{MaxIdleConnsPerHost: clients}
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	defer transport.CloseIdleConnections()

	var failed int64
	problems := make(chan string, 10)
	samples := make([][]sample, clients)
	var wg sync.WaitGroup
	start := time.Now()
	end := start.Add(duration)
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := c; time.Now().Before(end); i++ {
				prompt := prompts[i%len(prompts)]
				body := chatBody("auto", prompt, "")
				sent := time.Now()
				resp, err := client.Post(tg.url+"/v1/chat/completions", "application/json", strings.NewReader(body))
				var text []byte
				if err == nil {
					text, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				elapsed := time.Since(sent)
				problem := ""
				var answer struct {
					Choices   []struct{ Message struct{ Content string } }
					BackendUS float64 `json:"backend_us"`
				}
				var routing float64
				switch {
				case err != nil:
					problem = err.Error()
				case resp.StatusCode != http.StatusOK:
					problem = fmt.Sprintf("status %d: %s", resp.StatusCode, text)
				case json.Unmarshal(text, &answer) != nil || len(answer.Choices) != 1:
					problem = "not a completion: " + string(text)
				case resp.Header.Get("X-Router-Model") != want[prompt] || answer.Choices[0].Message.Content != "answer from "+want[prompt]:
					problem = fmt.Sprintf("%q went to %s", prompt, resp.Header.Get("X-Router-Model"))
				default:
					var ok bool
					if routing, ok = serverTiming(resp.Header.Get("Server-Timing"), "route"); !ok {
						problem = "Server-Timing " + resp.Header.Get("Server-Timing")
					}
				}
				if problem != "" {
					atomic.AddInt64(&failed, 1)
					select {
					case problems <- problem:
					default:
					}
					continue
				}
				samples[c] = append(samples[c], sample{
					endToEnd: elapsed.Seconds() * 1e3, backend: answer.BackendUS / 1e3, routing: routing,
				})
			}
		}(c)
	}
	wg.Wait()
	wall := time.Since(start)
	close(problems)
	for problem := range problems {
		t.Error(problem)
	}

	var endToEnd, backend, overhead, routing []float64
	var routingSum, overheadSum float64
	for _, client := range samples {
		for _, s := range client {
			endToEnd = append(endToEnd, s.endToEnd)
			backend = append(backend, s.backend)
			overhead = append(overhead, s.endToEnd-s.backend)
			routing = append(routing, s.routing)
			routingSum += s.routing
			overheadSum += s.endToEnd - s.backend
		}
	}
	if failed != 0 || len(endToEnd) == 0 {
		t.Fatalf("%d requests failed, %d succeeded", failed, len(endToEnd))
	}
	m := tg.metrics(t)
	decisions := m[`gateway_decisions_total{model="coder"}`] + m[`gateway_decisions_total{model="writer"}`] +
		m[`gateway_decisions_total{model="small"}`]
	if decisions != float64(len(endToEnd)) || m["gateway_routing_duration_seconds_count"] != decisions {
		t.Errorf("metrics count %v decisions for %d requests", decisions, len(endToEnd))
	}
	overheadFigures := summarize(overhead)
	routingFigures := summarize(routing)
	report := map[string]interface{}{
		"clients":               clients,
		"seconds":               math.Round(wall.Seconds()*100) / 100,
		"requests":              len(endToEnd),
		"failed":                failed,
		"requests_per_second":   math.Round(float64(len(endToEnd)) / wall.Seconds()),
		"backend_delay_ms":      backendDelay.Seconds() * 1e3,
		"end_to_end_ms":         summarize(endToEnd),
		"backend_ms":            summarize(backend),
		"gateway_overhead_ms":   overheadFigures,
		"routing_ms":            routingFigures,
		"routing_share_p50":     math.Round(routingFigures.P50/overheadFigures.P50*1000) / 1000,
		"routing_share_of_mean": math.Round(routingSum/overheadSum*1000) / 1000,
	}
	text, _ := json.MarshalIndent(report, "", "  ")
	t.Logf("load: %d clients for %v on loopback, %d requests, 0 failed (%v/s)\n"+
		"  end to end    p50 %.3f ms  p99 %.3f ms\n"+
		"  backends      p50 %.3f ms  p99 %.3f ms\n"+
		"  gateway's own p50 %.3f ms  p99 %.3f ms  (end to end minus the backend's own time)\n"+
		"  routing step  p50 %.3f ms  p99 %.3f ms  = %.1f%% of the overhead's mean\n",
		clients, wall.Round(time.Millisecond), len(endToEnd), report["requests_per_second"],
		report["end_to_end_ms"].(percentiles).P50, report["end_to_end_ms"].(percentiles).P99,
		report["backend_ms"].(percentiles).P50, report["backend_ms"].(percentiles).P99,
		overheadFigures.P50, overheadFigures.P99, routingFigures.P50, routingFigures.P99,
		100*routingSum/overheadSum)
	if path := os.Getenv("GATEWAY_LOAD_REPORT"); path != "" {
		if err := os.WriteFile(path, append(text, '\n'), 0o644); err != nil {
			t.Error(err)
		}
	}
}
