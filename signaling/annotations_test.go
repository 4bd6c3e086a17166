package signaling

import (
	"encoding/json"
	"fmt"
	"image"
	"reflect"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/elements/framemeta"
	"github.com/ebrcs/ebrcs/roi"
)

// annotatedFrame is a 640×480 frame as the overlay sees it: an ROI, a main object inside it
// recognised as product, and a cart of lines lines.
func annotatedFrame(match *framemeta.Match, lines int) *framemeta.Frame {
	f := &framemeta.Frame{Width: 640, Height: 480, Match: match, Gate: &framemeta.Gate{
		ROI:     []roi.Point{{X: 0.2, Y: 0.15}, {X: 0.8, Y: 0.15}, {X: 0.8, Y: 0.95}, {X: 0.2, Y: 0.95}},
		Status:  framemeta.ROIInside,
		HasMain: true,
		Main:    image.Rect(219, 97, 385, 341),
	}}
	for i := range lines {
		f.Cart = append(f.Cart, framemeta.CartLine{Product: fmt.Sprintf("Product number %d", i+1), Quantity: i + 1})
	}
	return f
}

// An annotation says what the overlay draws, in words a page can draw over its own preview,
// and stays small: coordinates rounded, the cart cut where the overlay cuts it.
func TestAnnotationDescribesTheOverlay(t *testing.T) {
	known := &framemeta.Match{Product: "Milk", Score: 0.8712, Decision: framemeta.DecisionCount, Known: true}
	ask := &framemeta.Match{Product: "Milk", Score: 0.51, Decision: framemeta.DecisionAsk}
	unknown := &framemeta.Match{Product: "Milk", Score: 0.2, Decision: framemeta.DecisionUnknown}

	a := annotationOf(annotatedFrame(known, 9), 12345678901*time.Nanosecond)
	if a.StreamTime != 12.346 {
		t.Errorf("t = %v, want 12.346 (milliseconds)", a.StreamTime)
	}
	if want := (&[4]float64{0.3422, 0.2021, 0.6016, 0.7104}); a.Box == nil || *a.Box != *want {
		t.Errorf("box %v, want %v (rounded to 1/10000)", a.Box, want)
	}
	if a.State != "matched" || a.Product != "Milk" || a.Label != "Milk 0.87" || a.Ask || a.Status != "inside" {
		t.Errorf("matched: state %q, product %q, label %q, ask %v, status %q", a.State, a.Product, a.Label, a.Ask, a.Status)
	}
	if len(a.ROI) != 4 || a.ROI[2] != [2]float64{0.8, 0.95} {
		t.Errorf("roi %v", a.ROI)
	}
	if len(a.Cart) != annotationCartLines || a.CartMore != 3 || a.Cart[0] != (AnnotationLine{"Product number 1", 1}) {
		t.Errorf("cart %v, %d more: want the first %d lines and 3 more", a.Cart, a.CartMore, annotationCartLines)
	}

	for _, c := range []struct {
		name  string
		f     *framemeta.Frame
		state string
		ask   bool
	}{
		{"pending", annotatedFrame(nil, 0), "pending", false},
		{"ask", annotatedFrame(ask, 0), "unknown", true},
		{"unknown", annotatedFrame(unknown, 0), "unknown", false},
		{"between recognitions", func() *framemeta.Frame { f := annotatedFrame(nil, 0); f.Verdict = ask; return f }(), "unknown", true},
	} {
		a := annotationOf(c.f, 0)
		if a.State != c.state || a.Ask != c.ask || a.Product != "" {
			t.Errorf("%s: state %q, ask %v, product %q; want %q, %v, none", c.name, a.State, a.Ask, a.Product, c.state, c.ask)
		}
	}

	// Nothing in view: only the area and its status.
	empty := annotationOf(&framemeta.Frame{Width: 640, Height: 480, Gate: &framemeta.Gate{Status: framemeta.ROIEmpty}}, time.Second)
	raw, _ := json.Marshal(empty)
	if string(raw) != `{"t":1,"status":"empty"}` {
		t.Errorf("an empty frame: %s", raw)
	}

	// The JSON round-trips, and a busy frame (a big cart, long names) stays small.
	raw, err := json.Marshal(annotationOf(annotatedFrame(known, 40), 3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var back Annotation
	if err := json.Unmarshal(raw, &back); err != nil || !reflect.DeepEqual(back, annotationOf(annotatedFrame(known, 40), 3*time.Hour)) {
		t.Errorf("round trip: %v\n%s\n%+v", err, raw, back)
	}
	if len(raw) > 600 {
		t.Errorf("a frame's annotation is %d bytes, want at most 600:\n%s", len(raw), raw)
	}
	t.Logf("a busy frame's annotation: %d bytes (%d a second at 30 fps): %s", len(raw), 30*len(raw), raw)
}

// Describing a frame for a listener: what every annotated frame costs while a page listens.
func BenchmarkAnnotate(b *testing.B) {
	f := annotatedFrame(&framemeta.Match{Product: "Milk", Score: 0.87, Decision: framemeta.DecisionCount, Known: true}, 3)
	var br bridge
	ch := br.annotations.subscribe()
	defer br.annotations.unsubscribe(ch)
	b.ReportAllocs()
	for b.Loop() {
		br.Annotate(f, time.Second)
		<-ch
	}
}
