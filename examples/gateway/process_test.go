// The gateway as a process: started from its main with a config file, used
// by real clients (curl, Python's urllib), reloaded by SIGHUP under load, and
// stopped by SIGTERM.

package main

import (
	"bufio"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// gatewayProcess is this test binary running the gateway's main
// (TestMain, GATEWAY_TEST_MAIN=1).
type gatewayProcess struct {
	cmd    *exec.Cmd
	url    string
	stderr *syncBuffer
	done   chan error
}

func startProcess(t *testing.T, configPath string) *gatewayProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "GATEWAY_TEST_MAIN=1", "GATEWAY_TEST_ARGS=-config "+configPath)
	for model, key := range apiKeys {
		cmd.Env = append(cmd.Env, keyEnv(model)+"="+key)
	}
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &gatewayProcess{cmd: cmd, stderr: &syncBuffer{}, done: make(chan error, 1)}
	listening := make(chan string, 1)
	go func() {
		lines := bufio.NewScanner(pipe)
		for lines.Scan() {
			line := lines.Text()
			p.stderr.logf("%s", line)
			if i := strings.Index(line, "listening on "); i >= 0 {
				addr := strings.Fields(line[i+len("listening on "):])[0]
				listening <- strings.TrimSuffix(addr, ",")
			}
		}
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case addr := <-listening:
		p.url = "http://" + addr
	case err := <-p.done:
		t.Fatalf("the gateway exited at start (%v):\n%s", err, p.stderr.String())
	case <-time.After(20 * time.Second):
		t.Fatalf("the gateway did not start:\n%s", p.stderr.String())
	}
	return p
}

func TestProcess(t *testing.T) {
	routers := fixtures(t)
	dir := t.TempDir()
	copyFile(t, routers.a, filepath.Join(dir, "live.router"))
	backends := map[string]*fakeBackend{}
	for _, name := range []string{"coder", "writer", "small"} {
		backends[name] = newBackend(t, name)
	}
	// router_file relative to the config file.
	configPath := filepath.Join(dir, "gateway.json")
	if err := os.WriteFile(configPath, []byte(configJSON("live.router", backends, "", nil)), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, configPath)
	tg := &testGateway{url: p.url, backends: backends}
	chatURL := p.url + "/v1/chat/completions"

	t.Run("curl", func(t *testing.T) {
		curl, err := exec.LookPath("curl")
		if err != nil {
			t.Skip("SKIP: curl is not installed")
		}
		run := func(body string, args ...string) string {
			cmd := exec.Command(curl, append([]string{"-sS", "-H", "Content-Type: application/json",
				"--data-binary", "@-"}, args...)...)
			cmd.Stdin = strings.NewReader(body)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("curl %v: %v\n%s", args, err, out)
			}
			return string(out)
		}
		out := run(chatBody("auto", codePrompt, ""), "-i", chatURL)
		head, body, _ := strings.Cut(out, "\r\n\r\n")
		if !strings.HasPrefix(head, "HTTP/1.1 200 OK") || !strings.Contains(head, "\r\nX-Router-Model: coder\r\n") ||
			!strings.Contains(head, "\r\nX-Router-Decision-Id: 0\r\n") || !strings.Contains(head, "\r\nX-Router-Reason: knn/max_utility") {
			t.Errorf("curl headers:\n%s", head)
		}
		var answer struct {
			Choices []struct{ Message struct{ Content string } }
		}
		if json.Unmarshal([]byte(body), &answer) != nil || len(answer.Choices) != 1 ||
			answer.Choices[0].Message.Content != "answer from coder" {
			t.Errorf("curl body: %s", body)
		}
		// Streaming with -N (no curl-side buffering): every event, in order.
		out = run(chatBody("auto", poemPrompt, `, "stream": true`), "-N", chatURL)
		var events []string
		for _, line := range strings.Split(out, "\n") {
			if line != "" {
				events = append(events, line)
			}
		}
		if len(events) != 6 || !strings.Contains(events[0], "first from writer") || !strings.Contains(events[3], "chunk 4") ||
			events[5] != "data: [DONE]" {
			t.Errorf("curl stream: %q", events)
		}
		// A malformed body: status and error object.
		out = run(`{"model": "auto", "messages": [}`, "-o", "-", "-w", "\n%{http_code}", chatURL)
		cut := strings.LastIndexByte(out, '\n')
		body, status := out[:cut], out[cut+1:]
		if status != "400" || !strings.Contains(body, `"type":"invalid_request_error"`) || !strings.Contains(body, `"code":"invalid_json"`) {
			t.Errorf("curl bad request: %s", out)
		}
	})

	t.Run("python urllib", func(t *testing.T) {
		python, err := exec.LookPath("python3")
		if err != nil {
			t.Skip("SKIP: python3 is not installed")
		}
		script := `
import json, sys, urllib.error, urllib.request
url = sys.argv[1]
def post(body):
    request = urllib.request.Request(url, data=body.encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.load(error)
status, headers, body = post(json.dumps({"model": "auto", "messages": [{"role": "user", "content": sys.argv[2]}]}))
bad_status, _, bad_body = post('{"model": "auto"}')
print(json.dumps({"status": status, "model": headers.get("X-Router-Model"), "content": body["choices"][0]["message"]["content"],
                  "bad_status": bad_status, "bad_error": bad_body["error"]}))
`
		out, err := exec.Command(python, "-c", script, chatURL, chatPrompt).CombinedOutput()
		if err != nil {
			t.Fatalf("python: %v\n%s", err, out)
		}
		var got struct {
			Status    int
			Model     string
			Content   string
			BadStatus int                    `json:"bad_status"`
			BadError  map[string]interface{} `json:"bad_error"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("python printed %s", out)
		}
		if got.Status != 200 || got.Model != "small" || got.Content != "answer from small" {
			t.Errorf("python: %s", out)
		}
		if got.BadStatus != 400 || got.BadError["code"] != "missing_messages" || got.BadError["param"] != "messages" ||
			got.BadError["type"] != "invalid_request_error" {
			t.Errorf("python bad request: %s", out)
		}
	})

	t.Run("SIGHUP under load", func(t *testing.T) {
		stop := make(chan struct{})
		l := startLoad(t, p.url, 6, stop)
		time.Sleep(300 * time.Millisecond)
		copyFile(t, routers.b, filepath.Join(dir, "live.router"))
		if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		// Router B sends code to writer; poll until the reload is in.
		deadline := time.Now().Add(15 * time.Second)
		for tg.chat(t, "auto", codePrompt).header.Get("X-Router-Model") != "writer" {
			if time.Now().After(deadline) {
				t.Fatalf("SIGHUP did not reload:\n%s", p.stderr.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		close(stop)
		l.wait(t)
		t.Logf("%d requests across the SIGHUP reload, %d failed", l.ok, l.failed)
		if m := scrape(t, p.url); m[`gateway_reloads_total{result="ok"}`] != 1 {
			t.Errorf("reloads_total %v", m[`gateway_reloads_total{result="ok"}`])
		}
	})

	t.Run("upstream errors, then SIGTERM; no key in the log", func(t *testing.T) {
		backends["writer"].setMode(answer500) // its error body quotes the key
		r := tg.chat(t, "writer", poemPrompt)
		if r.status != http.StatusBadGateway || decodeError(t, r).Message != "no backend answered after 1 attempt(s): writer: http_500" {
			t.Errorf("%d %s", r.status, r.body)
		}
		assertNoKeys(t, "the 502 body", string(r.body))
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-p.done:
			if err != nil {
				t.Errorf("exit: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Fatal("no exit after SIGTERM")
		}
		log := p.stderr.String()
		for _, want := range []string{"upstream writer (" + backends["writer"].server.URL + "/v1) failed: HTTP 500",
			"reloaded " + filepath.Join(dir, "live.router"), "stopped"} {
			if !strings.Contains(log, want) {
				t.Errorf("log lacks %q:\n%s", want, log)
			}
		}
		assertNoKeys(t, "the process's log", log)
	})
}
