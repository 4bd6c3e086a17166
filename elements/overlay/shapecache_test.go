package overlay

import (
	"bytes"
	"testing"

	"github.com/ebrcs/ebrcs/roi"
)

// The ROI outline drawn from the cache is the outline drawn anew, byte for byte, on 4:2:0 and
// on RGBA frames; a changed area, line width or frame size is drawn anew, never the old one.
func TestShapeCacheDrawsWhatDrawingAnewDraws(t *testing.T) {
	text := defaultText(t, 18)
	st := readStyle(declared(nil))
	moved := fullScene()
	moved.Gate.ROI = []roi.Point{{X: 0.1, Y: 0.1}, {X: 0.6, Y: 0.2}, {X: 0.5, Y: 0.8}}

	// draw returns a fresh background frame's bytes after drawing f, as I420 and as RGBA.
	draw := func(f func(c surface) error, w, h int) (yuvPix, rgbaPix []byte) {
		t.Helper()
		ref := newFrameBuf(t, "RGBA", w, h, 0, 0)
		background(ref)
		pix, info := i420Of(ref, false)
		c, err := newYUVCanvas(pix, info, &yuvScratch{})
		if err != nil {
			t.Fatal(err)
		}
		if err := f(c); err != nil {
			t.Fatal(err)
		}
		if err := f(ref.canvas(t)); err != nil {
			t.Fatal(err)
		}
		return pix, bytes.Clone(ref.pix)
	}
	shapes := &shapeCache{}
	for i, step := range []struct {
		name string
		w, h int
	}{
		{"first frame", 640, 480},
		{"from the cache", 640, 480},
		{"area moved", 640, 480},
		{"frame size changed", 320, 240},
	} {
		scene := fullScene()
		if i >= 2 {
			scene = moved
		}
		wantY, wantRGBA := draw(func(c surface) error { return drawFrame(c, text, st, scene, nil) }, step.w, step.h)
		gotY, gotRGBA := draw(func(c surface) error { return drawFrame(c, text, st, scene, shapes) }, step.w, step.h)
		if !bytes.Equal(gotY, wantY) || !bytes.Equal(gotRGBA, wantRGBA) {
			t.Fatalf("%s: the cached outline differs from the outline drawn anew", step.name)
		}
	}
}
