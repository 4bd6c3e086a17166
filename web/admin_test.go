package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/checkout/access"
	"github.com/ebrcs/ebrcs/data"
	"github.com/ebrcs/ebrcs/pipelines"
	"github.com/ebrcs/ebrcs/recognition"
	"github.com/ebrcs/ebrcs/testkit/gsttest"
	"github.com/ebrcs/ebrcs/testkit/scenario"
)

const testAdminToken = "0123456789abcdef0123456789abcdef"

// camYAML is a small live pipeline; its label is what the tests edit.
func camYAML(label string) string {
	return fmt.Sprintf(`name: cam
source: {type: test, width: 32, height: 24}
elements:
  - element: videoconvert
  - element: ebrcs_passthrough
    properties:
      label: %s
sink: {type: fake}
`, label)
}

// adminEnv is a server with a real catalog (default embedder, SQLite, FAISS) and a real
// pipeline manager running cam.yaml.
type adminEnv struct {
	t       *testing.T
	srv     *Server
	h       http.Handler
	catalog *data.Catalog
	emb     *recognition.Embedder
	mgr     *pipelines.Manager
	camFile string
}

func newAdminEnv(t *testing.T) *adminEnv {
	t.Helper()
	gsttest.Init(t)
	dir := t.TempDir()
	emb, err := recognition.OpenEmbedder("", "../models")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := recognition.OpenCatalog(filepath.Join(dir, "catalog"), emb, data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(recognition.CloseAll)
	pdir := filepath.Join(dir, "pipelines")
	os.Mkdir(pdir, 0o755)
	camFile := filepath.Join(pdir, "cam.yaml")
	if err := os.WriteFile(camFile, []byte(camYAML("one")), 0o644); err != nil {
		t.Fatal(err)
	}
	mgr := pipelines.NewManager(pdir, pipelines.ManagerOptions{MaxRestarts: -1})
	t.Cleanup(mgr.Close)
	if err := mgr.Sync(); err != nil {
		t.Fatal(err)
	}
	srv := &Server{Pipelines: mgr, Catalog: cat, PipelineAdmin: mgr, Guard: &access.Guard{AdminToken: testAdminToken}}
	e := &adminEnv{t: t, srv: srv, h: srv.Handler(), catalog: cat, emb: emb, mgr: mgr, camFile: camFile}
	e.waitRunning()
	return e
}

// waitRunning waits for cam to run and returns its supervisor.
func (e *adminEnv) waitRunning() *pipelines.Supervisor {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if sup := e.mgr.Supervisor("cam"); sup != nil && sup.Status().State == pipelines.StateRunning {
			return sup
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("cam is not running: %+v", e.mgr.Statuses())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// request is one HTTP request to the server.
type request struct {
	method, path string
	header       map[string]string
	body         []byte
	contentType  string
}

func (e *adminEnv) send(r request) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest(r.method, r.path, bytes.NewReader(r.body))
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return rec
}

func bearer(token string) map[string]string {
	return map[string]string{"Authorization": "Bearer " + token}
}

var adminHeader = bearer(testAdminToken)

// jsonOf decodes a JSON object answer.
func jsonOf(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%d, body is not a JSON object: %q", rec.Code, rec.Body.String())
	}
	return out
}

// part is one multipart form part: a text field, or a file when filename is set.
type part struct {
	field, filename string
	data            []byte
}

func text(field, value string) part { return part{field: field, data: []byte(value)} }

func images(imgs ...[]byte) []part {
	out := make([]part, len(imgs))
	for i, b := range imgs {
		out[i] = part{field: "images", filename: fmt.Sprintf("photo%d.png", i+1), data: b}
	}
	return out
}

// form encodes parts as multipart/form-data.
func form(t *testing.T, parts ...part) (body []byte, contentType string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, p := range parts {
		var pw io.Writer
		var err error
		if p.filename != "" {
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, p.field, p.filename))
			h.Set("Content-Type", "application/octet-stream")
			pw, err = w.CreatePart(h)
		} else {
			pw, err = w.CreateFormField(p.field)
		}
		if err != nil {
			t.Fatal(err)
		}
		pw.Write(p.data)
	}
	w.Close()
	return b.Bytes(), w.FormDataContentType()
}

// postProduct sends POST /api/products with the admin token.
func (e *adminEnv) postProduct(parts ...part) *httptest.ResponseRecorder {
	e.t.Helper()
	body, ct := form(e.t, parts...)
	return e.send(request{method: "POST", path: "/api/products", header: adminHeader, body: body, contentType: ct})
}

// catalogState is every product and its images, to prove that a refused request changed
// nothing.
func (e *adminEnv) catalogState() string {
	e.t.Helper()
	ps, err := e.catalog.Products()
	if err != nil {
		e.t.Fatal(err)
	}
	var b strings.Builder
	for _, p := range ps {
		fmt.Fprintf(&b, "%+v;", p)
	}
	fmt.Fprintf(&b, "vectors=%d", e.catalog.Stats().Vectors)
	return b.String()
}

func pngBytes(t *testing.T, img image.Image) []byte {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// Every admin route refuses a request without the right token (401, WWW-Authenticate) and
// changes nothing; the public routes need none; either header carries the token.
func TestAdminTokenRequired(t *testing.T) {
	e := newAdminEnv(t)
	milk, err := e.catalog.AddProduct(data.NewProduct{Name: "Milk", Images: [][]byte{pngOf(t, 0)}})
	if err != nil {
		t.Fatal(err)
	}
	before := e.catalogState()
	sup := e.mgr.Supervisor("cam")
	productForm, ct := form(t, append([]part{text("name", "Tea")}, images(pngOf(t, 1))...)...)
	routes := []request{
		{method: "POST", path: "/api/products", body: productForm, contentType: ct},
		{method: "DELETE", path: fmt.Sprintf("/api/products/%d", milk.ID)},
		{method: "PUT", path: "/api/pipelines/cam", body: []byte(camYAML("two")), contentType: "application/yaml"},
	}
	wrong := []map[string]string{
		nil,
		bearer("not-the-token"),
		bearer(testAdminToken[:len(testAdminToken)-1]),
		bearer(testAdminToken + "x"),
		bearer(""),
		{"Authorization": "Basic " + testAdminToken},
		{"Authorization": testAdminToken},
		{"X-Admin-Token": "not-the-token"},
		{"X-Admin-Token": ""},
	}
	for _, r := range routes {
		for _, h := range wrong {
			r.header = h
			rec := e.send(r)
			if rec.Code != http.StatusUnauthorized || !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") ||
				!strings.HasPrefix(fmt.Sprint(jsonOf(t, rec)["error"]), "admin token required: ") || jsonOf(t, rec)["field"] != "token" {
				t.Errorf("%s %s with %v: %d %q %s", r.method, r.path, h, rec.Code, rec.Header().Get("WWW-Authenticate"), rec.Body.String())
			}
		}
	}
	if got := e.catalogState(); got != before {
		t.Fatalf("refused requests changed the catalog:\n%s\n%s", before, got)
	}
	if _, raw, _ := e.mgr.Definition("cam"); string(raw) != camYAML("one") {
		t.Fatalf("a refused PUT changed the pipeline:\n%s", raw)
	}
	if e.mgr.Supervisor("cam") != sup {
		t.Fatal("a refused PUT restarted the pipeline")
	}

	// The reads are public.
	for _, path := range []string{"/api/products", fmt.Sprintf("/api/products/%d", milk.ID),
		fmt.Sprintf("/api/products/%d/images/1", milk.ID), "/api/pipelines/cam", "/api/pipelines"} {
		if rec := e.send(request{method: "GET", path: path}); rec.Code != http.StatusOK {
			t.Errorf("GET %s without a token: %d %s", path, rec.Code, rec.Body.String())
		}
	}

	// The right token, in either header (and any case of "Bearer"), is let through.
	r := routes[0]
	r.header = map[string]string{"X-Admin-Token": testAdminToken}
	if rec := e.send(r); rec.Code != http.StatusCreated {
		t.Fatalf("POST with X-Admin-Token: %d %s", rec.Code, rec.Body.String())
	}
	r = routes[1]
	r.header = map[string]string{"Authorization": "bearer " + testAdminToken}
	if rec := e.send(r); rec.Code != http.StatusNoContent {
		t.Fatalf("DELETE with a lower-case bearer: %d %s", rec.Code, rec.Body.String())
	}

	// A server without a token refuses every admin request, even one with an empty token.
	h := (&Server{Pipelines: e.mgr, Catalog: e.catalog, PipelineAdmin: e.mgr}).Handler()
	for _, hdr := range []map[string]string{nil, {"Authorization": "Bearer "}, {"X-Admin-Token": " "}} {
		req := httptest.NewRequest("DELETE", "/api/products/1", nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("no token configured, %v: %d", hdr, rec.Code)
		}
	}
}

// A product's life through the API: created with one and with three photos, listed, read,
// its photos served back byte for byte, deleted.
func TestProductLifecycle(t *testing.T) {
	e := newAdminEnv(t)
	if rec := e.send(request{method: "GET", path: "/api/products"}); rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != "[]" {
		t.Fatalf("empty catalog: %d %s", rec.Code, rec.Body.String())
	}

	one := pngOf(t, 0)
	rec := e.postProduct(append([]part{text("name", "Milk"), text("sku", "MLK-1"), text("price", "2.49")}, images(one)...)...)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create Milk: %d %s", rec.Code, rec.Body.String())
	}
	var milk struct {
		ID         int64  `json:"id"`
		Name       string `json:"name"`
		SKU        string `json:"sku"`
		PriceCents *int64 `json:"price_cents"`
		Images     int    `json:"images"`
		CreatedAt  string `json:"created_at"`
	}
	json.Unmarshal(rec.Body.Bytes(), &milk)
	if milk.ID < 1 || milk.Name != "Milk" || milk.SKU != "MLK-1" || milk.PriceCents == nil || *milk.PriceCents != 249 || milk.Images != 1 {
		t.Fatalf("created: %s", rec.Body.String())
	}
	if created, err := time.Parse(time.RFC3339, milk.CreatedAt); err != nil || time.Since(created) > time.Minute {
		t.Fatalf("created_at %q: %v", milk.CreatedAt, err)
	}
	if loc := rec.Header().Get("Location"); loc != fmt.Sprintf("/api/products/%d", milk.ID) {
		t.Fatalf("Location %q", loc)
	}

	three := [][]byte{pngOf(t, 1), pngOf(t, 2), pngOf(t, 3)}
	rec = e.postProduct(append([]part{text("name", "Bread"), text("price", "")}, images(three...)...)...)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create Bread: %d %s", rec.Code, rec.Body.String())
	}
	bread := jsonOf(t, rec)
	if bread["images"] != 3.0 || bread["price_cents"] != nil || bread["sku"] != "" {
		t.Fatalf("created: %s", rec.Body.String())
	}
	breadID := int64(bread["id"].(float64))
	if !strings.Contains(rec.Body.String(), `"price_cents":null`) {
		t.Fatalf("price_cents must be null when there is none: %s", rec.Body.String())
	}

	rec = e.send(request{method: "GET", path: "/api/products"})
	var list []map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list) != 2 || list[0]["name"] != "Milk" || list[1]["name"] != "Bread" {
		t.Fatalf("list: %d %s", rec.Code, rec.Body.String())
	}
	for _, key := range []string{"id", "name", "sku", "price_cents", "images", "created_at"} {
		if _, ok := list[0][key]; !ok {
			t.Errorf("list entries lack %q: %v", key, list[0])
		}
	}
	if len(list[0]) != 6 {
		t.Errorf("list entries have other keys: %v", list[0])
	}

	rec = e.send(request{method: "GET", path: fmt.Sprintf("/api/products/%d", breadID)})
	if got := jsonOf(t, rec); rec.Code != 200 || got["name"] != "Bread" || got["images"] != 3.0 {
		t.Fatalf("get Bread: %d %s", rec.Code, rec.Body.String())
	}

	for i, want := range three {
		path := fmt.Sprintf("/api/products/%d/images/%d", breadID, i+1)
		rec := e.send(request{method: "GET", path: path})
		if rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), want) {
			t.Fatalf("%s: %d, %d bytes, want the %d uploaded", path, rec.Code, rec.Body.Len(), len(want))
		}
		if ct := rec.Header().Get("Content-Type"); ct != "image/png" {
			t.Errorf("%s: Content-Type %q", path, ct)
		}
		if cc := rec.Header().Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("%s: Cache-Control %q", path, cc)
		}
		etag := rec.Header().Get("ETag")
		if etag == "" {
			t.Fatalf("%s: no ETag", path)
		}
		again := e.send(request{method: "GET", path: path, header: map[string]string{"If-None-Match": etag}})
		if again.Code != http.StatusNotModified {
			t.Errorf("%s with If-None-Match: %d", path, again.Code)
		}
	}
	if rec := e.send(request{method: "GET", path: fmt.Sprintf("/api/products/%d/images/4", breadID)}); rec.Code != 404 {
		t.Fatalf("image 4 of 3: %d %s", rec.Code, rec.Body.String())
	}

	del := request{method: "DELETE", path: fmt.Sprintf("/api/products/%d", breadID), header: adminHeader}
	if rec := e.send(del); rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body.String())
	}
	for _, r := range []request{
		{method: "GET", path: fmt.Sprintf("/api/products/%d", breadID)},
		{method: "GET", path: fmt.Sprintf("/api/products/%d/images/1", breadID)},
		del,
	} {
		if rec := e.send(r); rec.Code != 404 || jsonOf(t, rec)["error"] == "" {
			t.Errorf("%s %s after delete: %d %s", r.method, r.path, rec.Code, rec.Body.String())
		}
	}
	rec = e.send(request{method: "GET", path: "/api/products"})
	if err := json.Unmarshal(rec.Body.Bytes(), &list); err != nil || len(list) != 1 || list[0]["name"] != "Milk" {
		t.Fatalf("list after delete: %s", rec.Body.String())
	}
}

// Every bad request is refused with its status and the field at fault, and stores nothing.
func TestProductBadInput(t *testing.T) {
	e := newAdminEnv(t)
	if _, err := e.catalog.AddProduct(data.NewProduct{Name: "Milk", Images: [][]byte{pngOf(t, 0)}}); err != nil {
		t.Fatal(err)
	}
	img := pngOf(t, 1)
	named := func(name string, parts ...part) []part { return append([]part{text("name", name)}, parts...) }
	huge := make([]byte, MaxProductImageBytes+1)
	copy(huge, img)
	cases := []struct {
		what   string
		parts  []part
		status int
		field  string
	}{
		{"no name", images(img), 400, "name"},
		{"blank name", named("   ", images(img)...), 400, "name"},
		{"name twice", append(named("Tea", images(img)...), text("name", "Tea 2")), 400, "name"},
		{"name too long", named(strings.Repeat("x", data.MaxNameLength+1), images(img)...), 400, "name"},
		{"control character in the name", named("Te\x07a", images(img)...), 400, "name"},
		{"no images", named("Tea"), 400, "images"},
		{"four images", named("Tea", images(img, pngOf(t, 2), pngOf(t, 3), pngOf(t, 4))...), 400, "images"},
		{"not an image", named("Tea", images(img, []byte("GIF89a, or so it says"))...), 422, "images[1]"},
		{"empty image", named("Tea", images([]byte{})...), 422, "images[0]"},
		{"image too large", named("Tea", images(huge)...), 413, "images"},
		{"duplicate name", named(" MILK ", images(img)...), 409, "name"},
		{"bad SKU", named("Tea", append(images(img), text("sku", "A\x00B"))...), 400, "sku"},
		{"SKU too long", named("Tea", append(images(img), text("sku", strings.Repeat("9", 200)))...), 400, "sku"},
		{"negative price", named("Tea", append(images(img), text("price", "-1.00"))...), 400, "price"},
		{"three decimals", named("Tea", append(images(img), text("price", "2.499"))...), 400, "price"},
		{"garbage price", named("Tea", append(images(img), text("price", "cheap"))...), 400, "price"},
		{"exponent price", named("Tea", append(images(img), text("price", "1e3"))...), 400, "price"},
		{"comma price", named("Tea", append(images(img), text("price", "2,49"))...), 400, "price"},
		{"huge price", named("Tea", append(images(img), text("price", "99999999999999999999"))...), 400, "price"},
		{"unknown field", named("Tea", append(images(img), text("colour", "red"))...), 400, "colour"},
		{"a text field too long", named("Tea", append(images(img), text("sku", strings.Repeat("9", maxFormFieldBytes+1)))...), 400, "sku"},
	}
	before := e.catalogState()
	for _, c := range cases {
		rec := e.postProduct(c.parts...)
		body := jsonOf(t, rec)
		if rec.Code != c.status || body["field"] != c.field || body["error"] == "" {
			t.Errorf("%s: %d %v, want %d naming %q", c.what, rec.Code, body, c.status, c.field)
		}
		if got := e.catalogState(); got != before {
			t.Fatalf("%s changed the catalog:\n%s\n%s", c.what, before, got)
		}
	}

	// Not a form at all, and a request over the whole limit (a form's preamble is read and
	// skipped, so it is what counts against the limit here).
	if rec := e.send(request{method: "POST", path: "/api/products", header: adminHeader, body: []byte(`{"name": "Tea"}`), contentType: "application/json"}); rec.Code != 400 {
		t.Errorf("JSON body: %d %s", rec.Code, rec.Body.String())
	}
	body, ct := form(t, named("Tea", images(img)...)...)
	oversized := append(bytes.Repeat([]byte(strings.Repeat("x", 1022)+"\r\n"), MaxProductRequestBytes/1024+1), body...)
	rec := e.send(request{method: "POST", path: "/api/products", header: adminHeader, body: oversized, contentType: ct})
	if got := jsonOf(t, rec); rec.Code != http.StatusRequestEntityTooLarge || got["field"] != "images" {
		t.Errorf("oversized request: %d %v", rec.Code, got)
	}
	if got := e.catalogState(); got != before {
		t.Fatalf("refused requests changed the catalog:\n%s\n%s", before, got)
	}

	// Bad ids and image numbers.
	for _, r := range []struct {
		method, path, field string
		status              int
	}{
		{"GET", "/api/products/abc", "id", 400},
		{"GET", "/api/products/0", "id", 400},
		{"GET", "/api/products/-1", "id", 400},
		{"GET", "/api/products/+1", "id", 400},
		{"GET", "/api/products/99999999999999999999", "id", 400},
		{"DELETE", "/api/products/1.5", "id", 400},
		{"GET", "/api/products/1/images/0", "n", 400},
		{"GET", "/api/products/1/images/x", "n", 400},
		{"GET", "/api/products/abc/images/1", "id", 400},
		{"GET", "/api/products/999", "", 404},
		{"DELETE", "/api/products/999", "", 404},
		{"GET", "/api/products/999/images/1", "", 404},
	} {
		rec := e.send(request{method: r.method, path: r.path, header: adminHeader})
		got := jsonOf(t, rec)
		if rec.Code != r.status || (r.field != "" && got["field"] != r.field) {
			t.Errorf("%s %s: %d %v, want %d naming %q", r.method, r.path, rec.Code, got, r.status, r.field)
		}
	}
	if got := e.catalogState(); got != before {
		t.Fatalf("refused requests changed the catalog:\n%s\n%s", before, got)
	}
}

func TestParsePrice(t *testing.T) {
	good := map[string]int64{"2.49": 249, "2.5": 250, "3": 300, "0": 0, "0.05": 5, " 12.00 ": 1200, "007.10": 710,
		"999999999999.99": 99999999999999}
	for in, want := range good {
		if got, err := ParsePrice(in); err != nil || got != want {
			t.Errorf("ParsePrice(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "-0.01", "+1", "1.", ".5", "1.234", "1e2", "1,5", "1 000", "NaN", "0x10", "1.2.3", "١", "1000000000000"} {
		if got, err := ParsePrice(in); err == nil {
			t.Errorf("ParsePrice(%q) = %d, want an error", in, got)
		}
	}
}

// A product registered through the API is the catalog's best match for its own photo at
// once, as every pipeline sharing the catalog searches it; once deleted it is not.
func TestProductRecognisableAtOnce(t *testing.T) {
	e := newAdminEnv(t)
	products := scenario.SyntheticProducts(6, 5)
	for _, p := range products[:5] {
		if _, err := e.catalog.AddProduct(data.NewProduct{Name: p.Name, Images: [][]byte{pngBytes(t, p.Image)}}); err != nil {
			t.Fatal(err)
		}
	}
	last := products[5]
	rec := e.postProduct(append([]part{text("name", last.Name)}, images(pngBytes(t, last.Image))...)...)
	if rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body.String())
	}
	id := int64(jsonOf(t, rec)["id"].(float64))
	vecs, err := e.emb.EmbedQueries([]image.Image{last.Image})
	if err != nil {
		t.Fatal(err)
	}
	hits, err := e.catalog.Search(vecs[0], 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) == 0 || hits[0].ProductID != id || hits[0].Name != last.Name || hits[0].Score < e.emb.Threshold {
		t.Fatalf("the new product %q (%d) is not the best match for its photo: %+v (threshold %.2f)", last.Name, id, hits, e.emb.Threshold)
	}
	if rec := e.send(request{method: "DELETE", path: fmt.Sprintf("/api/products/%d", id), header: adminHeader}); rec.Code != 204 {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body.String())
	}
	hits, _ = e.catalog.Search(vecs[0], 3)
	for _, h := range hits {
		if h.ProductID == id {
			t.Fatalf("a deleted product is still found: %+v", hits)
		}
	}
}

// Pipeline definitions: read as YAML, replaced in place when valid (and swapped in), refused
// with file:line:column when not, the running version untouched.
func TestPipelineDefinitionAPI(t *testing.T) {
	e := newAdminEnv(t)
	rec := e.send(request{method: "GET", path: "/api/pipelines/cam"})
	if rec.Code != 200 || rec.Body.String() != camYAML("one") || rec.Header().Get("Content-Type") != "application/yaml; charset=utf-8" {
		t.Fatalf("GET cam: %d %q %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body.String())
	}
	if rec := e.send(request{method: "GET", path: "/api/pipelines/nope"}); rec.Code != 404 {
		t.Fatalf("GET nope: %d %s", rec.Code, rec.Body.String())
	}

	old := e.mgr.Supervisor("cam")
	put := func(name, yaml string) *httptest.ResponseRecorder {
		return e.send(request{method: "PUT", path: "/api/pipelines/" + name, header: adminHeader, body: []byte(yaml), contentType: "text/plain"})
	}
	rec = put("cam", camYAML("two"))
	if got := jsonOf(t, rec); rec.Code != 200 || got["status"] != "replaced" {
		t.Fatalf("PUT a valid change: %d %s", rec.Code, rec.Body.String())
	}
	if _, raw, _ := e.mgr.Definition("cam"); string(raw) != camYAML("two") {
		t.Fatalf("Definition after PUT:\n%s", raw)
	}
	if raw, _ := os.ReadFile(e.camFile); string(raw) != camYAML("two") {
		t.Fatalf("file after PUT:\n%s", raw)
	}
	if rec := e.send(request{method: "GET", path: "/api/pipelines/cam"}); rec.Body.String() != camYAML("two") {
		t.Fatalf("GET after PUT: %s", rec.Body.String())
	}
	sup := e.waitRunning()
	if sup == old {
		t.Fatal("the pipeline was not swapped")
	}
	if label := sup.Spec().Elements[1].Properties[0].Value; label != "two" {
		t.Fatalf("the running pipeline has label %q", label)
	}

	lineCol := regexp.MustCompile(`cam\.yaml:\d+:\d+: `)
	for _, bad := range []struct{ what, yaml, want string }{
		{"unknown element", strings.Replace(camYAML("three"), "videoconvert", "videoconvrt", 1), "videoconvrt"},
		{"unknown property", strings.Replace(camYAML("three"), "label:", "labl:", 1), "labl"},
		{"bad property value", strings.Replace(camYAML("three"), "width: 32", "width: wide", 1), "width"},
		{"another name", strings.Replace(camYAML("three"), "name: cam", "name: other", 1), "other"},
		{"not YAML", "source: [\n", ""},
	} {
		rec := put("cam", bad.yaml)
		got := jsonOf(t, rec)
		msg, _ := got["error"].(string)
		if rec.Code != http.StatusUnprocessableEntity || got["field"] != "yaml" || !strings.Contains(msg, bad.want) {
			t.Errorf("%s: %d %v", bad.what, rec.Code, got)
		}
		if bad.what != "another name" && !lineCol.MatchString(msg) {
			t.Errorf("%s: the error has no file:line:column: %q", bad.what, msg)
		}
		if raw, _ := os.ReadFile(e.camFile); string(raw) != camYAML("two") {
			t.Fatalf("%s: a refused PUT changed the file:\n%s", bad.what, raw)
		}
		if now := e.mgr.Supervisor("cam"); now != sup || now.Status().State != pipelines.StateRunning {
			t.Fatalf("%s: a refused PUT disturbed the running pipeline", bad.what)
		}
	}

	if rec := put("nope", camYAML("x")); rec.Code != 404 {
		t.Fatalf("PUT nope: %d %s", rec.Code, rec.Body.String())
	}
	if rec := put("cam", ""); rec.Code != 400 || jsonOf(t, rec)["field"] != "yaml" {
		t.Fatalf("PUT an empty body: %d %s", rec.Code, rec.Body.String())
	}
	big := camYAML("two") + "#" + strings.Repeat("x", MaxPipelineBytes) + "\n"
	if rec := put("cam", big); rec.Code != http.StatusRequestEntityTooLarge || jsonOf(t, rec)["field"] != "yaml" {
		t.Fatalf("PUT over 1 MiB: %d %s", rec.Code, rec.Body.String())
	}
	if raw, _ := os.ReadFile(e.camFile); string(raw) != camYAML("two") {
		t.Fatalf("refused PUTs changed the file:\n%s", raw)
	}
	entries, _ := os.ReadDir(filepath.Dir(e.camFile))
	if len(entries) != 1 {
		t.Fatalf("temporary files left in the pipeline directory: %v", entries)
	}
}

// Without a catalog or a pipeline admin, their routes do not exist.
func TestAdminRoutesOptional(t *testing.T) {
	h := (&Server{Pipelines: noPipelines{}, Guard: &access.Guard{AdminToken: testAdminToken}}).Handler()
	for _, path := range []string{"/api/products", "/api/pipelines/cam"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 404 {
			t.Errorf("GET %s: %d", path, rec.Code)
		}
	}
}
