package overlay

import (
	"image"
	"math"
	"testing"

	"github.com/ebrcs/ebrcs/elements/framemeta"
)

// The label keeps clear of the status badge and the cart panel: a box in the top left corner
// gets its label beside the badge or below the box, never over either panel.
func TestLabelKeepsClearOfThePanels(t *testing.T) {
	frame := image.Rect(0, 0, 640, 480)
	status := image.Rect(4, 4, 180, 34)
	cart := image.Rect(460, 4, 636, 90)
	for _, box := range []image.Rectangle{
		image.Rect(10, 20, 200, 200),   // under the badge
		image.Rect(470, 40, 630, 300),  // under the cart
		image.Rect(0, 0, 640, 480),     // the whole frame
		image.Rect(200, 220, 400, 400), // clear of both: on the top edge, as always
		image.Rect(100, 0, 560, 60),    // a wide box along the top
	} {
		for _, w := range []int{60, 150, 300} {
			r := placeLabel(box, w, 26, frame, []image.Rectangle{status, cart})
			if !r.In(frame) {
				t.Errorf("box %v, label %d wide: %v is not within the frame", box, w, r)
			}
			if r.Overlaps(status) || r.Overlaps(cart) {
				t.Errorf("box %v, label %d wide: %v overlaps a panel (status %v, cart %v)", box, w, r, status, cart)
			}
		}
	}
	if r := placeLabel(image.Rect(200, 220, 400, 400), 100, 26, frame, []image.Rectangle{status, cart}); r != image.Rect(200, 194, 300, 220) {
		t.Errorf("a box clear of the panels: label at %v, want on its top edge", r)
	}
}

// The label and the status speak the shopper's language: no scores, no "inside"/"empty".
func TestLabelsInTheShoppersWords(t *testing.T) {
	for _, c := range []struct {
		m    *framemeta.Match
		want string
	}{
		{nil, "Checking…"},
		{&framemeta.Match{Product: "Milk", Score: 0.87, Known: true, Decision: framemeta.DecisionCount}, "Milk"},
		{&framemeta.Match{Product: "Milk", Score: 0.5, Decision: framemeta.DecisionAsk}, "Not sure: see the screen"},
		{&framemeta.Match{Product: "Milk", Score: 0.1, Decision: framemeta.DecisionUnknown}, "Not recognised"},
	} {
		if got := labelText(c.m); got != c.want {
			t.Errorf("labelText(%+v) = %q, want %q", c.m, got, c.want)
		}
	}
	for st, want := range map[framemeta.ROIStatus]string{framemeta.ROIEmpty: "Show a product", framemeta.ROIOutside: "Move it into the area",
		framemeta.ROIEntered: "In the area", framemeta.ROIInside: "In the area"} {
		if got := statusText(st); got != want {
			t.Errorf("statusText(%s) = %q, want %q", st, got, want)
		}
	}
}

// Told that its 640×480 picture is sent 320 wide (return-width, set by a compact webrtc
// sink), the overlay draws the lines twice as wide, so a 2 px outline is still 2 px in the
// picture sent, and text √2 larger (13 px there instead of 9); not shrunk (0, or a width
// at least the frame's), it draws as declared.
func TestLinesKeepTheirWidthWhenThePictureIsShrunk(t *testing.T) {
	frame := image.Rect(0, 0, 640, 480)
	for _, c := range []struct {
		returnWidth      int
		wantLine, wantTx float64
	}{{0, 1, 1}, {640, 1, 1}, {1280, 1, 1}, {320, 2, 1.4142}, {160, 4, 2}} {
		st := readStyle(declared{PropReturnWidth: c.returnWidth})
		line, text := st.sizing(frame)
		if math.Abs(line-c.wantLine) > 1e-3 || math.Abs(text-c.wantTx) > 1e-3 {
			t.Errorf("return-width %d: lines ×%.3f, text ×%.3f; want ×%.3f and ×%.3f", c.returnWidth, line, text, c.wantLine, c.wantTx)
		}
	}
	// A 240-line frame (drawn after a scaler, not shrunk after) halves both, as declared.
	if line, text := readStyle(declared(nil)).sizing(image.Rect(0, 0, 320, 240)); line != 0.5 || text != 0.5 {
		t.Errorf("a 320×240 frame: lines ×%.3f, text ×%.3f, want ×0.5", line, text)
	}
}
