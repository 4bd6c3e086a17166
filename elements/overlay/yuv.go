package overlay

import (
	"fmt"
	"image"

	"github.com/ebrcs/ebrcs/elements/goelement"
)

// yuvCanvas draws straight into a 4:2:0 frame (I420, or NV12 with its chroma interleaved),
// the decoders' and encoders' own format, so that the live path never converts whole frames
// to RGB and back. It gives what drawing on RGB and then converting would give: blending is
// linear, so it is done on Y, U and V with the colour's BT.601 values; luma is blended pixel
// by pixel, and each chroma sample, shared by a 2×2 block of pixels, is blended once per run
// of shapes in one colour (the four strips of an outline, the edges of the ROI, the glyphs
// of a label) with the mean coverage of its four pixels.
type yuvCanvas struct {
	w, h   int
	y      []byte
	ys     int
	u, v   []byte // NV12: both index the interleaved plane, v one byte after u
	cs     int    // chroma stride
	cstep  int    // bytes between chroma samples: 1 (I420) or 2 (NV12)
	scr    *yuvScratch
	cw, ch int

	// The colour whose chroma coverage scr holds, not blended yet.
	cur     rgba
	pending bool
}

// yuvScratch is the coverage of the current run of shapes, kept between frames (one per
// element): per pixel (combined as blending twice would: a pixel covered by two shapes is
// not more than fully covered), then summed per chroma sample.
type yuvScratch struct {
	pix      []uint8 // coverage of each pixel, 0..255
	touched  []int32 // pixels with coverage
	acc      []uint16
	ctouched []int32
}

// yuv is a colour's BT.601 limited-range values (as the decoders' I420 is).
type yuv struct{ Y, U, V uint8 }

func yuvOf(c rgba) yuv {
	r, g, b := int(c.R), int(c.G), int(c.B)
	return yuv{
		Y: uint8((66*r+129*g+25*b+128)>>8 + 16),
		U: uint8((-38*r-74*g+112*b+128)>>8 + 128),
		V: uint8((112*r-94*g-18*b+128)>>8 + 128),
	}
}

// isYUV420 reports whether the overlay draws format as 4:2:0.
func isYUV420(format string) bool { return format == "I420" || format == "NV12" }

// newYUVCanvas wraps a 4:2:0 frame's planes, honouring their strides and offsets.
func newYUVCanvas(pix []byte, info goelement.VideoInfo, scr *yuvScratch) (*yuvCanvas, error) {
	w, h := info.Width, info.Height
	cw, ch := (w+1)/2, (h+1)/2
	c := &yuvCanvas{w: w, h: h, ys: info.Stride[0], cs: info.Stride[1], scr: scr, cw: cw, ch: ch}
	if w <= 0 || h <= 0 || c.ys < w {
		return nil, fmt.Errorf("bad frame layout %dx%d stride %d", w, h, c.ys)
	}
	plane := func(i, rowBytes, rows int) ([]byte, error) {
		off, stride := info.Offset[i], info.Stride[i]
		end := off + (rows-1)*stride + rowBytes
		if off < 0 || stride < rowBytes || end > len(pix) {
			return nil, fmt.Errorf("frame of %d bytes too small for plane %d (%dx%d, stride %d, offset %d)", len(pix), i, rowBytes, rows, stride, off)
		}
		return pix[off:end], nil
	}
	var err error
	if c.y, err = plane(0, w, h); err != nil {
		return nil, err
	}
	switch info.Format {
	case "I420":
		c.cstep = 1
		if c.u, err = plane(1, cw, ch); err != nil {
			return nil, err
		}
		if c.v, err = plane(2, cw, ch); err != nil {
			return nil, err
		}
		if info.Stride[2] != c.cs {
			return nil, fmt.Errorf("chroma planes with different strides (%d, %d)", c.cs, info.Stride[2])
		}
	case "NV12":
		c.cstep = 2
		uv, err := plane(1, 2*cw, ch)
		if err != nil {
			return nil, err
		}
		c.u, c.v = uv, uv[1:]
	default:
		return nil, fmt.Errorf("unsupported format %q", info.Format)
	}
	if n := cw * ch; len(scr.acc) < n {
		scr.acc = make([]uint16, n)
	}
	if n := w * h; len(scr.pix) < n {
		scr.pix = make([]uint8, n)
	}
	for _, i := range scr.touched { // a frame that failed mid-drawing
		scr.pix[i] = 0
	}
	scr.touched = scr.touched[:0]
	return c, nil
}

// use starts (or continues) a run of shapes in col.
func (c *yuvCanvas) use(col rgba) {
	if c.pending && c.cur != col {
		c.flush()
	}
	c.cur, c.pending = col, true
}

// cover adds coverage cov (0..255) to pixel (x, y), as blending over it would.
func (c *yuvCanvas) cover(x, y int, cov uint32) {
	scr := c.scr
	i := int32(y*c.w + x)
	old := uint32(scr.pix[i])
	if old == 0 {
		scr.touched = append(scr.touched, i)
	}
	scr.pix[i] = uint8(old + (cov*(255-old)+127)/255)
}

// flush blends the chroma of the current run of shapes: each sample with the summed
// coverage of its pixels.
func (c *yuvCanvas) flush() {
	if !c.pending {
		return
	}
	p, a := yuvOf(c.cur), uint32(c.cur.A)
	scr := c.scr
	for _, i := range scr.touched {
		x, y := int(i)%c.w, int(i)/c.w
		ci := int32((y/2)*c.cw + x/2)
		if scr.acc[ci] == 0 {
			scr.ctouched = append(scr.ctouched, ci)
		}
		scr.acc[ci] += uint16(scr.pix[i])
		scr.pix[i] = 0
	}
	scr.touched = scr.touched[:0]
	for _, ci := range scr.ctouched {
		cx, cy := int(ci)%c.cw, int(ci)/c.cw
		c.mixChroma(cy*c.cs+cx*c.cstep, p, a*uint32(scr.acc[ci]), pixelsOf(c, cx, cy))
		scr.acc[ci] = 0
	}
	scr.ctouched = scr.ctouched[:0]
	c.pending = false
}

func (c *yuvCanvas) bounds() image.Rectangle { return image.Rect(0, 0, c.w, c.h) }

// mix is (src×a + dst×(255−a)) / 255, rounded.
func mix(src, dst uint8, a uint32) uint8 {
	return uint8((uint32(src)*a + uint32(dst)*(255-a) + 127) / 255)
}

// fill implements surface.
func (c *yuvCanvas) fill(r image.Rectangle, col rgba) {
	r = r.Intersect(c.bounds())
	if col.A == 0 || r.Empty() {
		return
	}
	p, a := yuvOf(col), uint32(col.A)
	var lut [256]uint8
	for d := range lut {
		lut[d] = mix(p.Y, uint8(d), a)
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := c.y[y*c.ys+r.Min.X : y*c.ys+r.Max.X]
		for i, v := range row {
			row[i] = lut[v]
		}
	}
	// Chroma: a sample whose 2×2 pixels are all inside r is blended now, as each of its
	// pixels is; one only partly inside waits for the run of shapes (its pixels' coverage).
	c.use(col)
	var lutU, lutV [256]uint8
	for d := range lutU {
		lutU[d], lutV[d] = mix(p.U, uint8(d), a), mix(p.V, uint8(d), a)
	}
	for cy := r.Min.Y / 2; cy <= (r.Max.Y-1)/2; cy++ {
		y0, y1 := 2*cy, min(2*cy+2, c.h)
		rowIn := y0 >= r.Min.Y && y1 <= r.Max.Y
		for cx := r.Min.X / 2; cx <= (r.Max.X-1)/2; cx++ {
			x0, x1 := 2*cx, min(2*cx+2, c.w)
			if rowIn && x0 >= r.Min.X && x1 <= r.Max.X {
				i := cy*c.cs + cx*c.cstep
				c.u[i], c.v[i] = lutU[c.u[i]], lutV[c.v[i]]
				continue
			}
			for y := max(y0, r.Min.Y); y < min(y1, r.Max.Y); y++ {
				for x := max(x0, r.Min.X); x < min(x1, r.Max.X); x++ {
					c.cover(x, y, 255)
				}
			}
		}
	}
}

// pixelsOf is how many pixels a chroma sample stands for (fewer at an odd edge).
func pixelsOf(c *yuvCanvas, cx, cy int) uint32 {
	return uint32((min(2*cx+2, c.w) - 2*cx) * (min(2*cy+2, c.h) - 2*cy))
}

// mixChroma blends a chroma sample with alpha covSum / (255 × n): covSum is alpha × coverage
// summed over its n pixels.
func (c *yuvCanvas) mixChroma(i int, p yuv, covSum, n uint32) {
	a := (covSum + 255*n/2) / (255 * n)
	if a > 255 {
		a = 255
	}
	c.u[i] = mix(p.U, c.u[i], a)
	c.v[i] = mix(p.V, c.v[i], a)
}

// stroke implements surface: luma at once, chroma with the run of shapes.
func (c *yuvCanvas) stroke(col rgba, draw func(plot func(x, y int, cov uint32))) {
	p, a := yuvOf(col), uint32(col.A)
	c.use(col)
	draw(func(x, y int, cov uint32) {
		i := y*c.ys + x
		c.y[i] = mix(p.Y, c.y[i], a*cov/255)
		c.cover(x, y, cov)
	})
}

// glyph implements surface.
func (c *yuvCanvas) glyph(mask *image.Alpha, r image.Rectangle, mp image.Point, col rgba) {
	cr := r.Intersect(c.bounds())
	if cr.Empty() {
		return
	}
	c.stroke(col, func(plot func(x, y int, cov uint32)) {
		for y := cr.Min.Y; y < cr.Max.Y; y++ {
			my := mp.Y + y - r.Min.Y
			for x := cr.Min.X; x < cr.Max.X; x++ {
				if m := mask.Pix[mask.PixOffset(mp.X+x-r.Min.X, my)]; m != 0 {
					plot(x, y, uint32(m))
				}
			}
		}
	})
}
