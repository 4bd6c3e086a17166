package scenario

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"
	"go.uber.org/goleak"
)

// quietConfig is a small, noise- and flicker-free camera, so tests can read pixels exactly.
func quietConfig() Config {
	cfg := DefaultConfig()
	cfg.Noise, cfg.Flicker = 0, 0
	return cfg
}

// solid is a product image of one colour.
func solid(name string, w, h int, c color.RGBA) Product {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return Product{Name: name, Image: img}
}

var magenta = color.RGBA{255, 0, 255, 255}

func TestSuiteGroundTruth(t *testing.T) {
	products := SyntheticProducts(6, 1)
	suite, err := Suite(products)
	if err != nil {
		t.Fatal(err)
	}
	// Round-robin over Aurora Tea, Bolt Cola, Crimson Crisps, Delta Detergent, Ember Coffee,
	// Fjord Water.
	want := map[string]map[string]int{
		"single-product":               {"Aurora Tea": 1},
		"same-product-within-cooldown": {"Bolt Cola": 1},
		"same-product-beyond-cooldown": {"Crimson Crisps": 2},
		"two-products":                 {"Delta Detergent": 1, "Ember Coffee": 1},
		"three-products":               {"Fjord Water": 1, "Aurora Tea": 1, "Bolt Cola": 1},
		"long-stop":                    {"Crimson Crisps": 1},
		"distractor-only":              {},
		"distractor-then-product":      {"Delta Detergent": 1},
		"hand-held":                    {"Ember Coffee": 1, "Fjord Water": 1},
		"left-and-bottom":              {"Aurora Tea": 1, "Bolt Cola": 1},
		"flicker-noise":                {"Crimson Crisps": 1, "Delta Detergent": 1},
		"fast-swipe":                   {"Ember Coffee": 1, "Fjord Water": 1},
		"busy-checkout":                {"Aurora Tea": 2, "Bolt Cola": 1, "Crimson Crisps": 1},
		"unknown-product":              {},
	}
	if len(suite) != len(want) {
		t.Errorf("suite has %d scenarios, want %d", len(suite), len(want))
	}
	seen := map[string]bool{}
	for _, s := range suite {
		g, err := s.Truth(products)
		if err != nil {
			t.Errorf("%s: %v", s.Name, err)
			continue
		}
		if w, ok := want[s.Name]; !ok || fmt.Sprint(g.Items) != fmt.Sprint(w) {
			t.Errorf("%s: items %v, want %v", s.Name, g.Items, w)
		}
		if d := s.Duration(); d < 5*time.Second || d > 15*time.Second {
			t.Errorf("%s: %v long, want 5-15 s", s.Name, d)
		}
		if got := time.Duration(g.Frames) * time.Second / time.Duration(g.FPS); got != s.Duration() {
			t.Errorf("%s: truth has %v of frames, Duration says %v", s.Name, got, s.Duration())
		}
		for _, v := range g.Visits {
			seen[v.Product] = true
			if v.ExitFrame < v.EntryFrame || v.ExitFrame >= g.Frames {
				t.Errorf("%s: visit %+v out of order", s.Name, v)
			}
		}
		if (s.Name == "unknown-product") != (len(g.Foreign) == 1) {
			t.Errorf("%s: foreign visits %+v", s.Name, g.Foreign)
		}
		for _, v := range g.Foreign {
			if v.Counted || seen[v.Product] || v.Product != "Golden Oats" {
				t.Errorf("%s: foreign visit %+v: want Golden Oats, not counted, none of the products", s.Name, v)
			}
		}
	}
	if len(seen) != len(products) {
		t.Errorf("suite shows %d of the %d products", len(seen), len(products))
	}
	if _, err := Suite(products[:2]); err == nil {
		t.Error("Suite accepted 2 products")
	}
}

// A foreign product is rendered like any product but never counted, and must be one of the
// scenario's own: a catalog product in a Foreign step, or a foreign one in a Show step, is
// refused.
func TestForeignProducts(t *testing.T) {
	products := SyntheticProducts(3, 1)
	stranger := ForeignProduct(products, 1)
	if stranger.Name != "Delta Detergent" || stranger.Image == nil {
		t.Fatalf("foreign product %q", stranger.Name)
	}
	if again := ForeignProduct(append(products, Product{Name: "Delta Detergent", Image: products[0].Image}), 1); again.Name == "Delta Detergent" {
		t.Fatal("a foreign product took a product's name")
	}
	s := &Scenario{Name: "stranger", Config: quietConfig(), Foreign: []Product{stranger},
		Steps: []Step{idle(1.5), {Kind: Foreign, Product: stranger.Name}, idle(1)}}
	g, err := s.Truth(products)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Items) != 0 || len(g.Visits) != 0 || len(g.Foreign) != 1 || g.Foreign[0].Counted {
		t.Fatalf("truth %+v", g)
	}
	s.Steps[1].Product = products[0].Name
	if err := s.Validate(products); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a catalog product in a foreign step: %v", err)
	}
	s.Steps[1] = Step{Kind: Show, Product: stranger.Name}
	if err := s.Validate(products); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a foreign product in a show step: %v", err)
	}
	s.Foreign = []Product{products[0]}
	if err := s.Validate(products); !errors.Is(err, ErrInvalid) {
		t.Fatalf("a foreign product named like a product: %v", err)
	}
}

// twoVisits is P shown twice, the second time after an idle of gap seconds.
func twoVisits(gap float64) *Scenario {
	quick := Step{Product: "P", In: secs(0.5), Hold: secs(0.4), Out: secs(0.5)}
	return &Scenario{Name: "two-visits", Config: quietConfig(),
		Steps: []Step{idle(1.5), quick, idle(gap), quick, idle(1)}}
}

func TestTruthCooldown(t *testing.T) {
	products := []Product{solid("P", 150, 200, magenta), solid("Q", 150, 200, color.RGBA{0, 200, 0, 255})}
	entryGap := func(g GroundTruth) float64 {
		return float64(g.Visits[1].EntryFrame-g.Visits[0].EntryFrame) / float64(g.FPS)
	}

	within, err := twoVisits(0.4).Truth(products)
	if err != nil {
		t.Fatal(err)
	}
	if within.Items["P"] != 1 || len(within.Visits) != 2 || within.Visits[1].Counted || entryGap(within) >= 2.25 {
		t.Errorf("within the cooldown: %+v (entries %.2fs apart)", within, entryGap(within))
	}

	beyond, err := twoVisits(3).Truth(products)
	if err != nil {
		t.Fatal(err)
	}
	if beyond.Items["P"] != 2 || !beyond.Visits[1].Counted || entryGap(beyond) <= 3.75 {
		t.Errorf("beyond the cooldown: %+v (entries %.2fs apart)", beyond, entryGap(beyond))
	}

	// Entries about 3 s apart: whether the second counts depends on a few frames.
	for _, gap := range []float64{1.2, 1.6, 2.0} {
		_, err := twoVisits(gap).Truth(products)
		if !errors.Is(err, ErrAmbiguous) {
			t.Errorf("idle %.1fs between visits: err %v, want ErrAmbiguous", gap, err)
		}
	}

	// The cooldown runs from the last *counted* visit: visits at ~0, ~2 and ~4.4 s count 1, 0, 1.
	quick := Step{Product: "P", In: secs(0.5), Hold: secs(0.4), Out: secs(0.5)}
	s := &Scenario{Name: "three-visits", Config: quietConfig(),
		Steps: []Step{idle(1.5), quick, idle(0.6), quick, idle(1), quick, idle(1)}}
	g, err := s.Truth(products)
	if err != nil {
		t.Fatal(err)
	}
	if g.Items["P"] != 2 || !g.Visits[0].Counted || g.Visits[1].Counted || !g.Visits[2].Counted {
		t.Errorf("three visits: %+v", g)
	}

	// A longer cooldown turns the same script into one count.
	s.Config.Cooldown = 6 * time.Second
	if g, err := s.Truth(products); err != nil || g.Items["P"] != 1 {
		t.Errorf("6 s cooldown: %v %v", g.Items, err)
	}

	// Different products never share a cooldown.
	s = &Scenario{Name: "p-q", Config: quietConfig(),
		Steps: []Step{idle(1.5), quick, idle(0.6), {Product: "Q", In: secs(0.5), Hold: secs(0.4), Out: secs(0.5)}, idle(1)}}
	if g, err := s.Truth(products); err != nil || g.Items["P"] != 1 || g.Items["Q"] != 1 {
		t.Errorf("P then Q: %v %v", g.Items, err)
	}
}

func TestTruthRefusals(t *testing.T) {
	products := []Product{solid("P", 150, 200, magenta)}
	show := Step{Product: "P"}
	for _, tc := range []struct {
		name  string
		steps []Step
		cfg   func(*Config)
		want  error
	}{
		{"gap-too-short", []Step{idle(1.5), show, show, idle(1)}, nil, ErrCrowded},
		{"no-lead-in", []Step{idle(0.3), show, idle(1)}, nil, ErrCrowded},
		{"no-tail", []Step{idle(1.5), show}, nil, ErrCrowded},
		{"unknown-product", []Step{idle(1.5), {Product: "Nope"}, idle(1)}, nil, ErrInvalid},
		{"idle-without-duration", []Step{{Kind: Idle}}, nil, ErrInvalid},
		{"bad-side", []Step{idle(1.5), {Product: "P", From: "up"}, idle(1)}, nil, ErrInvalid},
		{"bad-kind", []Step{idle(1.5), {Kind: 7}, idle(1)}, nil, ErrInvalid},
		{"no-steps", nil, nil, ErrInvalid},
		{"odd-width", []Step{idle(2)}, func(c *Config) { c.Width = 641 }, ErrInvalid},
		{"roi-out-of-frame", []Step{idle(2)}, func(c *Config) { c.ROI = []Point{{0, 0}, {2, 0}, {0, 1}} }, ErrInvalid},
		// A U-shaped ROI: its centroid, where products are held, lies in the notch.
		{"roi-centroid-outside", []Step{idle(1.5), show, idle(1)}, func(c *Config) {
			c.ROI = []Point{{0.1, 0.1}, {0.9, 0.1}, {0.9, 0.9}, {0.7, 0.9}, {0.7, 0.3}, {0.3, 0.3}, {0.3, 0.9}, {0.1, 0.9}}
		}, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := quietConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			s := &Scenario{Name: tc.name, Config: cfg, Steps: tc.steps}
			if err := s.Validate(products); !errors.Is(err, tc.want) {
				t.Errorf("err %v, want %v", err, tc.want)
			}
			if err := Render(s, products, func(int, *image.RGBA) error { return nil }); !errors.Is(err, tc.want) {
				t.Errorf("Render: err %v, want %v", err, tc.want)
			}
		})
	}
}

func TestGroundTruthJSON(t *testing.T) {
	s := &Scenario{Name: "hand-only", Config: quietConfig(),
		Steps: []Step{idle(1.5), {Kind: Distractor, From: Bottom, To: Left}, idle(1)}}
	g, err := s.Truth(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"scenario", "items", "frames", "fps", "width", "height", "visits", "distractors", "foreign"} {
		if _, ok := m[key]; !ok {
			t.Errorf("no %q in %s", key, b)
		}
	}
	if !strings.Contains(string(b), `"items":{}`) || !strings.Contains(string(b), `"visits":[]`) {
		t.Errorf("empty cart should be {} and no visits []: %s", b)
	}
	d := g.Distractors
	if len(d) != 1 || d[0].EntryFrame <= 45 || d[0].ExitFrame <= d[0].EntryFrame {
		t.Errorf("distractors %+v", d)
	}
	if m["frames"].(float64) != float64(g.Frames) || g.Frames != 45+18+30+18+30 {
		t.Errorf("frames %v", m["frames"])
	}
}

// bboxOf finds the box of the pixels of colour c (within tol per channel).
func bboxOf(img *image.RGBA, c color.RGBA, tol int) image.Rectangle {
	var r image.Rectangle
	near := func(a, b uint8) bool { return int(a)-int(b) <= tol && int(b)-int(a) <= tol }
	for y := 0; y < img.Rect.Dy(); y++ {
		for x := 0; x < img.Rect.Dx(); x++ {
			i := img.PixOffset(x, y)
			if near(img.Pix[i], c.R) && near(img.Pix[i+1], c.G) && near(img.Pix[i+2], c.B) {
				r = r.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	return r
}

// TestEntryFrameFromPixels finds the product in the rendered frames and checks that its box
// centre enters the ROI exactly at the truth's entry frame, and leaves right after its exit.
func TestEntryFrameFromPixels(t *testing.T) {
	products := []Product{solid("P", 150, 200, magenta)}
	cfg := quietConfig()
	products = append(products, solid("Q", 150, 200, magenta))
	s := &Scenario{Name: "entry", Config: cfg, Steps: []Step{
		idle(1.5), {Product: "P", From: Right, To: Left}, idle(0.8), {Product: "Q", From: Left, To: Right, In: secs(0.3), Out: secs(0.3)}, idle(1)}}
	g, err := s.Truth(products)
	if err != nil {
		t.Fatal(err)
	}
	var roi []fpt
	for _, p := range DefaultROI {
		roi = append(roi, fpt{p.X * float64(DefaultWidth), p.Y * float64(DefaultHeight)})
	}
	in := map[int]bool{} // frame -> centre inside, for the frames around entries and exits
	for _, v := range g.Visits {
		for _, f := range []int{v.EntryFrame - 1, v.EntryFrame, v.ExitFrame, v.ExitFrame + 1} {
			in[f] = false
		}
	}
	err = Render(s, products, func(i int, frame *image.RGBA) error {
		if _, ok := in[i]; !ok {
			return nil
		}
		box := bboxOf(frame, magenta, 0)
		if box.Min.X <= 0 || box.Max.X >= DefaultWidth || box.Dx() != 152 || box.Dy() != 202 {
			return fmt.Errorf("frame %d: product box %v, want 152x202 fully in the frame", i, box)
		}
		in[i] = inside(roi, centre(box))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range g.Visits {
		if in[v.EntryFrame-1] || !in[v.EntryFrame] || !in[v.ExitFrame] || in[v.ExitFrame+1] {
			t.Errorf("visit %+v: inside at entry-1, entry, exit, exit+1: %v %v %v %v", v,
				in[v.EntryFrame-1], in[v.EntryFrame], in[v.ExitFrame], in[v.ExitFrame+1])
		}
	}
}

// TestSpriteAndHand checks alpha compositing, that objects start and end outside the frame,
// and that a distractor and a holding hand are skin coloured.
func TestSpriteAndHand(t *testing.T) {
	// Left half transparent, right half magenta.
	img := image.NewRGBA(image.Rect(0, 0, 100, 200))
	for y := 0; y < 200; y++ {
		for x := 50; x < 100; x++ {
			img.SetRGBA(x, y, magenta)
		}
	}
	products := []Product{{Name: "half", Image: img}}
	s := &Scenario{Name: "alpha", Config: quietConfig(), Steps: []Step{
		idle(1.5), {Product: "half", From: Bottom, Hand: true}, idle(1), {Kind: Distractor}, idle(1)}}
	g, err := s.Truth(products)
	if err != nil {
		t.Fatal(err)
	}
	var first *image.RGBA
	hold := g.Visits[0].EntryFrame + 20 // held, centred on the roi
	distractor := (g.Distractors[0].EntryFrame + g.Distractors[0].ExitFrame) / 2
	stepStart := 45
	err = Render(s, products, func(i int, frame *image.RGBA) error {
		switch i {
		case 0:
			first = image.NewRGBA(frame.Rect)
			copy(first.Pix, frame.Pix)
		case stepStart, g.Frames - 1:
			if !bytes.Equal(frame.Pix, first.Pix) {
				return fmt.Errorf("frame %d: the object is not completely out of the frame", i)
			}
		case hold:
			box := bboxOf(frame, magenta, 0)
			scale := DefaultScale
			h := int(scale*DefaultHeight + 0.5)
			if box.Dy() < h*7/10 || box.Dx() < h/4-2 || box.Dx() > h/4+2 {
				return fmt.Errorf("held sprite's opaque half is %v, want about %dx%d", box, h/4, h)
			}
			// The transparent half shows the counter.
			for y := box.Min.Y; y < box.Min.Y+h/2; y++ {
				x := box.Min.X - h/8
				if frame.RGBAAt(x, y) != first.RGBAAt(x, y) {
					return fmt.Errorf("pixel (%d,%d) left of the opaque half is not the counter", x, y)
				}
			}
			if n := skinPixels(frame, first); n < 2000 {
				return fmt.Errorf("hold frame: %d skin pixels, want a hand", n)
			}
		case distractor:
			if n := skinPixels(frame, first); n < 4000 {
				return fmt.Errorf("distractor frame: %d skin pixels, want a hand", n)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Items) != 1 || g.Items["half"] != 1 || len(g.Distractors) != 1 {
		t.Errorf("truth %+v", g)
	}
}

// skinPixels counts changed pixels where red > green > blue, as in every skin tone.
func skinPixels(frame, bg *image.RGBA) int {
	n := 0
	for i := 0; i < len(frame.Pix); i += 4 {
		r, g, b := frame.Pix[i], frame.Pix[i+1], frame.Pix[i+2]
		if !bytes.Equal(frame.Pix[i:i+3], bg.Pix[i:i+3]) && r > g+15 && g > b+10 && r > 120 {
			n++
		}
	}
	return n
}

func hashFrames(t *testing.T, s *Scenario, products []Product) []string {
	t.Helper()
	var sums []string
	err := Render(s, products, func(_ int, f *image.RGBA) error {
		sums = append(sums, fmt.Sprintf("%x", sha256.Sum256(f.Pix)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

func TestDeterminism(t *testing.T) {
	products := SyntheticProducts(3, 7)
	again := SyntheticProducts(3, 7)
	for i := range products {
		a, b := products[i].Image.(*image.RGBA), again[i].Image.(*image.RGBA)
		if products[i].Name != again[i].Name || !bytes.Equal(a.Pix, b.Pix) {
			t.Fatalf("SyntheticProducts(3, 7) differs between calls at %d", i)
		}
	}
	cfg := DefaultConfig()
	cfg.Seed = 42
	s := &Scenario{Name: "det", Config: cfg, Steps: []Step{
		idle(1.2), {Product: products[0].Name, Hand: true, In: secs(0.3), Hold: secs(0.3), Out: secs(0.3)}, idle(0.6)}}
	a, b := hashFrames(t, s, products), hashFrames(t, s, products)
	if len(a) != len(b) {
		t.Fatalf("%d frames, then %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("frame %d differs between two renders", i)
		}
	}
	for i := 1; i < len(a); i++ {
		if a[i] == a[i-1] {
			t.Fatalf("frames %d and %d identical: no camera noise", i-1, i)
		}
	}
	s.Config.Seed = 43
	c := hashFrames(t, s, products)
	if c[0] == a[0] {
		t.Error("seed 43 renders the same first frame as seed 42")
	}
}

// renderIdle renders an empty counter and returns per-channel sample slices of its frames.
func renderIdle(t *testing.T, cfg Config, seconds float64) [][]uint8 {
	t.Helper()
	s := &Scenario{Name: "idle", Config: cfg, Steps: []Step{idle(seconds)}}
	var out [][]uint8
	err := Render(s, nil, func(_ int, f *image.RGBA) error {
		out = append(out, append([]uint8(nil), f.Pix...))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestNoiseAndFlicker(t *testing.T) {
	base := quietConfig()
	base.Width, base.Height = 160, 120
	clean := renderIdle(t, base, 1)
	for i := 1; i < len(clean); i++ {
		if !bytes.Equal(clean[i], clean[0]) {
			t.Fatal("noise- and flicker-free frames differ")
		}
	}
	bg := clean[0]

	for _, sigma := range []float64{2, 4} {
		cfg := base
		cfg.Noise = sigma
		frames := renderIdle(t, cfg, 1)
		var n, sum, sq, cross float64
		for f, px := range frames {
			for i := 0; i < len(px); i++ {
				if i%4 == 3 {
					continue
				}
				d := float64(px[i]) - float64(bg[i])
				sum += d
				sq += d * d
				n++
				if f > 0 {
					cross += d * (float64(frames[f-1][i]) - float64(bg[i]))
				}
			}
		}
		mean, std := sum/n, math.Sqrt(sq/n)
		corr := cross / sq
		if math.Abs(mean) > 0.05 || math.Abs(std-sigma) > 0.1*sigma || math.Abs(corr) > 0.02 {
			t.Errorf("noise %g: mean %.3f, std %.3f, frame-to-frame correlation %.3f", sigma, mean, std, corr)
		}
	}

	for _, amp := range []float64{0.03, 0.08} {
		cfg := base
		cfg.Flicker = amp
		frames := renderIdle(t, cfg, 10)
		lo, hi, jump := math.Inf(1), math.Inf(-1), 0.0
		prev := 1.0
		for f, px := range frames {
			var a, b float64
			for i := 0; i < len(px); i++ {
				if i%4 != 3 {
					a += float64(px[i])
					b += float64(bg[i])
				}
			}
			ratio := a / b
			lo, hi = math.Min(lo, ratio), math.Max(hi, ratio)
			if f > 0 {
				jump = math.Max(jump, math.Abs(ratio-prev))
			}
			prev = ratio
		}
		if lo < 1-amp-0.003 || hi > 1+amp+0.003 || hi-lo < amp || jump > amp/4 {
			t.Errorf("flicker %g: brightness %.4f-%.4f, largest frame-to-frame change %.4f", amp, lo, hi, jump)
		}
	}
}

func TestSyntheticProducts(t *testing.T) {
	products := SyntheticProducts(30, 3)
	names := map[string]bool{}
	var hists [][512]float64
	for _, p := range products {
		if names[p.Name] || p.Name == "" {
			t.Errorf("name %q repeated or empty", p.Name)
		}
		names[p.Name] = true
		if b := p.Image.Bounds(); b.Dx() != ProductWidth || b.Dy() != ProductHeight {
			t.Errorf("%s: %v", p.Name, b)
		}
		hists = append(hists, histogram(p.Image.(*image.RGBA)))
	}
	// The first twelve (a typical catalog) differ in their colours: little histogram overlap.
	worst := 0.0
	for i := 0; i < 12; i++ {
		for j := 0; j < i; j++ {
			overlap := 0.0
			for b := range hists[i] {
				overlap += math.Min(hists[i][b], hists[j][b])
			}
			worst = math.Max(worst, overlap)
			if overlap > 0.45 {
				t.Errorf("%s and %s: colour histograms overlap %.2f", products[i].Name, products[j].Name, overlap)
			}
		}
	}
	t.Logf("largest histogram overlap %.2f", worst)
	if other := SyntheticProducts(3, 99); bytes.Equal(other[0].Image.(*image.RGBA).Pix, products[0].Image.(*image.RGBA).Pix) {
		t.Error("seeds 3 and 4 give the same first product")
	}
}

func sq(v float64) float64 { return v * v }

// histogram is the share of pixels in each of 8x8x8 RGB bins.
func histogram(img *image.RGBA) [512]float64 {
	var h [512]float64
	n := float64(len(img.Pix) / 4)
	for i := 0; i < len(img.Pix); i += 4 {
		h[int(img.Pix[i]>>5)<<6|int(img.Pix[i+1]>>5)<<3|int(img.Pix[i+2]>>5)] += 1 / n
	}
	return h
}

// shortScenario is about 2.6 s: quick to encode and decode.
func shortScenario() *Scenario {
	cfg := DefaultConfig()
	cfg.Seed = 5
	return &Scenario{Name: "short", Config: cfg, Steps: []Step{
		idle(1.1), {Product: "Aurora Tea", In: secs(0.4), Hold: secs(0.3), Out: secs(0.3), Hand: true}, idle(0.5)}}
}

func TestY4M(t *testing.T) {
	products := SyntheticProducts(1, 1)
	s := shortScenario()
	g, err := s.Truth(products)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteY4M(&buf, s, products); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(bytes.NewReader(buf.Bytes()))
	header, err := r.ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(header, "YUV4MPEG2 W640 H480 F30:1 Ip A1:1 C420jpeg") {
		t.Errorf("header %q", header)
	}
	frameSize := 640 * 480 * 3 / 2
	if want := len(header) + g.Frames*(len("FRAME\n")+frameSize); buf.Len() != want {
		t.Errorf("y4m is %d bytes, want %d for %d frames", buf.Len(), want, g.Frames)
	}
	frame := make([]byte, frameSize)
	var first []byte
	for i := 0; i < g.Frames; i++ {
		line, err := r.ReadString('\n')
		if err != nil || line != "FRAME\n" {
			t.Fatalf("frame %d: header %q, %v", i, line, err)
		}
		if _, err := io.ReadFull(r, frame); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = append([]byte(nil), frame...)
		}
	}
	// Limited range luma, mid-tone counter; chroma planes near neutral for a muted counter.
	var ySum, uSum float64
	for _, v := range first[:640*480] {
		if v < 16 || v > 235 {
			t.Fatalf("luma %d outside the limited range", v)
		}
		ySum += float64(v)
	}
	for _, v := range first[640*480 : 640*480*5/4] {
		uSum += float64(v)
	}
	if y, u := ySum/(640*480), uSum/(640*480/4); y < 60 || y > 180 || u < 100 || u > 156 {
		t.Errorf("first frame mean Y %.1f, U %.1f", y, u)
	}

	// GStreamer reads it back, frame for frame.
	initGst()
	path := filepath.Join(t.TempDir(), "short.y4m")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	n, _, err := decode(fmt.Sprintf("filesrc location=%s ! y4mdec ! appsink name=out sync=false", path), -1)
	if err != nil || n != g.Frames {
		t.Errorf("y4mdec: %d frames, %v; want %d", n, err, g.Frames)
	}
}

func TestMP4(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	initGst()
	products := SyntheticProducts(1, 1)
	s := shortScenario()
	dir := t.TempDir()
	start := time.Now()
	video, truthPath, err := Generate(dir, s, products, "mp4")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("encoded in %v", time.Since(start))
	var g GroundTruth
	b, err := os.ReadFile(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &g); err != nil {
		t.Fatal(err)
	}
	if g.Scenario != "short" || g.Items["Aurora Tea"] != 1 || len(g.Visits) != 1 {
		t.Errorf("truth file %s", b)
	}
	if filepath.Base(video) != "short.mp4" {
		t.Errorf("video path %s", video)
	}

	// Decode, count frames and compare one held frame with the rendered one.
	check := g.Visits[0].EntryFrame + 10
	var want []byte
	if err := Render(s, products, func(i int, f *image.RGBA) error {
		if i == check {
			want = append([]byte(nil), f.Pix...)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	n, got, err := decode(fmt.Sprintf("filesrc location=%s ! decodebin ! videoconvert ! "+
		"video/x-raw,format=RGBA,width=640,height=480 ! appsink name=out sync=false", video), check)
	if err != nil {
		t.Fatal(err)
	}
	if n != g.Frames {
		t.Errorf("decoded %d frames, want %d", n, g.Frames)
	}
	if len(got) != len(want) {
		t.Fatalf("decoded frame %d is %d bytes, want %d", check, len(got), len(want))
	}
	// Luma PSNR after removing the mean difference: videoconvert's I420 to RGB conversion is
	// a few levels off, which says nothing about what the encoder kept.
	luma := func(p []byte, i int) float64 {
		return 0.299*float64(p[i]) + 0.587*float64(p[i+1]) + 0.114*float64(p[i+2])
	}
	var sum, sumSq float64
	for i := 0; i < len(got); i += 4 {
		d := luma(got, i) - luma(want, i)
		sum += d
		sumSq += d * d
	}
	n4 := float64(len(got) / 4)
	bias := sum / n4
	psnr := 10 * math.Log10(255*255/(sumSq/n4-bias*bias))
	if psnr < 38 || math.Abs(bias) > 6 {
		t.Errorf("decoded frame %d: luma PSNR %.1f dB (want >= 38), bias %.1f", check, psnr, bias)
	}
	t.Logf("frame %d: luma PSNR %.1f dB, bias %.1f", check, psnr, bias)
}

func TestGenerateRefuses(t *testing.T) {
	dir := t.TempDir()
	products := []Product{solid("P", 150, 200, magenta)}
	if _, _, err := Generate(dir, twoVisits(1.6), products, "y4m"); !errors.Is(err, ErrAmbiguous) {
		t.Errorf("err %v, want ErrAmbiguous", err)
	}
	if _, _, err := Generate(dir, twoVisits(0.4), products, "avi"); err == nil {
		t.Error("format avi accepted")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused scenarios left %d files", len(entries))
	}
}

var gstOnce sync.Once

func initGst() { gstOnce.Do(func() { gst.Init(nil) }) }

// decode runs launch (ending in `appsink name=out`) to EOS and returns the number of frames
// and a copy of frame keep (nil when keep < 0 or not reached).
func decode(launch string, keep int) (int, []byte, error) {
	pipeline, err := gst.NewPipelineFromString(launch)
	if err != nil {
		return 0, nil, err
	}
	defer pipeline.SetState(gst.StateNull)
	el, err := pipeline.GetElementByName("out")
	if err != nil {
		return 0, nil, err
	}
	var mu sync.Mutex
	n := 0
	var kept []byte
	app.SinkFromElement(el).SetCallbacks(&app.SinkCallbacks{
		NewSampleFunc: func(s *app.Sink) gst.FlowReturn {
			sample := s.PullSample()
			if sample == nil {
				return gst.FlowEOS
			}
			mu.Lock()
			defer mu.Unlock()
			if n == keep {
				kept = sample.GetBuffer().Bytes()
			}
			n++
			return gst.FlowOK
		},
	})
	if err := pipeline.SetState(gst.StatePlaying); err != nil {
		return 0, nil, err
	}
	msg := pipeline.GetPipelineBus().TimedPopFiltered(gst.ClockTime(time.Minute), gst.MessageEOS|gst.MessageError)
	switch {
	case msg == nil:
		return 0, nil, errors.New("no EOS within a minute")
	case msg.Type() == gst.MessageError:
		return 0, nil, msg.ParseError()
	}
	mu.Lock()
	defer mu.Unlock()
	return n, kept, nil
}

// BenchmarkRender measures rendering alone (no encoding), per frame, at 640x480.
func BenchmarkRender(b *testing.B) {
	products := SyntheticProducts(1, 1)
	s := &Scenario{Name: "bench", Config: DefaultConfig(), Steps: []Step{
		idle(1.5), {Product: products[0].Name, Hand: true}, idle(1)}}
	g, err := s.Truth(products)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := Render(s, products, func(int, *image.RGBA) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*g.Frames)/1e6, "ms/frame")
}
