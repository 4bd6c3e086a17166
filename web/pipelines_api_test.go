package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/checkout/access"
	"github.com/ebrcs/ebrcs/pipelines"
	"github.com/ebrcs/ebrcs/testkit/credtest"
	"github.com/ebrcs/ebrcs/testkit/testelements"
)

// pipelineAPIEnv is a server over a real pipeline manager (running cam.yaml), without a
// catalog: what the pipeline definition API needs.
type pipelineAPIEnv struct {
	t       *testing.T
	dir     string // the pipeline directory
	camFile string
	mgr     *pipelines.Manager
	srv     *Server
	h       http.Handler
}

func newPipelineAPIEnv(t *testing.T, policy *pipelines.Policy, readOnly bool) *pipelineAPIEnv {
	t.Helper()
	testelements.Register(t)
	dir := filepath.Join(t.TempDir(), "pipelines")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	camFile := filepath.Join(dir, "cam.yaml")
	if err := os.WriteFile(camFile, []byte(camYAML("one")), 0o644); err != nil {
		t.Fatal(err)
	}
	mgr := pipelines.NewManager(dir, pipelines.ManagerOptions{MaxRestarts: -1, APIPolicy: policy})
	t.Cleanup(mgr.Close)
	if err := mgr.Sync(); err != nil {
		t.Fatal(err)
	}
	srv := &Server{Pipelines: mgr, PipelineAdmin: mgr, Guard: &access.Guard{AdminToken: testAdminToken}, PipelinesReadOnly: readOnly}
	e := &pipelineAPIEnv{t: t, dir: dir, camFile: camFile, mgr: mgr, srv: srv, h: srv.Handler()}
	e.waitRunning("cam")
	return e
}

func (e *pipelineAPIEnv) waitRunning(name string) *pipelines.Supervisor {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if sup := e.mgr.Supervisor(name); sup != nil && sup.Status().State == pipelines.StateRunning {
			return sup
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s is not running: %+v", name, e.mgr.Statuses())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *pipelineAPIEnv) do(method, path string, admin bool, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if admin {
		req.Header.Set("Authorization", "Bearer "+testAdminToken)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/yaml")
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

// noSecretIn fails the test when a secret is in a response body, as sent or, for JSON, once
// decoded (escapes such as \u003c undone).
func noSecretIn(t *testing.T, what string, body []byte, secrets []string) {
	t.Helper()
	texts := []string{string(body)}
	var v any
	if json.Unmarshal(body, &v) == nil {
		texts = append(texts, fmt.Sprint(v))
	}
	for _, s := range secrets {
		for _, text := range texts {
			if strings.Contains(text, s) {
				t.Errorf("%s shows the secret %q:\n%s", what, s, text)
				break
			}
		}
	}
}

// Every form of credential in a pipeline file, through real requests: the public
// GET /api/pipelines/{name} never shows it (the file masked, or refused with 403 when it
// cannot be masked safely), GET /api/pipelines neither (the files that do not validate have
// a ConfigError, the cameras that fail a LastError), and admins still get the file whole.
func TestPublicPipelineDefinitionHidesCredentials(t *testing.T) {
	e := newPipelineAPIEnv(t, nil, false)
	var all []string
	forms := credtest.Forms()
	for i, f := range forms {
		name := fmt.Sprintf("form%02d", i)
		// Its own name, and no autostart: these files are read, not run.
		y := strings.Replace(f.YAML, "name: cam", "name: "+name+"\nautostart: false", 1)
		y = strings.Replace(y, `"name": "cam"`, `"name": "`+name+`", "autostart": false`, 1)
		if err := os.WriteFile(filepath.Join(e.dir, name+".yaml"), []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
		all = append(all, f.Secrets...)
	}
	if err := e.mgr.Sync(); err != nil {
		t.Fatal(err)
	}
	for i, f := range forms {
		name := fmt.Sprintf("form%02d", i)
		rec := e.do("GET", "/api/pipelines/"+name, false, "")
		switch {
		case f.Refused && rec.Code != http.StatusForbidden:
			t.Errorf("%s (%s): want 403, got %d %s", name, f.Name, rec.Code, rec.Body)
		case f.Refused && !strings.Contains(rec.Body.String(), "shown to admins only"):
			t.Errorf("%s (%s): the refusal does not say why: %s", name, f.Name, rec.Body)
		case !f.Refused && (rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/yaml; charset=utf-8"):
			t.Errorf("%s (%s): want the masked YAML, got %d %s", name, f.Name, rec.Code, rec.Body)
		}
		noSecretIn(t, fmt.Sprintf("GET /api/pipelines/%s (%s)", name, f.Name), rec.Body.Bytes(), f.Secrets)
		// Admins edit the file: they get it whole.
		admin := e.do("GET", "/api/pipelines/"+name, true, "")
		raw, _ := os.ReadFile(filepath.Join(e.dir, name+".yaml"))
		if admin.Code != http.StatusOK || admin.Body.String() != string(raw) || admin.Header().Get("Cache-Control") != "no-store" {
			t.Errorf("%s (%s): admin GET %d %q", name, f.Name, admin.Code, admin.Header().Get("Cache-Control"))
		}
	}

	// A refused edit of a file that quotes its password in the error (a URL that does not
	// parse), and a camera that fails: their errors are public in GET /api/pipelines.
	const badURL = "name: cam\nsource: {type: rtsp, url: 'rtsp://admin:edit pw@cam/x'}\nsink: {type: fake}\n"
	if err := os.WriteFile(e.camFile, []byte(badURL), 0o644); err != nil {
		t.Fatal(err)
	}
	const failing = "name: failing\nsource:\n  type: rtsp\n  url: 'rtsp://admin:url%20pw@127.0.0.1:1/x?token=cam-token&x=1'\n  password: \"cam secret\"\nsink: {type: fake}\nrestart: {initial_backoff: 50ms, max_backoff: 100ms}\n"
	if err := os.WriteFile(filepath.Join(e.dir, "failing.yaml"), []byte(failing), 0o644); err != nil {
		t.Fatal(err)
	}
	all = append(all, "edit pw", "url pw", "url%20pw", "cam-token", "cam secret")
	if err := e.mgr.Sync(); err != nil {
		t.Fatal(err)
	}
	// The PUT of a refused edit through the API, too.
	if rec := e.do("PUT", "/api/pipelines/cam", true, strings.Replace(camYAML("x"), "label: x", "label: {password: put-secret}", 1)); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("PUT a refused edit: %d %s", rec.Code, rec.Body)
	}
	all = append(all, "put-secret")
	deadline := time.Now().Add(15 * time.Second)
	for {
		var st []pipelines.Status
		rec := e.do("GET", "/api/pipelines", false, "")
		json.Unmarshal(rec.Body.Bytes(), &st)
		var camErr, failErr string
		for _, s := range st {
			switch s.Name {
			case "cam":
				camErr = s.ConfigError
			case "failing":
				failErr = s.LastError
			}
		}
		if camErr != "" && failErr != "" {
			noSecretIn(t, "GET /api/pipelines", rec.Body.Bytes(), all)
			if !strings.Contains(camErr, "cam.yaml:2:") {
				t.Errorf("the refused edit's error lost its position: %q", camErr)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no ConfigError for cam or LastError for failing: %s", rec.Body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The refused edit left the running version alone.
	if sup := e.mgr.Supervisor("cam"); sup == nil || sup.Status().State != pipelines.StateRunning {
		t.Fatal("the refused edit stopped cam")
	}
}

// Through PUT /api/pipelines/{name}, an admin cannot make the server read or write a file:
// each form is refused with 422 at its line, nothing is written, the running pipeline stays,
// and the file it names is never created.
func TestPipelineAPIRefusesFileAccess(t *testing.T) {
	work := t.TempDir()
	media := filepath.Join(work, "media")
	outside := filepath.Join(work, "outside")
	for _, d := range []string{media, outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{filepath.Join(media, "clip.mp4"), filepath.Join(outside, "secret.mp4")} {
		if err := os.WriteFile(f, []byte("not a video"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(outside, "secret.mp4"), filepath.Join(media, "escape.mp4")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(media, "outdir")); err != nil {
		t.Fatal(err)
	}
	e := newPipelineAPIEnv(t, &pipelines.Policy{MediaDir: media}, false)
	sup := e.mgr.Supervisor("cam")
	pwned := func(name string) string { return filepath.Join(outside, name) }
	element := func(el string) string {
		return strings.Replace(camYAML("two"), "  - element: videoconvert\n", "  - element: videoconvert\n"+el, 1)
	}
	file := func(path string) string {
		return fmt.Sprintf("name: cam\nautostart: false\nsource: {type: file, path: '%s'}\nsink: {type: fake}\n", path)
	}
	lineCol := regexp.MustCompile(`cam\.yaml:\d+:\d+: `)
	for _, c := range []struct{ what, yaml, want, created string }{
		{"queue2 temp-template", element("  - element: queue2\n    properties: {temp-template: '" + pwned("q-XXXXXX") + "'}\n"), `property "temp-template" of queue2 names a file`, "q-"},
		{"x264enc multipass-cache-file", element("  - element: x264enc\n    properties: {pass: pass1, multipass-cache-file: '" + pwned("stats") + "'}\n"), `"multipass-cache-file" of x264enc names a file`, "stats"},
		{"filesink", element("  - element: filesink\n    properties: {location: '" + pwned("out") + "'}\n"), "element filesink reads or writes files", "out"},
		{"splitmuxsink", element("  - element: splitmuxsink\n"), "element splitmuxsink reads or writes files", ""},
		{"filesrc", element("  - element: filesrc\n    properties: {location: /etc/passwd}\n"), "element filesrc reads or writes files", ""},
		{"our catalog outside var/", element("  - element: ebrcs_match\n    properties: {catalog: '" + pwned("cat") + "'}\n"), `property "catalog" of ebrcs_match`, "cat"},
		{"our embedder reading the admin token", element("  - element: ebrcs_embed\n    properties: {embedder: var/admin-token}\n"), `property "embedder" of ebrcs_embed`, ""},
		{"file source outside media_dir", file("/etc/passwd"), "outside", ""},
		{"file source with ..", file(media + "/../outside/secret.mp4"), `".." is not allowed`, ""},
		{"file source through a symlink", file(filepath.Join(media, "escape.mp4")), "a symbolic link leads outside", ""},
		{"file source in a symlinked directory", file(filepath.Join(media, "outdir/secret.mp4")), "a symbolic link leads outside", ""},
	} {
		rec := e.do("PUT", "/api/pipelines/cam", true, c.yaml)
		got := map[string]any{}
		json.Unmarshal(rec.Body.Bytes(), &got)
		msg, _ := got["error"].(string)
		if rec.Code != http.StatusUnprocessableEntity || got["field"] != "yaml" || !strings.Contains(msg, c.want) || !lineCol.MatchString(msg) {
			t.Errorf("%s: %d %s\nwant 422 with file:line:col and %q", c.what, rec.Code, rec.Body, c.want)
		}
		if raw, _ := os.ReadFile(e.camFile); string(raw) != camYAML("one") {
			t.Fatalf("%s: a refused PUT changed the file:\n%s", c.what, raw)
		}
		if now := e.mgr.Supervisor("cam"); now != sup || now.Status().State != pipelines.StateRunning {
			t.Fatalf("%s: a refused PUT disturbed the running pipeline", c.what)
		}
	}
	time.Sleep(200 * time.Millisecond) // anything started would have written by now
	entries, _ := os.ReadDir(outside)
	if len(entries) != 1 {
		t.Errorf("files were created outside: %v", entries)
	}
	if entries, _ := os.ReadDir(e.dir); len(entries) != 1 {
		t.Errorf("files were left in the pipeline directory: %v", entries)
	}

	// Inside media_dir is fine.
	if rec := e.do("PUT", "/api/pipelines/cam", true, file(filepath.Join(media, "clip.mp4"))); rec.Code != http.StatusOK {
		t.Fatalf("PUT a file source inside media_dir: %d %s", rec.Code, rec.Body)
	}
}

// pipelines_api: read-only refuses every PUT with 403 naming the setting; GET still works.
func TestPipelineAPIReadOnly(t *testing.T) {
	e := newPipelineAPIEnv(t, nil, true)
	rec := e.do("PUT", "/api/pipelines/cam", true, camYAML("two"))
	if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "pipelines_api") || !strings.Contains(rec.Body.String(), "read-only") {
		t.Fatalf("PUT in read-only mode: %d %s", rec.Code, rec.Body)
	}
	if raw, _ := os.ReadFile(e.camFile); string(raw) != camYAML("one") {
		t.Fatalf("a refused PUT changed the file:\n%s", raw)
	}
	if rec := e.do("PUT", "/api/pipelines/cam", false, camYAML("two")); rec.Code != http.StatusUnauthorized {
		t.Fatalf("PUT without the token: %d", rec.Code)
	}
	for _, admin := range []bool{false, true} {
		if rec := e.do("GET", "/api/pipelines/cam", admin, ""); rec.Code != 200 || rec.Body.String() != camYAML("one") {
			t.Fatalf("GET (admin %v) in read-only mode: %d %s", admin, rec.Code, rec.Body)
		}
	}
}
