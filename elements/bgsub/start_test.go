package bgsub

import (
	"bytes"
	"fmt"
	"testing"
)

// TestStartUpFastPathIsExact: while every pixel is refreshed every frame (a stream's first
// frames), the model copies whole planes (update_all in knn.c) instead of going pixel by
// pixel. The masks must be the same, bit for bit, as the per-pixel path's, frame after frame,
// through the hand-over to the random phases and on, with and without foreground slowdown
// and shadows.
func TestStartUpFastPathIsExact(t *testing.T) {
	const w, h, frames = 160, 120, 80
	sc := newScene(w, h, frames, 11)
	n := w * h
	slowed := DefaultParams
	slowed.ForegroundSlowdown, slowed.ForegroundSlowdownAfter = 10, 30
	shadows := DefaultParams
	shadows.DetectShadows = true
	for name, p := range map[string]Params{"default": DefaultParams, "foreground slowdown": slowed, "shadows": shadows} {
		t.Run(name, func(t *testing.T) {
			fast, err := NewSubtractor(w, h, p)
			if err != nil {
				t.Fatal(err)
			}
			defer fast.Close()
			ref, err := NewSubtractor(w, h, p)
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			ref.perPixel()
			fastMask, refMask := make([]byte, n), make([]byte, n)
			foreground := 0
			for i, f := range sc.frames {
				c0, c1, c2 := planes(f, n)
				fast.Apply(c0, c1, c2, fastMask)
				ref.Apply(c0, c1, c2, refMask)
				if !bytes.Equal(fastMask, refMask) {
					t.Fatalf("frame %d: the masks differ in %s", i+1, differing(fastMask, refMask))
				}
				foreground += bytes.Count(fastMask, []byte{255})
			}
			if foreground == 0 {
				t.Fatal("no foreground in any frame: the scene tested nothing")
			}
		})
	}
}

func differing(a, b []byte) string {
	d := 0
	for i := range a {
		if a[i] != b[i] {
			d++
		}
	}
	return fmt.Sprintf("%d of %d pixels", d, len(a))
}
