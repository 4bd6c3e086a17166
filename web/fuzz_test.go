package web

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/checkout/access"
	"github.com/ebrcs/ebrcs/roi"
)

// FuzzROIAndCartJSON sends arbitrary bodies to PUT /api/sessions/{id}/roi and
// PUT /api/sessions/{id}/cart. The answer is always 200, 400, 404, 409 or 422 (never a 500,
// never a panic, which gin would turn into a 500), and a refused edit changes nothing: the
// session's ROI and cart are what they were.
//
// The manager has no pipeline and no catalog: ROI and cart edits need neither (a product
// not already in the cart is then "not in the catalog", 422).
//
//	go test -run '^$' -fuzz '^FuzzROIAndCartJSON$' -fuzztime 60s ./web/
func FuzzROIAndCartJSON(f *testing.F) {
	mgr, err := checkout.NewManager(checkout.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(mgr.Close)
	const staff = "fuzz-staff-token-0123456789"
	h := (&Server{Pipelines: noPipelines{}, Checkout: mgr, Guard: &access.Guard{StaffToken: staff}}).Handler()

	for _, s := range []string{
		``, `{}`, `null`, `[]`, `{"points": null}`,
		`{"points": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]]}`,
		`{"points": [[0, 0], [1, 0], [0.5, 1]]}`,
		`{"points": [[0, 0], [1, 0]]}`,
		`{"points": [[0, 0], [1, 0], [2, 1]]}`,
		`{"points": [[0, 0, 0], [1, 0], [0.5, 1]]}`,
		`{"points": [[0, 0], [1, 1], [1, 0], [0, 1]]}`,
		`{"points": [["a", 0], [1, 0], [0.5, 1]]}`,
		`{"points": [[1e400, 0], [1, 0], [0.5, 1]]}`,
		`{"points": [[0, 0], [1, 0], [0.5, 1]]} {}`,
		`{"items": []}`,
		`{"items": [], "version": 2}`,
		`{"items": [{"product": "Milk", "quantity": 3}], "version": 2}`,
		`{"items": [{"product": "milk", "quantity": 0}, {"product_id": 2, "product": "x", "quantity": 1}]}`,
		`{"items": [{"product": "Tea", "quantity": 1}]}`,
		`{"items": [{"product": "Milk", "quantity": -1}]}`,
		`{"items": [{"product": "Milk", "quantity": 10001}]}`,
		`{"items": [{"product": " ", "quantity": 1}]}`,
		`{"items": [{"product": "Milk"}]}`,
		`{"items": [{"product": "Milk", "quantity": 1}], "version": -1}`,
		`{"items": [{"product": "Milk", "quantity": 1}], "version": 99}`,
		`{"items": [{"product": "Milk", "quantity": 1e3}]}`,
		`{"items": [{"product": "Milk", "quantity": 99999999999999999999}]}`,
		`{"items": null, "extra": 1}`,
		`{"items": [{"product": "Milk", "quantity": 1}]`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		// A fresh session per input: a cart with two counted products and a triangle ROI.
		sess, err := mgr.Create(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer mgr.Delete(sess.ID)
		sess.Cart.Count(1, "Milk", 0.9)
		sess.Cart.Count(2, "Bread", 0.8)
		sess.Cart.Count(1, "Milk", 0.9)
		triangle := []roi.Point{{X: 0.1, Y: 0.1}, {X: 0.9, Y: 0.1}, {X: 0.5, Y: 0.9}}
		if _, err := mgr.SetROI(sess.ID, triangle); err != nil {
			t.Fatal(err)
		}

		for _, what := range []string{"roi", "cart"} {
			roi, cart := sess.ROI(), sess.Cart.View()
			rec := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPut, "/api/sessions/"+sess.ID+"/"+what, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set(access.KeyHeader, sess.Key())
			if what == "roi" {
				req.Header.Set("Authorization", "Bearer "+staff) // the counting area is staff's
			}
			h.ServeHTTP(rec, req)
			switch rec.Code {
			case http.StatusOK:
				continue
			case http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity:
			default:
				t.Fatalf("PUT %s %q: status %d: %s", what, body, rec.Code, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), `"error"`) {
				t.Errorf("PUT %s %q: %d without an error body: %s", what, body, rec.Code, rec.Body)
			}
			if got := sess.ROI(); !reflect.DeepEqual(got, roi) {
				t.Errorf("PUT %s %q refused (%d) but the ROI changed: %v → %v", what, body, rec.Code, roi, got)
			}
			if got := sess.Cart.View(); !reflect.DeepEqual(got, cart) {
				t.Errorf("PUT %s %q refused (%d) but the cart changed: %+v → %+v", what, body, rec.Code, cart, got)
			}
		}
	})
}
