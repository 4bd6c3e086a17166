package access

import (
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const testAdminToken = "access-admin-token-0123456789"

// roleOf asks the guard about a request carrying token.
func roleOf(t *testing.T, g *Guard, token string) (Identity, error) {
	t.Helper()
	r := httptest.NewRequest("GET", "/api/whoami", nil)
	r.Header.Set("Authorization", "Bearer "+token)
	return g.Identify(r)
}

func openTokens(t *testing.T, path string) *Tokens {
	t.Helper()
	s, err := OpenTokens(path)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A named token is made, shown once, works with its role and name, is listed without its
// secret, and after revocation fails at once; the file holds digests only.
func TestTokenCreateAuthenticateRevoke(t *testing.T) {
	path := filepath.Join(t.TempDir(), "var", "tokens.json")
	store := openTokens(t, path)
	g := &Guard{AdminToken: testAdminToken, Tokens: store}

	info, token, err := store.Create("  Counter 2 tablet ", RoleStaff)
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "Counter 2 tablet" || info.Role != RoleStaff || !strings.HasPrefix(info.ID, "tok_") || info.Created.IsZero() || info.LastUsed != nil {
		t.Errorf("created: %+v", info)
	}
	if len(token) < 32 || strings.ContainsAny(token, "+/= ") {
		t.Errorf("token %q: want at least 32 base64url characters (24 bytes)", token)
	}
	id, err := roleOf(t, g, token)
	if err != nil || id.Role != RoleStaff || id.Name != "Counter 2 tablet" || id.TokenID != info.ID {
		t.Fatalf("the new token: %+v, %v", id, err)
	}
	if id, err := roleOf(t, g, testAdminToken); err != nil || id.Role != RoleAdmin || id.Name != "admin_token" {
		t.Errorf("the configured admin token: %+v, %v", id, err)
	}
	if _, err := roleOf(t, g, token+"x"); !errors.Is(err, ErrBadToken) {
		t.Errorf("a token with one more character: %v, want ErrBadToken", err)
	}
	list, err := store.List()
	if err != nil || len(list) != 1 || list[0].LastUsed == nil {
		t.Fatalf("list after a use: %+v, %v", list, err)
	}

	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), token) {
		t.Error("the file holds the token itself")
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Errorf("the file's mode: %v, want 0600", st.Mode().Perm())
	}

	if _, err := store.Revoke(info.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := roleOf(t, g, token); !errors.Is(err, ErrBadToken) {
		t.Errorf("after revocation: %v, want ErrBadToken", err)
	}
	if _, err := store.Revoke(info.ID); !errors.Is(err, ErrUnknownTokenID) {
		t.Errorf("revoking twice: %v, want ErrUnknownTokenID", err)
	}
	if _, err := openTokens(t, path).List(); err != nil {
		t.Fatal(err)
	} else if l, _ := openTokens(t, path).List(); len(l) != 0 {
		t.Errorf("the revoked token is back after a reload: %+v", l)
	}
}

// Bad names and roles are refused naming the field; names are unique.
func TestTokenInvalidInput(t *testing.T) {
	store := openTokens(t, filepath.Join(t.TempDir(), "tokens.json"))
	for _, c := range []struct {
		name  string
		role  Role
		field string
		want  string
	}{
		{"", RoleStaff, "name", "empty"},
		{"   ", RoleStaff, "name", "empty"},
		{strings.Repeat("é", MaxTokenNameLength+1), RoleStaff, "name", "65 characters, at most 64"},
		{"tab\there", RoleStaff, "name", "U+0009, a control or invisible character"},
		{"Anna\u202e", RoleStaff, "name", "U+202E"},
		{"An\u200bna", RoleStaff, "name", "U+200B"},
		{"Anna", "", "role", "empty; want staff or admin"},
		{"Anna", "owner", "role", `"owner", want staff or admin`},
	} {
		_, _, err := store.Create(c.name, c.role)
		var bad *InvalidTokenError
		if !errors.As(err, &bad) || bad.Field != c.field || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Create(%q, %q): %v, want a %s error saying %q", c.name, c.role, err, c.field, c.want)
		}
	}
	if _, _, err := store.Create(strings.Repeat("é", MaxTokenNameLength), RoleAdmin); err != nil {
		t.Errorf("a name of %d characters: %v", MaxTokenNameLength, err)
	}
	if _, _, err := store.Create("Anna", RoleStaff); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.Create("anna", RoleStaff); !errors.Is(err, ErrTokenNameTaken) {
		t.Errorf("a second Anna: %v, want ErrTokenNameTaken", err)
	}
}

// Tokens, their roles and last-used times survive a restart (Flush writes the last use).
func TestTokenReloadFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.json")
	store := openTokens(t, path)
	staffInfo, staff, err := store.Create("Anna", RoleStaff)
	if err != nil {
		t.Fatal(err)
	}
	_, admin, err := store.Create("Deputy admin", RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	used := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	store.now = func() time.Time { return used }
	if _, err := roleOf(t, &Guard{Tokens: store}, staff); err != nil {
		t.Fatal(err)
	}
	if err := store.Flush(); err != nil {
		t.Fatal(err)
	}

	again := openTokens(t, path)
	g := &Guard{AdminToken: testAdminToken, Tokens: again}
	if id, err := roleOf(t, g, staff); err != nil || id.Role != RoleStaff || id.Name != "Anna" {
		t.Errorf("staff's token after a reload: %+v, %v", id, err)
	}
	if id, err := roleOf(t, g, admin); err != nil || id.Role != RoleAdmin {
		t.Errorf("the named admin token after a reload: %+v, %v", id, err)
	}
	list, _ := OpenTokens(path)
	l, _ := list.List()
	if len(l) != 2 || l[0].ID != staffInfo.ID || l[0].LastUsed == nil || !l[0].LastUsed.Equal(used) || l[1].LastUsed != nil {
		t.Errorf("reloaded list: %+v", l)
	}
}

// A corrupt file is a clear error naming it; the server keeps refusing unknown tokens,
// accepts the configured ones, and refuses to make tokens (which would overwrite the file).
func TestTokenCorruptFile(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, body, want string }{
		{"not JSON", "{\"version\": 1, \"tokens\": [", "not a token file"},
		{"another version", `{"version": 9, "tokens": []}`, "version 9, want 1"},
		{"a short digest", `{"version": 1, "tokens": [{"id": "tok_1", "name": "Anna", "role": "staff", "sha256": "abcd", "created": "2026-12-06T12:00:00Z"}]}`, `token 1 (id "tok_1"): sha256: want 64 hex digits`},
		{"an unknown role", `{"version": 1, "tokens": [{"id": "tok_1", "name": "Anna", "role": "owner", "sha256": "` + strings.Repeat("ab", 32) + `", "created": "2026-12-06T12:00:00Z"}]}`, `"owner", want staff or admin`},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".json")
			if err := os.WriteFile(path, []byte(c.body), 0o600); err != nil {
				t.Fatal(err)
			}
			store, err := OpenTokens(path)
			if !errors.Is(err, ErrTokenFile) || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("open: %v, want ErrTokenFile naming %s and saying %q", err, path, c.want)
			}
			g := &Guard{AdminToken: testAdminToken, Tokens: store}
			if _, err := roleOf(t, g, "some-token-that-nobody-made"); !errors.Is(err, ErrBadToken) {
				t.Errorf("an unknown token: %v, want ErrBadToken", err)
			}
			if id, err := roleOf(t, g, testAdminToken); err != nil || id.Role != RoleAdmin {
				t.Errorf("the configured admin token: %+v, %v", id, err)
			}
			if _, _, err := store.Create("Anna", RoleStaff); !errors.Is(err, ErrTokenFile) {
				t.Errorf("create: %v, want ErrTokenFile", err)
			}
			if _, err := store.List(); !errors.Is(err, ErrTokenFile) {
				t.Errorf("list: %v, want ErrTokenFile", err)
			}
			if raw, _ := os.ReadFile(path); string(raw) != c.body {
				t.Error("the corrupt file was overwritten")
			}
		})
	}
}

// Requests authenticate while tokens are made, revoked and flushed (run with -race).
func TestTokenConcurrentUse(t *testing.T) {
	store := openTokens(t, filepath.Join(t.TempDir(), "tokens.json"))
	g := &Guard{AdminToken: testAdminToken, Tokens: store}
	_, kept, err := store.Create("Kept", RoleStaff)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if id, err := roleOf(t, g, kept); err != nil || id.Role != RoleStaff {
					errs <- fmt.Errorf("the kept token: %+v, %v", id, err)
					return
				}
				if _, err := store.List(); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				info, token, err := store.Create(fmt.Sprintf("Tablet %d-%d", w, i), RoleStaff)
				if err != nil {
					errs <- err
					return
				}
				if _, err := roleOf(t, g, token); err != nil {
					errs <- err
					return
				}
				if err := store.Flush(); err != nil {
					errs <- err
					return
				}
				if _, err := store.Revoke(info.ID); err != nil {
					errs <- err
					return
				}
				if _, err := roleOf(t, g, token); !errors.Is(err, ErrBadToken) {
					errs <- fmt.Errorf("a revoked token: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if l, _ := store.List(); len(l) != 1 {
		t.Errorf("left: %+v, want the kept token only", l)
	}
}
