package overlay_test

import (
	"fmt"
	"image"
	"strings"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/ebrcs/ebrcs/elements/framemeta"
	"github.com/ebrcs/ebrcs/elements/goelement"
	"github.com/ebrcs/ebrcs/pipelines"
	"github.com/ebrcs/ebrcs/roi"
	"github.com/ebrcs/ebrcs/testkit/gsttest"
)

// script is a test-only upstream element: it attaches a scripted framemeta.Frame (the ROI
// gate's view, a match and a cart) to every buffer, as the analysis elements will.
var script = &goelement.Definition[*scripter]{
	Info: goelement.Info{
		Name: "ebrcs_test_overlay_script", LongName: "test overlay script", Classification: "Filter/Video",
		Description: "attaches scripted frame metadata", Caps: "video/x-raw",
		Properties: []goelement.Property{
			{Name: "state", Kind: goelement.String, Default: "matched",
				Doc: "matched, unknown, pending (no match) or none (no metadata at all)"},
			{Name: "meta-width", Kind: goelement.Int, Default: 0, Min: 0, Max: 8192,
				Doc: "Frame.Width to declare; 0: the buffer's"},
			{Name: "meta-height", Kind: goelement.Int, Default: 0, Min: 0, Max: 8192,
				Doc: "Frame.Height to declare; 0: the buffer's"},
		},
	},
	New: func(p *goelement.Props) *scripter { return &scripter{props: p} },
}

type scripter struct{ props *goelement.Props }

// The script, in a 640×480 metadata space.
var (
	scriptROI = roi.Polygon{{X: 0.15, Y: 0.30}, {X: 0.70, Y: 0.30}, {X: 0.85, Y: 0.90}, {X: 0.15, Y: 0.90}}
	box       = image.Rect(200, 220, 400, 400)
)

func (s *scripter) Process(b *goelement.Buffer) error {
	state := s.props.String("state")
	if state == "none" {
		return nil
	}
	f := b.Meta()
	if w, h := s.props.Int("meta-width"), s.props.Int("meta-height"); w > 0 && h > 0 {
		f.Width, f.Height = w, h
	}
	f.Gate = &framemeta.Gate{ROI: scriptROI, Status: framemeta.ROIInside, Occupied: true, HasMain: true, Main: box}
	switch state {
	case "matched":
		f.Match = &framemeta.Match{Product: "Äpple Royal Gala", Score: 0.87, Known: true}
	case "unknown":
		f.Match = &framemeta.Match{Product: "Kaffe", Score: 0.41}
	}
	f.Cart = []framemeta.CartLine{{Product: "바나나", Quantity: 2}, {Product: "Äpple Royal Gala", Quantity: 1}, {Product: "Kaffe", Quantity: 3}}
	return nil
}

func setup(t testing.TB) {
	t.Helper()
	gsttest.Init(t)
	if gst.Find(script.Name) == nil {
		if err := script.Register(nil); err != nil {
			t.Fatal(err)
		}
	}
}

// Default colours, as "#rrggbb" parsed by hand: a test that re-used the element's parser
// could not catch its mistakes.
var (
	roiColor     = [3]byte{0x00, 0xc8, 0xff}
	matchColor   = [3]byte{0x00, 0xd2, 0x6a}
	unknownColor = [3]byte{0xff, 0x3b, 0x30}
	pendingColor = [3]byte{0xff, 0xcc, 0x00}
	white        = [3]byte{0xff, 0xff, 0xff}
)

// frame is one received frame with its format's byte order.
type frame struct {
	pix    []byte
	w, h   int
	format string
}

func (f frame) at(x, y int) [3]byte {
	i := 4 * (y*f.w + x)
	p := f.pix[i : i+3]
	if f.format[0] == 'B' {
		return [3]byte{p[2], p[1], p[0]}
	}
	return [3]byte{p[0], p[1], p[2]}
}

func (f frame) count(r image.Rectangle, pred func([3]byte) bool) int {
	n := 0
	r = r.Intersect(image.Rect(0, 0, f.w, f.h))
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if pred(f.at(x, y)) {
				n++
			}
		}
	}
	return n
}

func is(c [3]byte) func([3]byte) bool { return func(p [3]byte) bool { return p == c } }
func notBlack(p [3]byte) bool         { return p != [3]byte{} }

// run pushes black frames of format and size through the script and the overlay.
func run(t *testing.T, format string, w, h int, scriptProps, overlayProps string) []frame {
	t.Helper()
	launch := fmt.Sprintf("videotestsrc num-buffers=2 pattern=black ! video/x-raw,format=%s,width=%d,height=%d ! "+
		"ebrcs_test_overlay_script %s ! ebrcs_overlay %s ! appsink name=out sync=false", format, w, h, scriptProps, overlayProps)
	got := gsttest.Collect(t, launch, 20*time.Second)
	if len(got) != 2 {
		t.Fatalf("%d frames, want 2", len(got))
	}
	out := make([]frame, len(got))
	for i, g := range got {
		if len(g.Pixels) != 4*w*h {
			t.Fatalf("frame of %d bytes, want %d (a padded stride?)", len(g.Pixels), 4*w*h)
		}
		out[i] = frame{g.Pixels, w, h, format}
	}
	return out
}

// expectAt fails unless every listed pixel has colour want.
func expectAt(t *testing.T, f frame, what string, want [3]byte, pts []image.Point) {
	t.Helper()
	for _, p := range pts {
		if got := f.at(p.X, p.Y); got != want {
			t.Errorf("%s: pixel %v = %v, want %v", what, p, got, want)
			return
		}
	}
}

// Points on each part, in the 640×480 frame of the script (lines 2 px wide: vertices on pixel
// edges, so an edge at 144 covers rows 143 and 144).
func roiEdgePoints() []image.Point {
	var pts []image.Point
	for x := 110; x < 440; x += 9 {
		pts = append(pts, image.Pt(x, 143), image.Pt(x, 144), image.Pt(x, 431), image.Pt(x, 432)) // top, bottom
	}
	for y := 150; y < 425; y += 9 {
		pts = append(pts, image.Pt(95, y), image.Pt(96, y)) // left
		// The slanted edge (448,144)→(544,432): the pixel whose centre is nearest the line
		// is within half a pixel of it, so fully covered.
		x := 448 + (float64(y)+0.5-144)*96/288
		pts = append(pts, image.Pt(int(x), y))
	}
	return pts
}

func boxEdgePoints() []image.Point {
	var pts []image.Point
	for y := 224; y < 398; y += 7 {
		pts = append(pts, image.Pt(200, y), image.Pt(201, y), image.Pt(398, y), image.Pt(399, y))
	}
	for x := 200; x < 400; x += 7 {
		pts = append(pts, image.Pt(x, 220), image.Pt(x, 221), image.Pt(x, 398), image.Pt(x, 399))
	}
	return pts
}

var (
	insideBox   = image.Rect(203, 223, 397, 397)
	labelArea   = image.Rect(190, 150, 440, 220) // above the box, inside the ROI
	statusArea  = image.Rect(0, 0, 200, 70)
	cartArea    = image.Rect(380, 0, 640, 135)
	emptyCorner = image.Rect(0, 440, 90, 480) // outside everything drawn
)

// Every part is drawn where the metadata says, in the colour of the state, in every format's
// byte order, and nothing is drawn elsewhere.
func TestDrawsMetadata(t *testing.T) {
	setup(t)
	states := []struct {
		state string
		color [3]byte
		label bool
	}{
		{"matched", matchColor, true},
		{"unknown", unknownColor, true},
		{"pending", pendingColor, true}, // "Checking…": an object not yet recognised is labelled too
	}
	for _, format := range []string{"RGBA", "BGRx", "BGRA", "RGBx"} {
		for _, st := range states {
			t.Run(format+"/"+st.state, func(t *testing.T) {
				for _, f := range run(t, format, 640, 480, "state="+st.state, "") {
					expectAt(t, f, "ROI edge", roiColor, roiEdgePoints())
					expectAt(t, f, "box edge", st.color, boxEdgePoints())
					if n := f.count(insideBox, notBlack); n != 0 {
						t.Errorf("%d pixels drawn inside the box", n)
					}
					if n := f.count(emptyCorner, notBlack); n != 0 {
						t.Errorf("%d pixels drawn in an empty corner", n)
					}
					text, tab := f.count(labelArea, is(white)), f.count(labelArea, is(st.color))
					if st.label && (text < 30 || tab < 300) {
						t.Errorf("label: %d text pixels, %d background pixels", text, tab)
					}
					if !st.label && f.count(labelArea, notBlack) != 0 {
						t.Errorf("a label without a match")
					}
					if n, sw := f.count(statusArea, is(white)), f.count(statusArea, is(roiColor)); n < 20 || sw < 20 {
						t.Errorf("status badge: %d text pixels, %d swatch pixels", n, sw)
					}
					if n := f.count(cartArea, is(white)); n < 100 {
						t.Errorf("cart: %d text pixels", n)
					}
				}
			})
		}
	}
}

// Each show-* property turns its part off and leaves the others.
func TestShowProperties(t *testing.T) {
	setup(t)
	type check func(f frame) (drawn bool)
	parts := map[string]check{
		"show-roi": func(f frame) bool { return f.count(image.Rect(110, 143, 180, 145), is(roiColor)) > 0 },
		"show-box": func(f frame) bool { return f.count(image.Rect(200, 300, 202, 380), is(matchColor)) > 0 },
		"show-label": func(f frame) bool {
			return f.count(labelArea, notBlack) > 0
		},
		"show-status": func(f frame) bool { return f.count(statusArea, notBlack) > 0 },
		"show-cart":   func(f frame) bool { return f.count(cartArea, notBlack) > 0 },
	}
	for off := range parts {
		t.Run(off, func(t *testing.T) {
			for _, f := range run(t, "RGBA", 640, 480, "", off+"=false") {
				for name, drawn := range parts {
					if got := drawn(f); got != (name != off) {
						t.Errorf("%s=false: %s drawn = %v", off, name, got)
					}
				}
			}
		})
	}
}

// A frame without metadata passes byte for byte.
func TestNoMetadataNoDrawing(t *testing.T) {
	setup(t)
	for _, f := range run(t, "BGRx", 320, 240, "state=none", "") {
		if n := f.count(image.Rect(0, 0, 320, 240), notBlack); n != 0 {
			t.Fatalf("%d pixels drawn without metadata", n)
		}
	}
}

// Colour properties apply, in both byte orders, and a translucent colour blends.
func TestColorProperties(t *testing.T) {
	setup(t)
	props := `roi-color="#102030" match-color="#a0b0c0" text-color="#405060" panel-color="#00000000" line-width=4`
	for _, format := range []string{"RGBA", "BGRx"} {
		for _, f := range run(t, format, 640, 480, "", props) {
			// 4 px wide: an edge at 144 covers rows 142–145, the box's left edge columns 200–203.
			expectAt(t, f, "ROI", [3]byte{0x10, 0x20, 0x30}, []image.Point{{120, 142}, {120, 145}, {94, 300}, {97, 300}})
			expectAt(t, f, "box", [3]byte{0xa0, 0xb0, 0xc0}, []image.Point{{200, 300}, {203, 300}})
			expectAt(t, f, "inside box", [3]byte{}, []image.Point{{204, 300}})
			if f.count(statusArea, is([3]byte{0x40, 0x50, 0x60})) == 0 {
				t.Error("text colour not applied")
			}
		}
	}
	// Half-transparent red over black.
	for _, f := range run(t, "RGBA", 640, 480, "", `roi-color="#ff000080"`) {
		expectAt(t, f, "translucent ROI", [3]byte{0x80, 0, 0}, []image.Point{{120, 144}, {300, 432}})
	}
}

// A bad colour set at run time is refused (a warning) and the previous colour stays.
func TestBadColorAtRunTimeKeepsPrevious(t *testing.T) {
	setup(t)
	for _, f := range run(t, "RGBA", 640, 480, "", `roi-color="#00ff00" roi-color="green" roi-color="#12345"`) {
		expectAt(t, f, "ROI", [3]byte{0, 0xff, 0}, []image.Point{{120, 144}})
	}
}

// Metadata computed on 640×480 lands at half the coordinates on a 320×240 frame, whether a
// scaler sits between (the metadata keeps its size) or the frame simply declares its size.
func TestScalesToTheFrame(t *testing.T) {
	setup(t)
	cases := map[string]string{
		"videoscale": "videotestsrc num-buffers=2 pattern=black ! video/x-raw,format=RGBA,width=640,height=480 ! " +
			"ebrcs_test_overlay_script ! videoscale ! video/x-raw,width=320,height=240 ! ebrcs_overlay ! appsink name=out sync=false",
		"declared size": "videotestsrc num-buffers=2 pattern=black ! video/x-raw,format=RGBA,width=320,height=240 ! " +
			"ebrcs_test_overlay_script meta-width=640 meta-height=480 ! ebrcs_overlay ! appsink name=out sync=false",
	}
	for name, launch := range cases {
		t.Run(name, func(t *testing.T) {
			got := gsttest.Collect(t, launch, 20*time.Second)
			if len(got) != 2 {
				t.Fatalf("%d frames", len(got))
			}
			for _, g := range got {
				if g.Meta == nil || g.Meta.Width != 640 || g.Meta.Height != 480 {
					t.Fatalf("metadata %+v, want a 640x480 space", g.Meta)
				}
				f := frame{g.Pixels, 320, 240, "RGBA"}
				// Line width 2 at 480 lines is 1 px at 240: the box (200,220)-(400,400) is
				// outlined by column 100 and row 110; column 101 is inside.
				var edge []image.Point
				for y := 115; y < 195; y += 5 {
					edge = append(edge, image.Pt(100, y), image.Pt(199, y))
				}
				for x := 105; x < 195; x += 5 {
					edge = append(edge, image.Pt(x, 199))
				}
				expectAt(t, f, "box edge", matchColor, edge)
				if n := f.count(image.Rect(101, 111, 199, 199), notBlack); n != 0 {
					t.Errorf("%d pixels drawn inside the half-size box", n)
				}
				// The unscaled box would have its left edge at x=200: in the half-size frame
				// that column inside the ROI but outside the box is black.
				if n := f.count(image.Rect(200, 120, 201, 200), notBlack); n != 0 {
					t.Errorf("drawn at unscaled coordinates")
				}
				// ROI (normalised) at 0.30×240 = 72 and 0.15×320 = 48.
				expectAt(t, f, "ROI edge", roiColor, []image.Point{{60, 72}, {200, 72}, {48, 150}, {60, 216}})
				// Text 9 px high is antialiased: light grey, rarely pure white.
				light := func(p [3]byte) bool { return p[0] == p[1] && p[1] == p[2] && p[0] >= 128 }
				if f.count(image.Rect(0, 0, 320, 240), light) < 100 {
					t.Error("no text (label, status, cart) at the half-size frame")
				}
			}
		})
	}
}

// A font that cannot be loaded stops the pipeline when it starts, naming the file.
func TestStartFailsWithoutFont(t *testing.T) {
	setup(t)
	pipeline, err := gst.NewPipelineFromString("videotestsrc num-buffers=2 ! video/x-raw,format=RGBA,width=64,height=48 ! " +
		"ebrcs_overlay name=ov font=/nonexistent/font.ttf ! fakesink")
	if err != nil {
		t.Fatal(err)
	}
	defer pipeline.SetState(gst.StateNull)
	if err := pipeline.SetState(gst.StatePlaying); err == nil {
		t.Error("the pipeline started without its font")
	}
	msg := pipeline.GetPipelineBus().TimedPopFiltered(gst.ClockTime(5*time.Second), gst.MessageError)
	if msg == nil {
		t.Fatal("no error message on the bus")
	}
	if text := msg.ParseError().Error(); msg.Source() != "ov" || !strings.Contains(text, "/nonexistent/font.ttf") {
		t.Fatalf("error from %s: %q, want one from the overlay naming the font", msg.Source(), text)
	}
}

// The YAML validator applies the colour Check, at the value's line and column.
func TestYAMLRefusesBadColors(t *testing.T) {
	setup(t)
	const head = "source: {type: test}\nelements:\n  - element: videoconvert\n  - caps: video/x-raw,format=RGBA\n  - element: ebrcs_overlay\n    properties:\n"
	good := head + "      roi-color: \"#00ff00\"\n      panel-color: \"#00000080\"\n      font-size: 24\nsink: {type: fake}\n"
	if _, err := pipelines.Load("good.yaml", []byte(good)); err != nil {
		t.Fatalf("valid colours refused: %v", err)
	}
	for value, want := range map[string]string{
		`"#12345"`:     "p.yaml:7:18: ",
		`"#gg0000"`:    "p.yaml:7:18: ",
		`"red"`:        "p.yaml:7:18: ",
		`"00ff00"`:     "p.yaml:7:18: ",
		`"#00ff00ff0"`: "p.yaml:7:18: ",
	} {
		bad := head + "      roi-color: " + value + "\nsink: {type: fake}\n"
		_, err := pipelines.Load("p.yaml", []byte(bad))
		if err == nil {
			t.Errorf("roi-color: %s accepted", value)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, want) || !strings.Contains(msg, "roi-color") || !strings.Contains(msg, "#rrggbb") {
			t.Errorf("roi-color: %s: error %q, want it at %s naming the property and the syntax", value, msg, want)
		}
	}
}
