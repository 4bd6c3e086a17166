package e2e

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/testkit/scenario"
)

// A shopper opens the checkout page, starts the camera and shows two products; the page's
// cart, then the server's, must be exactly the scenario's ground truth; confirming shows the
// receipt and records the purchase. While the camera is live, the video that comes back must
// be the server's annotated video: frames decoded, the ROI outline drawn on them.
func TestBrowserCheckoutCountsTheScenarioCart(t *testing.T) {
	skipIfShort(t)
	checkNoLeftovers(t)
	products := scenario.SyntheticProducts(6, 1)

	// The camera loops its file, and the connection needs a second or two after getUserMedia:
	// a long empty lead-in, two products, an empty tail. The test stops the camera one pass
	// plus a second after it starts, inside the next pass's lead-in.
	sc := &scenario.Scenario{Name: "e2e-two-products", Config: scenario.DefaultConfig(), Steps: []scenario.Step{
		{Kind: scenario.Idle, Duration: 3 * time.Second},
		{Kind: scenario.Show, Product: products[1].Name, Hold: 1500 * time.Millisecond},
		{Kind: scenario.Idle, Duration: 1500 * time.Millisecond},
		{Kind: scenario.Show, Product: products[4].Name, From: scenario.Left, To: scenario.Left, Hold: 1500 * time.Millisecond},
		{Kind: scenario.Idle, Duration: 2 * time.Second},
	}}
	truth, err := sc.Truth(products)
	if err != nil {
		t.Fatal(err)
	}
	if len(truth.Items) != 2 {
		t.Fatalf("ground truth %v: the scenario should count two products", truth.Items)
	}
	pass := sc.Duration()
	camera := writeCamera(t, sc, products)

	srv := startServer(t, products)
	b := startBrowser(t, camera, "checkout")
	page := b.first
	diagnose(t, srv, b, page)

	page.open(t, srv.url+"/", `window.ebrcs && window.ebrcs.state === 'idle'`)
	clicked := time.Now() // the fake camera starts its file at getUserMedia, right after
	page.click(t, "start-button")
	waitLive(t, page)
	t.Logf("live %v after Start (the camera's pass is %v)", time.Since(clicked).Round(10*time.Millisecond), pass)

	t.Run("ReturnedVideoCarriesTheOverlay", func(t *testing.T) {
		checkReturnedVideo(t, page)
	})

	// One full pass, plus a second: the next pass's first product is still seconds away.
	stopAt := clicked.Add(pass + time.Second)
	switch d := time.Until(stopAt); {
	case d > 0:
		time.Sleep(d)
	case d < -2*time.Second:
		// The next pass's first product enters about 3.4 s into it.
		t.Fatalf("Stop comes %v late: the camera's next pass may have been counted too", -d)
	}
	h, err := page.hooks()
	if err != nil {
		t.Fatal(err)
	}
	if h.State != "live" {
		t.Fatalf("the page was %q, not live, before Stop (error %q)", h.State, h.Error)
	}
	page.click(t, "stop-button")
	page.waitJS(t, 5*time.Second, `window.ebrcs.state === 'ended'`, "the page to stop")

	// Counts still on their way arrive within a moment; then the cart must stay as it is.
	want := truth.Items
	if _, err := pollCart(page, want, 5*time.Second); err != nil {
		t.Errorf("page cart: %v", err)
	}
	time.Sleep(time.Second)
	got, err := page.cartQuantities()
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Fatalf("the page's cart is %v, the scenario's ground truth %v", got, want)
	}
	t.Logf("cart %v: exactly the ground truth", got)

	h, err = page.hooks()
	if err != nil {
		t.Fatal(err)
	}
	if h.SessionID == "" {
		t.Fatal("window.ebrcs.sessionId is empty")
	}
	var cart apiCart
	srv.getJSON(t, "/api/sessions/"+h.SessionID+"/cart", &cart)
	if q := cart.quantities(); !maps.Equal(q, want) || cart.Confirmed {
		t.Fatalf("GET /api/sessions/%s/cart: %v (confirmed %v), want %v unconfirmed", h.SessionID, q, cart.Confirmed, want)
	}
	items := domCartItems(t, page)
	if !maps.Equal(items, want) {
		t.Errorf("the page lists %v (cart-item elements), want %v", items, want)
	}

	// Confirm: the receipt appears and the server holds the purchase.
	page.waitJS(t, 5*time.Second, `!document.querySelector('[data-testid="confirm-button"]').disabled`, "Confirm to be enabled")
	page.click(t, "confirm-button")
	page.waitJS(t, 10*time.Second, `!document.querySelector('[data-testid="receipt"]').hidden && window.ebrcs.cart && window.ebrcs.cart.confirmed`, "the receipt")
	receipt, err := evalJS[string](page, `document.querySelector('[data-testid="receipt"]').innerText`)
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range want {
		if !strings.Contains(receipt, fmt.Sprintf("%d × %s", n, name)) {
			t.Errorf("the receipt does not list %d × %s:\n%s", n, name, receipt)
		}
	}
	var done apiCart
	srv.getJSON(t, "/api/sessions/"+h.SessionID+"/cart", &done)
	if !done.Confirmed || done.Purchase == nil || done.Purchase.ID == 0 {
		t.Fatalf("after Confirm, GET cart: confirmed %v, purchase %+v", done.Confirmed, done.Purchase)
	}
	bought := map[string]int{}
	for _, it := range done.Purchase.Items {
		bought[it.Product] += it.Quantity
	}
	if !maps.Equal(bought, want) || !maps.Equal(done.quantities(), want) {
		t.Errorf("purchase #%d holds %v and the cart %v, want %v", done.Purchase.ID, bought, done.quantities(), want)
	}
	t.Logf("purchase #%d confirmed; receipt: %q", done.Purchase.ID, strings.Join(strings.Fields(receipt), " "))
}

// waitLive waits for window.ebrcs.state to be "live", failing at once on "error".
func waitLive(t *testing.T, page *tab) {
	t.Helper()
	if _, err := page.pollJS(15*time.Second, `window.ebrcs.state === 'live' || window.ebrcs.state === 'error'`); err != nil {
		t.Fatalf("the page did not go live within 15s: %v", err)
	}
	h, err := page.hooks()
	if err != nil {
		t.Fatal(err)
	}
	if h.State != "live" {
		t.Fatalf("the page is %q: %s", h.State, h.Error)
	}
}

// pollCart waits until the page's cart is want; it returns the last cart seen.
func pollCart(page *tab, want map[string]int, timeout time.Duration) (map[string]int, error) {
	deadline := time.Now().Add(timeout)
	for {
		got, err := page.cartQuantities()
		if err == nil && maps.Equal(got, want) {
			return got, nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return got, err
			}
			return got, fmt.Errorf("%v after %v, want %v", got, timeout, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// domCartItems reads the rendered cart: each cart-item's data-product and its quantity.
func domCartItems(t *testing.T, page *tab) map[string]int {
	t.Helper()
	rows, err := evalJS[[]struct {
		Product  string `json:"product"`
		Quantity string `json:"quantity"`
	}](page, `Array.from(document.querySelectorAll('[data-testid="cart-list"] [data-testid="cart-item"]')).map((li) => ({
		product: li.dataset.product, quantity: li.querySelector('[data-testid="qty"]')?.textContent || ''}))`)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, r := range rows {
		var n int
		fmt.Sscan(r.Quantity, &n)
		m[r.Product] += n
	}
	return m
}

// videoFrame is one frame of the page's <video>, drawn onto a canvas.
type videoFrame struct {
	Width   int     `json:"width"`
	Height  int     `json:"height"`
	Frames  int     `json:"frames"`  // getVideoPlaybackQuality().totalVideoFrames
	Dropped int     `json:"dropped"` // droppedVideoFrames
	Time    float64 `json:"time"`    // currentTime
	PNG     string  `json:"png"`     // data URL
}

const grabFrameJS = `(() => {
	const v = document.querySelector('[data-testid="video"]');
	const q = v.getVideoPlaybackQuality();
	const out = {width: v.videoWidth, height: v.videoHeight, frames: q.totalVideoFrames, dropped: q.droppedVideoFrames, time: v.currentTime, png: ''};
	if (v.videoWidth > 0 && v.videoHeight > 0) {
		const c = document.createElement('canvas');
		c.width = v.videoWidth;
		c.height = v.videoHeight;
		c.getContext('2d').drawImage(v, 0, 0, c.width, c.height);
		out.png = c.toDataURL('image/png');
	}
	return out;
})()`

// roiColor is ebrcs_overlay's roi-color default (#00c8ff), the colour of the ROI outline
// in the live pipeline, which sets no colour of its own.
var roiColor = color.RGBA{0x00, 0xc8, 0xff, 0xff}

// checkReturnedVideo checks that the <video> plays the server's annotated video: frames are
// decoded and keep coming, and the ROI outline (the session's ROI, by default x 0.2-0.8, y
// 0.15-0.95) is drawn on them in the overlay's ROI colour (as far as 4:2:0 video keeps a 2 px
// line's colour: see minToward), which the camera's counter has neither on the outline nor
// 24 px to either side of it.
func checkReturnedVideo(t *testing.T, page *tab) {
	// The session's ROI: the checkout pipeline's, the scenario's default.
	h, err := page.hooks()
	if err != nil {
		t.Fatal(err)
	}
	roi := scenario.DefaultROI
	if len(h.ROI) >= 3 {
		roi = roi[:0:0]
		for _, p := range h.ROI {
			roi = append(roi, scenario.Point{X: p[0], Y: p[1]})
		}
	}
	t.Logf("session ROI %v", roi)

	if _, err := page.pollJS(10*time.Second, `document.querySelector('[data-testid="video"]').getVideoPlaybackQuality().totalVideoFrames > 30`); err != nil {
		f, _ := evalJS[videoFrame](page, grabFrameJS)
		t.Fatalf("the returned video decoded %d frames (%dx%d) in 10s, want more than 30: %v", f.Frames, f.Width, f.Height, err)
	}
	first, err := evalJS[videoFrame](page, grabFrameJS)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	f, err := evalJS[videoFrame](page, grabFrameJS)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("returned video: %dx%d, %d frames decoded (%d a second later, %d dropped), currentTime %.2fs",
		first.Width, first.Height, first.Frames, f.Frames, f.Dropped, f.Time)
	if f.Frames-first.Frames < 10 {
		t.Errorf("the returned video decoded %d frames in one second, want at least 10: it is not playing", f.Frames-first.Frames)
	}
	if f.Time <= first.Time {
		t.Errorf("the returned video's currentTime did not advance (%.2f, then %.2f)", first.Time, f.Time)
	}
	// The outline is on every annotated frame, but a single frame can be a poor one (the
	// real-time encoder lowers quality when the machine is busy, e.g. other test packages
	// running in parallel): look at up to 8 frames, a quarter of a second apart.
	var img image.Image
	for attempt := 1; ; attempt++ {
		if img, err = decodeDataURL(f.PNG); err != nil {
			t.Fatalf("the frame drawn from the video: %v", err)
		}
		b := img.Bounds()
		if b.Dx() != f.Width || b.Dy() != f.Height || b.Dx() < 160 || b.Dy() < 120 {
			t.Fatalf("the frame drawn from the video is %v, video %dx%d", b, f.Width, f.Height)
		}
		edge := sampleOutline(img, roi, 0)
		inside := sampleOutline(img, roi, 24)
		outside := sampleOutline(img, roi, -24)
		t.Logf("frame %d: ROI outline (%v): %d/%d points along it show it (median %.2f of the way from the counter to the ROI colour, closest pixel %.0f away); 24 px inside %d/%d (median %.2f), 24 px outside %d/%d (median %.2f)",
			attempt, roiColor, edge.matched, edge.total, edge.toward, edge.distance, inside.matched, inside.total, inside.toward, outside.matched, outside.total, outside.toward)
		good := edge.fraction() >= 0.6 && inside.fraction() <= 0.15 && outside.fraction() <= 0.15
		if good {
			return
		}
		if attempt == 8 {
			t.Errorf("in none of %d frames does the ROI outline show at 60%% of the points along it (and not 24 px to either side): last %.0f%%, inside %.0f%%, outside %.0f%%",
				attempt, 100*edge.fraction(), 100*inside.fraction(), 100*outside.fraction())
			break
		}
		time.Sleep(250 * time.Millisecond)
		if f, err = evalJS[videoFrame](page, grabFrameJS); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.ArtifactDir(), "returned-frame.png")
	var buf bytes.Buffer
	if png.Encode(&buf, img) == nil && os.WriteFile(path, buf.Bytes(), 0o644) == nil {
		t.Logf("the frame: %s", path)
	}
}

func decodeDataURL(u string) (image.Image, error) {
	const prefix = "data:image/png;base64,"
	if !strings.HasPrefix(u, prefix) {
		return nil, fmt.Errorf("not a PNG data URL: %.40q", u)
	}
	raw, err := base64.StdEncoding.DecodeString(u[len(prefix):])
	if err != nil {
		return nil, err
	}
	return png.Decode(bytes.NewReader(raw))
}

// outlineSample is how many points along a rectangle's edges show the ROI outline.
type outlineSample struct {
	matched, total int
	toward         float64 // median share of the way from the counter's colour to the ROI colour
	distance       float64 // median distance of the closest pixel to the ROI colour
}

func (o outlineSample) fraction() float64 {
	if o.total == 0 {
		return 0
	}
	return float64(o.matched) / float64(o.total)
}

// What a point of the outline looks like in the returned video. The overlay draws a 2 px
// line in the RGBA frame; the encoder's 4:2:0 chroma keeps one colour sample per 2x2 pixels,
// and the line (pixels 127-128 for x = 128) straddles two of them, so the decoded line keeps
// the ROI colour's luma but only about half its chroma: #00c8ff on the counter comes back as
// about (88,170,182), some 115 away in RGB. So a point matches when the pixel closest to the
// ROI colour within 3 px across the edge has moved at least minToward of the way from the
// counter around it (8 px away on both sides) to the ROI colour, in the ROI colour's
// direction (at most maxOffAxis away from that line in RGB): a product's edge, a shadow or
// the grain of the counter move the other way or off the axis.
const (
	minToward  = 0.35
	maxOffAxis = 45.0
)

// sampleOutline walks the edges of the bounding rectangle of roi (normalised), moved inward by
// offset pixels (outward when negative), every 8 px and away from the corners, and counts
// the points where the ROI outline shows (see minToward).
func sampleOutline(img image.Image, roi []scenario.Point, offset int) outlineSample {
	b := img.Bounds()
	w, h := float64(b.Dx()), float64(b.Dy())
	minX, minY, maxX, maxY := 1.0, 1.0, 0.0, 0.0
	for _, p := range roi {
		minX, minY, maxX, maxY = math.Min(minX, p.X), math.Min(minY, p.Y), math.Max(maxX, p.X), math.Max(maxY, p.Y)
	}
	x0, x1 := int(math.Round(minX*w))+offset, int(math.Round(maxX*w))-offset
	y0, y1 := int(math.Round(minY*h))+offset, int(math.Round(maxY*h))-offset
	target := [3]float64{float64(roiColor.R), float64(roiColor.G), float64(roiColor.B)}
	at := func(x, y int) ([3]float64, bool) {
		p := image.Pt(b.Min.X+x, b.Min.Y+y)
		if !p.In(b) {
			return [3]float64{}, false
		}
		r, g, bl, _ := img.At(p.X, p.Y).RGBA()
		return [3]float64{float64(r >> 8), float64(g >> 8), float64(bl >> 8)}, true
	}
	var o outlineSample
	var towards, dists []float64
	// probe looks across the edge at (x, y), whose normal is (dx, dy).
	probe := func(x, y, dx, dy int) {
		before, ok1 := at(x-8*dx, y-8*dy)
		after, ok2 := at(x+8*dx, y+8*dy)
		if !ok1 || !ok2 {
			return
		}
		var bg, axis [3]float64
		var axis2 float64
		for c := range bg {
			bg[c] = (before[c] + after[c]) / 2
			axis[c] = target[c] - bg[c]
			axis2 += axis[c] * axis[c]
		}
		if axis2 < 40*40 {
			return // the surroundings already look like the ROI colour: no evidence either way
		}
		best, bestDist := [3]float64{}, math.Inf(1)
		for k := -3; k <= 3; k++ {
			px, ok := at(x+k*dx, y+k*dy)
			if !ok {
				continue
			}
			if d := dist(px, target); d < bestDist {
				best, bestDist = px, d
			}
		}
		var dot float64
		for c := range best {
			dot += (best[c] - bg[c]) * axis[c]
		}
		toward := dot / axis2
		var off [3]float64
		for c := range off {
			off[c] = best[c] - bg[c] - toward*axis[c]
		}
		o.total++
		if toward >= minToward && dist(off, [3]float64{}) <= maxOffAxis {
			o.matched++
		}
		towards = append(towards, toward)
		dists = append(dists, bestDist)
	}
	const step, corner = 8, 12
	for x := x0 + corner; x <= x1-corner; x += step {
		probe(x, y0, 0, 1) // top
		probe(x, y1, 0, 1) // bottom
	}
	for y := y0 + corner; y <= y1-corner; y += step {
		probe(x0, y, 1, 0) // left
		probe(x1, y, 1, 0) // right
	}
	if len(towards) > 0 {
		slices.Sort(towards)
		slices.Sort(dists)
		o.toward, o.distance = towards[len(towards)/2], dists[len(dists)/2]
	}
	return o
}

func dist(a, b [3]float64) float64 {
	return math.Sqrt((a[0]-b[0])*(a[0]-b[0]) + (a[1]-b[1])*(a[1]-b[1]) + (a[2]-b[2])*(a[2]-b[2]))
}
