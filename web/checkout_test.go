package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/ebrcs/ebrcs/cart"
	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/checkout/access"
	"github.com/ebrcs/ebrcs/data"
	"github.com/ebrcs/ebrcs/pipelines"
	"github.com/ebrcs/ebrcs/recognition"
	"github.com/ebrcs/ebrcs/testkit/gsttest"
	"github.com/ebrcs/ebrcs/testkit/scenario"
	"github.com/ebrcs/ebrcs/testkit/testenv"
)

type noPipelines struct{}

func (noPipelines) Statuses() []pipelines.Status { return nil }

// checkoutEnv is a server with a real catalog (default embedder, SQLite, FAISS) and a real
// upload pipeline.
type checkoutEnv struct {
	t       *testing.T
	h       http.Handler
	mgr     *checkout.Manager
	catalog *data.Catalog
	dir     string
	// keys are the sessions' keys, from their creation; do sends a session's key with every
	// request to its paths (as the shopper's browser sends its cookie).
	keys map[string]string
}

// staffToken is the admin token of the checkout tests' server.
const staffToken = "staff-token-0123456789abcdef"

func newCheckoutEnv(t *testing.T, cfg checkout.Config, uploadLimit int64, products ...scenario.Product) *checkoutEnv {
	t.Helper()
	gsttest.Init(t)
	dir := t.TempDir()
	catDir := filepath.Join(dir, "catalog")
	emb, err := recognition.OpenEmbedder("", "../models")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := recognition.OpenCatalog(catDir, emb, data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(recognition.CloseAll)
	for i, name := range []string{"Milk", "Bread"} {
		if _, err := cat.AddProduct(data.NewProduct{Name: name, Images: [][]byte{pngOf(t, i)}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range products {
		var b bytes.Buffer
		png.Encode(&b, p.Image)
		if _, err := cat.AddProduct(data.NewProduct{Name: p.Name, Images: [][]byte{b.Bytes()}}); err != nil {
			t.Fatal(err)
		}
	}
	// The shipped checkout pipeline, with the test's catalog and the repository's models.
	raw, err := os.ReadFile("../configs/pipelines/checkout.yaml")
	if err != nil {
		t.Fatal(err)
	}
	models, _ := filepath.Abs("../models")
	yaml := testenv.PointPipeline(t, string(raw), catDir, models)
	spec, err := pipelines.Load("upload.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Pipeline, cfg.Store = spec, cat
	mgr, err := checkout.NewManager(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(mgr.Close)
	srv := &Server{Pipelines: noPipelines{}, Checkout: mgr, Catalog: cat, UploadLimit: uploadLimit, UploadDir: filepath.Join(dir, "uploads"),
		Guard: &access.Guard{AdminToken: staffToken}}
	return &checkoutEnv{t: t, h: srv.Handler(), mgr: mgr, catalog: cat, dir: dir, keys: map[string]string{}}
}

func pngOf(t *testing.T, seed int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 96, 96))
	for y := 0; y < 96; y++ {
		for x := 0; x < 96; x++ {
			img.Set(x, y, color.RGBA{uint8(x*3 + seed*120), uint8(y * 2), uint8((x ^ y) * (seed + 1)), 255})
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

// do sends a request with a JSON body (string) and decodes the JSON answer. A request to a
// session's paths carries the session's key, when the test made it; a new session's key is
// kept.
func (e *checkoutEnv) do(method, path, body string) (int, map[string]any) {
	e.t.Helper()
	return e.doWith(method, path, body, e.keyHeader(path))
}

// keyHeader is the X-Session-Key header for the session or task a path names (nil: none known).
func (e *checkoutEnv) keyHeader(path string) http.Header {
	rest, ok := strings.CutPrefix(path, "/api/sessions/")
	if !ok {
		if rest, ok = strings.CutPrefix(path, "/api/tasks/"); ok {
			id, _, _ := strings.Cut(rest, "/")
			if t, err := e.mgr.Task(id); err == nil {
				rest = t.SessionID
			}
		}
	}
	id, _, _ := strings.Cut(rest, "/")
	if key := e.keys[id]; ok && key != "" {
		return http.Header{access.KeyHeader: {key}}
	}
	return nil
}

// doWith is do with the given headers only (and Content-Type: application/json for a body).
func (e *checkoutEnv) doWith(method, path, body string, header http.Header) (int, map[string]any) {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, path, r)
	for k, v := range header {
		req.Header[k] = v
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	e.h.ServeHTTP(rec, req)
	var out map[string]any
	if rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			e.t.Fatalf("%s %s: %d, body is not JSON: %q", method, path, rec.Code, rec.Body.String())
		}
	}
	if id, ok := out["id"].(string); ok && rec.Code == http.StatusCreated {
		if key, ok := out["key"].(string); ok {
			e.keys[id] = key
		}
	}
	return rec.Code, out
}

// staff is do with staff's token as well (the counting area is staff's to set).
func (e *checkoutEnv) staff(method, path, body string) (int, map[string]any) {
	e.t.Helper()
	h := e.keyHeader(path)
	if h == nil {
		h = http.Header{}
	}
	h.Set("Authorization", "Bearer "+staffToken)
	return e.doWith(method, path, body, h)
}

func (e *checkoutEnv) create() string {
	e.t.Helper()
	code, body := e.do("POST", "/api/sessions", "")
	if code != http.StatusCreated {
		e.t.Fatalf("create session: %d %v", code, body)
	}
	return body["id"].(string)
}

// get is an HTTP GET of base+path with the key of the session (or task) it names.
func (e *checkoutEnv) get(base, path string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		return nil, err
	}
	if h := e.keyHeader(path); h != nil {
		req.Header = h
	}
	return http.DefaultClient.Do(req)
}

func roiOf(body map[string]any) string { b, _ := json.Marshal(body["roi"]); return string(b) }

func TestSessionROIValidation(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	id := e.create()
	_, s := e.do("GET", "/api/sessions/"+id, "")
	if got := roiOf(s); got != "[[0.2,0.15],[0.8,0.15],[0.8,0.95],[0.2,0.95]]" {
		t.Fatalf("a new session starts with the pipeline's ROI, got %s", got)
	}
	code, s := e.staff("PUT", "/api/sessions/"+id+"/roi", `{"points": [[0.1,0.1],[0.9,0.1],[0.5,0.9]]}`)
	if code != 200 || roiOf(s) != "[[0.1,0.1],[0.9,0.1],[0.5,0.9]]" {
		t.Fatalf("set ROI: %d %v", code, s)
	}
	bad := []struct{ body, field string }{
		{`{"points": [[0.1,0.1],[0.9,0.1]]}`, "points"},
		{`{"points": [[0.1,0.1],[1.5,0.1],[0.5,0.9]]}`, "points[1]"},
		{`{"points": [[0.1,0.1],[0.9,-0.1],[0.5,0.9]]}`, "points[1]"},
		{`{"points": [[0.1,"NaN"],[0.9,0.1],[0.5,0.9]]}`, "points[0][1]"},
		{`{"points": [[0.1,0.1,0.3],[0.9,0.1],[0.5,0.9]]}`, "points[0]"},
		{`{"points": [[0.1,0.1],[0.2,0.2],[0.3,0.3]]}`, "points"},
		{`{"points": "0.1,0.1;0.9,0.1;0.5,0.9"}`, "points"},
		{`{}`, "points"},
		{`{"points": [[0.1,0.1],[0.9,0.1],[0.5,0.9]], "shape": 1}`, "shape"},
	}
	for _, b := range bad {
		code, body := e.staff("PUT", "/api/sessions/"+id+"/roi", b.body)
		if code != 400 || body["field"] != b.field || body["error"] == "" {
			t.Errorf("%s: %d %v, want 400 naming %q", b.body, code, body, b.field)
		}
	}
	if code, body := e.staff("PUT", "/api/sessions/"+id+"/roi", `{"points": [[0.1,0.1],`); code != 400 || !strings.Contains(body["error"].(string), "JSON") {
		t.Errorf("truncated JSON: %d %v", code, body)
	}
	_, s = e.do("GET", "/api/sessions/"+id, "")
	if roiOf(s) != "[[0.1,0.1],[0.9,0.1],[0.5,0.9]]" {
		t.Fatalf("refused ROIs changed the ROI: %s", roiOf(s))
	}
	if code, s := e.staff("DELETE", "/api/sessions/"+id+"/roi", ""); code != 200 || roiOf(s) != "null" {
		t.Fatalf("clear ROI: %d %v", code, s)
	}
	if code, body := e.staff("POST", "/api/sessions", `{"roi": {"points": [[0,0],[1,0]]}}`); code != 400 || body["field"] != "roi.points" {
		t.Fatalf("create with a bad ROI: %d %v", code, body)
	}
	if n := e.mgr.Sessions(); n != 1 {
		t.Fatalf("%d sessions after a refused create, want 1", n)
	}
}

func TestUnknownSessionAndTask(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/api/sessions/nope", ""},
		{"DELETE", "/api/sessions/nope", ""},
		{"PUT", "/api/sessions/nope/roi", `{"points": [[0,0],[1,0],[1,1]]}`},
		{"DELETE", "/api/sessions/nope/roi", ""},
		{"GET", "/api/sessions/nope/cart", ""},
		{"PUT", "/api/sessions/nope/cart", `{"items": []}`},
		{"POST", "/api/sessions/nope/cart/confirm", ""},
		{"GET", "/api/sessions/nope/events", ""},
		{"POST", "/api/sessions/nope/video", ""},
		{"GET", "/api/tasks/nope", ""},
		{"GET", "/api/tasks/nope/events", ""},
	} {
		code, body := e.do(r.method, r.path, r.body)
		if code != 404 || !strings.Contains(fmt.Sprint(body["error"]), "no such") {
			t.Errorf("%s %s: %d %v, want 404", r.method, r.path, code, body)
		}
	}
}

func TestSessionLimitAndExpiry(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{MaxSessions: 2, IdleTTL: 300 * time.Millisecond}, 0)
	a := e.create()
	e.create()
	if code, body := e.do("POST", "/api/sessions", ""); code != http.StatusTooManyRequests || !strings.Contains(body["error"].(string), "limit is 2") {
		t.Fatalf("third session: %d %v", code, body)
	}
	deadline := time.Now().Add(5 * time.Second)
	for e.mgr.Sessions() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if code, _ := e.do("GET", "/api/sessions/"+a, ""); code != 404 {
		t.Fatalf("idle session still there: %d", code)
	}
	e.create() // room again
}

func TestCartEditAndConfirm(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	id := e.create()
	sess, _ := e.mgr.Get(id)
	milk, _ := e.catalog.ProductByName("Milk")
	sess.Cart.Count(milk.ID, "Milk", 0.93) // what ebrcs_counter does on a recognition
	sess.Cart.Count(milk.ID, "Milk", 0.91)

	_, c := e.do("GET", "/api/sessions/"+id+"/cart", "")
	if items := c["items"].([]any); len(items) != 1 || items[0].(map[string]any)["quantity"].(float64) != 2 {
		t.Fatalf("cart %v", c)
	}
	version := int(c["version"].(float64))
	bad := []struct {
		body, field string
		code        int
	}{
		{`{"items": [{"product": "Milk", "quantity": -1}]}`, "items[0].quantity", 400},
		{`{"items": [{"product": "Milk", "quantity": 1}, {"product": "Caviar", "quantity": 1}]}`, "items[1].product", 422},
		{`{"items": [{"product": "", "quantity": 1}]}`, "items[0].product", 400},
		{`{"items": [{"product": "Milk"}]}`, "items[0].quantity", 400},
		{`{"items": [{"product": "Milk", "quantity": 1.5}]}`, "items.quantity", 400},
		{`{"items": [{"product": "Milk", "quantity": "2"}]}`, "items.quantity", 400},
		{`{}`, "items", 400},
	}
	for _, b := range bad {
		code, body := e.do("PUT", "/api/sessions/"+id+"/cart", b.body)
		if code != b.code || body["field"] != b.field {
			t.Errorf("%s: %d %v, want %d naming %q", b.body, code, body, b.code, b.field)
		}
	}
	if code, body := e.do("PUT", "/api/sessions/"+id+"/cart", `{"items": [], "version": 999}`); code != 409 {
		t.Errorf("stale version: %d %v", code, body)
	}
	_, c = e.do("GET", "/api/sessions/"+id+"/cart", "")
	if int(c["version"].(float64)) != version || len(c["items"].([]any)) != 1 {
		t.Fatalf("refused edits changed the cart: %v", c)
	}
	// The cashier corrects: one milk, and a bread the camera missed.
	code, c := e.do("PUT", "/api/sessions/"+id+"/cart",
		fmt.Sprintf(`{"items": [{"product": "milk", "quantity": 1}, {"product": "Bread", "quantity": 2}], "version": %d}`, version))
	if code != 200 || fmt.Sprint(cart.CartView{}.Totals()) == "" {
		t.Fatalf("edit: %d %v", code, c)
	}
	if code, _ := e.do("POST", "/api/sessions/"+id+"/cart/confirm", ""); code != 200 {
		t.Fatalf("confirm: %d", code)
	}
	if code, body := e.do("POST", "/api/sessions/"+id+"/cart/confirm", ""); code != 409 {
		t.Fatalf("confirm twice: %d %v", code, body)
	}
	if code, _ := e.do("PUT", "/api/sessions/"+id+"/cart", `{"items": []}`); code != 409 {
		t.Fatalf("edit after confirm: %d", code)
	}
	if _, err := sess.Cart.Count(milk.ID, "Milk", 0.9); err == nil {
		t.Fatal("a confirmed cart accepted a count")
	}
	p, err := e.catalog.PurchaseBySession(id)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Items) != 2 || p.Items[0].Product != "Milk" || p.Items[0].Quantity != 1 || p.Items[0].Score < 0.9 ||
		p.Items[1].Product != "Bread" || p.Items[1].Quantity != 2 || p.Items[1].ProductID == 0 {
		t.Fatalf("stored purchase %+v", p.Items)
	}
	// An empty cart cannot be confirmed.
	other := e.create()
	if code, _ := e.do("POST", "/api/sessions/"+other+"/cart/confirm", ""); code != 409 {
		t.Fatalf("confirm empty: %d", code)
	}
}

// Both event transports carry the same events, in order, and end when the session does.
func TestEventsOverSSEAndWebSocket(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	ts := httptest.NewServer(e.h)
	defer ts.Close()
	id := e.create()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/sessions/"+id+"/events", nil)
	req.Header = e.keyHeader("/api/sessions/" + id)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	// The WebSocket brings the key as the browser does: in the session's cookie.
	ws, _, err := websocket.Dial(ctx, strings.Replace(ts.URL, "http", "ws", 1)+"/api/sessions/"+id+"/events",
		&websocket.DialOptions{HTTPHeader: http.Header{"Cookie": {"ebrcs_sk_" + id + "=" + e.keys[id]}}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	sse := bufio.NewReader(resp.Body)
	readSSE := func() cart.Event {
		var ev cart.Event
		for {
			line, err := sse.ReadString('\n')
			if err != nil {
				t.Fatalf("SSE: %v", err)
			}
			if strings.HasPrefix(line, "data: ") {
				json.Unmarshal([]byte(line[6:]), &ev)
				return ev
			}
		}
	}
	time.Sleep(200 * time.Millisecond) // both subscribed
	sess, _ := e.mgr.Get(id)
	sess.Events.Publish(cart.Event{Type: cart.EventCount, Product: "Milk", Quantity: 1})
	e.staff("PUT", "/api/sessions/"+id+"/roi", `{"points": [[0,0],[1,0],[1,1]]}`)
	e.do("PUT", "/api/sessions/"+id+"/cart", `{"items": [{"product": "Bread", "quantity": 1}]}`)
	want := []cart.EventType{cart.EventCount, cart.EventROISet, cart.EventCart}
	for i, typ := range want {
		ev := readSSE()
		_, msg, err := ws.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var wev cart.Event
		json.Unmarshal(msg, &wev)
		if ev.Type != typ || wev.Type != typ || ev.Seq != int64(i+1) || wev.Seq != ev.Seq {
			t.Fatalf("event %d: SSE %+v, WebSocket %+v, want %s", i, ev, wev, typ)
		}
	}
	e.do("DELETE", "/api/sessions/"+id, "")
	if ev := readSSE(); ev.Type != cart.EventClosed {
		t.Fatalf("last SSE event %+v", ev)
	}
	if _, err := sse.ReadString('\n'); err != io.EOF {
		// the blank line after the event, then EOF
		if _, err := sse.ReadString('\n'); err != io.EOF {
			t.Fatalf("SSE stream did not end: %v", err)
		}
	}
	if _, msg, _ := ws.Read(ctx); !strings.Contains(string(msg), `"closed"`) {
		t.Fatalf("last WebSocket message %s", msg)
	}
	if _, _, err := ws.Read(ctx); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("WebSocket end: %v", err)
	}
	// Resuming with Last-Event-ID replays what was missed.
	id2 := e.create()
	s2, _ := e.mgr.Get(id2)
	for i := 0; i < 3; i++ {
		s2.Events.Publish(cart.Event{Type: cart.EventUnknown})
	}
	req, _ = http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/sessions/"+id2+"/events", nil)
	req.Header = e.keyHeader("/api/sessions/" + id2)
	req.Header.Set("Last-Event-ID", "1")
	resp2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp2.Body.Close()
	sse = bufio.NewReader(resp2.Body)
	if a, b := readSSE(), readSSE(); a.Seq != 2 || b.Seq != 3 {
		t.Fatalf("resume after 1: %d, %d", a.Seq, b.Seq)
	}
}

func multipartBody(t *testing.T, field, name string, content []byte) (*bytes.Buffer, string) {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	fw, _ := w.CreateFormFile(field, name)
	fw.Write(content)
	w.Close()
	return &b, w.FormDataContentType()
}

func (e *checkoutEnv) upload(id, field, name string, content []byte) (int, map[string]any) {
	body, ct := multipartBody(e.t, field, name, content)
	req := httptest.NewRequest("POST", "/api/sessions/"+id+"/video", body)
	if h := e.keyHeader("/api/sessions/" + id); h != nil {
		req.Header = h
	}
	req.Header.Set("Content-Type", ct)
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	var out map[string]any
	json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

// testVideo encodes a short H.264 MP4 with GStreamer.
func testVideo(t *testing.T, frames int) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "v.mp4")
	if err := gsttest.RunToEOS(fmt.Sprintf("videotestsrc num-buffers=%d ! video/x-raw,width=320,height=240,framerate=30/1 ! "+
		"x264enc speed-preset=ultrafast ! mp4mux ! filesink location=%s", frames, path), 60*time.Second); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUploadRefusesBadFiles(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 1<<20)
	id := e.create()
	video := testVideo(t, 30)
	cases := []struct {
		name, field, file string
		content           []byte
		code              int
	}{
		{"not a video", "video", "notes.mp4", []byte(strings.Repeat("this is not a video\n", 100)), 422},
		{"truncated MP4", "video", "cut.mp4", video[:len(video)/2], 422},
		{"empty", "video", "empty.mp4", nil, 400},
		{"wrong field", "file", "v.mp4", video, 400},
		{"too large", "video", "big.mp4", bytes.Repeat([]byte{0}, 1100<<10), 413},
	}
	for _, c := range cases {
		code, body := e.upload(id, c.field, c.file, c.content)
		if code != c.code || body["field"] != "video" {
			t.Errorf("%s: %d %v, want %d naming \"video\"", c.name, code, body, c.code)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(e.dir, "uploads"))
	if len(entries) != 0 {
		t.Errorf("refused uploads left %d files behind", len(entries))
	}
	// Longer than the configured limit: refused before processing.
	short := newCheckoutEnv(t, checkout.Config{MaxVideoLength: 500 * time.Millisecond}, 1<<20)
	sid := short.create()
	if code, body := short.upload(sid, "video", "long.mp4", video); code != http.StatusRequestEntityTooLarge || body["field"] != "video" ||
		!strings.Contains(fmt.Sprint(body["error"]), "limit") {
		t.Errorf("too long: %d %v", code, body)
	}
	// Not multipart at all.
	if code, body := e.do("POST", "/api/sessions/"+id+"/video", "raw"); code != 400 || body["field"] != "video" {
		t.Errorf("not multipart: %d %v", code, body)
	}
	// A good upload runs to the end: a task with progress events and the (empty) cart.
	code, task := e.upload(id, "video", "ok.mp4", video)
	if code != http.StatusAccepted {
		t.Fatalf("upload: %d %v", code, task)
	}
	ts := httptest.NewServer(e.h)
	defer ts.Close()
	resp, err := e.get(ts.URL, "/api/tasks/"+task["id"].(string)+"/events")
	if err != nil {
		t.Fatal(err)
	}
	all, _ := io.ReadAll(resp.Body) // the stream ends with the task
	resp.Body.Close()
	if !strings.Contains(string(all), "event: done") {
		t.Fatalf("task events:\n%s", all)
	}
	_, view := e.do("GET", "/api/tasks/"+task["id"].(string), "")
	if view["state"] != "done" || view["frames"].(float64) != 30 || view["progress"].(float64) != 1 {
		t.Fatalf("task %v", view)
	}
	if entries, _ := os.ReadDir(filepath.Join(e.dir, "uploads")); len(entries) != 0 {
		t.Errorf("a finished upload left its file behind")
	}
}

// An uploaded checkout video goes through the session's pipeline: the task reports progress
// and ends with the session's cart equal to the video's ground truth; the confirmed purchase
// is in SQLite. A second session whose ROI excludes the products counts nothing.
func TestUploadCountsTheVideosCart(t *testing.T) {
	products := scenario.SyntheticProducts(6, 1)
	suite, err := scenario.Suite(products)
	if err != nil {
		t.Fatal(err)
	}
	e := newCheckoutEnv(t, checkout.Config{MaxRunningTasks: 1}, 0, products...)
	chosen, err := scenario.Select(suite, []string{"two-products"})
	if err != nil {
		t.Fatal(err)
	}
	sc := chosen[0]
	video, truthPath, err := scenario.Generate(t.TempDir(), sc, products, "mp4")
	if err != nil {
		t.Fatal(err)
	}
	var truth scenario.GroundTruth
	raw, _ := os.ReadFile(truthPath)
	json.Unmarshal(raw, &truth)
	content, _ := os.ReadFile(video)

	ts := httptest.NewServer(e.h)
	defer ts.Close()
	run := func(id string) (map[string]any, string) {
		code, task := e.upload(id, "video", "checkout.mp4", content)
		if code != http.StatusAccepted {
			t.Fatalf("upload: %d %v", code, task)
		}
		resp, err := e.get(ts.URL, "/api/tasks/"+task["id"].(string)+"/events")
		if err != nil {
			t.Fatal(err)
		}
		events, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		_, view := e.do("GET", "/api/tasks/"+task["id"].(string), "")
		return view, string(events)
	}

	id := e.create()
	view, events := run(id)
	if view["state"] != "done" || int(view["frames"].(float64)) != truth.Frames {
		t.Fatalf("task %v", view)
	}
	if !strings.Contains(events, "event: progress") || !strings.Contains(events, "event: done") {
		t.Fatalf("task events:\n%s", events)
	}
	sess, _ := e.mgr.Get(id)
	if got := sess.Cart.View().Totals(); fmt.Sprint(got) != fmt.Sprint(truth.Items) {
		t.Fatalf("cart %v, ground truth %v", got, truth.Items)
	}
	if code, _ := e.do("POST", "/api/sessions/"+id+"/cart/confirm", ""); code != 200 {
		t.Fatalf("confirm: %d", code)
	}
	p, err := e.catalog.PurchaseBySession(id)
	if err != nil || len(p.Items) != len(truth.Items) {
		t.Fatalf("purchase %+v %v", p, err)
	}
	// The metrics families an operator watches, after a real checkout.
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, family := range []string{`ebrcs_element_frames_total{element="ebrcs_bgsub"}`, `ebrcs_element_processing_seconds_bucket{element="ebrcs_embed"`,
		"ebrcs_embedding_seconds_count", "ebrcs_embedding_batch_size_bucket", `ebrcs_match_score_bucket{outcome="count"`,
		`ebrcs_counter_events_total{event="count"}`, "ebrcs_sessions_created_total", "ebrcs_catalog_products",
		`ebrcs_http_request_duration_seconds_bucket{code="202",method="POST",route="/api/sessions/:id/video"`, "process_resident_memory_bytes"} {
		if !strings.Contains(rec.Body.String(), family) {
			t.Errorf("/metrics lacks %s", family)
		}
	}

	// The session's ROI is the one its pipeline uses: a corner nothing enters counts nothing.
	other := e.create()
	if code, body := e.staff("PUT", "/api/sessions/"+other+"/roi", `{"points": [[0,0],[0.1,0],[0.1,0.1]]}`); code != 200 {
		t.Fatalf("roi: %d %v", code, body)
	}
	if view, _ := run(other); view["state"] != "done" {
		t.Fatalf("task %v", view)
	}
	s2, _ := e.mgr.Get(other)
	if got := s2.Cart.View().Items; len(got) != 0 {
		t.Fatalf("a ROI nothing entered counted %v", got)
	}
}

// Uploads beyond the running and queued limits are refused with 503 and Retry-After;
// deleting the session stops its running upload.
func TestUploadQueueIsBoundedAndDeleteCancels(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{MaxRunningTasks: 1, MaxQueuedTasks: -1}, 0)
	id := e.create()
	video := testVideo(t, 900)
	code, first := e.upload(id, "video", "long.mp4", video)
	if code != http.StatusAccepted {
		t.Fatalf("first upload: %d %v", code, first)
	}
	code, body := e.upload(id, "video", "second.mp4", video)
	if code != http.StatusServiceUnavailable || !strings.Contains(fmt.Sprint(body["error"]), "limit is 1") {
		t.Fatalf("second upload: %d %v", code, body)
	}
	task, _ := e.mgr.Task(first["id"].(string))
	if code, _ := e.do("DELETE", "/api/sessions/"+id, ""); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	sub := task.Events.Subscribe(0, 100)
	for range sub.C { // the task's stream ends when it has stopped
	}
	if v := task.View(); v.State != checkout.TaskCancelled && v.State != checkout.TaskDone {
		t.Fatalf("task after its session was deleted: %+v", v)
	}
	if v := task.View(); v.State == checkout.TaskCancelled && v.Frames >= 900 {
		t.Fatalf("cancelled task processed everything: %+v", v)
	}
}
