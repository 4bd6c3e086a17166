package web

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/checkout/access"
	"github.com/ebrcs/ebrcs/data"
)

// shopStaffToken is the staff (not admin) token of these tests.
const shopStaffToken = "shop-staff-token-0123456789abcdef"

// withStore rebuilds the env's handler with a staff token and the given store settings.
func (e *checkoutEnv) withStore(st StoreSettings) {
	e.h = (&Server{Pipelines: noPipelines{}, Checkout: e.mgr, Catalog: e.catalog,
		Guard: &access.Guard{AdminToken: staffToken, StaffToken: shopStaffToken}, Store: st}).Handler()
}

func bearerHeader(token string) http.Header { return http.Header{"Authorization": {"Bearer " + token}} }

// A sign-in form checks a token at once: GET /api/whoami names the role, or says exactly
// what is wrong with what was sent.
func TestWhoAmISaysExactlyWhatIsWrong(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	e.withStore(StoreSettings{})
	for _, c := range []struct {
		name   string
		header http.Header
		code   int
		role   string
		says   string
	}{
		{"nothing", nil, http.StatusUnauthorized, "", "no token was sent"},
		{"a wrong token", bearerHeader("not-the-token"), http.StatusUnauthorized, "", "neither the admin token nor the staff token (13 characters were sent"},
		{"the admin token less a character", bearerHeader(staffToken[1:]), http.StatusUnauthorized, "", "neither the admin token nor the staff token"},
		{"the admin token", bearerHeader(staffToken), http.StatusOK, "admin", ""},
		{"the admin token as X-Admin-Token", http.Header{"X-Admin-Token": {staffToken}}, http.StatusOK, "admin", ""},
		{"the staff token", bearerHeader(shopStaffToken), http.StatusOK, "staff", ""},
	} {
		code, body := e.doWith("GET", "/api/whoami", "", c.header)
		if code != c.code {
			t.Errorf("%s: %d %v, want %d", c.name, code, body, c.code)
			continue
		}
		if c.role != "" && body["role"] != c.role {
			t.Errorf("%s: role %v, want %s", c.name, body["role"], c.role)
		}
		if c.says != "" && (body["field"] != "token" || !strings.Contains(body["error"].(string), c.says)) {
			t.Errorf("%s: %v, want field token and an error saying %q", c.name, body, c.says)
		}
	}
	_, admin := e.doWith("GET", "/api/whoami", "", bearerHeader(staffToken))
	_, staff := e.doWith("GET", "/api/whoami", "", bearerHeader(shopStaffToken))
	if !strings.Contains(strings.Join(toStrings(admin["may"]), ","), "catalog") || strings.Contains(strings.Join(toStrings(staff["may"]), ","), "catalog") {
		t.Errorf("may: admin %v, staff %v; only the admin may change the catalog", admin["may"], staff["may"])
	}
}

func toStrings(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// Two roles: staff run the checkout (reviews, stations, counting areas, sessions), the admin
// also the catalog and the pipelines; staff's token opens no admin route.
func TestStaffAndAdminRoles(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	e.withStore(StoreSettings{})
	id := e.create()
	for _, path := range []string{"/api/reviews", "/api/stations", "/api/sessions/" + id} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+shopStaffToken)
		e.h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Errorf("GET %s with staff's token: %d %s", path, rec.Code, rec.Body)
		}
	}
	if code, body := e.doWith("PUT", "/api/sessions/"+id+"/roi", `{"points": [[0.1,0.1],[0.9,0.1],[0.5,0.9]]}`, bearerHeader(shopStaffToken)); code != http.StatusOK {
		t.Errorf("PUT roi with staff's token: %d %v", code, body)
	}
	for _, r := range []struct{ method, path string }{{"DELETE", "/api/products/1"}, {"GET", "/api/products/1/views"}} {
		code, body := e.doWith(r.method, r.path, "", bearerHeader(shopStaffToken))
		if code != http.StatusForbidden || body["field"] != "token" || !strings.Contains(body["error"].(string), "admin token required: this is the staff token") {
			t.Errorf("%s %s with staff's token: %d %v, want 403 saying it is the staff token", r.method, r.path, code, body)
		}
	}
	if _, err := e.catalog.Product(1); err != nil {
		t.Fatalf("staff's refused DELETE removed the product: %v", err)
	}
}

// The counting area decides what is counted: a shopper's key opens the session, not its area.
func TestCountingAreaIsStaffs(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	e.withStore(StoreSettings{})
	id := e.create()
	before := roiOfSession(t, e, id)
	for _, r := range []struct{ method, path, body string }{
		{"PUT", "/api/sessions/" + id + "/roi", `{"points": [[0,0],[0.1,0],[0.1,0.1]]}`},
		{"DELETE", "/api/sessions/" + id + "/roi", ""},
	} {
		code, body := e.do(r.method, r.path, r.body) // with the session's key
		if code != http.StatusForbidden || body["field"] != "roi" || !strings.Contains(body["error"].(string), "staff") {
			t.Errorf("%s %s with the shopper's key: %d %v, want 403 naming roi", r.method, r.path, code, body)
		}
	}
	if got := roiOfSession(t, e, id); got != before {
		t.Fatalf("refused edits changed the area: %s → %s", before, got)
	}
	n := e.mgr.Sessions()
	if code, body := e.do("POST", "/api/sessions", `{"roi": {"points": [[0,0],[0.1,0],[0.1,0.1]]}}`); code != http.StatusForbidden || body["field"] != "roi" {
		t.Errorf("a new session with its own area, without staff: %d %v, want 403", code, body)
	}
	if e.mgr.Sessions() != n {
		t.Fatal("a refused creation made a session")
	}
	if code, body := e.staff("POST", "/api/sessions", `{"roi": {"points": [[0,0],[0.1,0],[0.1,0.1]]}}`); code != http.StatusCreated {
		t.Errorf("a new session with its own area, by staff: %d %v", code, body)
	}
}

func roiOfSession(t *testing.T, e *checkoutEnv, id string) string {
	t.Helper()
	_, s := e.do("GET", "/api/sessions/"+id, "")
	return roiOf(s)
}

// GET /api/store tells the pages the currency and locale, and whether prices are required.
// With require_prices a cart holding an unpriced product is not confirmed: 422 naming it,
// the cart stays open; with prices for all it is.
func TestStoreSettingsAndUnpricedConfirm(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	price := int64(249)
	tea, err := e.catalog.AddProduct(data.NewProduct{Name: "Tea", PriceCents: &price, Images: [][]byte{pngOf(t, 3)}})
	if err != nil {
		t.Fatal(err)
	}
	e.withStore(StoreSettings{})
	if code, body := e.doWith("GET", "/api/store", "", nil); code != http.StatusOK || body["currency"] != DefaultCurrency || body["locale"] != DefaultLocale || body["require_prices"] != false {
		t.Fatalf("GET /api/store with no settings: %d %v", code, body)
	}
	e.withStore(StoreSettings{Currency: "EUR", Locale: "de-DE", RequirePrices: true})
	if code, body := e.doWith("GET", "/api/store", "", nil); code != http.StatusOK || body["currency"] != "EUR" || body["locale"] != "de-DE" || body["require_prices"] != true {
		t.Fatalf("GET /api/store: %d %v", code, body)
	}

	id := e.create()
	if code, body := e.do("PUT", "/api/sessions/"+id+"/cart", `{"items": [{"product": "Tea", "quantity": 2}, {"product": "Milk", "quantity": 1}, {"product": "Bread", "quantity": 1}]}`); code != http.StatusOK {
		t.Fatalf("cart: %d %v", code, body)
	}
	code, body := e.do("POST", "/api/sessions/"+id+"/cart/confirm", "")
	if code != http.StatusUnprocessableEntity || body["field"] != "items" || !strings.Contains(body["error"].(string), "no price for Bread, Milk") {
		t.Fatalf("confirm with unpriced Milk and Bread: %d %v, want 422 naming them", code, body)
	}
	if _, c := e.do("GET", "/api/sessions/"+id+"/cart", ""); c["confirmed"] != false {
		t.Fatalf("the refused cart is confirmed: %v", c)
	}
	if code, body := e.do("PUT", "/api/sessions/"+id+"/cart", `{"items": [{"product_id": `+strconv.FormatInt(tea.ID, 10)+`, "product": "Tea", "quantity": 2}]}`); code != http.StatusOK {
		t.Fatalf("cart: %d %v", code, body)
	}
	if code, body := e.do("POST", "/api/sessions/"+id+"/cart/confirm", ""); code != http.StatusOK || body["confirmed"] != true {
		t.Fatalf("confirm with every price known: %d %v", code, body)
	}

	// Without require_prices the same unpriced cart is confirmed.
	e.withStore(StoreSettings{Currency: "EUR", Locale: "de-DE"})
	other := e.create()
	e.do("PUT", "/api/sessions/"+other+"/cart", `{"items": [{"product": "Milk", "quantity": 1}]}`)
	if code, body := e.do("POST", "/api/sessions/"+other+"/cart/confirm", ""); code != http.StatusOK {
		t.Fatalf("confirm an unpriced cart where prices are not required: %d %v", code, body)
	}
}
