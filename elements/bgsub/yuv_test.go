package bgsub

import (
	"testing"
)

// i420 converts an interleaved RGB frame to I420 (BT.601 limited range, chroma from 2×2 means
// of RGB), as a camera's encoder would.
func i420(frame []byte, w, h int) []byte {
	out := make([]byte, w*h*3/2)
	for i := 0; i < w*h; i++ {
		r, g, b := int(frame[i*3]), int(frame[i*3+1]), int(frame[i*3+2])
		out[i] = uint8((66*r+129*g+25*b+128)>>8 + 16)
	}
	cw := w / 2
	for cy := 0; cy < h/2; cy++ {
		for cx := 0; cx < cw; cx++ {
			var r, g, b int
			for _, d := range [][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
				i := ((2*cy+d[1])*w + 2*cx + d[0]) * 3
				r, g, b = r+int(frame[i]), g+int(frame[i+1]), b+int(frame[i+2])
			}
			out[w*h+cy*cw+cx] = uint8((-38*r-74*g+112*b+512)>>10 + 128)
			out[w*h*5/4+cy*cw+cx] = uint8((112*r-94*g-18*b+512)>>10 + 128)
		}
	}
	return out
}

// The model fed from I420 (the live path, no conversion of the frame to RGB) sees what it
// sees fed from RGB: the downscaled planes agree within the codec's rounding, and the
// foreground masks over a whole scene (objects, lighting drift, noise) agree.
func TestI420FeedsTheModelLikeRGB(t *testing.T) {
	const w, h, n = 320, 240, 240
	sc := newScene(w, h, n, 3)
	pw, ph := 160, 120
	np := pw * ph
	rgbPlanes := [3][]byte{make([]byte, np), make([]byte, np), make([]byte, np)}
	yuvPlanes := [3][]byte{make([]byte, np), make([]byte, np), make([]byte, np)}
	subRGB, _ := NewSubtractor(pw, ph, DefaultParams)
	subYUV, _ := NewSubtractor(pw, ph, DefaultParams)
	defer subRGB.Close()
	defer subYUV.Close()
	maskRGB, maskYUV := make([]byte, np), make([]byte, np)
	worst, sumDiff := 0, 0
	var inter, union int
	for f, frame := range sc.frames {
		if err := Downscale(frame, w, h, 3*w, Packed{BytesPerPixel: 3, Offsets: [3]int{0, 1, 2}}, rgbPlanes[0], rgbPlanes[1], rgbPlanes[2], pw, ph); err != nil {
			t.Fatal(err)
		}
		yuv := i420(frame, w, h)
		l := Planar420{YStride: w, UOffset: w * h, VOffset: w * h * 5 / 4, CStride: w / 2, CStep: 1}
		if err := Downscale420(yuv, w, h, l, yuvPlanes[0], yuvPlanes[1], yuvPlanes[2], pw, ph); err != nil {
			t.Fatal(err)
		}
		for c := range rgbPlanes {
			for i := range rgbPlanes[c] {
				d := int(rgbPlanes[c][i]) - int(yuvPlanes[c][i])
				if d < 0 {
					d = -d
				}
				worst, sumDiff = max(worst, d), sumDiff+d
			}
		}
		subRGB.Apply(rgbPlanes[0], rgbPlanes[1], rgbPlanes[2], maskRGB)
		subYUV.Apply(yuvPlanes[0], yuvPlanes[1], yuvPlanes[2], maskYUV)
		if f >= 30 { // after the model has learnt the scene
			i, u := iou(maskRGB, maskYUV)
			inter, union = inter+i, union+u
		}
	}
	mean := float64(sumDiff) / float64(3*np*n)
	agree := ratio(inter, union)
	t.Logf("planes: mean difference %.2f, worst %d; foreground masks IoU %.3f", mean, worst, agree)
	if mean > 1.5 || worst > 12 {
		t.Errorf("I420 planes differ from RGB planes by %.2f on average, %d at worst", mean, worst)
	}
	if agree < 0.95 {
		t.Errorf("foreground from I420 and from RGB overlap by %.3f (IoU)", agree)
	}
}

// A 4:2:0 layout that does not fit the buffer is an error, never a read past it.
func TestDownscale420RefusesShortBuffers(t *testing.T) {
	const w, h = 64, 48
	buf := make([]byte, w*h*3/2)
	p := make([]byte, 32*24)
	l := Planar420{YStride: w, UOffset: w * h, VOffset: w * h * 5 / 4, CStride: w / 2, CStep: 1}
	if err := Downscale420(buf, w, h, l, p, p, p, 32, 24); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Planar420{
		{YStride: w, UOffset: w * h, VOffset: w*h*5/4 + 1, CStride: w / 2, CStep: 1},
		{YStride: 2 * w, UOffset: w * h, VOffset: w * h * 5 / 4, CStride: w / 2, CStep: 1},
		{YStride: w, UOffset: w * h, VOffset: w * h * 5 / 4, CStride: w, CStep: 1},
		{YStride: w, UOffset: w*h + 1, VOffset: w*h + 2, CStride: w, CStep: 2},
		{YStride: w, UOffset: -1, VOffset: w * h, CStride: w, CStep: 2},
	} {
		if err := Downscale420(buf, w, h, bad, p, p, p, 32, 24); err == nil {
			t.Errorf("layout %+v accepted for a %d-byte buffer", bad, len(buf))
		}
	}
}

// BenchmarkDownscale420 is the live path's conversion of a 640×480 I420 frame into the
// model's 320×240 planes.
func BenchmarkDownscale420(b *testing.B) {
	const w, h = 640, 480
	frame := make([]byte, w*h*3/2)
	for i := range frame {
		frame[i] = byte(i * 7)
	}
	p := [3][]byte{make([]byte, w*h/4), make([]byte, w*h/4), make([]byte, w*h/4)}
	l := Planar420{YStride: w, UOffset: w * h, VOffset: w * h * 5 / 4, CStride: w / 2, CStep: 1}
	for b.Loop() {
		Downscale420(frame, w, h, l, p[0], p[1], p[2], w/2, h/2)
	}
}
