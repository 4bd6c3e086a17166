package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ebrcs/ebrcs/data"
)

// POST /api/products refuses names and SKUs with invisible or text-direction characters,
// naming the field and the character, and takes a name that only looks like a registered one
// for a duplicate.
func TestProductNamesRefuseInvisibles(t *testing.T) {
	e := newAdminEnv(t)
	if _, err := e.catalog.AddProduct(data.NewProduct{Name: "Milk Bar", Images: [][]byte{pngOf(t, 0)}}); err != nil {
		t.Fatal(err)
	}
	img := pngOf(t, 1)
	cases := []struct {
		what, name, sku string
		status          int
		field, char     string
	}{
		{"right-to-left override", "Milk\u202eraB", "", http.StatusBadRequest, "name", "U+202E"},
		{"zero-width space", "Milk\u200b Bar", "", http.StatusBadRequest, "name", "U+200B"},
		{"zero-width joiner", "Tea\u200d", "", http.StatusBadRequest, "name", "U+200D"},
		{"byte order mark", "\ufeffTea", "", http.StatusBadRequest, "name", "U+FEFF"},
		{"Hangul filler", "Tea\u3164", "", http.StatusBadRequest, "name", "U+3164"},
		{"left-to-right isolate in the SKU", "Tea", "12\u206634", http.StatusBadRequest, "sku", "U+2066"},
		{"no-break space lookalike", "Milk\u00a0Bar", "", http.StatusConflict, "name", ""},
		{"double space lookalike", "Milk  Bar", "", http.StatusConflict, "name", ""},
	}
	before := e.catalogState()
	for _, c := range cases {
		parts := append([]part{text("name", c.name)}, images(img)...)
		if c.sku != "" {
			parts = append(parts, text("sku", c.sku))
		}
		rec := e.postProduct(parts...)
		body := jsonOf(t, rec)
		if rec.Code != c.status || body["field"] != c.field || !strings.Contains(body["error"].(string), c.char) {
			t.Errorf("%s: %d %v, want %d naming %q and %s", c.what, rec.Code, body, c.status, c.field, c.char)
		}
	}
	if after := e.catalogState(); after != before {
		t.Errorf("refused registrations changed the catalog: %s → %s", before, after)
	}
}
