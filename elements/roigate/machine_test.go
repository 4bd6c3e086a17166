package roigate_test

import (
	"fmt"
	"image"
	"slices"
	"strings"
	"testing"

	"github.com/ebrcs/ebrcs/elements/framemeta"
	"github.com/ebrcs/ebrcs/elements/roigate"
	"github.com/ebrcs/ebrcs/roi"
)

// The fixtures are at the reference size, 960×540, with the centre square of the frame as ROI:
// x in [240, 720], y in [135, 405] pixels.
const W, H = 960, 540

var square = mustPolygon("0.25,0.25;0.75,0.25;0.75,0.75;0.25,0.75")

// in's padded box is centred on the frame (inside the square); out's centre is at x = 90 px.
var (
	in  = []framemeta.Blob{blob(430, 220, 530, 320)}
	out = []framemeta.Blob{blob(40, 220, 140, 320)}
)

const (
	empty   = framemeta.ROIEmpty
	outside = framemeta.ROIOutside
	entered = framemeta.ROIEntered
	inside  = framemeta.ROIInside
)

func mustPolygon(s string) []roi.Point {
	p, err := roi.Parse(s)
	if err != nil {
		panic(err)
	}
	return p
}

func blob(x0, y0, x1, y1 int) framemeta.Blob {
	return framemeta.Blob{Box: image.Rect(x0, y0, x1, y1), Area: float64((x1 - x0) * (y1 - y0))}
}

// want is the expected decision on one frame; flags holds O (occupied), E (entry) and R
// (recognize), the flags that are true.
type want struct {
	status framemeta.ROIStatus
	flags  string
}

func (w want) String() string { return fmt.Sprintf("%s %q", w.status, w.flags) }

// step is one frame: an optional change to the machine before it, its blobs, what the gate
// must say.
type step struct {
	before func(m *roigate.Machine)
	blobs  []framemeta.Blob
	want   want
}

func frame(blobs []framemeta.Blob, status framemeta.ROIStatus, flags string) step {
	return step{blobs: blobs, want: want{status, flags}}
}

// times repeats a step n times.
func times(n int, s step) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func seq(parts ...any) []step {
	var all []step
	for _, p := range parts {
		switch p := p.(type) {
		case step:
			all = append(all, p)
		case []step:
			all = append(all, p...)
		default:
			panic(fmt.Sprintf("seq: %T", p))
		}
	}
	return all
}

func setROI(poly []roi.Point) func(*roigate.Machine) {
	return func(m *roigate.Machine) { m.SetROI(poly) }
}

// check compares one gate with what the step wants, plus the invariants every gate keeps.
func check(t *testing.T, i int, m *roigate.Machine, g framemeta.Gate, w want, frameNumber int64) {
	t.Helper()
	got := want{g.Status, flags(g)}
	if got != w {
		t.Errorf("frame %d: got %v, want %v (gate %+v)", i+1, got, w, g)
	}
	if g.FrameNumber != frameNumber {
		t.Errorf("frame %d: FrameNumber %d, want %d", i+1, g.FrameNumber, frameNumber)
	}
	if g.HasMain != (g.Status != empty) {
		t.Errorf("frame %d: HasMain %v with status %s", i+1, g.HasMain, g.Status)
	}
	if !g.HasMain && g.Main != (image.Rectangle{}) {
		t.Errorf("frame %d: Main %v without HasMain", i+1, g.Main)
	}
	wantCrop := image.Rectangle{}
	if g.Recognize {
		wantCrop = g.Main
	}
	if g.Crop != wantCrop {
		t.Errorf("frame %d: Crop %v, want %v (Recognize %v, Main %v)", i+1, g.Crop, wantCrop, g.Recognize, g.Main)
	}
	if !slices.Equal(g.ROI, m.ROI()) || (g.ROI == nil) != (m.ROI() == nil) {
		t.Errorf("frame %d: gate ROI %v, machine ROI %v", i+1, g.ROI, m.ROI())
	}
}

func flags(g framemeta.Gate) string {
	var b strings.Builder
	for _, f := range []struct {
		on bool
		c  byte
	}{{g.Occupied, 'O'}, {g.Entry, 'E'}, {g.Recognize, 'R'}} {
		if f.on {
			b.WriteByte(f.c)
		}
	}
	return b.String()
}

func run(t *testing.T, m *roigate.Machine, width, height int, steps []step) []framemeta.Gate {
	t.Helper()
	gates := make([]framemeta.Gate, len(steps))
	for i, s := range steps {
		if s.before != nil {
			s.before(m)
		}
		gates[i] = m.Step(s.blobs, width, height)
		check(t, i, m, gates[i], s.want, int64(i+1))
	}
	return gates
}

// Every branch of the state machine, as timelines of frames at the defaults (N = 5,
// roi-clear-frames = 8, entry mode on) unless the case says otherwise.
func TestMachineTimelines(t *testing.T) {
	tests := []struct {
		name  string
		setup func(m *roigate.Machine)
		steps []step
	}{
		{"no blobs", nil, times(10, frame(nil, empty, ""))},
		{"main outside", nil, times(10, frame(out, outside, ""))},
		{"entering, then staying: one entry, recognised on entry and every 5th frame", nil, seq(
			frame(out, outside, ""),
			frame(out, outside, ""),
			frame(in, entered, "OER"), // 3: entry, recognised although 3 % 5 != 0
			frame(in, inside, "O"),
			frame(in, inside, "OR"), // 5
			times(4, frame(in, inside, "O")),
			frame(in, inside, "OR"), // 10
			frame(in, inside, "O"),
		)},
		{"entering on an N-th frame is one recognition", nil, seq(
			times(4, frame(nil, empty, "")),
			frame(in, entered, "OER"), // 5: entry and N-th at once
			times(4, frame(in, inside, "O")),
			frame(in, inside, "OR"),
		)},
		{"leaving and coming back before roi-clear-frames: no new entry", nil, seq(
			frame(in, entered, "OER"),
			times(3, frame(nil, empty, "O")), // 2-4
			frame(out, outside, "O"),         // 5: outside counts as empty; not recognised
			times(2, frame(nil, empty, "O")), // 6-7: 6 empty frames so far
			frame(in, inside, "O"),           // 8: back, still occupied
			frame(in, inside, "O"),
			frame(in, inside, "OR"), // 10
		)},
		{"exactly roi-clear-frames - 1 empty frames: still occupied", nil, seq(
			frame(in, entered, "OER"),
			times(7, frame(nil, empty, "O")), // 2-8
			frame(in, inside, "O"),           // 9
			frame(in, inside, "OR"),          // 10
		)},
		{"exactly roi-clear-frames empty frames: free, the return is a new entry", nil, seq(
			frame(in, entered, "OER"),
			times(7, frame(nil, empty, "O")), // 2-8
			frame(nil, empty, ""),            // 9: the 8th empty frame frees the ROI
			frame(out, outside, ""),          // 10: free and outside: nothing to recognise
			frame(in, entered, "OER"),        // 11: a new entry
			frame(in, inside, "O"),
		)},
		{"the empty count restarts when the object is back", nil, seq(
			frame(in, entered, "OER"),
			times(6, frame(out, outside, "O")), // 2-7
			frame(in, inside, "O"),             // 8: count back to 0
			times(7, frame(out, outside, "O")), // 9-15: 7 empty frames since the return
			frame(in, inside, "O"),             // 16: still occupied
		)},
		{"small boxes are no candidate, and count as empty frames", nil, seq(
			// A zero-width box is 20 px wide once padded: not more than min-size.
			frame([]framemeta.Blob{blob(480, 220, 480, 320)}, empty, ""),
			// One pixel wide: 21 px, a candidate.
			frame([]framemeta.Blob{blob(480, 220, 481, 320)}, entered, "OER"),
			// Zero height.
			times(7, frame([]framemeta.Blob{blob(430, 270, 530, 270)}, empty, "O")), // 3-9
			frame([]framemeta.Blob{blob(430, 270, 530, 270)}, empty, ""),            // 10: 8th empty frame
			frame([]framemeta.Blob{blob(430, 270, 530, 271)}, entered, "OER"),
		)},
		{"only the largest blob counts", nil, seq(
			// The main (first) blob is outside; a smaller one inside does not matter.
			frame(append(slices.Clone(out), in...), outside, ""),
			// The main blob is too small: no candidate, even with a big one after it.
			frame(append([]framemeta.Blob{blob(480, 220, 480, 320)}, in...), empty, ""),
			frame(append(slices.Clone(in), out...), entered, "OER"),
		)},
		{"entry mode off: the entry is reported but only N-th frames are recognised", func(m *roigate.Machine) { m.EntryMode = false }, seq(
			frame(out, outside, ""),
			frame(out, outside, ""),
			frame(in, entered, "OE"), // 3
			frame(in, inside, "O"),
			frame(in, inside, "OR"),          // 5
			times(7, frame(nil, empty, "O")), // 6-12
			frame(nil, empty, ""),            // 13: freed
			frame(in, entered, "OE"),         // 14
			frame(in, inside, "OR"),          // 15
		)},
		{"N = 1: every inside frame", func(m *roigate.Machine) { m.EveryN = 1 }, seq(
			frame(out, outside, ""),
			frame(in, entered, "OER"),
			times(3, frame(in, inside, "OR")),
			frame(nil, empty, "O"),
			frame(out, outside, "O"),
			frame(in, inside, "OR"),
		)},
		{"N = 3, roi-clear-frames = 2", func(m *roigate.Machine) { m.EveryN, m.ClearFrames = 3, 2 }, seq(
			frame(in, entered, "OER"),
			frame(in, inside, "O"),
			frame(in, inside, "OR"), // 3
			frame(nil, empty, "O"),
			frame(in, inside, "O"), // 5: one empty frame is not enough
			frame(nil, empty, "O"),
			frame(nil, empty, ""), // 7: the second one is
			frame(in, entered, "OER"),
			frame(in, inside, "OR"), // 9
		)},
		{"no ROI: every candidate is inside, recognised every N-th frame, never an entry", func(m *roigate.Machine) { m.SetROI(nil) }, seq(
			frame(in, inside, ""),
			frame(out, inside, ""), // no region to be outside of
			frame(nil, empty, ""),
			frame(in, inside, ""),
			frame(out, inside, "R"), // 5
			times(4, frame(nil, empty, "")),
			frame(nil, empty, ""), // 10: N-th frame, but nothing to recognise
			frame([]framemeta.Blob{blob(480, 220, 480, 320)}, empty, ""),
		)},
		{"no ROI with N = 1", func(m *roigate.Machine) { m.SetROI(nil); m.EveryN = 1 }, seq(
			frame(in, inside, "R"),
			frame(nil, empty, ""),
			frame(out, inside, "R"),
		)},
		{"tunables changed mid-stream apply from the next frame", nil, seq(
			frame(in, entered, "OER"),
			step{before: func(m *roigate.Machine) { m.EveryN = 2 }, blobs: in, want: want{inside, "OR"}}, // 2
			frame(in, inside, "O"),
			step{before: func(m *roigate.Machine) { m.ClearFrames = 1 }, blobs: nil, want: want{empty, ""}}, // 4
			step{before: func(m *roigate.Machine) { m.EntryMode = false }, blobs: in, want: want{entered, "OE"}},
		)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := roigate.NewMachine()
			m.SetROI(square)
			if tc.setup != nil {
				tc.setup(m)
			}
			run(t, m, W, H, tc.steps)
		})
	}
}

// The ROI can change between any two frames. A different polygon frees the region (an object
// in the new one has not entered it yet); the same polygon again changes nothing.
func TestMachineROIChangesMidStream(t *testing.T) {
	left := mustPolygon("0,0;0.5,0;0.5,1;0,1")  // contains in's centre (0.5 is on its edge) and out's
	right := mustPolygon("0.6,0;1,0;1,1;0.6,1") // contains neither
	tests := []struct {
		name  string
		steps []step
	}{
		{"to another polygon still containing the object: a new entry", seq(
			frame(in, entered, "OER"),
			frame(in, inside, "O"),
			step{before: setROI(left), blobs: in, want: want{entered, "OER"}}, // 3
			frame(in, inside, "O"),
			frame(out, inside, "OR"), // 5: out is in left too, and the ROI is still occupied
		)},
		{"to the same polygon: nothing changes", seq(
			frame(in, entered, "OER"),
			step{before: setROI(mustPolygon(roi.Format(square))), blobs: in, want: want{inside, "O"}},
			frame(in, inside, "O"),
		)},
		{"to a polygon not containing the object: outside and free", seq(
			frame(in, entered, "OER"),
			step{before: setROI(right), blobs: in, want: want{outside, ""}},
			frame(in, outside, ""),
			step{before: setROI(square), blobs: in, want: want{entered, "OER"}},
		)},
		{"ROI removed, then set again", seq(
			frame(in, entered, "OER"),
			step{before: setROI(nil), blobs: in, want: want{inside, ""}},
			frame(out, inside, ""),
			frame(nil, empty, ""),
			frame(in, inside, "R"), // 5, no ROI
			step{before: setROI(square), blobs: in, want: want{entered, "OER"}},
			frame(out, outside, "O"),
		)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := roigate.NewMachine()
			m.SetROI(square)
			run(t, m, W, H, tc.steps)
		})
	}
}

// The main box is the first blob's, padded by pad on every side, clamped to the frame; the
// inside test uses the centre of that clamped box.
func TestMachineMainBox(t *testing.T) {
	tests := []struct {
		name          string
		width, height int
		pad, minSize  int // 0, 0: the defaults
		blob          framemeta.Blob
		wantMain      image.Rectangle // empty: no candidate
	}{
		{"padded", W, H, 0, 0, blob(430, 220, 530, 320), image.Rect(420, 210, 540, 330)},
		{"clamped top left", W, H, 0, 0, blob(0, 3, 50, 40), image.Rect(0, 0, 60, 50)},
		{"clamped bottom right", W, H, 0, 0, blob(930, 510, 960, 540), image.Rect(920, 500, 960, 540)},
		{"box beyond the frame", W, H, 0, 0, blob(900, 500, 1000, 600), image.Rect(890, 490, 960, 540)},
		{"clamped too small", W, H, 0, 0, blob(0, 0, 5, 5), image.Rectangle{}},
		{"clamped to exactly min-size wide", W, H, 0, 0, blob(0, 100, 10, 200), image.Rectangle{}},
		{"clamped to min-size + 1", W, H, 0, 0, blob(0, 100, 11, 200), image.Rect(0, 90, 21, 210)},
		{"zero width at 960", W, H, 0, 0, blob(100, 100, 100, 200), image.Rectangle{}},
		{"one pixel at 960", W, H, 0, 0, blob(100, 100, 101, 200), image.Rect(90, 90, 111, 210)},
		{"zero height at 960", W, H, 0, 0, blob(100, 100, 200, 100), image.Rectangle{}},
		// At 480 px wide, pad 10 and min-size 20 become 5 and 10.
		{"padded at 480", 480, 270, 0, 0, blob(100, 100, 150, 150), image.Rect(95, 95, 155, 155)},
		{"zero width at 480", 480, 270, 0, 0, blob(100, 100, 100, 150), image.Rectangle{}},
		{"one pixel at 480", 480, 270, 0, 0, blob(100, 100, 101, 150), image.Rect(95, 95, 106, 155)},
		{"clamped at 480", 480, 270, 0, 0, blob(0, 0, 5, 50), image.Rectangle{}}, // 10 wide
		{"clamped at 480, min-size + 1", 480, 270, 0, 0, blob(0, 0, 6, 50), image.Rect(0, 0, 11, 55)},
		// pad 0, min-size 40: a 30 px box is too small at 960 but not at 480 (threshold 20).
		{"30 px, min-size 40, at 960", W, H, -1, 40, blob(100, 100, 130, 200), image.Rectangle{}},
		{"30 px, min-size 40, at 480", 480, 270, -1, 40, blob(100, 100, 130, 200), image.Rect(100, 100, 130, 200)},
		{"20 px, min-size 40, at 480", 480, 270, -1, 40, blob(100, 100, 120, 200), image.Rectangle{}},
		{"21 px, min-size 40, at 480", 480, 270, -1, 40, blob(100, 100, 121, 200), image.Rect(100, 100, 121, 200)},
		{"20 px high, min-size 40, at 480", 480, 270, -1, 40, blob(100, 100, 200, 120), image.Rectangle{}},
		{"41 px, min-size 40, at 960", W, H, -1, 40, blob(100, 100, 141, 200), image.Rect(100, 100, 141, 200)},
		// At 640: pad round(6.67) = 7, min-size round(13.3) = 13.
		{"padded at 640", 640, 360, 0, 0, blob(100, 100, 200, 200), image.Rect(93, 93, 207, 207)},
		{"at 1920 pad doubles", 1920, 1080, 0, 0, blob(100, 100, 200, 200), image.Rect(80, 80, 220, 220)},
		{"no frame size", 0, 0, 0, 0, blob(100, 100, 200, 200), image.Rectangle{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := roigate.NewMachine() // no ROI: a candidate is "inside" wherever it is
			if tc.pad != 0 || tc.minSize != 0 {
				m.Pad, m.MinSize = max(tc.pad, 0), tc.minSize
			}
			g := m.Step([]framemeta.Blob{tc.blob}, tc.width, tc.height)
			if g.Main != tc.wantMain || g.HasMain != (tc.wantMain != image.Rectangle{}) {
				t.Fatalf("Main %v HasMain %v, want %v", g.Main, g.HasMain, tc.wantMain)
			}
			wantStatus := empty
			if g.HasMain {
				wantStatus = inside
			}
			if g.Status != wantStatus {
				t.Fatalf("status %s, want %s", g.Status, wantStatus)
			}
		})
	}
}

func TestScale(t *testing.T) {
	for _, tc := range []struct{ px, width, want int }{
		{10, 960, 10}, {20, 960, 20}, {10, 480, 5}, {20, 480, 10}, {10, 640, 7}, {20, 640, 13},
		{10, 1920, 20}, {10, 48, 1} /* 0.5 rounds up */, {10, 47, 0}, {10, 0, 0}, {0, 960, 0},
	} {
		if got := roigate.Scale(tc.px, tc.width); got != tc.want {
			t.Errorf("Scale(%d, %d) = %d, want %d", tc.px, tc.width, got, tc.want)
		}
	}
}

// The inside test takes the centre of the padded box after clamping: here the blob's own
// centre (x = 25 px) is left of the ROI's edge (x = 27 px) but the clamped box's (30 px) is
// right of it.
func TestMachineCentreOfClampedBox(t *testing.T) {
	m := roigate.NewMachine()
	m.SetROI(mustPolygon("0.028125,0;1,0;1,1;0.028125,1")) // x = 27 px at 960
	g := m.Step([]framemeta.Blob{blob(0, 200, 50, 300)}, W, H)
	if g.Main != image.Rect(0, 190, 60, 310) || g.Status != entered {
		t.Fatalf("gate %+v, want Main (0,190)-(60,310) entered", g)
	}
}

// Centres exactly on the outline are inside on every edge and vertex; a concave polygon's notch
// is outside.
func TestMachineEdgesAndConcavePolygon(t *testing.T) {
	// A U: the notch is x in (0.4, 0.6), y in [0.1, 0.6).
	u := mustPolygon("0.1,0.1;0.4,0.1;0.4,0.6;0.6,0.6;0.6,0.1;0.9,0.1;0.9,0.9;0.1,0.9")
	// box returns a 100×100 blob whose padded box is centred on (cx, cy) pixels.
	box := func(cx, cy int) []framemeta.Blob { return []framemeta.Blob{blob(cx-50, cy-50, cx+50, cy+50)} }
	tests := []struct {
		name   string
		roi    []roi.Point
		blobs  []framemeta.Blob
		status framemeta.ROIStatus
	}{
		{"square: left edge", square, box(240, 270), entered},
		{"square: right edge", square, box(720, 270), entered},
		{"square: top edge", square, box(480, 135), entered},
		{"square: bottom edge", square, box(480, 405), entered},
		{"square: corner", square, box(720, 405), entered},
		{"square: just outside the right edge", square, box(721, 270), outside},
		{"square: just outside the top edge", square, box(480, 134), outside},
		{"U: in the notch", u, box(480, 162), outside},                 // (0.5, 0.3)
		{"U: left arm", u, box(240, 162), entered},                     // (0.25, 0.3)
		{"U: right arm", u, box(720, 162), entered},                    // (0.75, 0.3)
		{"U: base", u, box(480, 405), entered},                         // (0.5, 0.75)
		{"U: on the notch's floor", u, box(480, 324), entered},         // (0.5, 0.6)
		{"U: just above the notch's floor", u, box(480, 323), outside}, // (0.5, 0.598)
		{"U: on the notch's side", u, box(384, 162), entered},          // (0.4, 0.3)
		{"U: on a reflex vertex", u, box(576, 324), entered},           // (0.6, 0.6)
		{"U: level with the notch's floor, outside", u, box(60, 324), outside},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := roigate.NewMachine()
			m.SetROI(tc.roi)
			if g := m.Step(tc.blobs, W, H); g.Status != tc.status {
				t.Fatalf("status %s, want %s (main %v)", g.Status, tc.status, g.Main)
			}
		})
	}
}

// Reset starts the stream over: numbering from 1, the ROI free; the ROI itself is kept.
func TestMachineReset(t *testing.T) {
	m := roigate.NewMachine()
	m.SetROI(square)
	run(t, m, W, H, seq(frame(in, entered, "OER"), frame(in, inside, "O"), frame(in, inside, "O")))
	m.Reset()
	if m.Frames() != 0 || m.Occupied() {
		t.Fatalf("after Reset: frames %d occupied %v", m.Frames(), m.Occupied())
	}
	run(t, m, W, H, seq(frame(in, entered, "OER"), frame(in, inside, "O")))
}

// The gate owns its polygon: it travels on the buffer, and whatever a later element does to it
// must not reach the machine.
func TestGateROIIsACopy(t *testing.T) {
	m := roigate.NewMachine()
	m.SetROI(square)
	g := m.Step(in, W, H)
	g.ROI[0] = roi.Point{X: 1, Y: 1}
	if !slices.Equal(m.ROI(), square) {
		t.Fatalf("machine ROI changed through the gate: %v", m.ROI())
	}
	poly := slices.Clone(square)
	m.SetROI(poly)
	poly[0] = roi.Point{X: 1, Y: 1}
	if !slices.Equal(m.ROI(), square) {
		t.Fatalf("machine ROI changed through SetROI's argument: %v", m.ROI())
	}
}

func TestContains(t *testing.T) {
	tri := mustPolygon("0,0;1,0;0,1")
	// A bow tie: two triangles meeting at (0.5, 0.5).
	bow := mustPolygon("0,0;1,1;1,0;0,1")
	tests := []struct {
		name string
		poly []roi.Point
		p    roi.Point
		want bool
	}{
		{"square centre", square, roi.Point{X: 0.5, Y: 0.5}, true},
		{"square outside", square, roi.Point{X: 0.1, Y: 0.5}, false},
		{"square left edge", square, roi.Point{X: 0.25, Y: 0.5}, true},
		{"square right edge", square, roi.Point{X: 0.75, Y: 0.5}, true},
		{"square bottom edge", square, roi.Point{X: 0.5, Y: 0.75}, true},
		{"square vertex", square, roi.Point{X: 0.75, Y: 0.75}, true},
		{"square, on the edge's line beyond the vertex", square, roi.Point{X: 0.8, Y: 0.75}, false},
		{"triangle hypotenuse", tri, roi.Point{X: 0.5, Y: 0.5}, true},
		{"triangle hypotenuse, 0.3/0.7", tri, roi.Point{X: 0.3, Y: 0.7}, true},
		{"triangle just beyond the hypotenuse", tri, roi.Point{X: 0.5, Y: 0.5000001}, false},
		{"triangle inside", tri, roi.Point{X: 0.2, Y: 0.2}, true},
		{"bow tie, left lobe", bow, roi.Point{X: 0.1, Y: 0.5}, true},
		{"bow tie, top gap", bow, roi.Point{X: 0.5, Y: 0.1}, false},
		{"bow tie, crossing point", bow, roi.Point{X: 0.5, Y: 0.5}, true},
		{"too few points", square[:2], roi.Point{X: 0.5, Y: 0.25}, false},
	}
	for _, tc := range tests {
		if got := roi.Contains(tc.poly, tc.p); got != tc.want {
			t.Errorf("%s: roi.Contains(%v) = %v, want %v", tc.name, tc.p, got, tc.want)
		}
	}
}

// entry-burst recognises on each of the frames right after an entry, then every N-th again.
func TestEntryBurst(t *testing.T) {
	m := roigate.NewMachine()
	m.SetROI([]roi.Point{{X: 0, Y: 0}, {X: 1, Y: 0}, {X: 1, Y: 1}, {X: 0, Y: 1}})
	m.EntryBurst = 3
	m.EveryN = 100
	blob := []framemeta.Blob{{Box: image.Rect(100, 100, 200, 200), Area: 10000}}
	var got []bool
	for i := 0; i < 6; i++ {
		got = append(got, m.Step(blob, 640, 480).Recognize)
	}
	want := []bool{true, true, true, true, false, false} // entry, then 3 burst frames
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("recognise per frame %v, want %v", got, want)
		}
	}
}
