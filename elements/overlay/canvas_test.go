package overlay

import (
	"image"
	"image/draw"
	"math"
	"testing"
)

var formats = []string{"RGBA", "BGRA", "RGBx", "BGRx"}

func TestNewCanvasRefusesBadLayouts(t *testing.T) {
	f := newFrameBuf(t, "RGBA", 8, 4, 0, 0)
	for _, tc := range []struct {
		name   string
		mutate func(f *frameBuf)
	}{
		{"format", func(f *frameBuf) { f.info.Format = "I420" }},
		{"short buffer", func(f *frameBuf) { f.pix = f.pix[:len(f.pix)-1] }},
		{"narrow stride", func(f *frameBuf) { f.info.Stride[0] = 4*8 - 4 }},
		{"offset past end", func(f *frameBuf) { f.info.Offset[0] = 4 }},
		{"empty", func(f *frameBuf) { f.info.Width = 0 }},
	} {
		g := *f
		g.pix = append([]byte(nil), f.pix...)
		tc.mutate(&g)
		if _, err := newCanvas(g.pix, g.info); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}

// Fills honour stride and offset, write each format's byte order, and never touch padding.
func TestFillFormatsAndStride(t *testing.T) {
	col := rgba{R: 10, G: 20, B: 30, A: 255}
	for _, format := range formats {
		f := newFrameBuf(t, format, 40, 30, 12, 8)
		c := f.canvas(t)
		c.fill(image.Rect(-5, -5, 100, 100), col) // clipped to the frame
		if n := f.count(image.Rect(0, 0, 40, 30), func(p [3]byte) bool { return p != rgbOf(col) }); n != 0 {
			t.Errorf("%s: %d pixels not filled", format, n)
		}
		i := f.index(0, 0)
		want := [3]byte{10, 20, 30}
		if format[0] == 'B' {
			want = [3]byte{30, 20, 10}
		}
		if got := [3]byte{f.pix[i], f.pix[i+1], f.pix[i+2]}; got != want {
			t.Errorf("%s: bytes %v, want %v", format, got, want)
		}
		if !f.guardsIntact() {
			t.Errorf("%s: wrote outside the picture (stride padding or offset)", format)
		}
	}
}

func TestTranslucentOutlineBlendsOnce(t *testing.T) {
	f := newFrameBuf(t, "RGBA", 50, 40, 0, 0)
	c := f.canvas(t)
	r := image.Rect(5, 6, 45, 36)
	c.outline(r, 3, rgba{R: 255, A: 128})
	want := [3]byte{128, 0, 0}
	border, inside := 0, 0
	for y := 0; y < 40; y++ {
		for x := 0; x < 50; x++ {
			p := f.rgb(x, y)
			in := image.Pt(x, y).In(r)
			core := image.Pt(x, y).In(r.Inset(3))
			switch {
			case in && !core:
				border++
				if p != want {
					t.Fatalf("border (%d,%d) = %v, want %v", x, y, p, want)
				}
			case !black(p):
				inside++
			}
		}
	}
	if border != 40*30-34*24 || inside != 0 {
		t.Errorf("border %d pixels, %d stray", border, inside)
	}
}

// A stroked segment covers exactly the pixels whose centre is within its half-width, fully
// where they are well inside, and nothing beyond half a pixel past its edge.
func TestSegmentCoverage(t *testing.T) {
	col := rgba{R: 255, G: 255, B: 255, A: 255}
	for _, tc := range []struct {
		name string
		a, b fpoint
		hw   float64
	}{
		{"horizontal", fpoint{10, 20}, fpoint{90, 20}, 1},
		{"vertical", fpoint{50, 5}, fpoint{50, 75}, 1.5},
		{"shallow diagonal", fpoint{5, 10}, fpoint{95, 40}, 2},
		{"steep diagonal", fpoint{80, 2}, fpoint{60, 78}, 1},
		{"partly outside", fpoint{-30, -10}, fpoint{130, 90}, 3},
		{"a dot", fpoint{40.5, 40.5}, fpoint{40.5, 40.5}, 2},
	} {
		f := newFrameBuf(t, "BGRx", 100, 80, 8, 0)
		f.canvas(t).segment(tc.a, tc.b, tc.hw, col)
		full, partial := 0, 0
		for y := 0; y < 80; y++ {
			for x := 0; x < 100; x++ {
				d := distToSegment(fpoint{float64(x) + 0.5, float64(y) + 0.5}, tc.a, tc.b)
				p := f.rgb(x, y)
				switch {
				case d <= tc.hw-0.5:
					if p != [3]byte{255, 255, 255} {
						t.Fatalf("%s: (%d,%d) at distance %.2f = %v, want full", tc.name, x, y, d, p)
					}
					full++
				case d >= tc.hw+0.5:
					if !black(p) {
						t.Fatalf("%s: (%d,%d) at distance %.2f = %v, want untouched", tc.name, x, y, d, p)
					}
				default:
					partial++
				}
			}
		}
		if full == 0 {
			t.Errorf("%s: nothing drawn", tc.name)
		}
		if !f.guardsIntact() {
			t.Errorf("%s: wrote into stride padding", tc.name)
		}
	}
}

func distToSegment(p, a, b fpoint) float64 {
	dx, dy := b.X-a.X, b.Y-a.Y
	t := 0.0
	if l2 := dx*dx + dy*dy; l2 > 0 {
		t = math.Max(0, math.Min(1, ((p.X-a.X)*dx+(p.Y-a.Y)*dy)/l2))
	}
	return math.Hypot(p.X-a.X-t*dx, p.Y-a.Y-t*dy)
}

// Axis-aligned polygon edges are crisp: even widths on pixel edges, odd ones on pixel centres.
func TestPolygonSnapsToPixels(t *testing.T) {
	col := rgba{G: 255, A: 255}
	for _, lw := range []int{1, 2, 3, 4} {
		f := newFrameBuf(t, "RGBA", 60, 60, 0, 0)
		f.canvas(t).polygon([]fpoint{{10, 10}, {50, 10}, {50, 50}, {10, 50}}, lw, col)
		top := 10 - lw/2 // first covered row of the top edge
		for y := 0; y < 25; y++ {
			want := y >= top && y < top+lw
			if got := f.rgb(30, y) == rgbOf(col); got != want {
				t.Errorf("lw %d: row %d covered %v, want %v (%v)", lw, y, got, want, f.rgb(30, y))
			}
		}
		// Corners are joined: the corner pixel itself is covered.
		if f.rgb(10, 10) != rgbOf(col) || f.rgb(49, 49) != rgbOf(col) && f.rgb(50, 50) != rgbOf(col) {
			t.Errorf("lw %d: corners not joined", lw)
		}
	}
}

// The lookup-table blend of translucent fills agrees with image/draw's Over to within
// rounding, on every background value.
func TestTranslucentFillMatchesDrawOver(t *testing.T) {
	for _, col := range []rgba{{0, 0, 0, 0xa0}, {255, 40, 7, 1}, {12, 200, 99, 254}, {255, 255, 255, 128}} {
		f := newFrameBuf(t, "RGBA", 256, 2, 0, 0)
		ref := image.NewRGBA(image.Rect(0, 0, 256, 2))
		for x := 0; x < 256; x++ {
			for y := 0; y < 2; y++ {
				i := f.index(x, y)
				v := uint8(x)
				if y == 1 {
					v = uint8(255 - x)
				}
				f.pix[i], f.pix[i+1], f.pix[i+2], f.pix[i+3] = v, v, v, 255
				ref.Pix[ref.PixOffset(x, y)+0], ref.Pix[ref.PixOffset(x, y)+1] = v, v
				ref.Pix[ref.PixOffset(x, y)+2], ref.Pix[ref.PixOffset(x, y)+3] = v, 255
			}
		}
		f.canvas(t).fill(image.Rect(0, 0, 256, 2), col)
		draw.Draw(ref, ref.Rect, image.NewUniform(col.premul(false)), image.Point{}, draw.Over)
		for i := range ref.Pix {
			if d := int(f.pix[i]) - int(ref.Pix[i]); d < -1 || d > 1 {
				t.Fatalf("colour %v: byte %d = %d, image/draw gives %d", col, i, f.pix[i], ref.Pix[i])
			}
		}
	}
}
