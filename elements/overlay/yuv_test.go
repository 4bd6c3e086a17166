package overlay

import (
	"image"
	"testing"

	"github.com/ebrcs/ebrcs/elements/framemeta"
	"github.com/ebrcs/ebrcs/elements/goelement"
	"github.com/ebrcs/ebrcs/roi"
)

// scene is the whole overlay: the ROI (a slanted edge too), the box, the label, the status
// badge and a cart, in a 640×480 metadata space.
func fullScene() *framemeta.Frame {
	return &framemeta.Frame{
		Width: 640, Height: 480,
		Gate: &framemeta.Gate{
			ROI:    []roi.Point{{X: 0.15, Y: 0.30}, {X: 0.70, Y: 0.30}, {X: 0.85, Y: 0.90}, {X: 0.15, Y: 0.90}},
			Status: framemeta.ROIInside, HasMain: true, Main: image.Rect(201, 221, 399, 399),
		},
		Match: &framemeta.Match{Product: "Äpple Royal Gala", Score: 0.87, Known: true},
		Cart:  []framemeta.CartLine{{Product: "바나나", Quantity: 2}, {Product: "Äpple Royal Gala", Quantity: 1}, {Product: "Kaffe", Quantity: 3}},
	}
}

// i420Of converts a packed RGBA frame to I420 (BT.601 limited range, chroma from 2×2 means of
// RGB), as an encoder's input would be; nv12 interleaves the chroma instead.
func i420Of(f *frameBuf, nv12 bool) ([]byte, goelement.VideoInfo) {
	w, h := f.info.Width, f.info.Height
	cw, ch := (w+1)/2, (h+1)/2
	out := make([]byte, w*h+2*cw*ch)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := f.rgb(x, y)
			out[y*w+x] = yuvOf(rgba{p[0], p[1], p[2], 255}).Y
		}
	}
	info := goelement.VideoInfo{Width: w, Height: h, Format: "I420", Planes: 3, Size: len(out)}
	info.Stride = [4]int{w, cw, cw}
	info.Offset = [4]int{0, w * h, w*h + cw*ch}
	if nv12 {
		info.Format, info.Planes = "NV12", 2
		info.Stride = [4]int{w, 2 * cw}
		info.Offset = [4]int{0, w * h}
	}
	for cy := 0; cy < ch; cy++ {
		for cx := 0; cx < cw; cx++ {
			var r, g, b, n int
			for _, d := range [][2]int{{0, 0}, {1, 0}, {0, 1}, {1, 1}} {
				x, y := 2*cx+d[0], 2*cy+d[1]
				if x < w && y < h {
					p := f.rgb(x, y)
					r, g, b, n = r+int(p[0]), g+int(p[1]), b+int(p[2]), n+1
				}
			}
			c := yuvOf(rgba{uint8((r + n/2) / n), uint8((g + n/2) / n), uint8((b + n/2) / n), 255})
			if nv12 {
				out[w*h+cy*2*cw+2*cx], out[w*h+cy*2*cw+2*cx+1] = c.U, c.V
			} else {
				out[w*h+cy*cw+cx], out[w*h+cw*ch+cy*cw+cx] = c.U, c.V
			}
		}
	}
	return out, info
}

// background paints a colourful frame of smooth gradients. (Where the colour under a shape's
// antialiased edge changes sharply within a 2×2 block, blending before or after subsampling
// the chroma differ by up to a quarter of the jump: both are faithful 4:2:0 pictures.)
func background(f *frameBuf) {
	w, h := f.info.Width, f.info.Height
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := f.index(x, y)
			f.pix[i], f.pix[i+1], f.pix[i+2] = uint8(x*255/w), uint8(y*255/h), uint8((x+y)*255/(w+h))
		}
	}
}

// Drawing on I420 or NV12 gives what drawing on RGB and converting to 4:2:0 gives: every luma
// value within 2 levels, every chroma value within 2, for the whole overlay (antialiased
// lines, translucent panels, text) on a colourful frame.
func TestYUVCanvasMatchesRGB(t *testing.T) {
	text := defaultText(t, 18)
	st := readStyle(declared(nil))
	for _, nv12 := range []bool{false, true} {
		ref := newFrameBuf(t, "RGBA", 640, 480, 0, 0)
		background(ref)
		pix, info := i420Of(ref, nv12)
		if err := drawFrame(ref.canvas(t), text, st, fullScene(), nil); err != nil {
			t.Fatal(err)
		}
		want, _ := i420Of(ref, nv12)
		c, err := newYUVCanvas(pix, info, &yuvScratch{})
		if err != nil {
			t.Fatal(err)
		}
		if err := drawFrame(c, text, st, fullScene(), nil); err != nil {
			t.Fatal(err)
		}
		w, h := info.Width, info.Height
		worstY, worstC, drawn := 0, 0, 0
		for i := range pix {
			d := int(pix[i]) - int(want[i])
			if d < 0 {
				d = -d
			}
			if i < w*h {
				worstY = max(worstY, d)
			} else {
				worstC = max(worstC, d)
			}
		}
		orig, _ := i420Of(func() *frameBuf { f := newFrameBuf(t, "RGBA", 640, 480, 0, 0); background(f); return f }(), nv12)
		for i := 0; i < w*h; i++ {
			if orig[i] != pix[i] {
				drawn++
			}
		}
		t.Logf("%s: %d pixels drawn; worst luma difference %d, chroma %d", info.Format, drawn, worstY, worstC)
		if worstY > 2 || worstC > 2 || drawn < 20000 {
			t.Errorf("%s: luma off by up to %d, chroma by %d (%d pixels drawn)", info.Format, worstY, worstC, drawn)
		}
	}
}

// A 4:2:0 frame too small for its declared layout is refused, not overrun.
func TestYUVCanvasRefusesShortFrames(t *testing.T) {
	f := newFrameBuf(t, "RGBA", 64, 48, 0, 0)
	pix, info := i420Of(f, false)
	for _, cut := range []int{1, 64*48/4 + 1, 64 * 48} {
		if _, err := newYUVCanvas(pix[:len(pix)-cut], info, &yuvScratch{}); err == nil {
			t.Errorf("a frame %d bytes short was accepted", cut)
		}
	}
}
