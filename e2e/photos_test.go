package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ebrcs/ebrcs/testkit/scenario"
)

// The admin adds a photo to an existing product from its edit form, then removes the
// product's first photo: the form shows the photos as they are after each change, without
// losing what was typed in it; the running server's index gains and loses their vectors as
// each call returns (what every pipeline recognises with); the last photo cannot be removed;
// the photo that was second is served as photo 1; the form passes axe-core.
func TestBackOfficeProductPhotos(t *testing.T) {
	skipIfShort(t)
	checkNoLeftovers(t)
	products := scenario.SyntheticProducts(3, 1)
	a, side := products[0], products[1]
	srv := startServerWith(t, nil, "")
	id := srv.registerProduct(t, a, "1.49")
	srv.registerProduct(t, products[2], "")
	photo := filepath.Join(t.TempDir(), "side view.png")
	writePNG(t, photo, side)
	sideBytes, err := os.ReadFile(photo)
	if err != nil {
		t.Fatal(err)
	}

	b := startBrowser(t, filepath.Join(t.TempDir(), "none.y4m"), "admin")
	admin := b.first
	diagnose(t, srv, b, admin)
	admin.setViewport(t, desktop)
	admin.open(t, srv.url+"/admin", `window.ebrcsAdmin && document.querySelector('[data-testid="token-input"]')`)
	setToken(t, admin, adminToken)
	admin.waitJS(t, 10*time.Second, `window.ebrcsAdmin.role === 'admin' && document.querySelectorAll('[data-testid="product-item"]').length === 2`, "signed in, with the products")
	vectors := catalogVectors(t, srv)

	if err := admin.do(10*time.Second, chromedp.Click(fmt.Sprintf(`[data-testid="product-item"] [aria-label=%q]`, "Edit "+a.Name))); err != nil {
		t.Fatalf("opening the edit form: %v", err)
	}
	const loaded = `Array.from(document.querySelectorAll('[data-testid="edit-photo"] img')).every((img) => img.complete && img.naturalWidth > 0)`
	admin.waitJS(t, 10*time.Second, `document.querySelectorAll('[data-testid="edit-photo"]').length === 1 && document.querySelector('[data-testid="edit-photo-remove"]').disabled && `+loaded,
		"the form with its one photo, which cannot be removed")
	// Typed, not saved: a photo change must not lose it.
	if _, err := evalJS[bool](admin, `(() => { document.querySelector('[data-testid="product-edit-form"] [data-testid="edit-price"]').value = '2.99'; return true; })()`); err != nil {
		t.Fatal(err)
	}

	// Added: shown at once, and indexed when the call returns.
	if err := admin.do(10*time.Second, chromedp.SetUploadFiles(testid("edit-photo-add"), []string{photo})); err != nil {
		t.Fatalf("choosing the photo: %v", err)
	}
	admin.waitJS(t, 20*time.Second, `document.querySelectorAll('[data-testid="edit-photo"]').length === 2 && !document.querySelector('[data-testid="edit-photos-ok"]').hidden && `+loaded,
		"the added photo in the form")
	withSide := catalogVectors(t, srv)
	if withSide <= vectors {
		t.Fatalf("the index holds %d vectors after the photo was added, %d before", withSide, vectors)
	}
	var p struct{ Images int }
	srv.getJSON(t, fmt.Sprintf("/api/products/%d", id), &p)
	if p.Images != 2 {
		t.Fatalf("GET /api/products/%d: %d photos, want 2", id, p.Images)
	}
	if price, _ := evalJS[string](admin, `document.querySelector('[data-testid="product-edit-form"] [data-testid="edit-price"]').value`); price != "2.99" {
		t.Errorf("adding a photo lost the price typed in the form: %q", price)
	}
	shot(t, admin, "backoffice-edit-photos-desktop")
	checkAxe(t, admin, "the product edit form with its photos")
	admin.setViewport(t, phone)
	checkNoSideScroll(t, admin, "the product edit form with its photos on a phone")
	shot(t, admin, "backoffice-edit-photos-phone")
	admin.setViewport(t, desktop)

	// Removed: photo 1, the product's own; the side view becomes photo 1, the last one.
	if err := admin.do(10*time.Second, chromedp.Click(fmt.Sprintf(`[data-testid="edit-photo-remove"][aria-label=%q]`, "Remove photo 1 of "+a.Name))); err != nil {
		t.Fatalf("removing photo 1: %v", err)
	}
	admin.waitJS(t, 20*time.Second, `document.querySelectorAll('[data-testid="edit-photo"]').length === 1 && document.querySelector('[data-testid="edit-photos-ok"]').textContent.includes('removed') && document.querySelector('[data-testid="edit-photo-remove"]').disabled && `+loaded,
		"the form with the remaining photo")
	if n := catalogVectors(t, srv); n != vectors {
		t.Errorf("the index holds %d vectors after the removal, want %d (one photo of each view count)", n, vectors)
	}
	if code, body, err := srv.get(fmt.Sprintf("/api/products/%d/images/1", id)); err != nil || code != 200 || !bytes.Equal(body, sideBytes) {
		t.Fatalf("photo 1 after the removal: %d, %d bytes, %v; want the side view", code, len(body), err)
	}
	if thumb, _ := evalJS[string](admin, fmt.Sprintf(`document.querySelector('[data-testid="product-item"][data-id="%d"] .thumb img').src`, id)); !regexp.MustCompile(`/images/1\?v=[1-9]`).MatchString(thumb) {
		t.Errorf("the list's thumbnail was not reloaded after the photos changed: %q", thumb)
	}

	// Saved: the typed price, and the list says one photo.
	admin.click(t, "product-save")
	admin.waitJS(t, 10*time.Second, fmt.Sprintf(`!document.querySelector('[data-testid="product-edit-form"]') && Array.from(document.querySelectorAll('[data-testid="product-item"]')).some((li) => li.textContent.includes(%s) && li.textContent.includes('2.99') && li.textContent.includes('1 photo'))`, jsString(a.Name)), "the product saved, with one photo")
}

var vectorsMetric = regexp.MustCompile(`(?m)^ebrcs_catalog_vectors (\d+)$`)

// catalogVectors reads the server's ebrcs_catalog_vectors: the vectors in its live index.
func catalogVectors(t *testing.T, s *server) int {
	t.Helper()
	code, body, err := s.get("/metrics")
	if err != nil || code != 200 {
		t.Fatalf("GET /metrics: %d %v", code, err)
	}
	m := vectorsMetric.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no ebrcs_catalog_vectors in /metrics")
	}
	n, _ := strconv.Atoi(string(m[1]))
	return n
}
