package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ebrcs/ebrcs/testkit/scenario"
)

// setToken replaces what the back office's token field holds, as typing would.
func setToken(t *testing.T, admin *tab, token string) {
	t.Helper()
	if _, err := evalJS[bool](admin, `(() => { const el = document.querySelector('[data-testid="token-input"]'); el.value = ''; return el.dispatchEvent(new Event('input')); })()`); err != nil {
		t.Fatal(err)
	}
	if err := admin.do(10*time.Second, chromedp.SendKeys(testid("token-input"), token)); err != nil {
		t.Fatalf("typing the token: %v", err)
	}
}

// The back office: sign-in checks the token as it is typed and says exactly what is wrong
// with a wrong one; staff see the review queue and the history but not the catalog's forms or
// the pipelines, the admin sees everything. The history shows the count the checkout page just
// made, with the camera's snapshot of it, and the purchase with its total in euros. At a desk's
// size and a phone's: no sideways scroll, nothing serious for axe-core, screenshots.
func TestBackOfficeSignInAndHistory(t *testing.T) {
	skipIfShort(t)
	checkNoLeftovers(t)
	products := scenario.SyntheticProducts(6, 1)
	a := products[4]
	sc := &scenario.Scenario{Name: "e2e-history", Config: scenario.DefaultConfig(), Steps: []scenario.Step{
		{Kind: scenario.Idle, Duration: 2500 * time.Millisecond},
		{Kind: scenario.Show, Product: a.Name, Hold: 1500 * time.Millisecond},
		{Kind: scenario.Idle, Duration: 3 * time.Second},
	}}
	pass := sc.Duration()
	camera := writeCamera(t, sc, products)
	srv := startServerWith(t, nil, storeConfig)
	for i, p := range products {
		srv.registerProduct(t, p, fmt.Sprintf("%d.%02d", 1+i, 49))
	}
	b := startBrowser(t, camera, "checkout")
	page := b.first
	diagnose(t, srv, b, page)
	admin := b.newTab(t, "admin")
	diagnose(t, nil, nil, admin)

	// A purchase from the checkout page: one count, then confirmed.
	page.open(t, srv.url+"/", `window.ebrcs && window.ebrcs.state === 'idle'`)
	page.click(t, "start-button")
	waitLive(t, page)
	page.waitJS(t, pass+8*time.Second, `(window.ebrcs.cart?.items || []).some((i) => i.product === `+jsString(a.Name)+`)`, "the product to be counted")
	page.click(t, "stop-button")
	page.waitJS(t, 5*time.Second, `window.ebrcs.state === 'ended' && !document.querySelector('[data-testid="confirm-button"]').disabled`, "the camera to pause")
	qty := cartOf(h0(t, page))[a.Name]
	page.click(t, "confirm-button")
	page.waitJS(t, 10*time.Second, `window.ebrcs.cart?.confirmed`, "the purchase")

	for _, vp := range []viewport{desktop, phone} {
		t.Run(vp.name, func(t *testing.T) {
			admin.setViewport(t, vp)
			admin.open(t, srv.url+"/admin", `window.ebrcsAdmin && document.querySelector('[data-testid="token-input"]')`)

			setToken(t, admin, "e2e-wrong-token")
			admin.waitJS(t, 5*time.Second, `document.querySelector('[data-testid="token-error"]').textContent.includes('neither the admin token nor the staff token')`, "the wrong token's explanation, without submitting")
			if visible(t, admin, "history") || visible(t, admin, "product-form") {
				t.Error("a wrong token shows the history or the product form")
			}
			shot(t, admin, "backoffice-wrong-token-"+vp.name)

			setToken(t, admin, staffToken)
			admin.waitJS(t, 5*time.Second, `window.ebrcsAdmin.role === 'staff' && document.querySelector('[data-testid="token-status"]').textContent.includes('staff')`, "signed in as staff")
			if visible(t, admin, "product-form") || visible(t, admin, "pipeline-table") || !visible(t, admin, "history") || !visible(t, admin, "review-queue") {
				t.Error("staff see the catalog's form or the pipelines, or not the history and the queue")
			}
			// The count the page made, with its snapshot; the purchase with its total.
			admin.waitJS(t, 10*time.Second, fmt.Sprintf(`(() => {
				const row = Array.from(document.querySelectorAll('[data-testid="count-row"][data-decision="count"]'))
					.find((tr) => tr.querySelector('[data-testid="count-product"]').textContent === %s);
				const img = row && row.querySelector('[data-testid="count-crop"]');
				return img && img.complete && img.naturalWidth > 0;
			})()`, jsString(a.Name)), "the count in the history with its snapshot")
			total, err := evalJS[string](admin, `document.querySelector('[data-testid="purchase-total"]')?.textContent || ''`)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := evalJS[string](admin, fmt.Sprintf(`new Intl.NumberFormat('de-DE', {style: 'currency', currency: 'EUR'}).format(%d * 5.49)`, qty))
			if total != want {
				t.Errorf("the purchase's total in the history: %q, want %q", total, want)
			}
			// Filters: another product shows nothing of it.
			other, _ := evalJS[string](admin, fmt.Sprintf(`Array.from(document.querySelectorAll('[data-testid="history-product"] option')).find((o) => o.textContent === %s).value`, jsString(products[0].Name)))
			if _, err := evalJS[bool](admin, fmt.Sprintf(`(() => { const s = document.querySelector('[data-testid="history-product"]'); s.value = %s; return true; })()`, jsString(other))); err != nil {
				t.Fatal(err)
			}
			admin.click(t, "history-apply")
			admin.waitJS(t, 5*time.Second, `document.querySelectorAll('[data-testid="count-row"]').length === 0 && !document.querySelector('[data-testid="counts-empty"]').hidden`, "the filtered history to be empty")
			if _, err := evalJS[bool](admin, `(() => { document.querySelector('[data-testid="history-product"]').value = ''; return true; })()`); err != nil {
				t.Fatal(err)
			}
			admin.click(t, "history-apply")
			admin.waitJS(t, 5*time.Second, `document.querySelectorAll('[data-testid="count-row"]').length > 0`, "the history again")
			checkNoSideScroll(t, admin, "the back office (staff)")
			shot(t, admin, "backoffice-staff-"+vp.name)
			checkAxe(t, admin, "the back office, signed in as staff")

			setToken(t, admin, adminToken)
			admin.waitJS(t, 5*time.Second, `window.ebrcsAdmin.role === 'admin' && document.querySelector('[data-testid="product-form"]').checkVisibility() && document.querySelectorAll('[data-testid="pipeline-table"] tbody tr').length > 0`, "signed in as admin")
			checkNoSideScroll(t, admin, "the back office (admin)")
			shot(t, admin, "backoffice-admin-"+vp.name)
			checkAxe(t, admin, "the back office, signed in as admin")
		})
	}

	// The admin edits the product: its new name and price are what the checkout counts and
	// charges from the next visit, without a restart.
	admin.setViewport(t, desktop)
	renamed := a.Name + " Deluxe"
	if err := admin.do(10*time.Second, chromedp.Click(fmt.Sprintf(`[data-testid="product-item"] [aria-label=%q]`, "Edit "+a.Name))); err != nil {
		t.Fatalf("opening the edit form: %v", err)
	}
	if _, err := evalJS[bool](admin, fmt.Sprintf(`(() => {
		const f = document.querySelector('[data-testid="product-edit-form"]');
		f.querySelector('[data-testid="edit-name"]').value = %s;
		f.querySelector('[data-testid="edit-price"]').value = '7.77';
		return true;
	})()`, jsString(renamed))); err != nil {
		t.Fatal(err)
	}
	shot(t, admin, "backoffice-edit-product-desktop")
	checkAxe(t, admin, "the product edit form")
	admin.click(t, "product-save")
	admin.waitJS(t, 10*time.Second, fmt.Sprintf(`!document.querySelector('[data-testid="product-edit-form"]') && Array.from(document.querySelectorAll('[data-testid="product-item"]')).some((li) => li.textContent.includes(%s) && li.textContent.includes('7,77'))`, jsString(renamed)), "the edited product in the list")
	page.click(t, "new-checkout")
	page.waitJS(t, 5*time.Second, `window.ebrcs.state === 'idle'`, "a new checkout")
	page.click(t, "start-button")
	waitLive(t, page)
	page.waitJS(t, pass+8*time.Second, `(window.ebrcs.cart?.items || []).some((i) => i.product === `+jsString(renamed)+`) && document.querySelector('[data-testid="line-price"]').textContent.includes('7,77')`, "the renamed product counted at its new price")
	page.click(t, "stop-button")
	t.Logf("after the edit the checkout counts %q at 7,77 €", renamed)
}
