package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/ebrcs/ebrcs/testkit/scenario"
)

// A size the pages are checked at: a desk's window and a phone's (390×844, as an iPhone 12-15).
type viewport struct {
	name          string
	width, height int64
	mobile        bool
}

var (
	desktop = viewport{"desktop", 1280, 900, false}
	phone   = viewport{"phone", 390, 844, true}
)

// setViewport makes the tab's window vp's size (a phone's with its device scale and touch).
func (tb *tab) setViewport(t *testing.T, vp viewport) {
	t.Helper()
	scale := 1.0
	if vp.mobile {
		scale = 2
	}
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	_, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
		Width: vp.width, Height: vp.height, DeviceScaleFactor: scale, Mobile: vp.mobile})
	if err == nil {
		_, err = chromedp.Call(ctx, emulation.SetTouchEmulationEnabled, emulation.SetTouchEmulationEnabledParams{Enabled: vp.mobile})
	}
	if err != nil {
		t.Fatalf("%s: viewport %s: %v", tb.name, vp.name, err)
	}
}

// screenshotDir is where the pages' screenshots go: build/screenshots at the repository's root
// (ignored by git), besides the test's own artifacts.
func screenshotDir(t *testing.T) string {
	dir, err := filepath.Abs("../build/screenshots")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// shot saves a full-page screenshot as build/screenshots/NAME.png (and in the test's artifacts).
func shot(t *testing.T, tb *tab, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 15*time.Second)
	defer cancel()
	img, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("%s: screenshot %s: %v", tb.name, name, err)
		return
	}
	path := filepath.Join(screenshotDir(t), name+".png")
	if err := os.WriteFile(path, img, 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(t.ArtifactDir(), name+".png"), img, 0o644)
	t.Logf("screenshot: %s", path)
}

// axeViolation is one of axe-core's findings.
type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target  []any  `json:"target"`
		Summary string `json:"failureSummary"`
	} `json:"nodes"`
}

// checkAxe runs axe-core (npm's, put in build/axe-core by scripts/install-deps.sh) in the page
// and fails the test on any serious or critical violation; lesser ones are logged.
func checkAxe(t *testing.T, tb *tab, what string) {
	t.Helper()
	src, err := os.ReadFile("../build/axe-core/axe.min.js")
	if err != nil {
		t.Fatalf("axe-core: %v (scripts/install-deps.sh puts it in build/axe-core)", err)
	}
	// Runtime.evaluate is not subject to the page's Content-Security-Policy.
	if _, err := evalJS[bool](tb, string(src)+"\n;typeof axe === 'object'"); err != nil {
		t.Fatalf("%s: loading axe-core: %v", tb.name, err)
	}
	raw, err := evalJS[string](tb, `axe.run(document, {resultTypes: ['violations']}).then((r) => JSON.stringify(r.violations))`)
	if err != nil {
		t.Fatalf("%s: axe.run: %v", tb.name, err)
	}
	var found []axeViolation
	if err := json.Unmarshal([]byte(raw), &found); err != nil {
		t.Fatalf("axe: %v", err)
	}
	for _, v := range found {
		var where []string
		for _, n := range v.Nodes {
			where = append(where, fmt.Sprint(n.Target...))
		}
		line := fmt.Sprintf("%s (%s): %s at %s", v.ID, v.Impact, v.Help, strings.Join(where, ", "))
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Errorf("%s: axe-core, %s: %s\n%s", tb.name, what, line, v.Nodes[0].Summary)
		} else {
			t.Logf("%s: axe-core, %s (not serious): %s", tb.name, what, line)
		}
	}
	t.Logf("%s: axe-core on %s: %d violations, none serious or critical unless reported above", tb.name, what, len(found))
}

// checkNoSideScroll fails when the page is wider than its window.
func checkNoSideScroll(t *testing.T, tb *tab, what string) {
	t.Helper()
	w, err := evalJS[[]int](tb, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`)
	if err != nil {
		t.Fatal(err)
	}
	if w[0] > w[1] {
		t.Errorf("%s: %s scrolls sideways: %d px of content in a %d px window", tb.name, what, w[0], w[1])
	}
}

// visible reports whether the element with data-testid id is rendered (not hidden by the
// page's own rules or CSS).
func visible(t *testing.T, tb *tab, id string) bool {
	t.Helper()
	v, err := evalJS[bool](tb, fmt.Sprintf(`(() => { const el = document.querySelector('[data-testid=%q]'); return Boolean(el && el.checkVisibility()); })()`, id))
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// acceptDialogs answers every JavaScript dialog of the tab (beforeunload's "Leave site?",
// confirm) with OK, and counts them.
func acceptDialogs(tb *tab) *atomic.Int32 {
	var n atomic.Int32
	chromedp.Listen(tb.ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			n.Add(1)
			go chromedp.Call(tb.ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	})
	return &n
}

// registerProduct adds a product with its photo and price through the admin API, as the back
// office does.
func (s *server) registerProduct(t *testing.T, p scenario.Product, price string) int64 {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	w.WriteField("name", p.Name)
	if price != "" {
		w.WriteField("price", price)
	}
	part, err := w.CreateFormFile("images", "front.png")
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(part, p.Image); err != nil {
		t.Fatal(err)
	}
	w.Close()
	req, err := http.NewRequest(http.MethodPost, s.url+"/api/products", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/products %s: %d %s", p.Name, res.StatusCode, raw)
	}
	var out struct {
		ID int64 `json:"id"`
	}
	json.Unmarshal(raw, &out)
	return out.ID
}

// unlockStaffMode turns the checkout page's staff mode on with staff's token, as staff do.
func unlockStaffMode(t *testing.T, page *tab) {
	t.Helper()
	page.click(t, "staff-button")
	if err := page.do(5*time.Second, chromedp.SendKeys(testid("staff-token"), staffToken)); err != nil {
		t.Fatalf("typing the staff token: %v", err)
	}
	page.click(t, "staff-submit")
	page.waitJS(t, 5*time.Second, `window.ebrcs.staff === 'staff'`, "staff mode")
}
