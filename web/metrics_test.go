package web

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/internal/metrics"
	"github.com/ebrcs/ebrcs/pipelines"
	"github.com/ebrcs/ebrcs/testkit/testelements"
)

func scrapeHandler(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", rec.Code, rec.Body.String())
	}
	return rec.Body.String()
}

func randomToken(r *rand.Rand, n int) string {
	const letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[r.IntN(len(letters))]
	}
	return string(b)
}

// Requests with made-up methods and paths add no series: /metrics stays the same size
// however many come (it grew by a histogram per method, for good).
func TestMetricsLabelsAreBounded(t *testing.T) {
	h := (&Server{Pipelines: noPipelines{}}).Handler()
	r := rand.New(rand.NewPCG(1, 2))
	send := func(n int) {
		for range n {
			var req *http.Request
			if r.IntN(2) == 0 {
				req = httptest.NewRequest(http.MethodGet, "/"+randomToken(r, 40), nil)
			} else {
				req = httptest.NewRequest(http.MethodGet, "/api/pipelines", nil)
				req.Method = randomToken(r, 256)
			}
			if r.IntN(3) == 0 {
				req.URL.Path = "/" + randomToken(r, 40)
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
	}
	send(50) // the "other" and "unmatched" series exist from here on
	before := len(scrapeHandler(t, h))
	send(2000)
	body := scrapeHandler(t, h)
	if grown := len(body) - before; grown > 4<<10 {
		t.Errorf("/metrics grew by %d bytes after 2000 requests with random methods and paths", grown)
	}
	methods := map[string]bool{}
	for _, m := range regexp.MustCompile(`ebrcs_http_request_duration_seconds_count\{[^}]*method="([^"]*)"`).FindAllStringSubmatch(body, -1) {
		methods[m[1]] = true
	}
	var odd []string
	for m := range methods {
		if methodLabel(m) != m {
			odd = append(odd, m)
		}
	}
	if len(odd) > 0 {
		t.Errorf("%d method labels are neither a standard method nor \"other\", e.g. %.40q", len(odd), odd[0])
	}
	if !methods[metrics.Other] {
		t.Errorf("made-up methods are not counted under \"other\": %v", methods)
	}
	for code, want := range map[int]string{200: "200", 404: "404", 422: "422", 599: metrics.Other, 1000: metrics.Other} {
		if got := codeLabel(code); got != want {
			t.Errorf("codeLabel(%d) = %q, want %q", code, got, want)
		}
	}
}

// manyPipelines is a pipeline set with n made-up pipelines.
type manyPipelines []pipelines.Status

func (m manyPipelines) Statuses() []pipelines.Status { return m }

// More pipelines than metrics.MaxPipelineLabels: the ones beyond add up under "other", and
// the scrape is still valid (no duplicate series).
func TestMetricsPipelineLabelsAreBounded(t *testing.T) {
	var set manyPipelines
	for i := range 3 * metrics.MaxPipelineLabels {
		state := pipelines.StateRunning
		if i%3 == 0 {
			state = pipelines.StateRestarting
		}
		set = append(set, pipelines.Status{Name: fmt.Sprintf("cam-%03d", i), State: state, Restarts: 1})
	}
	t.Cleanup(func() {
		for _, st := range set {
			metrics.ForgetPipeline(st.Name)
		}
	})
	body := scrapeHandler(t, (&Server{Pipelines: set}).Handler())
	names := map[string]bool{}
	for _, m := range regexp.MustCompile(`ebrcs_pipeline_restarts_total\{pipeline="([^"]*)"\} (\d+)`).FindAllStringSubmatch(body, -1) {
		names[m[1]] = true
	}
	if len(names) > metrics.MaxPipelineLabels+1 || !names[metrics.Other] {
		t.Fatalf("%d pipeline labels for %d pipelines (want at most %d, with \"other\")", len(names), len(set), metrics.MaxPipelineLabels+1)
	}
	// Every pipeline is in the totals, named or not.
	var restarts, running float64
	for _, m := range regexp.MustCompile(`ebrcs_pipeline_restarts_total\{pipeline="(?:cam-\d+|other)"\} (\d+)`).FindAllStringSubmatch(body, -1) {
		var v float64
		fmt.Sscan(m[1], &v)
		restarts += v
	}
	for _, m := range regexp.MustCompile(`ebrcs_pipeline_state\{pipeline="[^"]*",state="running"\} (\d+)`).FindAllStringSubmatch(body, -1) {
		var v float64
		fmt.Sscan(m[1], &v)
		running += v
	}
	if int(restarts) != len(set) || int(running) != 2*metrics.MaxPipelineLabels {
		t.Errorf("restarts %v (want %d), running %v (want %d)", restarts, len(set), running, 2*metrics.MaxPipelineLabels)
	}
}

// A pipeline file removed takes its series with it, and gives its name's place back; so does
// a file that never validated.
func TestMetricsForgetRemovedPipelines(t *testing.T) {
	testelements.Register(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "gone.yaml")
	os.WriteFile(file, []byte("source: {type: test, width: 32, height: 24}\nsink: {type: fake}\n"), 0o644)
	bad := filepath.Join(dir, "broken.yaml")
	os.WriteFile(bad, []byte("source: {type: tset}\nsink: {type: fake}\n"), 0o644)
	m := pipelines.NewManager(dir, pipelines.ManagerOptions{MaxRestarts: -1})
	defer m.Close()
	m.Sync()
	h := (&Server{Pipelines: m}).Handler()
	series := `ebrcs_pipeline_frames_total{at="sink",pipeline="gone"}`
	deadline := time.Now().Add(10 * time.Second)
	for body := ""; !strings.Contains(body, series) || !strings.Contains(body, `pipeline="broken"`); body = scrapeHandler(t, h) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s", series)
		}
		time.Sleep(50 * time.Millisecond)
	}
	admitted := metrics.PipelineNames.Len()
	os.Remove(file)
	os.Remove(bad)
	m.Sync()
	body := scrapeHandler(t, h)
	for _, name := range []string{"gone", "broken"} {
		if label := `pipeline="` + name + `"`; strings.Contains(body, label) {
			t.Errorf("the removed pipeline's series are still there:\n%s", grepLines(body, label))
		}
	}
	if got := metrics.PipelineNames.Len(); got != admitted-2 {
		t.Errorf("%d pipeline names admitted after the removals, want %d", got, admitted-2)
	}
}

func grepLines(body, s string) string {
	var out []string
	for _, l := range strings.Split(body, "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
