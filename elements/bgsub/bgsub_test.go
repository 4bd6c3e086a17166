package bgsub

import (
	"image"
	"testing"
)

func drawRect(mask []byte, w int, r image.Rectangle) {
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			mask[y*w+x] = 255
		}
	}
}

// External regions follow OpenCV's findContours(RETR_EXTERNAL) + contourArea + boundingRect.
func TestRegionsLikeFindContours(t *testing.T) {
	const w, h = 40, 30
	var finder RegionFinder
	t.Run("rectangle", func(t *testing.T) {
		m := make([]byte, w*h)
		drawRect(m, w, image.Rect(5, 6, 15, 10)) // 10×4
		got := finder.Find(m, w, h)
		if len(got) != 1 || got[0].Box != image.Rect(5, 6, 15, 10) || got[0].Area != 9*3 {
			t.Fatalf("%+v, want box (5,6)-(15,10) area 27", got)
		}
	})
	t.Run("single pixel has area 0", func(t *testing.T) {
		m := make([]byte, w*h)
		m[10*w+10] = 255
		got := finder.Find(m, w, h)
		if len(got) != 1 || got[0].Area != 0 || got[0].Box != image.Rect(10, 10, 11, 11) {
			t.Fatalf("%+v", got)
		}
	})
	t.Run("diagonal neighbours are one region", func(t *testing.T) {
		m := make([]byte, w*h)
		drawRect(m, w, image.Rect(5, 5, 8, 8))
		drawRect(m, w, image.Rect(8, 8, 11, 11))
		if got := finder.Find(m, w, h); len(got) != 1 || got[0].Box != image.Rect(5, 5, 11, 11) {
			t.Fatalf("%+v", got)
		}
	})
	t.Run("a region in a hole is not external; holes do not reduce the area", func(t *testing.T) {
		m := make([]byte, w*h)
		drawRect(m, w, image.Rect(5, 5, 25, 25))
		for y := 8; y < 22; y++ { // hollow it out
			for x := 8; x < 22; x++ {
				m[y*w+x] = 0
			}
		}
		drawRect(m, w, image.Rect(12, 12, 16, 16)) // an island in the hole
		drawRect(m, w, image.Rect(30, 5, 35, 10))  // a separate region outside
		got := finder.Find(m, w, h)
		if len(got) != 2 {
			t.Fatalf("%d regions, want 2 (the island is inside a hole): %+v", len(got), got)
		}
		if got[0].Box != image.Rect(5, 5, 25, 25) || got[0].Area != 19*19 || got[1].Box != image.Rect(30, 5, 35, 10) {
			t.Fatalf("%+v", got)
		}
	})
	t.Run("the image border is background", func(t *testing.T) {
		m := make([]byte, w*h)
		drawRect(m, w, image.Rect(0, 0, 10, 10))
		got := finder.Find(m, w, h)
		if len(got) != 1 || got[0].Box != image.Rect(1, 1, 10, 10) {
			t.Fatalf("%+v", got)
		}
	})
	t.Run("largest first", func(t *testing.T) {
		m := make([]byte, w*h)
		drawRect(m, w, image.Rect(2, 2, 6, 6))
		drawRect(m, w, image.Rect(10, 10, 30, 25))
		got := finder.Find(m, w, h)
		if len(got) != 2 || got[0].Area < got[1].Area {
			t.Fatalf("%+v", got)
		}
	})
}

// The clean-up erodes and dilates like OpenCV: pixels outside the image never erode anything.
func TestCleanMask(t *testing.T) {
	const w, h = 20, 20
	m, tmp := make([]byte, w*h), make([]byte, w*h)
	drawRect(m, w, image.Rect(0, 0, 6, 6))     // touches the border: erosion keeps 4×4
	drawRect(m, w, image.Rect(10, 10, 14, 14)) // 4×4 inside: erosion by 2 removes it
	m[18*w+2] = 127                            // a shadow value: thresholded away
	CleanMask(m, tmp, w, h, 2, 0, 200)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			want := byte(0)
			if x < 4 && y < 4 {
				want = 255
			}
			if m[y*w+x] != want {
				t.Fatalf("after erosion (%d,%d) = %d, want %d", x, y, m[y*w+x], want)
			}
		}
	}
	CleanMask(m, tmp, w, h, 0, 1, 200)
	if m[4*w+4] != 255 || m[5*w+5] != 0 || m[0] != 255 {
		t.Fatal("dilation by one did not grow the square by one pixel")
	}
}
