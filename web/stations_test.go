package web

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// POST /api/pipelines/{name} adds a pipeline file (the back office's camera station form):
// admin only; validated, bound by the API policy and test-linked before anything is written;
// never overwrites; then it runs like any file of the directory.
func TestCreatePipeline(t *testing.T) {
	e := newPipelineAPIEnv(t, nil, false)
	yaml := strings.Replace(camYAML("new"), "name: cam", "name: counter-2", 1)
	file := filepath.Join(e.dir, "counter-2.yaml")
	if rec := e.do("POST", "/api/pipelines/counter-2", false, yaml); rec.Code != http.StatusUnauthorized {
		t.Fatalf("without the admin token: %d %s", rec.Code, rec.Body)
	}
	for _, c := range []struct {
		path, body string
		code       int
	}{
		{"/api/pipelines/counter-2", strings.Replace(yaml, "ebrcs_passthrough", "ebrcs_passthru", 1), http.StatusUnprocessableEntity},
		{"/api/pipelines/counter-2", strings.Replace(yaml, "name: counter-2", "name: other", 1), http.StatusUnprocessableEntity},
		{"/api/pipelines/Counter%202", yaml, http.StatusUnprocessableEntity},
		{"/api/pipelines/counter-2", strings.Replace(yaml, "- element: videoconvert", "- element: filesink\n    properties: {location: /tmp/x}", 1), http.StatusUnprocessableEntity},
		{"/api/pipelines/cam", camYAML("again"), http.StatusConflict},
	} {
		if rec := e.do("POST", c.path, true, c.body); rec.Code != c.code {
			t.Errorf("POST %s: %d %s, want %d", c.path, rec.Code, rec.Body, c.code)
		}
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("refused definitions wrote %s: %v", file, err)
	}
	if raw, _ := os.ReadFile(e.camFile); string(raw) != camYAML("one") {
		t.Fatalf("a refused create changed cam.yaml: %s", raw)
	}
	rec := e.do("POST", "/api/pipelines/counter-2", true, yaml)
	if rec.Code != http.StatusCreated || rec.Header().Get("Location") != "/api/pipelines/counter-2" {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	if raw, err := os.ReadFile(file); err != nil || string(raw) != yaml {
		t.Fatalf("the file: %q %v", raw, err)
	}
	e.waitRunning("counter-2")
	if rec := e.do("POST", "/api/pipelines/counter-2", true, yaml); rec.Code != http.StatusConflict {
		t.Fatalf("a second create: %d %s", rec.Code, rec.Body)
	}
	ro := newPipelineAPIEnv(t, nil, true)
	if rec := ro.do("POST", "/api/pipelines/counter-3", true, strings.Replace(camYAML("x"), "name: cam", "name: counter-3", 1)); rec.Code != http.StatusForbidden {
		t.Fatalf("read-only: %d %s", rec.Code, rec.Body)
	}
}
