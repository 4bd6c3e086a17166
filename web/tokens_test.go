package web

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/checkout/access"
)

// withTokens rebuilds the env's handler with the admin token, staff's token and a store of
// named tokens in a fresh file.
func (e *checkoutEnv) withTokens(t *testing.T) *access.Tokens {
	t.Helper()
	store, err := access.OpenTokens(filepath.Join(t.TempDir(), "var", "tokens.json"))
	if err != nil {
		t.Fatal(err)
	}
	e.h = (&Server{Pipelines: noPipelines{}, Checkout: e.mgr, Catalog: e.catalog,
		Guard: &access.Guard{AdminToken: staffToken, StaffToken: shopStaffToken, Tokens: store}}).Handler()
	return store
}

// The admin makes a named staff token: it is shown once, works at once on staff's routes
// (not the admin's), whoami names it, the list shows it without its secret; staff cannot
// manage tokens; after revocation the token is refused at once (401).
func TestTokenAPIRolesAndRevocation(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	e.withTokens(t)
	admin, staff := bearerHeader(staffToken), bearerHeader(shopStaffToken)

	for _, c := range []struct {
		name, method, path, body string
		header                   http.Header
		code                     int
	}{
		{"no token lists", "GET", "/api/tokens", "", nil, http.StatusUnauthorized},
		{"staff list", "GET", "/api/tokens", "", staff, http.StatusForbidden},
		{"staff create", "POST", "/api/tokens", `{"name": "Mine", "role": "admin"}`, staff, http.StatusForbidden},
		{"staff revoke", "DELETE", "/api/tokens/tok_0011223344556677", "", staff, http.StatusForbidden},
	} {
		if code, body := e.doWith(c.method, c.path, c.body, c.header); code != c.code || body["field"] != "token" {
			t.Errorf("%s: %d %v, want %d naming the token", c.name, code, body, c.code)
		}
	}

	code, created := e.doWith("POST", "/api/tokens", `{"name": "Counter 2 tablet", "role": "staff"}`, admin)
	if code != http.StatusCreated {
		t.Fatalf("create: %d %v", code, created)
	}
	token, _ := created["token"].(string)
	id, _ := created["id"].(string)
	if len(token) < 32 || id == "" || created["name"] != "Counter 2 tablet" || created["role"] != "staff" {
		t.Fatalf("created: %v", created)
	}
	named := bearerHeader(token)
	if rec := e.send("GET", "/api/stations", named); rec.Code != http.StatusOK {
		t.Errorf("the named staff token on a staff route: %d %s", rec.Code, rec.Body)
	}
	if code, body := e.doWith("GET", "/api/tokens", "", named); code != http.StatusForbidden {
		t.Errorf("the named staff token lists tokens: %d %v, want 403", code, body)
	}
	if code, who := e.doWith("GET", "/api/whoami", "", named); code != http.StatusOK || who["role"] != "staff" || who["name"] != "Counter 2 tablet" || who["token_id"] != id {
		t.Errorf("whoami with the named token: %d %v", code, who)
	}
	if _, who := e.doWith("GET", "/api/whoami", "", admin); who["name"] != "admin_token" {
		t.Errorf("whoami with the configured admin token: %v", who)
	}

	rec := e.send("GET", "/api/tokens", admin)
	if rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), token) || !strings.Contains(rec.Body.String(), `"last_used":"`) ||
		!strings.Contains(rec.Body.String(), id) || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("list: %d %s %v; want the token without its secret, used once, not cached", rec.Code, rec.Body, rec.Header())
	}

	if code, body := e.doWith("DELETE", "/api/tokens/"+id, "", admin); code != http.StatusNoContent {
		t.Fatalf("revoke: %d %v", code, body)
	}
	if rec := e.send("GET", "/api/stations", named); rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "revoked") {
		t.Errorf("the revoked token on a staff route: %d %s, want 401", rec.Code, rec.Body)
	}
	if code, body := e.doWith("DELETE", "/api/tokens/"+id, "", admin); code != http.StatusNotFound || body["field"] != "id" {
		t.Errorf("revoking it again: %d %v, want 404 naming the id", code, body)
	}
}

// Bad input is refused naming the field.
func TestTokenAPIBadInput(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	e.withTokens(t)
	admin := bearerHeader(staffToken)
	long := strings.Repeat("x", access.MaxTokenNameLength+1)
	for _, c := range []struct {
		name, body, field string
		code              int
	}{
		{"an empty name", `{"name": " ", "role": "staff"}`, "name", http.StatusBadRequest},
		{"no name", `{"role": "staff"}`, "name", http.StatusBadRequest},
		{"a long name", `{"name": "` + long + `", "role": "staff"}`, "name", http.StatusBadRequest},
		{"an unknown role", `{"name": "Anna", "role": "owner"}`, "role", http.StatusBadRequest},
		{"no role", `{"name": "Anna"}`, "role", http.StatusBadRequest},
		{"a wrong type", `{"name": 7, "role": "staff"}`, "name", http.StatusBadRequest},
		{"an unknown field", `{"name": "Anna", "role": "staff", "token": "mine"}`, "token", http.StatusBadRequest},
	} {
		if code, body := e.doWith("POST", "/api/tokens", c.body, admin); code != c.code || body["field"] != c.field {
			t.Errorf("%s: %d %v, want %d naming %s", c.name, code, body, c.code, c.field)
		}
	}
	if code, _ := e.doWith("POST", "/api/tokens", `{"name": "Anna", "role": "staff"}`, admin); code != http.StatusCreated {
		t.Fatalf("Anna: %d", code)
	}
	if code, body := e.doWith("POST", "/api/tokens", `{"name": "anna", "role": "admin"}`, admin); code != http.StatusConflict || body["field"] != "name" {
		t.Errorf("a second Anna: %d %v, want 409 naming the name", code, body)
	}
}

// A token file that cannot be read: the tokens API says why (503), unknown tokens are
// refused, the configured ones work.
func TestTokenAPICorruptFile(t *testing.T) {
	e := newCheckoutEnv(t, checkout.Config{}, 0)
	path := filepath.Join(t.TempDir(), "tokens.json")
	if err := os.WriteFile(path, []byte("{oops"), 0o600); err != nil {
		t.Fatal(err)
	}
	store, err := access.OpenTokens(path)
	if err == nil {
		t.Fatal("a corrupt file opened without an error")
	}
	e.h = (&Server{Pipelines: noPipelines{}, Checkout: e.mgr, Guard: &access.Guard{AdminToken: staffToken, Tokens: store}}).Handler()
	if code, body := e.doWith("GET", "/api/tokens", "", bearerHeader(staffToken)); code != http.StatusServiceUnavailable || !strings.Contains(body["error"].(string), path) {
		t.Errorf("list: %d %v, want 503 naming the file", code, body)
	}
	if rec := e.send("GET", "/api/stations", bearerHeader("someone-elses-token-0123456789")); rec.Code != http.StatusUnauthorized {
		t.Errorf("an unknown token: %d, want 401", rec.Code)
	}
	if rec := e.send("GET", "/api/stations", bearerHeader(staffToken)); rec.Code != http.StatusOK {
		t.Errorf("the configured admin token: %d, want 200", rec.Code)
	}
}

// send makes a request without a body and returns the whole answer.
func (e *checkoutEnv) send(method, path string, header http.Header) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(method, path, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	e.h.ServeHTTP(rec, req)
	return rec
}
