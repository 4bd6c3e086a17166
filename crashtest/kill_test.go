// Package crashtest kills the real server at random points of a concurrent admin and checkout
// workload and checks, after every kill, that what it acknowledged survived and that the
// catalog's index and database still agree.
package crashtest

import (
	"bytes"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/ebrcs/ebrcs/data"
	"github.com/ebrcs/ebrcs/recognition"
	"github.com/ebrcs/ebrcs/testkit/testenv"
)

const (
	adminToken = "crashtest-admin-token-0123456789" // 32 characters
	kills      = 50
	// testBudget stops the loop early (after at least minKills kills) on a slow machine.
	testBudget = 200 * time.Second
	minKills   = 20
)

// buildServer builds the ebrcs binary into dir.
func buildServer(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "ebrcs")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/ebrcs").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// modelsDir is the repository's models directory (make models fills it).
func modelsDir(t *testing.T) string {
	t.Helper()
	models, err := filepath.Abs("../models")
	if err != nil {
		t.Fatal(err)
	}
	return models
}

// newServer builds the binary into tmp and configures (without starting) a server on a free
// loopback port whose checkout pipeline is the shipped one with its catalog in catalogDir.
// extraCheckout is more YAML under checkout:; wrap prefixes the command (nsenter).
func newServer(t *testing.T, tmp, catalogDir, extraCheckout string, wrap []string) *server {
	t.Helper()
	bin := buildServer(t, tmp)
	pipelinesDir := filepath.Join(tmp, "pipelines")
	if err := os.Mkdir(pipelinesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	config := filepath.Join(tmp, "ebrcs.yaml")
	yaml := fmt.Sprintf("addr: 127.0.0.1:%d\npipelines: %s\nlog_level: warn\nadmin_token: %s\ncheckout:\n  pipeline: %s\n%s",
		port, pipelinesDir, adminToken, checkoutPipeline(t, tmp, catalogDir, modelsDir(t)), extraCheckout)
	if err := os.WriteFile(config, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := &server{bin: bin, dir: tmp, config: config, base: fmt.Sprintf("http://127.0.0.1:%d", port), wrap: wrap}
	t.Cleanup(srv.kill)
	return srv
}

// server is one `ebrcs serve` process.
type server struct {
	bin, dir, config, base string
	wrap                   []string // a command prefix (nsenter into a mount namespace), or none
	env                    []string // added to the environment (KEY=value), or none
	cmd                    *exec.Cmd
	log                    *bytes.Buffer
	done                   chan struct{}
}

func (s *server) start(t *testing.T) {
	t.Helper()
	s.log = &bytes.Buffer{}
	args := append(append([]string(nil), s.wrap...), s.bin, "serve", "--config", s.config)
	s.cmd = exec.Command(args[0], args[1:]...)
	s.cmd.Dir = s.dir
	s.cmd.Env = append(os.Environ(), s.env...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.done = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			t.Fatalf("the server exited at start-up (%v):\n%s", s.cmd.ProcessState, s.log)
		default:
		}
		resp, err := http.Get(s.base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.kill()
	t.Fatalf("the server was not ready within 60 s:\n%s", s.log)
}

// kill SIGKILLs the process and waits for it; a no-op when it is not running.
// stop ends the server with SIGTERM, as systemd does, and waits for it.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Errorf("the server did not stop within 30 s of SIGTERM:\n%s", s.log)
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

func (s *server) kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// ledger is what the server acknowledged, and the products the workload may act on.
type ledger struct {
	mu        sync.Mutex
	created   map[int64]string // acknowledged 201: id → name
	deleted   map[int64]bool   // acknowledged 204
	tried     map[int64]bool   // a DELETE was sent (acknowledged or not)
	attempted map[string]bool  // every name ever sent
	live      []int64          // believed to exist: targets for deletes and carts
	names     map[int64]string // id → name of every product seen
	purchases map[string]map[string]int
	acks      struct{ creates, deletes, purchases int }
}

func (l *ledger) pick(r *rand.Rand) (int64, string, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.live) == 0 {
		return 0, "", false
	}
	id := l.live[r.IntN(len(l.live))]
	return id, l.names[id], true
}

func (l *ledger) forget(id int64) {
	for i, v := range l.live {
		if v == id {
			l.live = append(l.live[:i], l.live[i+1:]...)
			return
		}
	}
}

// randomPNG is a small image of random coloured blocks: every image is distinct content.
func randomPNG(r *rand.Rand) []byte {
	const size, cells = 64, 4
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	for cy := 0; cy < cells; cy++ {
		for cx := 0; cx < cells; cx++ {
			c := color.RGBA{uint8(r.IntN(256)), uint8(r.IntN(256)), uint8(r.IntN(256)), 255}
			for y := cy * size / cells; y < (cy+1)*size/cells; y++ {
				for x := cx * size / cells; x < (cx+1)*size/cells; x++ {
					img.SetRGBA(x, y, c)
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

type client struct {
	base string
	http *http.Client
}

// do sends a request and returns the status and body; err is a transport failure (the
// server was killed mid-request, typically): nothing was acknowledged.
func (c *client) do(method, path, contentType string, body []byte, admin bool) (int, []byte, error) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if admin {
		req.Header.Set("Authorization", "Bearer "+adminToken)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

func (c *client) register(r *rand.Rand, l *ledger, name string) {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("name", name)
	for i := range 1 + r.IntN(3) {
		w, _ := mw.CreateFormFile("images", fmt.Sprintf("%d.png", i))
		_, _ = w.Write(randomPNG(r))
	}
	_ = mw.Close()
	code, b, err := c.do(http.MethodPost, "/api/products", mw.FormDataContentType(), body.Bytes(), true)
	if err != nil || code != http.StatusCreated {
		return
	}
	var p struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	if json.Unmarshal(b, &p) != nil || p.ID == 0 {
		return
	}
	l.mu.Lock()
	l.created[p.ID] = name
	l.names[p.ID] = name
	l.live = append(l.live, p.ID)
	l.acks.creates++
	l.mu.Unlock()
}

func (c *client) remove(r *rand.Rand, l *ledger) {
	id, _, ok := l.pick(r)
	if !ok {
		return
	}
	l.mu.Lock()
	l.tried[id] = true
	l.mu.Unlock()
	code, _, err := c.do(http.MethodDelete, fmt.Sprintf("/api/products/%d", id), "", nil, true)
	if err != nil || code != http.StatusNoContent {
		return
	}
	l.mu.Lock()
	l.deleted[id] = true
	l.forget(id)
	l.acks.deletes++
	l.mu.Unlock()
}

func (c *client) purchase(r *rand.Rand, l *ledger) {
	_, name, ok := l.pick(r)
	if !ok {
		return
	}
	code, b, err := c.do(http.MethodPost, "/api/sessions", "application/json", nil, true)
	if err != nil || code != http.StatusCreated {
		return
	}
	var sess struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(b, &sess) != nil || sess.ID == "" {
		return
	}
	qty := 1 + r.IntN(5)
	cart, _ := json.Marshal(map[string]any{"items": []map[string]any{{"product": name, "quantity": qty}}})
	code, _, err = c.do(http.MethodPut, "/api/sessions/"+sess.ID+"/cart", "application/json", cart, true)
	if err != nil || code != http.StatusOK {
		return // the product may have been deleted meanwhile
	}
	code, _, err = c.do(http.MethodPost, "/api/sessions/"+sess.ID+"/cart/confirm", "application/json", nil, true)
	if err != nil || code != http.StatusOK {
		return
	}
	l.mu.Lock()
	l.purchases[sess.ID] = map[string]int{name: qty}
	l.acks.purchases++
	l.mu.Unlock()
}

// workload runs concurrent operations until stop is closed.
func workload(c *client, l *ledger, seed uint64, round int, stop <-chan struct{}) {
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, uint64(round*16+w)))
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				switch x := r.IntN(10); {
				case x < 4:
					name := fmt.Sprintf("p-%d-%d-%d-%d", seed%1000, round, w, n)
					l.mu.Lock()
					l.attempted[name] = true
					l.mu.Unlock()
					c.register(r, l, name)
				case x < 6:
					c.remove(r, l)
				default:
					c.purchase(r, l)
				}
			}
		}()
	}
	wg.Wait()
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// checkoutPipeline copies the shipped checkout pipeline with its catalog and model paths
// pointed at the test's (as cmd/ebrcs's scenario suite does).
func checkoutPipeline(t *testing.T, dir, catalog, models string) string {
	t.Helper()
	raw, err := os.ReadFile("../configs/pipelines/checkout.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	if !strings.Contains(text, "catalog: var/catalog") || !strings.Contains(text, "- element: ebrcs_embed\n") {
		t.Fatal("checkout.yaml changed shape; update this test's path substitution")
	}
	text = testenv.PointPipeline(t, text, catalog, models)
	path := filepath.Join(dir, "checkout.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestKill9CrashSafety SIGKILLs `ebrcs serve` at random points of a concurrent workload
// (registering products, deleting them, confirming purchases) and checks after every kill:
// the server starts again; the catalog's index agrees with SQLite (products, vectors, every
// product found by its own stored vector and, for a sample, by re-embedding its photo); no
// product lacks images or vectors; every acknowledged purchase, creation and deletion held.
func TestKill9CrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the server and kills it 50 times (about 3 minutes)")
	}
	began := time.Now()
	tmp := t.TempDir()
	catalogDir := filepath.Join(tmp, "catalog")
	srv := newServer(t, tmp, catalogDir, "  max_sessions: 1024\n", nil)
	models := modelsDir(t)

	emb, err := recognition.OpenEmbedder("", models)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(recognition.CloseAll)

	l := &ledger{
		created: map[int64]string{}, deleted: map[int64]bool{}, tried: map[int64]bool{}, attempted: map[string]bool{},
		names: map[int64]string{}, purchases: map[string]map[string]int{},
	}
	c := &client{base: srv.base, http: &http.Client{Timeout: 30 * time.Second}}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))

	var totals struct{ loaded, rebuiltAtOpen, background, reembedded, persistErrors int }
	reasons := map[string]int{}
	killed := 0
	var final finalState
	for round := 0; round < kills; round++ {
		if round >= minKills && time.Since(began) > testBudget {
			t.Logf("stopping after %d kills: the time budget is spent", killed)
			break
		}
		srv.start(t)
		checkServed(t, c, l)
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { workload(c, l, seed, round, stop); close(done) }()
		time.Sleep(time.Duration(50+r.IntN(551)) * time.Millisecond)
		srv.kill()
		killed++
		close(stop)
		<-done

		// Odd rounds check a copy, so that the server's next start meets the crashed
		// files itself (a direct open would have repaired them first).
		checkDir := catalogDir
		if round%2 == 1 {
			checkDir = snapshot(t, catalogDir, filepath.Join(tmp, fmt.Sprintf("snapshot-%d", round)))
		}
		st, fs := checkCatalog(t, round, checkDir, emb, l, r)
		if checkDir != catalogDir {
			_ = os.RemoveAll(checkDir)
		}
		final = fs
		if st.LoadedFromFile {
			totals.loaded++
		} else {
			totals.rebuiltAtOpen++
			reason, _, _ := strings.Cut(st.RebuildReason, ":")
			reasons[reason]++
		}
		totals.background += st.BackgroundRebuilds
		totals.reembedded += st.Reembedded
		totals.persistErrors += st.PersistErrors
		if t.Failed() {
			break
		}
	}
	if !t.Failed() {
		srv.start(t) // the last kill's aftermath must start too
		checkServed(t, c, l)
		srv.kill()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	t.Logf("%d kills in %v; acknowledged: %d creations, %d deletions, %d purchases",
		killed, time.Since(began).Round(time.Second), l.acks.creates, l.acks.deletes, l.acks.purchases)
	t.Logf("at the end: %d products, %d vectors, %d purchases in the catalog", final.products, final.vectors, final.purchases)
	t.Logf("direct opens: index loaded from file %d times, rebuilt %d times (%v); background rebuilds %d, re-embedded images %d, persist errors %d",
		totals.loaded, totals.rebuiltAtOpen, reasons, totals.background, totals.reembedded, totals.persistErrors)
}

// checkServed checks, on the freshly restarted server, that every listed product has its
// photos served and that the list is consistent with the acknowledged operations.
func checkServed(t *testing.T, c *client, l *ledger) {
	t.Helper()
	code, b, err := c.do(http.MethodGet, "/api/products", "", nil, false)
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /api/products after restart: %d %v", code, err)
	}
	var products []struct {
		ID     int64  `json:"id"`
		Name   string `json:"name"`
		Images int    `json:"images"`
	}
	if err := json.Unmarshal(b, &products); err != nil {
		t.Fatal(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.live = l.live[:0]
	for _, p := range products {
		l.names[p.ID] = p.Name
		l.live = append(l.live, p.ID)
		if p.Images < 1 {
			t.Errorf("product %d %q is listed with %d images", p.ID, p.Name, p.Images)
		}
		for n := 1; n <= p.Images; n++ {
			code, img, err := c.do(http.MethodGet, fmt.Sprintf("/api/products/%d/images/%d", p.ID, n), "", nil, false)
			if err != nil || code != http.StatusOK || len(img) == 0 {
				t.Errorf("GET /api/products/%d/images/%d after restart: %d %v", p.ID, n, code, err)
			}
		}
	}
}

// snapshot copies the catalog directory's files (the server is stopped: they are at rest).
func snapshot(t *testing.T, from, to string) string {
	t.Helper()
	if err := os.Mkdir(to, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return to
}

type finalState struct{ products, vectors, purchases int }

// checkCatalog opens the catalog directly while the server is stopped and checks the
// invariants; it closes it before returning (the directory lock allows one opener).
func checkCatalog(t *testing.T, round int, dir string, emb *recognition.Embedder, l *ledger, r *rand.Rand) (data.Stats, finalState) {
	t.Helper()
	cat, err := data.Open(dir, emb.Hybrid, data.Options{Match: data.MatchNearest})
	if err != nil {
		t.Fatalf("round %d: the catalog does not open after SIGKILL: %v", round, err)
	}
	defer func() {
		if err := cat.Close(); err != nil {
			t.Errorf("round %d: close: %v", round, err)
		}
	}()
	st := cat.Stats()

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "catalog.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(q string, args ...any) int {
		var n int
		if err := db.QueryRow(q, args...).Scan(&n); err != nil {
			t.Fatalf("round %d: %s: %v", round, q, err)
		}
		return n
	}
	fp := cat.Fingerprint()
	nProducts := count("SELECT count(*) FROM products")
	nVectors := count("SELECT count(*) FROM embeddings WHERE model = ?", fp)
	fs := finalState{products: nProducts, vectors: nVectors, purchases: count("SELECT count(*) FROM purchases")}
	if st.Products != nProducts || st.Vectors != nVectors {
		t.Errorf("round %d: index has %d products and %d vectors, SQLite %d and %d (stats %+v)", round, st.Products, st.Vectors, nProducts, nVectors, st)
	}
	if st.Tombstones != 0 && st.IndexKind == data.IndexFlat {
		t.Errorf("round %d: a flat index with %d tombstones", round, st.Tombstones)
	}
	if n := count("SELECT count(*) FROM products p WHERE NOT EXISTS (SELECT 1 FROM product_images i WHERE i.product_id = p.id)"); n > 0 {
		t.Errorf("round %d: %d products without images", round, n)
	}
	if n := count("SELECT count(*) FROM product_images i WHERE NOT EXISTS (SELECT 1 FROM embeddings e WHERE e.image_id = i.id AND e.model = ?)", fp); n > 0 {
		t.Errorf("round %d: %d images without vectors", round, n)
	}

	products, err := cat.Products()
	if err != nil {
		t.Fatal(err)
	}
	present := map[int64]string{}
	for _, p := range products {
		present[p.ID] = p.Name
		if p.Images < 1 {
			t.Errorf("round %d: product %d %q has %d images", round, p.ID, p.Name, p.Images)
		}
		if _, _, err := cat.Image(p.ID, 1); err != nil {
			t.Errorf("round %d: product %d image 1: %v", round, p.ID, err)
		}
		var blob []byte
		err := db.QueryRow(`SELECT e.vector FROM embeddings e JOIN product_images i ON i.id = e.image_id
			WHERE i.product_id = ? AND e.model = ? ORDER BY e.id LIMIT 1`, p.ID, fp).Scan(&blob)
		if err != nil {
			t.Errorf("round %d: product %d %q has no stored vector: %v", round, p.ID, p.Name, err)
			continue
		}
		vec := make([]float32, len(blob)/4)
		for i := range vec {
			vec[i] = math.Float32frombits(binary.LittleEndian.Uint32(blob[4*i:]))
		}
		checkTop1(t, round, cat, p, vec, "its stored vector")
	}
	// End to end for a sample: re-embed a stored photo and find its product.
	for range min(2, len(products)) {
		p := products[r.IntN(len(products))]
		raw, _, err := cat.Image(p.ID, 1+r.IntN(p.Images))
		if err != nil {
			t.Errorf("round %d: product %d image: %v", round, p.ID, err)
			continue
		}
		img, _, err := image.Decode(bytes.NewReader(raw))
		if err != nil {
			t.Errorf("round %d: product %d image: %v", round, p.ID, err)
			continue
		}
		views, err := emb.Hybrid.EmbedCatalog(img)
		if err != nil || len(views) == 0 {
			t.Fatalf("round %d: embed: %v", round, err)
		}
		checkTop1(t, round, cat, p, views[0], "a re-embedding of its photo")
	}

	l.mu.Lock()
	defer l.mu.Unlock()
	for id, name := range present {
		if !l.attempted[name] {
			t.Errorf("round %d: product %d %q was never registered", round, id, name)
		}
		l.names[id] = name
	}
	for id, name := range l.created {
		if l.tried[id] {
			continue // an unacknowledged DELETE may have committed before the kill
		}
		if got, ok := present[id]; !ok || got != name {
			t.Errorf("round %d: acknowledged product %d %q is gone (present as %q: %v)", round, id, name, got, ok)
		}
	}
	for id := range l.deleted {
		if _, ok := present[id]; ok {
			t.Errorf("round %d: product %d %q was deleted (204) and is back", round, id, present[id])
		}
	}
	for sid, want := range l.purchases {
		p, err := cat.PurchaseBySession(sid)
		if err != nil || p == nil {
			t.Errorf("round %d: acknowledged purchase of session %s is gone: %v", round, sid, err)
			continue
		}
		got := map[string]int{}
		for _, it := range p.Items {
			got[it.Product] += it.Quantity
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("round %d: purchase of session %s has %v, acknowledged %v", round, sid, got, want)
		}
	}
	return st, fs
}

func checkTop1(t *testing.T, round int, cat *data.Catalog, p data.Product, vec []float32, what string) {
	t.Helper()
	hits, err := cat.Search(vec, 1)
	switch {
	case err != nil:
		t.Errorf("round %d: search for product %d: %v", round, p.ID, err)
	case len(hits) == 0 || hits[0].ProductID != p.ID:
		t.Errorf("round %d: %s does not find product %d %q first: %+v", round, what, p.ID, p.Name, hits)
	case hits[0].Score < 0.99:
		t.Errorf("round %d: %s finds product %d with score %.3f, want ≈1", round, what, p.ID, hits[0].Score)
	}
}
