package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// The shipped pipeline files are valid.
func TestShippedPipelinesCheckClean(t *testing.T) {
	served, _ := filepath.Glob("../../configs/pipelines/*.yaml")
	examples, _ := filepath.Glob("../../configs/examples/*.yaml")
	files := append(served, examples...)
	if len(files) == 0 {
		t.Fatal("no shipped pipeline files")
	}
	code, out, errOut := runCLI(t, append([]string{"pipelines", "check"}, files...)...)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr:\n%s", code, errOut)
	}
	if strings.Count(out, ": ok: pipeline") != len(files) {
		t.Fatalf("want one summary line per file:\n%s", out)
	}
}

// A broken file: exit 1 and file:line:column on stderr.
func TestPipelinesCheckBrokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broken.yaml")
	os.WriteFile(path, []byte("source: {type: test}\nelements:\n  - element: videoconvert\n    properties: {dither: sometimes}\nsink: {type: fake}\n"), 0o644)
	code, out, errOut := runCLI(t, "pipelines", "check", path)
	if code != 1 || out != "" {
		t.Fatalf("exit %d stdout %q", code, out)
	}
	if !strings.HasPrefix(errOut, path+":4:26: property \"dither\" of videoconvert") {
		t.Fatalf("stderr %q", errOut)
	}
	if code, _, _ := runCLI(t, "pipelines", "check", filepath.Join(t.TempDir(), "missing.yaml")); code != 1 {
		t.Fatalf("missing file: exit %d", code)
	}
}

// ebrcs run runs a finite pipeline to its end and reports the frames as JSON, alone on stdout.
func TestRunJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "short.yaml")
	os.WriteFile(path, []byte("source: {type: test, num_buffers: 40, live: false, width: 64, height: 48}\nelements: [{element: ebrcs_passthrough}]\nsink: {type: fake}\n"), 0o644)
	code, out, errOut := runCLI(t, "run", "--pipeline", path, "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.TrimSpace(out) != `{"items":{},"frames":40}` {
		t.Fatalf("stdout %q, want only the (empty) cart and the frame count", out)
	}
}

// A pipeline that fails at run time: exit 1 with the error.
func TestRunReportsFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad-input.yaml")
	os.WriteFile(path, []byte("source: {type: file}\nsink: {type: fake}\n"), 0o644)
	code, _, errOut := runCLI(t, "run", "--pipeline", path, "--input", "/nonexistent.mp4")
	if code != 1 || !strings.Contains(errOut, "no such file") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

// The real binary: `ebrcs serve` runs the example test-pattern pipeline, answers /healthz and
// /readyz, and stops cleanly on SIGTERM.
func TestServeBinary(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "ebrcs")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	// The examples directory: its test pattern is a pipeline that runs as long as the server.
	cmd := exec.Command(bin, "serve", "--addr", addr, "--pipelines", "../../configs/examples", "--config", "../../configs/ebrcs.yaml",
		"--checkout-pipeline", shippedCheckoutPipeline(t, filepath.Join(t.TempDir(), "catalog")))
	// A token of our own: a generated one would be written under this source directory.
	const token = "serve-binary-test-token-0123456789"
	cmd.Env = append(os.Environ(), "EBRCS_ADMIN_TOKEN="+token)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	get := func(path string, header ...string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, _ := get("/readyz")
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready in time; logs:\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, body := get("/healthz"); code != 200 || !strings.Contains(body, "ok") {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	code, body := get("/api/pipelines")
	if code != 200 || !strings.Contains(body, `"name":"test-pattern"`) || !strings.Contains(body, `"state":"running"`) {
		t.Fatalf("/api/pipelines: %d %s", code, body)
	}
	// The checkout API is served, with the shipped pipeline's ROI.
	resp, err := http.Post("http://"+addr+"/api/sessions", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	var sess struct {
		ID  string       `json:"id"`
		Key string       `json:"key"`
		ROI [][2]float64 `json:"roi"`
	}
	json.NewDecoder(resp.Body).Decode(&sess)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || sess.ID == "" || len(sess.ROI) != 4 {
		t.Fatalf("POST /api/sessions: %d %+v", resp.StatusCode, sess)
	}
	// The session is its maker's: its key opens it, nothing else does.
	if code, body := get("/api/sessions/" + sess.ID + "/cart"); code != http.StatusUnauthorized {
		t.Fatalf("cart without the session's key: %d %s", code, body)
	}
	if code, body := get("/api/sessions/"+sess.ID+"/cart", "X-Session-Key", sess.Key); code != 200 || !strings.Contains(body, `"items":[]`) {
		t.Fatalf("cart: %d %s", code, body)
	}
	if strings.Contains(logs.String(), token) {
		t.Fatalf("the admin token is in the logs:\n%s", logs.String())
	}
	cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop on SIGINT")
	}
}

// The per-second report of `ebrcs run` on a real pipeline: the gate's statuses and counts.
func TestRunReportsROIPerSecond(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gate.yaml")
	os.WriteFile(path, []byte("source: {type: test, pattern: ball, num_buffers: 60, live: false, width: 320, height: 240, framerate: 30, format: RGBA}\n"+
		"elements:\n  - element: ebrcs_bgsub\n    properties: {process-width: 0}\n  - element: ebrcs_roigate\nsink: {type: fake}\n"), 0o644)
	details := filepath.Join(t.TempDir(), "details.json")
	code, _, errOut := runCLI(t, "run", "--pipeline", path, "--json", "--details", details)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var sum runSummary
	raw, _ := os.ReadFile(details)
	if err := json.Unmarshal(raw, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Frames != 60 || sum.State != "finished" || sum.Pipeline != "gate" {
		t.Fatalf("summary %+v", sum)
	}
	if len(sum.ROI) != 2 || sum.ROI[0].Frames != 30 || sum.ROI[1].Frames != 30 || sum.ROI[1].Recognitions == 0 {
		t.Fatalf("per-second report %+v", sum.ROI)
	}
	code, out, _ := runCLI(t, "run", "--pipeline", path)
	if code != 0 || !strings.Contains(out, "00:01  frames  30") || !strings.Contains(out, "recognitions") {
		t.Fatalf("text report:\n%s", out)
	}
}
