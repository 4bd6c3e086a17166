package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The admin makes a named staff token in the back office ("Users and tokens"): a bad name is
// refused next to the field; the token is shown once, with Copy, saying it will not be shown
// again, and only its digest is kept. Signing in with it in another tab shows the staff view,
// named, without the tokens section; the admin sees it used, revokes it, and it is refused at
// once (the sign-in says it was revoked).
func TestBackOfficeNamedTokens(t *testing.T) {
	skipIfShort(t)
	checkNoLeftovers(t)
	srv := startServerWith(t, nil, "")
	b := startBrowser(t, filepath.Join(t.TempDir(), "none.y4m"), "admin")
	admin := b.first
	dialogs := acceptDialogs(admin)
	diagnose(t, srv, b, admin)
	admin.setViewport(t, desktop)
	admin.open(t, srv.url+"/admin", `window.ebrcsAdmin && document.querySelector('[data-testid="token-input"]')`)
	setToken(t, admin, adminToken)
	admin.waitJS(t, 5*time.Second, `window.ebrcsAdmin.role === 'admin' && document.querySelector('[data-testid="tokens-section"]').checkVisibility() && !document.querySelector('[data-testid="tokens-empty"]').hidden`, "the empty tokens section")

	// No name: refused next to the field.
	admin.click(t, "new-token-submit")
	admin.waitJS(t, 5*time.Second, `(() => { const e = document.querySelector('[data-testid="new-token-name-error"]'); return !e.hidden && e.textContent.includes('empty'); })()`, "the name's error")

	const name = "Counter 2 tablet"
	if err := admin.do(5*time.Second, chromedp.SendKeys(testid("new-token-name"), name)); err != nil {
		t.Fatal(err)
	}
	admin.click(t, "new-token-submit")
	admin.waitJS(t, 5*time.Second, fmt.Sprintf(`!document.querySelector('[data-testid="new-token"]').hidden && window.ebrcsAdmin.tokens.some((tk) => tk.name === %s && tk.role === 'staff')`, jsString(name)), "the new token, shown once, and in the list")
	token, err := evalJS[string](admin, `document.querySelector('[data-testid="new-token-value"]').value`)
	if err != nil || len(token) < 32 {
		t.Fatalf("the new token: %q %v", token, err)
	}
	if text, _ := evalJS[string](admin, `document.querySelector('[data-testid="new-token"]').textContent`); !strings.Contains(text, "will not be shown again") {
		t.Errorf("the new token's box: %q, want it to say it will not be shown again", text)
	}
	if visible(t, admin, "new-token-name-error") {
		t.Error("the name's error is still shown after the token was made")
	}
	admin.click(t, "new-token-copy")
	admin.waitJS(t, 5*time.Second, `!document.querySelector('[data-testid="new-token-copied"]').hidden`, "the Copy button's answer")
	checkNoSideScroll(t, admin, "the back office's tokens")
	shot(t, admin, "backoffice-new-token-desktop")
	checkAxe(t, admin, "the tokens section with a new token")
	admin.setViewport(t, phone)
	checkNoSideScroll(t, admin, "the back office's tokens on a phone")
	shot(t, admin, "backoffice-new-token-phone")
	admin.setViewport(t, desktop)
	if raw, err := os.ReadFile(filepath.Join(srv.dir, "var", "tokens.json")); err != nil || strings.Contains(string(raw), token) || !strings.Contains(string(raw), name) {
		t.Errorf("var/tokens.json must name the token and hold its digest only: %v\n%s", err, raw)
	}

	// Staff sign in with it in another tab: the staff view, named.
	staff := b.newTab(t, "staff")
	diagnose(t, nil, nil, staff)
	staff.setViewport(t, desktop)
	staff.open(t, srv.url+"/admin", `window.ebrcsAdmin && document.querySelector('[data-testid="token-input"]')`)
	setToken(t, staff, token)
	staff.waitJS(t, 5*time.Second, fmt.Sprintf(`window.ebrcsAdmin.role === 'staff' && document.querySelector('[data-testid="token-status"]').textContent.includes(%s)`, jsString(name)), "signed in as staff, named")
	if visible(t, staff, "tokens-section") || visible(t, staff, "product-form") || !visible(t, staff, "review-queue") {
		t.Error("the named staff token shows the tokens or the catalog's form, or not the review queue")
	}

	// The admin sees it used (signing in again reloads the list), and revokes it.
	setToken(t, admin, adminToken)
	admin.waitJS(t, 5*time.Second, fmt.Sprintf(`window.ebrcsAdmin.tokens.some((tk) => tk.name === %s && tk.last_used) && document.querySelector('[data-testid="new-token"]').hidden`, jsString(name)), "the token used, and no longer shown")
	if err := admin.do(5*time.Second, chromedp.Click(fmt.Sprintf(`[data-testid="token-row"] [aria-label=%q]`, "Revoke "+name))); err != nil {
		t.Fatalf("revoking: %v", err)
	}
	admin.waitJS(t, 5*time.Second, `window.ebrcsAdmin.tokens.length === 0 && document.querySelectorAll('[data-testid="token-row"]').length === 0`, "the token gone from the list")
	if n := dialogs.Load(); n != 1 {
		t.Errorf("%d dialogs, want 1 (Revoke asks first)", n)
	}
	req, _ := http.NewRequest("GET", srv.url+"/api/reviews", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Errorf("the revoked token on the API: %v %v, want 401", res, err)
	} else {
		res.Body.Close()
	}
	setToken(t, staff, token)
	staff.waitJS(t, 5*time.Second, `window.ebrcsAdmin.role === null && document.querySelector('[data-testid="token-error"]').textContent.includes('revoked')`, "the revoked token refused at sign-in")
}
