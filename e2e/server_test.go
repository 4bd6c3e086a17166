package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/testkit/scenario"
	"github.com/ebrcs/ebrcs/testkit/testenv"
)

// adminToken is the server's admin token in these tests (32 characters).
const adminToken = "e2e-admin-token-0123456789abcdef"

var shared struct {
	once sync.Once
	dir  string // removed by cleanupShared
	bin  string // the ebrcs binary
	err  error
}

// ebrcsBinary builds cmd/ebrcs once per run.
func ebrcsBinary(t *testing.T) string {
	t.Helper()
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "ebrcs-e2e-"); shared.err != nil {
			return
		}
		shared.bin = filepath.Join(shared.dir, "ebrcs")
		start := time.Now()
		out, err := exec.Command("go", "build", "-o", shared.bin, "../cmd/ebrcs").CombinedOutput()
		if err != nil {
			shared.err = fmt.Errorf("go build ../cmd/ebrcs: %v\n%s", err, out)
			return
		}
		t.Logf("built ebrcs in %v", time.Since(start).Round(10*time.Millisecond))
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.bin
}

func cleanupShared() {
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
}

// server is a running `ebrcs serve` with its own catalog, pipelines and uploads in a temp dir.
type server struct {
	url    string // http://127.0.0.1:PORT
	dir    string
	log    *tailWriter // stderr and stdout
	cmd    *exec.Cmd
	exited chan struct{}
}

// startServer fills a fresh catalog with products (`ebrcs catalog import`), then starts
// `ebrcs serve` with the shipped live and checkout pipelines pointed at it, and waits until
// /readyz answers 200. The server is stopped (SIGTERM, then SIGKILL) when the test ends.
func startServer(t *testing.T, products []scenario.Product) *server {
	t.Helper()
	return startServerWith(t, products, "")
}

// startServerWith is startServer with more lines of configuration (YAML, top level). They
// follow the webrtc: section, the configuration's last: lines indented by two spaces add to
// it (webrtcPorts).
func startServerWith(t *testing.T, products []scenario.Product, extraConfig string) *server {
	t.Helper()
	return startServerEdited(t, products, extraConfig, nil)
}

// startServerEdited is startServerWith with the shipped live pipeline's text passed through
// editLive (nil: as shipped), for a test of one of its settings.
func startServerEdited(t *testing.T, products []scenario.Product, extraConfig string, editLive func(string) string) *server {
	t.Helper()
	bin := ebrcsBinary(t)
	dir := t.TempDir()
	models, err := filepath.Abs("../models")
	if err != nil {
		t.Fatal(err)
	}
	catalog := filepath.Join(dir, "catalog")

	// The catalog: DIR/<product name>/front.png, imported by the CLI as an operator would.
	if len(products) > 0 {
		photos := filepath.Join(dir, "products")
		for _, p := range products {
			writePNG(t, filepath.Join(photos, p.Name, "front.png"), p)
		}
		start := time.Now()
		out, err := exec.Command(bin, "catalog", "import", photos, "--data", catalog, "--models", models).CombinedOutput()
		if err != nil {
			t.Fatalf("ebrcs catalog import: %v\n%s", err, tail(string(out), 20))
		}
		t.Logf("catalog: %d products imported in %v", len(products), time.Since(start).Round(10*time.Millisecond))
	}

	pipelines := filepath.Join(dir, "pipelines")
	if err := os.MkdirAll(pipelines, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"live.yaml", "checkout.yaml"} {
		shippedPipeline(t, name, filepath.Join(pipelines, name), catalog, models)
	}
	if editLive != nil {
		live := filepath.Join(pipelines, "live.yaml")
		raw, err := os.ReadFile(live)
		if err != nil {
			t.Fatal(err)
		}
		edited := editLive(string(raw))
		if edited == string(raw) {
			t.Fatal("the edit left the live pipeline as shipped: its shape changed; update the test")
		}
		if err := os.WriteFile(live, []byte(edited), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	addr := freeAddr(t)
	config := fmt.Sprintf(`addr: %q
pipelines: %q
log_level: info
admin_token: %q
checkout:
  pipeline: %q
  upload_dir: %q
webrtc:
  include_loopback: true
`, addr, pipelines, adminToken, filepath.Join(pipelines, "checkout.yaml"), filepath.Join(dir, "uploads")) + extraConfig
	configFile := filepath.Join(dir, "ebrcs.yaml")
	if err := os.WriteFile(configFile, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}

	s := &server{url: "http://" + addr, dir: dir, log: newTailWriter(200), exited: make(chan struct{})}
	s.cmd = exec.Command(bin, "serve", "--config", configFile)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	go func() {
		// Pdeathsig follows the thread that started the process: keep it until the end.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := s.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.cmd.Wait()
		close(s.exited)
	}()
	if err := <-started; err != nil {
		t.Fatalf("ebrcs serve: %v", err)
	}
	t.Cleanup(func() { s.stop(t) })

	start := time.Now()
	deadline := start.Add(30 * time.Second)
	for {
		select {
		case <-s.exited:
			t.Fatalf("ebrcs serve exited before it was ready (%v):\n%s", s.cmd.ProcessState, s.log.tail(40))
		default:
		}
		if code, _, err := s.get("/readyz"); err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ebrcs serve: /readyz not 200 after 30s:\n%s", s.log.tail(40))
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("server ready at %s in %v", s.url, time.Since(start).Round(10*time.Millisecond))
	return s
}

// stop ends the server gracefully; one that does not stop within 15 s is killed and fails
// the test.
func (s *server) stop(t *testing.T) {
	select {
	case <-s.exited:
		return
	default:
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(15 * time.Second):
		t.Errorf("ebrcs serve did not stop within 15s of SIGTERM; killed. Its log:\n%s", s.log.tail(30))
		s.cmd.Process.Kill()
		<-s.exited
	}
}

// shippedPipeline copies configs/pipelines/NAME to dst with its catalog and model paths
// pointed at the test's, changing nothing else: the tests run the pipelines we ship.
func shippedPipeline(t *testing.T, name, dst, catalog, models string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("../configs/pipelines", name))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	if !strings.Contains(text, "catalog: var/catalog") || !strings.Contains(text, "- element: ebrcs_embed\n") {
		t.Fatalf("configs/pipelines/%s changed shape; update this test's path substitution", name)
	}
	text = testenv.PointPipeline(t, text, catalog, models)
	if err := os.WriteFile(dst, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// freeAddr is a free 127.0.0.1 port (in the test's own network namespace, so nothing else
// can take it meanwhile).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func writePNG(t *testing.T, path string, p scenario.Product) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, p.Image); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

var httpClient = &http.Client{Timeout: 10 * time.Second}

// get returns the status and body of GET path.
func (s *server) get(path string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+path, nil)
	if err != nil {
		return 0, nil, err
	}
	// The tests look on as staff (the cashier's view): shoppers' sessions open to staff only
	// besides their own page.
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, body, err
}

// getJSON decodes GET path (which must answer 200) into v.
func (s *server) getJSON(t *testing.T, path string, v any) {
	t.Helper()
	code, body, err := s.get(path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, code, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

// apiCart is GET /api/sessions/{id}/cart.
type apiCart struct {
	Items []struct {
		Product  string  `json:"product"`
		Quantity int     `json:"quantity"`
		Score    float64 `json:"score"`
	} `json:"items"`
	// Pending are the reviews waiting for an answer.
	Pending []struct {
		ID string `json:"id"`
	} `json:"pending"`
	Version   int64 `json:"version"`
	Confirmed bool  `json:"confirmed"`
	Purchase  *struct {
		ID    int64 `json:"id"`
		Items []struct {
			Product  string `json:"product"`
			Quantity int    `json:"quantity"`
		} `json:"items"`
	} `json:"purchase"`
}

// pendingID is the first pending review's id ("" when none).
func (c *apiCart) pendingID() string {
	if c == nil || len(c.Pending) == 0 {
		return ""
	}
	return c.Pending[0].ID
}

func (c apiCart) quantities() map[string]int {
	m := map[string]int{}
	for _, it := range c.Items {
		if it.Quantity > 0 {
			m[it.Product] += it.Quantity
		}
	}
	return m
}

// tailWriter keeps the last lines written to it, less those containing a drop string.
type tailWriter struct {
	mu    sync.Mutex
	max   int
	drop  []string
	lines []string
	part  []byte
}

func newTailWriter(max int) *tailWriter { return &tailWriter{max: max} }

func (w *tailWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.part = append(w.part, p...)
	for {
		i := bytes.IndexByte(w.part, '\n')
		if i < 0 {
			break
		}
		w.add(string(w.part[:i]))
		w.part = w.part[i+1:]
	}
	return len(p), nil
}

// Printf adds one line.
func (w *tailWriter) Printf(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.add(fmt.Sprintf(format, args...))
}

func (w *tailWriter) add(line string) {
	for _, d := range w.drop {
		if strings.Contains(line, d) {
			return
		}
	}
	w.lines = append(w.lines, line)
	if len(w.lines) > w.max {
		w.lines = w.lines[len(w.lines)-w.max:]
	}
}

// tail returns the last n lines.
func (w *tailWriter) tail(n int) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	lines := w.lines
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := strings.Join(lines, "\n")
	if len(w.part) > 0 {
		out += "\n" + string(w.part)
	}
	return out
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
