package e2e

import (
	"image"
	"image/draw"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/ebrcs/ebrcs/testkit/scenario"
)

// A product the catalog does not know is shown to a live camera and not counted; an admin
// registers it on the admin page (token, name, photos) in a second tab; the next time the
// camera shows it, it is counted into the live checkout's cart, with nothing restarted.
func TestAdminRegistrationRecognisedWithoutRestart(t *testing.T) {
	skipIfShort(t)
	checkNoLeftovers(t)
	products := scenario.SyntheticProducts(6, 1)
	// X is Bolt Cola: of the six, the one whose closest other product scores lowest while it
	// is unknown. Synthetic look-alikes of a catalog product can be taken for it (see the
	// recogniser's eval for how often), which is not what this test is about.
	x := products[1]
	known := append(products[:1:1], products[2:]...)

	// X is shown every pass of the looping camera: 3 s empty, X held 3 s, 3 s empty.
	sc := &scenario.Scenario{Name: "e2e-new-product", Config: scenario.DefaultConfig(), Steps: []scenario.Step{
		{Kind: scenario.Idle, Duration: 3 * time.Second},
		{Kind: scenario.Show, Product: x.Name, Hold: 3 * time.Second},
		{Kind: scenario.Idle, Duration: 3 * time.Second},
	}}
	truth, err := sc.Truth(products)
	if err != nil {
		t.Fatal(err)
	}
	if truth.Items[x.Name] != 1 || len(truth.Items) != 1 {
		t.Fatalf("ground truth %v: the scenario should show %s once", truth.Items, x.Name)
	}
	pass := sc.Duration()
	camera := writeCamera(t, sc, products)

	// The admin's photos: the product image and a copy cropped by 6 % on every side.
	dir := t.TempDir()
	photos := []string{filepath.Join(dir, "front.png"), filepath.Join(dir, "front-cropped.png")}
	writePNG(t, photos[0], x)
	writePNG(t, photos[1], scenario.Product{Name: x.Name, Image: crop(x.Image, 0.06)})

	srv := startServer(t, known)
	b := startBrowser(t, camera, "checkout")
	checkout := b.first
	diagnose(t, srv, b, checkout) // the admin tab is added below

	checkout.open(t, srv.url+"/", `window.ebrcs && window.ebrcs.state === 'idle'`)
	clicked := time.Now()
	checkout.click(t, "start-button")
	waitLive(t, checkout)
	t.Logf("live %v after Start (the camera's pass is %v)", time.Since(clicked).Round(10*time.Millisecond), pass)

	// One pass: X came and went, unknown.
	time.Sleep(time.Until(clicked.Add(pass + 500*time.Millisecond)))
	h, err := checkout.hooks()
	if err != nil {
		t.Fatal(err)
	}
	if h.State != "live" {
		t.Fatalf("the page was %q, not live, after one pass (error %q)", h.State, h.Error)
	}
	if q := cartOf(h); len(q) != 0 {
		t.Fatalf("before %s is registered the cart is %v, want it empty", x.Name, q)
	}
	// Not knowing X, the checkout says so (unknown) or asks which product it was (review).
	var unknown []string
	for _, e := range h.Events {
		if e.Type == "unknown" || e.Type == "review" {
			unknown = append(unknown, e.String())
		}
	}
	if len(unknown) == 0 {
		t.Fatalf("one pass of the camera showed %s, but no unknown-object or review event arrived: was the object seen at all?", x.Name)
	}
	t.Logf("before registration: cart empty, %s reported unknown or asked about: %s", x.Name, strings.Join(unknown, "; "))

	// The admin registers X in a second tab.
	admin := b.newTab(t, "admin")
	diagnose(t, nil, nil, admin)
	admin.open(t, srv.url+"/admin", `window.ebrcsAdmin && document.querySelector('[data-testid="product-form"]')`)
	if err := admin.do(15*time.Second,
		chromedp.SendKeys(testid("token-input"), adminToken),
		chromedp.SendKeys(testid("product-name"), x.Name),
		chromedp.SetUploadFiles(testid("product-images"), photos),
	); err != nil {
		t.Fatalf("filling the admin form: %v", err)
	}
	admin.waitJS(t, 5*time.Second, `document.querySelectorAll('[data-testid="image-preview"]').length === 2`, "two photo previews")
	admin.click(t, "product-submit")
	submitted := time.Now()
	admin.waitJS(t, 20*time.Second, `!document.querySelector('[data-testid="form-ok"]').hidden || !document.querySelector('[data-testid="form-error"]').hidden || !document.querySelector('[data-testid="token-error"]').hidden || !document.querySelector('[data-testid="images-error"]').hidden`, "the form's answer")
	answer, err := evalJS[struct{ OK, Error string }](admin, `(() => {
		const shown = (id) => { const el = document.querySelector('[data-testid="' + id + '"]'); return el.hidden ? '' : el.textContent; };
		return {OK: shown('form-ok'), Error: [shown('form-error'), shown('token-error'), shown('images-error'), shown('name-error')].filter(Boolean).join(' | ')};
	})()`)
	if err != nil {
		t.Fatal(err)
	}
	if answer.OK == "" || answer.Error != "" {
		t.Fatalf("registering %s: form-ok %q, errors %q", x.Name, answer.OK, answer.Error)
	}
	registered := time.Since(submitted)
	t.Logf("admin page: %q in %v", answer.OK, registered.Round(time.Millisecond))
	admin.waitJS(t, 5*time.Second, `Array.from(document.querySelectorAll('[data-testid="product-item"]')).some((li) => li.textContent.includes(`+jsString(x.Name)+`))`, "the product list to show it")

	// The live checkout counts X the next time the camera shows it.
	if _, err := checkout.pollJS(25*time.Second, `(window.ebrcs.cart?.items || []).some((i) => i.product === `+jsString(x.Name)+` && i.quantity >= 1)`); err != nil {
		t.Fatalf("%s was not counted within 25s of its registration: %v", x.Name, err)
	}
	latency := time.Since(submitted)
	h, err = checkout.hooks()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range h.Events {
		if e.Type == "count" && e.Product == x.Name {
			t.Logf("counted: %s", e)
			break
		}
	}
	q := cartOf(h)
	for name := range q {
		if name != x.Name {
			t.Errorf("the cart holds %s too: %v", name, q)
		}
	}
	t.Logf("%s in the cart %v after Register was clicked (the form answered in %v; the camera shows it every %v)",
		x.Name, latency.Round(10*time.Millisecond), registered.Round(time.Millisecond), pass)

	var cart apiCart
	srv.getJSON(t, "/api/sessions/"+h.SessionID+"/cart", &cart)
	if cart.quantities()[x.Name] < 1 {
		t.Errorf("GET /api/sessions/%s/cart: %v, want %s in it", h.SessionID, cart.quantities(), x.Name)
	}
	checkout.click(t, "stop-button")
	checkout.waitJS(t, 5*time.Second, `window.ebrcs.state === 'ended'`, "the page to stop")
}

func cartOf(h hooks) map[string]int {
	if h.Cart == nil {
		return map[string]int{}
	}
	return h.Cart.quantities()
}

// crop cuts frac of the width and height off every side of img.
func crop(img image.Image, frac float64) image.Image {
	b := img.Bounds()
	dx, dy := int(float64(b.Dx())*frac), int(float64(b.Dy())*frac)
	r := image.Rect(b.Min.X+dx, b.Min.Y+dy, b.Max.X-dx, b.Max.Y-dy)
	out := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	draw.Draw(out, out.Bounds(), img, r.Min, draw.Src)
	return out
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(s) + "'"
}
