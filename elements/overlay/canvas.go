package overlay

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"

	"github.com/ebrcs/ebrcs/elements/goelement"
)

// surface is a frame the overlay draws on: packed RGB (canvas) or planar YUV (yuvCanvas).
type surface interface {
	bounds() image.Rectangle
	// fill paints a rectangle (clipped to the frame), blending a translucent colour.
	fill(r image.Rectangle, col rgba)
	// stroke draws one antialiased primitive in col: draw calls plot(x, y, cov) for each
	// pixel it covers (cov 0..255, pixels inside the frame).
	stroke(col rgba, draw func(plot func(x, y int, cov uint32)))
	// glyph blends col through an alpha mask: r on the frame, mp the mask's matching point.
	glyph(mask *image.Alpha, r image.Rectangle, mp image.Point, col rgba)
	// flush completes what is drawn (a 4:2:0 frame's chroma is blended per run of shapes).
	flush()
}

var (
	_ surface = (*canvas)(nil)
	_ surface = (*yuvCanvas)(nil)
)

// canvas draws straight into a packed 4-byte-per-pixel frame.
//
// The frame memory is wrapped, not copied, as an *image.RGBA: RGBA, BGRA, RGBx and BGRx all
// keep the alpha (or unused) byte last, so the same byte layout serves all four once colours
// have red and blue exchanged for the BGR formats (rgba.premul). Using the standard type keeps
// image/draw on its fast paths (uniform fills, glyph masks) instead of a per-pixel At/Set.
type canvas struct {
	img    *image.RGBA
	swapRB bool
}

// newCanvas wraps the first plane of a frame, honouring its stride and offset.
func newCanvas(pix []byte, info goelement.VideoInfo) (*canvas, error) {
	var swap bool
	switch info.Format {
	case "RGBA", "RGBx":
	case "BGRA", "BGRx":
		swap = true
	default:
		return nil, fmt.Errorf("unsupported format %q", info.Format)
	}
	w, h, stride, off := info.Width, info.Height, info.Stride[0], info.Offset[0]
	if w <= 0 || h <= 0 || stride < 4*w {
		return nil, fmt.Errorf("bad frame layout %dx%d stride %d", w, h, stride)
	}
	end := off + (h-1)*stride + 4*w
	if off < 0 || end > len(pix) {
		return nil, fmt.Errorf("frame of %d bytes too small for %dx%d stride %d offset %d", len(pix), w, h, stride, off)
	}
	return &canvas{img: &image.RGBA{Pix: pix[off:end], Stride: stride, Rect: image.Rect(0, 0, w, h)}, swapRB: swap}, nil
}

func (c *canvas) bounds() image.Rectangle { return c.img.Rect }

// fill paints a rectangle (clipped to the frame). Opaque colours replace pixels (draw.Src, a
// row-copy fast path); translucent ones (the panels) are blended through per-channel lookup
// tables, several times faster than image/draw's general 16-bit Over.
func (c *canvas) fill(r image.Rectangle, col rgba) {
	r = r.Intersect(c.img.Rect)
	if col.A == 0 || r.Empty() {
		return
	}
	p := col.premul(c.swapRB)
	if col.A == 0xff {
		draw.Draw(c.img, r, image.NewUniform(p), image.Point{}, draw.Src)
		return
	}
	// out = src + dst×(255−a)/255 for each byte; with a fixed colour that is a table per channel.
	var lut [4][256]uint8
	inv := 255 - uint32(p.A)
	for ch, sv := range [4]uint8{p.R, p.G, p.B, p.A} {
		for d := range 256 {
			lut[ch][d] = uint8(uint32(sv) + (uint32(d)*inv+127)/255)
		}
	}
	for y := r.Min.Y; y < r.Max.Y; y++ {
		row := c.img.Pix[y*c.img.Stride+4*r.Min.X : y*c.img.Stride+4*r.Max.X]
		for i := 0; i+3 < len(row); i += 4 {
			px := row[i : i+4 : i+4]
			px[0], px[1], px[2], px[3] = lut[0][px[0]], lut[1][px[1]], lut[2][px[2]], lut[3][px[3]]
		}
	}
}

// outline draws the border of r, lw pixels thick, inside r.
func (c *canvas) outline(r image.Rectangle, lw int, col rgba) { outline(c, r, lw, col) }

// outline draws the border of r, lw pixels thick, inside r. The four strips do not overlap,
// so a translucent colour is blended once everywhere.
func outline(c surface, r image.Rectangle, lw int, col rgba) {
	if r.Empty() {
		return
	}
	if 2*lw >= r.Dx() || 2*lw >= r.Dy() {
		c.fill(r, col)
		return
	}
	c.fill(image.Rect(r.Min.X, r.Min.Y, r.Max.X, r.Min.Y+lw), col)
	c.fill(image.Rect(r.Min.X, r.Max.Y-lw, r.Max.X, r.Max.Y), col)
	c.fill(image.Rect(r.Min.X, r.Min.Y+lw, r.Min.X+lw, r.Max.Y-lw), col)
	c.fill(image.Rect(r.Max.X-lw, r.Min.Y+lw, r.Max.X, r.Max.Y-lw), col)
}

// flush implements surface: everything is drawn at once.
func (c *canvas) flush() {}

// stroke implements surface.
func (c *canvas) stroke(col rgba, draw func(plot func(x, y int, cov uint32))) {
	p := col.premul(c.swapRB)
	draw(func(x, y int, cov uint32) { c.blend(y*c.img.Stride+4*x, p, cov) })
}

// glyph implements surface with image/draw's glyph fast path: only the glyph's own
// rectangle is touched.
func (c *canvas) glyph(mask *image.Alpha, r image.Rectangle, mp image.Point, col rgba) {
	draw.DrawMask(c.img, r, image.NewUniform(col.premul(c.swapRB)), image.Point{}, mask, mp, draw.Over)
}

// blend composites a premultiplied colour over the pixel at byte index i with coverage cov
// (0..255): the colour channels end up as a straight lerp whatever the frame's alpha byte
// holds, and an opaque colour at full coverage is written exactly.
func (c *canvas) blend(i int, p color.RGBA, cov uint32) {
	px := c.img.Pix[i : i+4 : i+4]
	sa := uint32(p.A) * cov / 255
	inv := 255 - sa
	px[0] = uint8(uint32(p.R)*cov/255 + uint32(px[0])*inv/255)
	px[1] = uint8(uint32(p.G)*cov/255 + uint32(px[1])*inv/255)
	px[2] = uint8(uint32(p.B)*cov/255 + uint32(px[2])*inv/255)
	px[3] = uint8(sa + uint32(px[3])*inv/255)
}

type fpoint struct{ X, Y float64 }

// polygon and segment on a packed frame (see the functions of the same names).
func (c *canvas) polygon(pts []fpoint, lw int, col rgba)    { polygon(c, pts, lw, col) }
func (c *canvas) segment(a, b fpoint, hw float64, col rgba) { segment(c, a, b, hw, col) }

// polygon strokes the closed outline through pts, lw pixels wide, antialiased. Each edge is a
// capsule (round ends), so the corners are joined without gaps whatever their angle.
func polygon(c surface, pts []fpoint, lw int, col rgba) {
	// Odd widths are centred on pixel centres and even ones on pixel edges, so that
	// horizontal and vertical edges come out crisp, fully covered rows and columns.
	snap := func(v float64) float64 {
		if lw%2 == 1 {
			return math.Floor(v) + 0.5
		}
		return math.Round(v)
	}
	s := make([]fpoint, len(pts))
	for i, p := range pts {
		s[i] = fpoint{snap(p.X), snap(p.Y)}
	}
	switch len(s) {
	case 0:
		return
	case 1:
		segment(c, s[0], s[0], float64(lw)/2, col)
		return
	case 2:
		segment(c, s[0], s[1], float64(lw)/2, col)
		return
	}
	for i := range s {
		segment(c, s[i], s[(i+1)%len(s)], float64(lw)/2, col)
	}
}

// segment draws a capsule of half-width hw around a→b. It walks only the thin band around the
// segment along its major axis (never the bounding box of a long diagonal) and gives each
// pixel the coverage of its centre's distance to the segment: 1 inside, a linear ramp over the
// last pixel, 0 beyond. Where two segments meet, pixels at the joint are blended twice; that
// is invisible for opaque colours and a faint dot for translucent ones.
func segment(c surface, a, b fpoint, hw float64, col rgba) {
	if col.A == 0 || hw <= 0 {
		return
	}
	c.stroke(col, func(plot func(x, y int, cov uint32)) { sweep(c.bounds(), a, b, hw, plot) })
}

// sweep calls plot for every pixel of the capsule of half-width hw around a→b, within bnd.
func sweep(bnd image.Rectangle, a, b fpoint, hw float64, plot func(x, y int, cov uint32)) {
	dx, dy := b.X-a.X, b.Y-a.Y
	l2 := dx*dx + dy*dy
	reach := hw + 0.5 // beyond this distance a pixel centre gets no coverage
	inner := hw - 0.5 // within this distance it is fully covered
	reach2, inner2 := reach*reach, inner*inner
	if inner < 0 {
		inner2 = -1
	}
	// cover blends one pixel. Squared distances decide the common cases; only the rim of
	// antialiased pixels needs a square root.
	cover := func(x, y int) {
		px, py := float64(x)+0.5-a.X, float64(y)+0.5-a.Y
		t := 0.0
		if l2 > 0 {
			t = (px*dx + py*dy) / l2
			if t < 0 {
				t = 0
			} else if t > 1 {
				t = 1
			}
		}
		ex, ey := px-t*dx, py-t*dy
		d2 := ex*ex + ey*ey
		switch {
		case d2 >= reach2:
			return
		case d2 <= inner2:
			plot(x, y, 255)
		default:
			if cov := uint32((reach-math.Sqrt(d2))*255 + 0.5); cov > 0 {
				plot(x, y, min(cov, 255))
			}
		}
	}
	// Walk the major axis u; the minor axis is v. For a mostly vertical segment u is y.
	au, av, bu, du, dv := a.X, a.Y, b.X, dx, dy
	uMin, uMax, vMin, vMax := bnd.Min.X, bnd.Max.X-1, bnd.Min.Y, bnd.Max.Y-1
	horizontal := math.Abs(dx) >= math.Abs(dy)
	if !horizontal {
		au, av, bu, du, dv = a.Y, a.X, b.Y, dy, dx
		uMin, uMax, vMin, vMax = vMin, vMax, uMin, uMax
	}
	// Across the major axis the band's half-height is reach/cos(angle); the round ends lie
	// inside the same band, so one span per step covers the whole capsule.
	half := reach
	if l2 > 0 {
		half = reach * math.Sqrt(l2) / math.Abs(du)
	}
	lo := max(uMin, int(math.Floor(math.Min(au, bu)-reach)))
	hi := min(uMax, int(math.Ceil(math.Max(au, bu)+reach)))
	for u := lo; u <= hi; u++ {
		mid := av
		if du != 0 {
			mid = av + (float64(u)+0.5-au)*dv/du
		}
		v0 := max(vMin, int(math.Floor(mid-half-1)))
		v1 := min(vMax, int(math.Ceil(mid+half)))
		for v := v0; v <= v1; v++ {
			if horizontal {
				cover(u, v)
			} else {
				cover(v, u)
			}
		}
	}
}
