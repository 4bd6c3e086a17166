package web

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ebrcs/ebrcs/cart"
	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/checkout/access"
	"github.com/ebrcs/ebrcs/data"
)

// cropJPEG is a visit's crop as ebrcs_counter keeps it: a small JPEG.
func cropJPEG(t *testing.T, seed int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 120, 160))
	for y := 0; y < 160; y++ {
		for x := 0; x < 120; x++ {
			img.Set(x, y, color.RGBA{uint8(x*2 + seed*60), uint8(y + seed*30), uint8((x + y) * (seed + 2)), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// ask holds a visit of the session as a pending review, as ebrcs_counter does when it is
// not sure: Milk or Bread.
func (e *checkoutEnv) ask(id string, seed int) cart.Review {
	e.t.Helper()
	sess := mustGet(e.t, e.mgr, id)
	milk, _ := e.catalog.ProductByName("Milk")
	bread, _ := e.catalog.ProductByName("Bread")
	r, err := sess.Cart.Ask(cart.Sighting{StreamTime: 1.5, Crop: cropJPEG(e.t, seed), Candidates: []cart.Candidate{
		{ProductID: milk.ID, Product: milk.Name, Score: 0.33}, {ProductID: bread.ID, Product: bread.Name, Score: 0.3}}})
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

func (e *checkoutEnv) learned(product string) []data.LearnedView {
	e.t.Helper()
	p, err := e.catalog.ProductByName(product)
	if err != nil {
		e.t.Fatal(err)
	}
	views, err := e.catalog.LearnedViews(p.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return views
}

// A review is answered once, by its shopper (or staff): the product joins the cart, the crop
// becomes a learned view of it; a second answer is refused, and so is a wrong one.
func TestReviewAnswerCountsAndTeaches(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	id, other := e.create(), e.create()
	r := e.ask(id, 1)
	path := "/api/sessions/" + id + "/reviews/" + r.ID
	milk, _ := e.catalog.ProductByName("Milk")
	sess := mustGet(t, e.mgr, id)
	sub := sess.Events.Subscribe(-1, 100)
	defer sub.Close()

	// The session view shows it pending, outside the items; confirming waits for it.
	_, v := e.do("GET", "/api/sessions/"+id, "")
	pending := v["cart"].(map[string]any)["pending"].([]any)
	if len(pending) != 1 || pending[0].(map[string]any)["id"] != r.ID || len(v["cart"].(map[string]any)["items"].([]any)) != 0 {
		t.Fatalf("session view %v", v["cart"])
	}
	sess.Cart.Count(milk.ID, "Milk", 0.9)
	if code, body := e.do("POST", "/api/sessions/"+id+"/cart/confirm", ""); code != http.StatusConflict || !strings.Contains(fmt.Sprint(body["error"]), "wait for an answer") {
		t.Fatalf("confirm with a review pending: %d %v", code, body)
	}

	// Only its shopper and staff may answer.
	body := fmt.Sprintf(`{"product_id": %d}`, milk.ID)
	for _, w := range []struct {
		header http.Header
		want   int
	}{{nil, http.StatusUnauthorized}, {http.Header{access.KeyHeader: {e.keys[other]}}, http.StatusForbidden}} {
		if code, b := e.doWith("POST", path, body, w.header); code != w.want {
			t.Errorf("answer with %v: %d %v, want %d", w.header, code, b, w.want)
		}
	}
	bad := []struct {
		body, field string
		code        int
	}{
		{`{}`, "product_id", 400},
		{`{"product_id": 0}`, "product_id", 400},
		{`{"product_id": 1.5}`, "product_id", 400},
		{`{"product_id": "1"}`, "product_id", 400},
		{`{"none": false}`, "none", 400},
		{fmt.Sprintf(`{"product_id": %d, "none": true}`, milk.ID), "none", 400},
		{`{"product": "Milk"}`, "product", 400},
		{`{"product_id": 99999}`, "product_id", 422},
	}
	for _, b := range bad {
		if code, got := e.do("POST", path, b.body); code != b.code || got["field"] != b.field {
			t.Errorf("%s: %d %v, want %d naming %q", b.body, code, got, b.code, b.field)
		}
	}
	if code, got := e.do("POST", "/api/sessions/"+id+"/reviews/r999", body); code != http.StatusNotFound {
		t.Errorf("unknown review: %d %v", code, got)
	}
	if n := len(e.learned("Milk")); n != 0 {
		t.Fatalf("refused answers taught the catalog %d views", n)
	}

	code, res := e.do("POST", path, body)
	if code != http.StatusOK || res["product"] != "Milk" || res["quantity"].(float64) != 2 || res["learned"] != true {
		t.Fatalf("answer: %d %v", code, res)
	}
	if c := res["cart"].(map[string]any); len(c["pending"].([]any)) != 0 {
		t.Fatalf("still pending after the answer: %v", c)
	}
	views := e.learned("Milk")
	if len(views) != 1 || views[0].Origin != data.OriginReview {
		t.Fatalf("learned views of Milk: %+v", views)
	}
	var cartEvent bool
	for len(sub.C) > 0 {
		ev := <-sub.C
		cartEvent = cartEvent || ev.Type == cart.EventCart && ev.Cart.Totals()["Milk"] == 2
	}
	if !cartEvent {
		t.Fatal("no cart event with the answered product")
	}
	if code, got := e.do("POST", path, `{"none": true}`); code != http.StatusConflict {
		t.Fatalf("answered twice: %d %v", code, got)
	}
	if _, c := e.do("GET", "/api/sessions/"+id+"/cart", ""); c["items"].([]any)[0].(map[string]any)["quantity"].(float64) != 2 {
		t.Fatalf("a refused second answer changed the cart: %v", c)
	}
	if code, body := e.do("POST", "/api/sessions/"+id+"/cart/confirm", ""); code != http.StatusOK {
		t.Fatalf("confirm once answered: %d %v", code, body)
	}
}

// "None of these" counts nothing and goes to the catalog's "none" memory; staff answer from
// the queue, which lists every session's pending reviews and only to staff.
func TestReviewQueueAndNoneOfThese(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	a, b := e.create(), e.create()
	ra := e.ask(a, 2)
	rb := e.ask(b, 3)
	if code, _ := e.doWith("GET", "/api/reviews", "", nil); code != http.StatusUnauthorized {
		t.Fatalf("queue without credentials: %d", code)
	}
	if code, _ := e.doWith("GET", "/api/reviews", "", http.Header{access.KeyHeader: {e.keys[a]}}); code != http.StatusUnauthorized {
		t.Fatalf("queue with a session key: %d", code)
	}
	staff := http.Header{"Authorization": {"Bearer " + staffToken}}
	queue := e.queue(staff)
	if len(queue) != 2 || queue[0]["session"] != a || queue[0]["id"] != ra.ID || queue[1]["session"] != b {
		t.Fatalf("queue %v", queue)
	}
	cands := queue[0]["candidates"].([]any)
	if len(cands) != 2 || cands[0].(map[string]any)["image"] == "" || queue[0]["crop"] == "" {
		t.Fatalf("queued review %v", queue[0])
	}
	code, res := e.doWith("POST", "/api/sessions/"+b+"/reviews/"+rb.ID, `{"none": true}`, staff)
	if code != http.StatusOK || res["none"] != true || res["learned"] != true {
		t.Fatalf("staff answer none: %d %v", code, res)
	}
	if items := res["cart"].(map[string]any)["items"].([]any); len(items) != 0 {
		t.Fatalf("none of these added %v", items)
	}
	nones, err := e.catalog.NoneViews()
	if err != nil || len(nones) != 1 || nones[0].Origin != data.OriginReview {
		t.Fatalf("none memory %+v %v", nones, err)
	}
	if q := e.queue(staff); len(q) != 1 || q[0]["id"] != ra.ID {
		t.Fatalf("queue after an answer: %v", q)
	}
}

func (e *checkoutEnv) queue(h http.Header) []map[string]any {
	e.t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/api/reviews", nil)
	req.Header = h
	e.h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		e.t.Fatalf("GET /api/reviews: %d %s", rec.Code, rec.Body)
	}
	var out []map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		e.t.Fatal(err)
	}
	return out
}

// A visit's crop is served to its session only.
func TestCropsBelongToTheirSession(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	id, other := e.create(), e.create()
	r := e.ask(id, 1)
	if !strings.HasPrefix(r.Crop, "/api/sessions/"+id+"/crops/") {
		t.Fatalf("crop URL %q", r.Crop)
	}
	get := func(h http.Header) (int, string, []byte) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", r.Crop, nil)
		req.Header = h
		e.h.ServeHTTP(rec, req)
		body, _ := io.ReadAll(rec.Body)
		return rec.Code, rec.Header().Get("Content-Type"), body
	}
	if code, ct, body := get(http.Header{access.KeyHeader: {e.keys[id]}}); code != 200 || ct != "image/jpeg" || !bytes.Equal(body, cropJPEG(t, 1)) {
		t.Fatalf("own crop: %d %s %d bytes", code, ct, len(body))
	}
	if code, _, _ := get(http.Header{access.KeyHeader: {e.keys[other]}}); code != http.StatusForbidden {
		t.Fatalf("another session's crop: %d", code)
	}
	if code, _, _ := get(nil); code != http.StatusUnauthorized {
		t.Fatalf("crop without credentials: %d", code)
	}
	if code, _ := e.do("GET", "/api/sessions/"+id+"/crops/c999", ""); code != http.StatusNotFound {
		t.Fatalf("a crop not kept: %d", code)
	}
}

// A cart edit that replaces a camera count with another product teaches the catalog that
// product with the count's crop; an edit by hand teaches nothing.
func TestCartCorrectionTeaches(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	id := e.create()
	sess := mustGet(t, e.mgr, id)
	milk, _ := e.catalog.ProductByName("Milk")
	sess.Cart.Count(milk.ID, "Milk", 0.9) // what ebrcs_counter does on a count
	sess.Cart.CountSeen(milk.ID, "Milk", cropJPEG(t, 4))
	code, c := e.do("PUT", "/api/sessions/"+id+"/cart", `{"items": [{"product": "Bread", "quantity": 1}]}`)
	if code != http.StatusOK || len(c["items"].([]any)) != 1 {
		t.Fatalf("edit: %d %v", code, c)
	}
	views := e.learned("Bread")
	if len(views) != 1 || views[0].Origin != data.OriginCorrection {
		t.Fatalf("learned views of Bread after the correction: %+v", views)
	}
	// Back to Milk by hand: Bread's unit was the camera's count, so Milk learns it too.
	e.do("PUT", "/api/sessions/"+id+"/cart", `{"items": [{"product": "Milk", "quantity": 1}]}`)
	e.do("PUT", "/api/sessions/"+id+"/cart", `{"items": [{"product": "Milk", "quantity": 2}]}`)
	if n, m := len(e.learned("Bread")), len(e.learned("Milk")); n != 1 || m != 1 {
		t.Fatalf("learned views: Bread %d, Milk %d; want 1 and 1", n, m)
	}
}

// The learned views of a product, for staff: listed with their origin, served, removed.
func TestLearnedViewsAdmin(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	milk, _ := e.catalog.ProductByName("Milk")
	bread, _ := e.catalog.ProductByName("Bread")
	v, err := e.catalog.AddLearnedView(milk.ID, cropJPEG(t, 5), data.OriginReview)
	if err != nil {
		t.Fatal(err)
	}
	staff := http.Header{"Authorization": {"Bearer " + staffToken}}
	base := fmt.Sprintf("/api/products/%d/views", milk.ID)
	for _, p := range []string{base, fmt.Sprintf("%s/%d/image", base, v.ID)} {
		if code, _ := e.raw("GET", p, nil); code != http.StatusUnauthorized {
			t.Errorf("GET %s without the token: %d", p, code)
		}
	}
	if code, _ := e.raw("DELETE", fmt.Sprintf("%s/%d", base, v.ID), nil); code != http.StatusUnauthorized {
		t.Errorf("DELETE without the token: %d", code)
	}
	code, body := e.raw("GET", base, staff)
	if code != 200 || !strings.Contains(string(body), `"origin":"review"`) || !strings.Contains(string(body), fmt.Sprintf(`"image":"%s/%d/image"`, base, v.ID)) {
		t.Fatalf("list: %d %s", code, body)
	}
	if code, body := e.raw("GET", fmt.Sprintf("%s/%d/image", base, v.ID), staff); code != 200 || !bytes.Equal(body, cropJPEG(t, 5)) {
		t.Fatalf("image: %d, %d bytes", code, len(body))
	}
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"GET", fmt.Sprintf("/api/products/%d/views/%d/image", bread.ID, v.ID), 404}, // another product's view
		{"DELETE", fmt.Sprintf("/api/products/%d/views/%d", bread.ID, v.ID), 404},
		{"GET", "/api/products/99999/views", 404},
		{"GET", base + "/x/image", 400},
		{"GET", base + "/0/image", 400},
	} {
		if code, body := e.raw(c.method, c.path, staff); code != c.want {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, code, body, c.want)
		}
	}
	if code, _ := e.raw("DELETE", fmt.Sprintf("%s/%d", base, v.ID), staff); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	if code, _ := e.raw("DELETE", fmt.Sprintf("%s/%d", base, v.ID), staff); code != http.StatusNotFound {
		t.Fatalf("delete twice: %d", code)
	}
	if n := len(e.learned("Milk")); n != 0 {
		t.Fatalf("%d views left", n)
	}
}

// raw sends a request with the given headers only and returns the status and body.
func (e *checkoutEnv) raw(method, path string, h http.Header) (int, []byte) {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, path, nil)
	if h != nil {
		req.Header = h
	}
	e.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}
