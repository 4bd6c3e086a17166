package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ebrcs/ebrcs/testkit/scenario"
)

// staffToken is the e2e server's staff token (the shopper page's staff mode).
const staffToken = "e2e-staff-token-0123456789abcdef"

// staffConfig gives the e2e server a staff token.
const staffConfig = `staff_token: "` + staffToken + `"
`

// storeConfig: prices in euros, written the German way, and the staff token.
const storeConfig = staffConfig + `store:
  currency: EUR
  locale: de-DE
`

// The shopper's page at a desk's size and at a phone's (390×844): the product counted shows
// with its photo and price and is announced ("… added"); the cart survives a reload (leaving
// asks first, the camera reconnects to the same checkout) and Undo takes the last count back;
// the receipt lists every line's price and the total in euros, with "New checkout" as the
// main action. Staff mode opens with the staff token only (a wrong one is told exactly what is
// wrong) and sets the counting area from the keyboard. The shopper never sees ids, scores,
// the area tools, uploads or the event log; no page scrolls sideways; axe-core finds nothing
// serious; screenshots of every state go to build/screenshots.
func TestShopperPage(t *testing.T) {
	skipIfShort(t)
	checkNoLeftovers(t)
	products := scenario.SyntheticProducts(6, 1)
	a := products[2]
	sc := &scenario.Scenario{Name: "e2e-shopper", Config: scenario.DefaultConfig(), Steps: []scenario.Step{
		{Kind: scenario.Idle, Duration: 2500 * time.Millisecond},
		{Kind: scenario.Show, Product: a.Name, Hold: 1500 * time.Millisecond},
		{Kind: scenario.Idle, Duration: 3 * time.Second},
	}}
	pass := sc.Duration()
	camera := writeCamera(t, sc, products)

	srv := startServerWith(t, nil, storeConfig)
	prices := map[string]int64{}
	for i, p := range products {
		cents := int64(129 + 110*i)
		srv.registerProduct(t, p, fmt.Sprintf("%d.%02d", cents/100, cents%100))
		prices[p.Name] = cents
	}
	b := startBrowser(t, camera, "checkout")
	page := b.first
	diagnose(t, srv, b, page)
	dialogs := acceptDialogs(page)

	for _, vp := range []viewport{phone, desktop} {
		t.Run(vp.name, func(t *testing.T) {
			page.setViewport(t, vp)
			page.open(t, srv.url+"/", `window.ebrcs && window.ebrcs.state === 'idle' && window.ebrcs.store`)
			for _, id := range []string{"area-tools", "event-log", "upload-input", "session-id", "add-form"} {
				if visible(t, page, id) {
					t.Errorf("the shopper sees %s", id)
				}
			}
			if n, _ := evalJS[int](page, `document.querySelectorAll('h1').length`); n != 1 {
				t.Errorf("%d h1 elements, want one", n)
			}
			shot(t, page, "checkout-start-"+vp.name)
			checkAxe(t, page, "the start page")

			page.click(t, "start-button")
			waitLive(t, page)
			page.waitJS(t, pass+8*time.Second, `(window.ebrcs.cart?.items || []).some((i) => i.product === `+jsString(a.Name)+` && i.quantity >= 1)`, "the product to be counted")
			// The photo comes from the catalog: allow it a moment to load.
			page.pollJS(3*time.Second, `(() => { const img = document.querySelector('[data-testid="cart-item"] [data-testid="cart-thumb"]'); return img && img.complete && img.naturalWidth > 0; })()`)
			cue, err := evalJS[struct {
				Announced, Toast, Bump, Thumb bool
				Line, Total, Confirm, Cart    string
			}](page, `(() => {
				const li = document.querySelector('[data-testid="cart-item"]');
				const img = li.querySelector('[data-testid="cart-thumb"]');
				return {
					announced: window.ebrcs.announcements.includes(`+jsString(a.Name+" added")+`),
					toast: document.querySelector('[data-testid="count-toast"]').checkVisibility(),
					bump: li.classList.contains('bump'),
					thumb: Boolean(img) && img.complete && img.naturalWidth > 0,
					line: li.querySelector('[data-testid="line-price"]').textContent,
					total: document.querySelector('[data-testid="cart-price"]').textContent,
					confirm: document.querySelector('[data-testid="confirm-button"]').textContent,
					cart: document.querySelector('[data-testid="cart-list"]').innerText,
				};
			})()`)
			if err != nil {
				t.Fatal(err)
			}
			euro := func(cents int64) string {
				s, err := evalJS[string](page, fmt.Sprintf(`new Intl.NumberFormat('de-DE', {style: 'currency', currency: 'EUR'}).format(%d / 100)`, cents))
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			one := euro(prices[a.Name])
			if !cue.Announced || !cue.Toast || !cue.Bump || !cue.Thumb {
				t.Errorf("the count's cues: announced %v, toast %v, line lit %v, thumbnail %v", cue.Announced, cue.Toast, cue.Bump, cue.Thumb)
			}
			if cue.Line != one || !strings.Contains(cue.Total, one) || !strings.Contains(cue.Confirm, one) {
				t.Errorf("line %q, total %q, confirm %q: want %s in each", cue.Line, cue.Total, cue.Confirm, one)
			}
			if strings.Contains(cue.Cart, "score") || strings.Contains(cue.Cart, "0.") {
				t.Errorf("the shopper's cart shows scores: %q", cue.Cart)
			}
			checkNoSideScroll(t, page, "the cart")
			inView, err := evalJS[bool](page, `(() => { const r = document.querySelector('[data-testid="confirm-button"]').getBoundingClientRect(); return r.top >= 0 && r.bottom <= window.innerHeight; })()`)
			if err != nil || !inView {
				t.Errorf("Confirm is not in view with the video at the top (%v)", err)
			}
			shot(t, page, "checkout-cart-"+vp.name)
			checkAxe(t, page, "the cart while scanning")

			// A reload: the page asks first, then comes back to the same checkout and camera.
			h := h0(t, page)
			id, qty := h.SessionID, cartOf(h)[a.Name]
			asked := dialogs.Load()
			if err := page.do(30*time.Second, chromedp.Reload()); err != nil {
				t.Fatalf("reload: %v", err)
			}
			page.waitJS(t, 10*time.Second, `window.ebrcs && window.ebrcs.sessionId === `+jsString(id)+` && window.ebrcs.cart && location.search.includes(`+jsString("session="+id)+`)`, "the same checkout after the reload")
			if dialogs.Load() == asked {
				t.Error("reloading with products in the cart did not ask first")
			}
			if got := cartOf(h0(t, page))[a.Name]; got < qty {
				t.Fatalf("after the reload the cart holds %d × %s, before %d", got, a.Name, qty)
			}
			waitLive(t, page)
			t.Logf("reloaded: session %s kept, %d × %s, camera live again", id, qty, a.Name)

			// The next pass counts it again; Undo takes that count back.
			page.waitJS(t, pass+8*time.Second, fmt.Sprintf(`(window.ebrcs.cart?.items || []).some((i) => i.product === %s && i.quantity === %d) && document.querySelector('[data-testid="count-toast"]').checkVisibility()`, jsString(a.Name), qty+1), "the next count and its Undo")
			page.click(t, "undo-button")
			page.waitJS(t, 5*time.Second, fmt.Sprintf(`(window.ebrcs.cart?.items || []).some((i) => i.product === %s && i.quantity === %d) && window.ebrcs.announcements.includes(%s)`, jsString(a.Name), qty, jsString(a.Name+" removed")), "Undo to take it back")
			page.click(t, "stop-button")
			page.waitJS(t, 5*time.Second, `window.ebrcs.state === 'ended'`, "the camera to pause")
			time.Sleep(500 * time.Millisecond)
			qty = cartOf(h0(t, page))[a.Name]

			page.waitJS(t, 5*time.Second, `!document.querySelector('[data-testid="confirm-button"]').disabled`, "Confirm to be enabled")
			page.click(t, "confirm-button")
			page.waitJS(t, 10*time.Second, `window.ebrcs.cart?.confirmed && document.querySelector('[data-testid="receipt"]').checkVisibility()`, "the receipt")
			receipt, err := evalJS[struct{ Text, Total string }](page, `({text: document.querySelector('[data-testid="receipt"]').innerText,
				total: document.querySelector('[data-testid="receipt-total"]').textContent})`)
			if err != nil {
				t.Fatal(err)
			}
			sum := euro(prices[a.Name] * int64(qty))
			if !strings.Contains(receipt.Text, fmt.Sprintf("%d × %s", qty, a.Name)) || !strings.Contains(receipt.Text, sum) || receipt.Total != sum {
				t.Errorf("receipt %q (total %q): want %d × %s at %s", receipt.Text, receipt.Total, qty, a.Name, sum)
			}
			if visible(t, page, "start-button") || visible(t, page, "connection-state") || !visible(t, page, "new-checkout") {
				t.Error("the finished checkout still offers the camera, or not New checkout")
			}
			if primary, _ := evalJS[bool](page, `document.querySelector('[data-testid="new-checkout"]').classList.contains('primary')`); !primary {
				t.Error("New checkout is not the main action")
			}
			checkNoSideScroll(t, page, "the receipt")
			shot(t, page, "checkout-receipt-"+vp.name)
			checkAxe(t, page, "the receipt")
			var cart apiCart
			srv.getJSON(t, "/api/sessions/"+id+"/cart", &cart)
			if !cart.Confirmed || cart.quantities()[a.Name] != qty {
				t.Errorf("the server's cart: %v, confirmed %v", cart.quantities(), cart.Confirmed)
			}

			page.click(t, "new-checkout")
			page.waitJS(t, 5*time.Second, `window.ebrcs.state === 'idle' && !window.ebrcs.sessionId && !location.search.includes('session=')`, "a fresh checkout")

			// Staff mode: a wrong token is told what is wrong; staff's opens the tools.
			page.click(t, "staff-button")
			if err := page.do(5*time.Second, chromedp.SendKeys(testid("staff-token"), "not-a-token")); err != nil {
				t.Fatal(err)
			}
			page.click(t, "staff-submit")
			page.waitJS(t, 5*time.Second, `document.querySelector('[data-testid="staff-error"]').textContent.includes('neither the admin token nor the staff token')`, "the wrong token's explanation")
			if _, err := evalJS[bool](page, `(document.querySelector('[data-testid="staff-token"]').value = '') === ''`); err != nil {
				t.Fatal(err)
			}
			if err := page.do(5*time.Second, chromedp.SendKeys(testid("staff-token"), staffToken)); err != nil {
				t.Fatal(err)
			}
			page.click(t, "staff-submit")
			page.waitJS(t, 5*time.Second, `window.ebrcs.staff === 'staff' && document.querySelector('[data-testid="area-tools"]').checkVisibility()`, "staff mode")
			// The area from the keyboard: a preset, then Save.
			if err := page.do(5*time.Second, chromedp.Focus(testid("roi-preset-lower")), chromedp.KeyEvent("\r"),
				chromedp.Focus(testid("roi-save")), chromedp.KeyEvent("\r")); err != nil {
				t.Fatal(err)
			}
			page.waitJS(t, 5*time.Second, `JSON.stringify(window.ebrcs.roi) === '[[0,0.5],[1,0.5],[1,1],[0,1]]'`, "the lower-half area saved by staff")
			for _, id := range []string{"event-log", "upload-input", "session-id"} {
				if !visible(t, page, id) {
					t.Errorf("staff mode does not show %s", id)
				}
			}
			checkNoSideScroll(t, page, "staff mode")
			shot(t, page, "checkout-staff-"+vp.name)
			checkAxe(t, page, "staff mode")
			page.click(t, "staff-lock")
			page.waitJS(t, 5*time.Second, `!window.ebrcs.staff && !document.querySelector('[data-testid="area-tools"]').checkVisibility()`, "staff mode to close")
			page.click(t, "end-checkout")
			page.waitJS(t, 5*time.Second, `!window.ebrcs.sessionId`, "the checkout to be cancelled")
		})
	}
}
