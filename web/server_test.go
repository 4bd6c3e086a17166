package web

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/checkout/access"
	"github.com/ebrcs/ebrcs/pipelines"
	"github.com/ebrcs/ebrcs/testkit/testelements"
)

func get(t *testing.T, h http.Handler, path string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	var body map[string]any
	json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, body
}

// /readyz follows the real pipelines: 503 while one is not running (here, a file that does
// not validate), 200 once every pipeline runs.
func TestHealthAndReadiness(t *testing.T) {
	testelements.Register(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "good.yaml"), []byte("source: {type: test, width: 32, height: 24}\nsink: {type: fake}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("source: {type: tset}\nsink: {type: fake}\n"), 0o644)
	m := pipelines.NewManager(dir, pipelines.ManagerOptions{MaxRestarts: -1})
	defer m.Close()
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	h := (&Server{Pipelines: m}).Handler()

	if code, body := get(t, h, "/healthz"); code != 200 || body["status"] != "ok" {
		t.Fatalf("/healthz %d %v", code, body)
	}
	code, body := get(t, h, "/readyz")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with an invalid pipeline: %d %v", code, body)
	}
	os.Remove(filepath.Join(dir, "bad.yaml"))
	m.Sync()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if code, _ := get(t, h, "/readyz"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz never became 200")
		}
		time.Sleep(20 * time.Millisecond)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/pipelines", nil))
	var list []pipelines.Status
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list) != 1 || list[0].Name != "good" || list[0].State != pipelines.StateRunning {
		t.Fatalf("/api/pipelines: %s", rec.Body.String())
	}
}

// /metrics shows every pipeline's state (one series per state), restarts and frames.
func TestMetrics(t *testing.T) {
	testelements.Register(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "cam.yaml"), []byte("source: {type: test, width: 32, height: 24}\nsink: {type: fake}\n"), 0o644)
	m := pipelines.NewManager(dir, pipelines.ManagerOptions{MaxRestarts: -1})
	defer m.Close()
	m.Sync()
	h := (&Server{Pipelines: m}).Handler()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		body := rec.Body.String()
		if rec.Code == 200 && strings.Contains(body, `ebrcs_pipeline_state{pipeline="cam",state="running"} 1`) &&
			strings.Contains(body, `ebrcs_pipeline_state{pipeline="cam",state="restarting"} 0`) &&
			strings.Contains(body, `ebrcs_pipeline_restarts_total{pipeline="cam"} 0`) && strings.Contains(body, "go_goroutines") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics %d:\n%s", rec.Code, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pprof needs the admin token; CORS is closed unless an origin is configured.
func TestPprofAndCORS(t *testing.T) {
	h := (&Server{Pipelines: noPipelines{}, Guard: &access.Guard{AdminToken: "0123456789abcdef0123"}, CORSOrigins: []string{"https://shop.example"}}).Handler()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/debug/pprof/goroutine?debug=1", nil))
	if rec.Code != http.StatusUnauthorized {
		t.Fatalf("pprof without the token: %d", rec.Code)
	}
	req := httptest.NewRequest("GET", "/debug/pprof/goroutine?debug=1", nil)
	req.Header.Set("Authorization", "Bearer 0123456789abcdef0123")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "goroutine") {
		t.Fatalf("pprof with the token: %d", rec.Code)
	}
	for origin, allowed := range map[string]bool{"https://shop.example": true, "https://evil.example": false} {
		req := httptest.NewRequest("OPTIONS", "/api/pipelines", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "GET")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if got := rec.Header().Get("Access-Control-Allow-Origin") == origin; got != allowed {
			t.Errorf("origin %s: allowed %v, want %v", origin, got, allowed)
		}
	}
}
