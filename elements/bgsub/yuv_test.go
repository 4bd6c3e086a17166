package bgsub

import (
	"fmt"
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

// footprintMean420 is Downscale420 written plainly: each destination pixel is the mean of the
// luma under its footprint and of the chroma samples under that, converted to RGB.
func footprintMean420(frame []byte, sw, sh int, l Planar420, dw, dh int) [3][]byte {
	out := [3][]byte{make([]byte, dw*dh), make([]byte, dw*dh), make([]byte, dw*dh)}
	cw, ch := (sw+1)/2, (sh+1)/2
	clamp := func(v int) byte { return byte(min(255, max(0, v))) }
	for y := 0; y < dh; y++ {
		y0, y1 := y*sh/dh, max((y+1)*sh/dh, y*sh/dh+1)
		cy0, cy1 := y0/2, min((y1+1)/2, ch)
		for x := 0; x < dw; x++ {
			x0, x1 := x*sw/dw, max((x+1)*sw/dw, x*sw/dw+1)
			cx0, cx1 := x0/2, min((x1+1)/2, cw)
			var sy, su, sv, ny, nc int
			for j := y0; j < y1; j++ {
				for i := x0; i < x1; i++ {
					sy, ny = sy+int(frame[l.YOffset+j*l.YStride+i]), ny+1
				}
			}
			for j := cy0; j < cy1; j++ {
				for i := cx0; i < cx1; i++ {
					su += int(frame[l.UOffset+j*l.CStride+i*l.CStep])
					sv += int(frame[l.VOffset+j*l.CStride+i*l.CStep])
					nc++
				}
			}
			c, d, e := ((sy+ny/2)/ny-16)*76309, (su+nc/2)/nc-128, (sv+nc/2)/nc-128
			o := y*dw + x
			out[0][o] = clamp((c + 104597*e + 32768) >> 16)
			out[1][o] = clamp((c - 25675*d - 53279*e + 32768) >> 16)
			out[2][o] = clamp((c + 132201*d + 32768) >> 16)
		}
	}
	return out
}

// The 2:1 and 4:1 paths (the checkout's 320 px and the live pipelines' 160 px from 640×480)
// give exactly the footprint means the general path gives, from I420 and from NV12.
func TestDownscale420FastPathsAreFootprintMeans(t *testing.T) {
	const w, h = 640, 480
	frame := make([]byte, w*h*3/2)
	seed := uint32(1)
	for i := range frame {
		seed = seed*1664525 + 1013904223
		frame[i] = byte(seed >> 24)
	}
	layouts := map[string]Planar420{
		"I420": {YStride: w, UOffset: w * h, VOffset: w * h * 5 / 4, CStride: w / 2, CStep: 1},
		"NV12": {YStride: w, UOffset: w * h, VOffset: w*h + 1, CStride: w, CStep: 2},
	}
	for name, l := range layouts {
		for _, size := range [][2]int{{320, 240}, {160, 120}, {200, 150}} {
			dw, dh := size[0], size[1]
			got := [3][]byte{make([]byte, dw*dh), make([]byte, dw*dh), make([]byte, dw*dh)}
			if err := Downscale420(frame, w, h, l, got[0], got[1], got[2], dw, dh); err != nil {
				t.Fatal(err)
			}
			want := footprintMean420(frame, w, h, l, dw, dh)
			for c := range got {
				for i := range got[c] {
					if got[c][i] != want[c][i] {
						t.Fatalf("%s to %dx%d: plane %d pixel (%d,%d) is %d, footprint mean %d", name, dw, dh, c, i%dw, i/dw, got[c][i], want[c][i])
					}
				}
			}
		}
	}
}

// BenchmarkDownscale420 is the conversion of a 640×480 I420 frame into the model's planes:
// 320×240 (the checkout's), 160×120 (the live pipelines') and 200×150 (the general path).
func BenchmarkDownscale420(b *testing.B) {
	const w, h = 640, 480
	frame := make([]byte, w*h*3/2)
	for i := range frame {
		frame[i] = byte(i * 7)
	}
	l := Planar420{YStride: w, UOffset: w * h, VOffset: w * h * 5 / 4, CStride: w / 2, CStep: 1}
	for _, dw := range []int{320, 160, 200} {
		dh := dw * 3 / 4
		b.Run(fmt.Sprintf("%dx%d", dw, dh), func(b *testing.B) {
			p := [3][]byte{make([]byte, dw*dh), make([]byte, dw*dh), make([]byte, dw*dh)}
			for b.Loop() {
				Downscale420(frame, w, h, l, p[0], p[1], p[2], dw, dh)
			}
		})
	}
}
