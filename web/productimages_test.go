package web

import (
	"bytes"
	"fmt"
	"image"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ebrcs/ebrcs/data"
	"github.com/ebrcs/ebrcs/testkit/scenario"
)

// POST /api/products/{id}/images and DELETE /api/products/{id}/images/{n}: the admin adds a
// photo of another object to a product and the catalog finds the product by it at once;
// removes the product's own photo and it no longer matches; the admin token is required,
// and bad input (no photo, other fields, an unreadable image, too many photos, the last
// photo, unknown products and photos) is refused naming the field, with nothing changed.
func TestProductImagesAPI(t *testing.T) {
	e := newAdminEnv(t)
	products := scenario.SyntheticProducts(6, 5)
	ids := map[string]int64{}
	for _, p := range products[:5] {
		got, err := e.catalog.AddProduct(data.NewProduct{Name: p.Name, Images: [][]byte{pngBytes(t, p.Image)}})
		if err != nil {
			t.Fatal(err)
		}
		ids[p.Name] = got.ID
	}
	target, photo := products[0], products[5]
	id := ids[target.Name]
	path := fmt.Sprintf("/api/products/%d/images", id)
	post := func(path string, header map[string]string, parts ...part) *httptest.ResponseRecorder {
		body, ct := form(t, parts...)
		return e.send(request{method: "POST", path: path, header: header, body: body, contentType: ct})
	}
	del := func(path string, header map[string]string) *httptest.ResponseRecorder {
		return e.send(request{method: "DELETE", path: path, header: header})
	}
	embed := func(img image.Image) []float32 {
		v, err := e.emb.EmbedQueries([]image.Image{img})
		if err != nil {
			t.Fatal(err)
		}
		return v[0]
	}
	score := func(q []float32) (best data.Hit, own float32) {
		hits, err := e.catalog.Search(q, 10)
		if err != nil || len(hits) == 0 {
			t.Fatalf("Search: %+v, %v", hits, err)
		}
		for _, h := range hits {
			if h.ProductID == id {
				own = h.Score
			}
		}
		return hits[0], own
	}
	newPNG := pngBytes(t, photo.Image)

	// Without the token: refused, nothing changed.
	state := e.catalogState()
	if rec := post(path, nil, images(newPNG)...); rec.Code != http.StatusUnauthorized {
		t.Fatalf("POST without the token: %d %s", rec.Code, rec.Body.String())
	}
	if rec := del(path+"/1", nil); rec.Code != http.StatusUnauthorized {
		t.Fatalf("DELETE without the token: %d %s", rec.Code, rec.Body.String())
	}

	// Bad input, each naming its field.
	heic := append([]byte("\x00\x00\x00\x18ftypheic"), make([]byte, 64)...)
	for _, tc := range []struct {
		what, path string
		parts      []part
		code       int
		field, in  string
	}{
		{"no photo", path, nil, 400, "images", "required"},
		{"a name", path, append(images(newPNG), text("name", "Other")), 400, "name", "PATCH"},
		{"an unreadable photo", path, append(images(newPNG), part{field: "images", filename: "scan.heic", data: heic}), 422, "images[1]", "scan.heic"},
		{"three more photos", path, images(newPNG, newPNG, newPNG), 409, "images", "at most 3"},
		{"an unknown product", "/api/products/999/images", images(newPNG), 404, "", "no such product"},
		{"a bad id", "/api/products/x/images", images(newPNG), 400, "id", "positive integer"},
	} {
		rec := post(tc.path, adminHeader, tc.parts...)
		got := jsonOf(t, rec)
		if rec.Code != tc.code || got["field"] != tc.field && tc.field != "" || !strings.Contains(fmt.Sprint(got["error"]), tc.in) {
			t.Errorf("%s: %d %v, want %d naming %q with %q", tc.what, rec.Code, got, tc.code, tc.field, tc.in)
		}
	}
	if now := e.catalogState(); now != state {
		t.Fatalf("refused requests changed the catalog:\n%s\nwas\n%s", now, state)
	}

	// Added: the product is found by the new photo at once, and serves it as photo 2.
	rec := post(path, adminHeader, images(newPNG)...)
	got := jsonOf(t, rec)
	if rec.Code != http.StatusOK || got["id"] != float64(id) || got["name"] != target.Name || got["images"] != 2.0 {
		t.Fatalf("POST a photo: %d %v", rec.Code, got)
	}
	if best, _ := score(embed(photo.Image)); best.ProductID != id || best.Score < e.emb.Threshold {
		t.Fatalf("the added photo does not find %s (%d): %+v (threshold %.2f)", target.Name, id, best, e.emb.Threshold)
	}
	if rec := e.send(request{method: "GET", path: path + "/2"}); rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), newPNG) {
		t.Fatalf("GET photo 2: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	_, before := score(embed(target.Image))

	// Removed: its own photo no longer matches it; the added one is photo 1 now.
	rec = del(path+"/1", adminHeader)
	if got := jsonOf(t, rec); rec.Code != http.StatusOK || got["images"] != 1.0 || got["name"] != target.Name {
		t.Fatalf("DELETE photo 1: %d %v", rec.Code, got)
	}
	_, after := score(embed(target.Image))
	t.Logf("%s's own photo scores %.3f with it before its removal, %.3f after", target.Name, before, after)
	if after > before-0.05 {
		t.Fatalf("the removed photo still matches %s: %.3f, %.3f before", target.Name, after, before)
	}
	if rec := e.send(request{method: "GET", path: path + "/1"}); rec.Code != 200 || !bytes.Equal(rec.Body.Bytes(), newPNG) {
		t.Fatalf("GET photo 1 after the removal: %d, %d bytes", rec.Code, rec.Body.Len())
	}
	if rec := e.send(request{method: "GET", path: path + "/2"}); rec.Code != http.StatusNotFound {
		t.Fatalf("GET photo 2 after the removal: %d", rec.Code)
	}

	state = e.catalogState()
	for _, tc := range []struct {
		what, path string
		code       int
		field, in  string
	}{
		{"the last photo", path + "/1", 409, "n", "at least one photo"},
		{"photo 2 of 1", path + "/2", 404, "", "no photo 2"},
		{"photo 0", path + "/0", 400, "n", "photo number"},
		{"an unknown product's", "/api/products/999/images/1", 404, "", "product 999"},
	} {
		rec := del(tc.path, adminHeader)
		got := jsonOf(t, rec)
		if rec.Code != tc.code || got["field"] != tc.field && tc.field != "" || !strings.Contains(fmt.Sprint(got["error"]), tc.in) {
			t.Errorf("DELETE %s: %d %v, want %d naming %q with %q", tc.what, rec.Code, got, tc.code, tc.field, tc.in)
		}
	}
	if now := e.catalogState(); now != state {
		t.Fatalf("refused removals changed the catalog:\n%s\nwas\n%s", now, state)
	}
}
