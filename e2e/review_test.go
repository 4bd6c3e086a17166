package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ebrcs/ebrcs/testkit/scenario"
)

// The catalog has two variants of the same packaging, Bolt Cola and Bolt Cola Zero, which only
// the label's text tells apart: shown Bolt Cola, the camera cannot say which and asks; the
// staff's review queue on the admin page lists the question too. The shopper answers on the
// checkout page; the product joins the cart at once, the question leaves the queue, and the
// answer teaches the catalog what Bolt Cola looks like at this counter: the next time it is
// shown, a few seconds later, it is counted without a question. The admin page then lists the
// learned view, with its picture. Last, the cashier changes one Bolt Cola into Bolt Cola Zero
// on the checkout page ("Not this?"): the camera's crop of that count teaches Bolt Cola Zero.
func TestBrowserReviewAnswerTeachesTheCatalog(t *testing.T) {
	skipIfShort(t)
	checkNoLeftovers(t)
	products := scenario.SyntheticProducts(6, 1)
	x := products[1]
	twin := scenario.SyntheticVariant(1, 1, x.Name+" Zero")
	catalog := append(append([]scenario.Product(nil), products...), twin)

	// One pass of the looping camera: 3 s empty, X held 1.5 s, 6 s empty (time to answer),
	// X again from the left, 2 s empty. The test stops the camera before the next pass.
	sc := &scenario.Scenario{Name: "e2e-review", Config: scenario.DefaultConfig(), Steps: []scenario.Step{
		{Kind: scenario.Idle, Duration: 3 * time.Second},
		{Kind: scenario.Show, Product: x.Name, Hold: 1500 * time.Millisecond},
		{Kind: scenario.Idle, Duration: 6 * time.Second},
		{Kind: scenario.Show, Product: x.Name, From: scenario.Left, To: scenario.Left, Hold: 1500 * time.Millisecond},
		{Kind: scenario.Idle, Duration: 2 * time.Second},
	}}
	truth, err := sc.Truth(products)
	if err != nil {
		t.Fatal(err)
	}
	if truth.Items[x.Name] != 2 || len(truth.Items) != 1 {
		t.Fatalf("ground truth %v: the scenario should show %s twice, beyond the cooldown", truth.Items, x.Name)
	}
	second := time.Duration(truth.Visits[1].EntryFrame) * time.Second / time.Duration(truth.FPS)
	pass := sc.Duration()
	camera := writeCamera(t, sc, products)

	srv := startServerWith(t, catalog, staffConfig)
	b := startBrowser(t, camera, "checkout")
	page := b.first
	diagnose(t, srv, b, page)
	admin := b.newTab(t, "admin")
	diagnose(t, nil, nil, admin)
	admin.open(t, srv.url+"/admin", `window.ebrcsAdmin && document.querySelector('[data-testid="product-item"]')`)
	if err := admin.do(10*time.Second, chromedp.SendKeys(testid("token-input"), adminToken)); err != nil {
		t.Fatalf("typing the admin token: %v", err)
	}
	admin.waitJS(t, 5*time.Second, `document.querySelector('[data-testid="queue-empty"]').textContent.startsWith('Nothing waits')`, "the empty review queue")

	page.open(t, srv.url+"/", `window.ebrcs && window.ebrcs.state === 'idle'`)
	clicked := time.Now()
	page.click(t, "start-button")
	waitLive(t, page)

	// The first visit: a question, shown as a prompt with both variants' photos and "None".
	page.waitJS(t, pass, `(window.ebrcs.cart?.pending || []).length > 0 && document.querySelector('[data-testid="review-prompt"]')`, "a review prompt")
	asked := time.Since(clicked)
	prompt, err := evalJS[struct {
		Candidates []struct {
			ID    string `json:"id"`
			Name  string `json:"name"`
			Thumb bool   `json:"thumb"`
		} `json:"candidates"`
		None, Crop bool
	}](page, `(() => {
		const li = document.querySelector('[data-testid="review-prompt"]');
		return {
			candidates: Array.from(li.querySelectorAll('[data-testid="review-candidate"]')).map((b) => ({
				id: b.dataset.productId, name: b.textContent, thumb: Boolean(b.querySelector('img'))})),
			None: Boolean(li.querySelector('[data-testid="review-none"]')),
			Crop: Boolean(li.querySelector('[data-testid="review-crop"]')),
		};
	})()`)
	if err != nil {
		t.Fatal(err)
	}
	var xID string
	names := []string{}
	for _, c := range prompt.Candidates {
		names = append(names, c.Name)
		if c.Name == x.Name {
			xID = c.ID
		}
		if !c.Thumb {
			t.Errorf("candidate %s has no thumbnail", c.Name)
		}
	}
	if xID == "" || !strings.Contains(strings.Join(names, "|"), twin.Name) || !prompt.None || !prompt.Crop {
		t.Fatalf("the prompt offers %v (none %v, crop %v): want both variants, None of these and the crop", names, prompt.None, prompt.Crop)
	}
	screenshot(t, page, "review-prompt.png")
	if h, _ := page.hooks(); len(cartOf(h)) != 0 {
		t.Fatalf("before the answer the cart is %v, want it empty (the product waits as pending)", cartOf(h))
	}
	t.Logf("asked %v after Start (the second visit enters at %v): %v", asked.Round(10*time.Millisecond), second, names)
	if asked > second-time.Second {
		t.Fatalf("the question came %v after Start, too late to answer before the second visit at %v", asked, second)
	}
	// The staff's queue shows it too, with the crop (fetched with the token) and the candidates.
	queued := fmt.Sprintf(`[data-testid="queue-review"][data-review-id=%q]`, h0(t, page).Cart.pendingID())
	admin.waitJS(t, 4*time.Second, `(() => {
		const li = document.querySelector('`+queued+`');
		return li && li.querySelectorAll('[data-testid="queue-candidate"]').length === 3 && li.querySelector('img.crop')?.naturalWidth > 0;
	})()`, "the question in the review queue")

	// The shopper answers: X joins the cart, the prompt goes.
	if err := page.do(10*time.Second, chromedp.Click(fmt.Sprintf(`[data-testid="review-candidate"][data-product-id="%s"]`, xID))); err != nil {
		t.Fatalf("clicking %s: %v", x.Name, err)
	}
	answered := time.Since(clicked)
	page.waitJS(t, 5*time.Second, `(window.ebrcs.cart?.items || []).some((i) => i.product === `+jsString(x.Name)+` && i.quantity === 1) && !document.querySelector('[data-testid="review-prompt"]')`,
		"the answered product in the cart and the prompt gone")
	admin.waitJS(t, 4*time.Second, `!document.querySelector('`+queued+`')`, "the answered question to leave the queue")
	if answered > second {
		t.Fatalf("answered %v after Start, after the second visit entered (%v)", answered, second)
	}

	// The second visit is counted, without a question.
	if _, err := pollCart(page, map[string]int{x.Name: 2}, time.Until(clicked.Add(pass))); err != nil {
		t.Fatalf("the second visit of %s: %v", x.Name, err)
	}
	page.click(t, "stop-button")
	page.waitJS(t, 5*time.Second, `window.ebrcs.state === 'ended'`, "the page to stop")
	h, err := page.hooks()
	if err != nil {
		t.Fatal(err)
	}
	var reviews, counts []string
	for _, e := range h.Events {
		switch {
		case e.Type == "review":
			reviews = append(reviews, e.String())
		case e.Type == "count" && e.Product == x.Name:
			counts = append(counts, e.String())
		}
	}
	if len(reviews) != 1 || len(counts) != 1 {
		t.Fatalf("events: reviews %v, counts %v; want one question, then one count", reviews, counts)
	}
	t.Logf("answered %v after Start; then counted without a question: %s", answered.Round(10*time.Millisecond), counts[0])
	if q := cartOf(h); len(q) != 1 || q[x.Name] != 2 {
		t.Fatalf("the cart is %v, want 2 × %s", q, x.Name)
	}

	// What the answer taught the catalog, on the admin page.
	var listed []struct {
		ID   int64  `json:"id"`
		Name string `json:"name"`
	}
	srv.getJSON(t, "/api/products", &listed)
	var pid, twinID int64
	for _, p := range listed {
		switch p.Name {
		case x.Name:
			pid = p.ID
		case twin.Name:
			twinID = p.ID
		}
	}
	var views []struct {
		ID     int64  `json:"id"`
		Origin string `json:"origin"`
	}
	srv.getJSON(t, fmt.Sprintf("/api/products/%d/views", pid), &views)
	if len(views) != 1 || views[0].Origin != "review" {
		t.Fatalf("learned views of %s: %+v, want one from the review", x.Name, views)
	}
	if err := admin.do(10*time.Second, chromedp.Click(fmt.Sprintf(`[data-testid="product-item"][data-id="%d"] [data-testid="views-toggle"]`, pid))); err != nil {
		t.Fatalf("opening the learned views: %v", err)
	}
	admin.waitJS(t, 10*time.Second, fmt.Sprintf(`(() => {
		const v = document.querySelectorAll('[data-testid="product-item"][data-id="%d"] [data-testid="learned-view"]');
		return v.length === 1 && v[0].textContent.includes('answered review') && v[0].querySelector('img')?.complete && v[0].querySelector('img').naturalWidth > 0;
	})()`, pid), "the learned view with its picture")
	screenshot(t, admin, "admin-learned-views.png")

	// A correction on the checkout page (staff's, in staff mode): one of the two becomes the
	// other variant.
	unlockStaffMode(t, page)
	if _, err := evalJS[bool](page, `(() => {
		const sel = document.querySelector(`+jsString(fmt.Sprintf(`[data-testid="cart-item"][data-product=%q] [data-testid="item-replace"]`, x.Name))+`);
		sel.value = `+jsString(twin.Name)+`;
		return sel.dispatchEvent(new Event('change'));
	})()`); err != nil {
		t.Fatalf("choosing %s instead of one %s: %v", twin.Name, x.Name, err)
	}
	if _, err := pollCart(page, map[string]int{x.Name: 1, twin.Name: 1}, 5*time.Second); err != nil {
		t.Fatalf("after the correction: %v", err)
	}
	// The cart's event goes out before the crop is embedded and learned: allow that moment.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		srv.getJSON(t, fmt.Sprintf("/api/products/%d/views", twinID), &views)
		if len(views) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(views) != 1 || views[0].Origin != "correction" {
		t.Fatalf("learned views of %s after the correction: %+v, want one correction", twin.Name, views)
	}
}

// h0 reads the page's hooks, failing the test if it cannot.
func h0(t *testing.T, page *tab) hooks {
	t.Helper()
	h, err := page.hooks()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// screenshot saves the tab's page as a test artifact (go test -artifacts keeps it).
func screenshot(t *testing.T, tb *tab, name string) {
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(t.ArtifactDir(), name)
	if err := os.WriteFile(path, png, 0o644); err == nil {
		t.Logf("screenshot: %s", path)
	}
}
