package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ebrcs/ebrcs/checkout"
)

// PATCH /api/products/{id}: the admin changes a product's name, SKU and price in place; the
// checkout prices and resolves it by its new name at once; staff and bad fields are refused.
func TestPatchProduct(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	e.withStore(StoreSettings{RequirePrices: true})
	milk, err := e.catalog.ProductByName("Milk")
	if err != nil {
		t.Fatal(err)
	}
	path := "/api/products/" + itoa64(milk.ID)
	if code, body := e.doWith("PATCH", path, `{"price": "1.99"}`, bearerHeader(shopStaffToken)); code != http.StatusForbidden {
		t.Fatalf("staff's PATCH: %d %v, want 403", code, body)
	}
	code, body := e.doWith("PATCH", path, `{"name": "Oat Milk", "sku": "OM-1", "price": "1.99"}`, bearerHeader(staffToken))
	if code != http.StatusOK || body["name"] != "Oat Milk" || body["sku"] != "OM-1" || body["price_cents"] != 199.0 {
		t.Fatalf("PATCH: %d %v", code, body)
	}
	// Only what is sent changes; null clears the price.
	if code, body := e.doWith("PATCH", path, `{"price": null}`, bearerHeader(staffToken)); code != http.StatusOK || body["name"] != "Oat Milk" || body["price_cents"] != nil {
		t.Fatalf("PATCH price null: %d %v", code, body)
	}
	for body, field := range map[string]string{`{"price": "abc"}`: "price", `{"name": "Bread"}`: "name", `{"name": ""}`: "name", `{"colour": "red"}`: "colour"} {
		if code, got := e.doWith("PATCH", path, body, bearerHeader(staffToken)); code < 400 || code >= 500 || got["field"] != field {
			t.Errorf("PATCH %s: %d %v, want 4xx naming %s", body, code, got, field)
		}
	}
	if code, _ := e.doWith("PATCH", "/api/products/999", `{"name": "Tea"}`, bearerHeader(staffToken)); code != http.StatusNotFound {
		t.Errorf("PATCH an unknown product: %d", code)
	}
	// The checkout resolves the new name, and the new price decides whether it may be confirmed.
	id := e.create()
	if code, body := e.do("PUT", "/api/sessions/"+id+"/cart", `{"items": [{"product": "oat milk", "quantity": 1}]}`); code != http.StatusOK {
		t.Fatalf("a cart with the new name: %d %v", code, body)
	}
	if code, body := e.do("POST", "/api/sessions/"+id+"/cart/confirm", ""); code != http.StatusUnprocessableEntity || !strings.Contains(body["error"].(string), "Oat Milk") {
		t.Fatalf("confirm without a price: %d %v", code, body)
	}
	e.doWith("PATCH", path, `{"price": "2.10"}`, bearerHeader(staffToken))
	if code, body := e.do("POST", "/api/sessions/"+id+"/cart/confirm", ""); code != http.StatusOK {
		t.Fatalf("confirm once priced: %d %v", code, body)
	}
}
