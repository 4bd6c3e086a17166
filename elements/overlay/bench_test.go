package overlay

import (
	"image"
	"testing"

	"github.com/ebrcs/ebrcs/elements/framemeta"
	"github.com/ebrcs/ebrcs/roi"
)

// BenchmarkOverlay measures the drawing of one 640×480 RGBA frame with everything on: the ROI,
// the box, the label, the status badge and a 3-line cart, with the element's default style.
// The frame is drawn over and over in place, as in the pipeline (glyphs are cached after the
// first frame, as they are after a pipeline's first frame).
//
//	go test ./elements/overlay -run '^$' -bench Overlay
func BenchmarkOverlay(b *testing.B) {
	fb := newFrameBuf(b, "RGBA", 640, 480, 0, 0)
	b.Run("RGBA", func(b *testing.B) { benchDraw(b, fb.canvas(b)) })
	// The live path's 4:2:0, drawn without converting the frame.
	pix, info := i420Of(fb, false)
	c, err := newYUVCanvas(pix, info, &yuvScratch{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("I420", func(b *testing.B) { benchDraw(b, c) })
}

func benchDraw(b *testing.B, c surface) {
	shapes := &shapeCache{}
	text := defaultText(b, 18)
	st := readStyle(declared(nil))
	f := &framemeta.Frame{
		Width: 640, Height: 480,
		Gate: &framemeta.Gate{
			ROI:    []roi.Point{{X: 0.15, Y: 0.30}, {X: 0.70, Y: 0.30}, {X: 0.85, Y: 0.90}, {X: 0.15, Y: 0.90}},
			Status: framemeta.ROIInside, HasMain: true, Main: image.Rect(200, 220, 400, 400),
		},
		Match: &framemeta.Match{Product: "Äpple Royal Gala", Score: 0.87, Known: true},
		Cart:  []framemeta.CartLine{{Product: "바나나", Quantity: 2}, {Product: "Äpple Royal Gala", Quantity: 1}, {Product: "Kaffe", Quantity: 3}},
	}
	if err := drawFrame(c, text, st, f, shapes); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := drawFrame(c, text, st, f, shapes); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/frame")
}
