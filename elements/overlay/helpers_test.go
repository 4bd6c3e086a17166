package overlay

import (
	"image"
	"testing"

	"github.com/ebrcs/ebrcs/elements/goelement"
)

// declared reads the declared defaults, standing in for goelement.Props in unit tests.
type declared map[string]any

func (d declared) get(name string) any {
	if v, ok := d[name]; ok {
		return v
	}
	for _, p := range Element.Properties {
		if p.Name == name {
			return p.Default
		}
	}
	panic("no property " + name)
}

func (d declared) Bool(n string) bool      { return d.get(n).(bool) }
func (d declared) Int(n string) int        { return d.get(n).(int) }
func (d declared) Double(n string) float64 { return d.get(n).(float64) }
func (d declared) String(n string) string  { return d.get(n).(string) }

var _ propReader = declared(nil)

// frameBuf is a frame in memory laid out like a GStreamer buffer: a stride that may be wider
// than the row, an offset, and guard bytes around that must stay untouched.
type frameBuf struct {
	pix  []byte
	info goelement.VideoInfo
}

const guard = 0xAB

func newFrameBuf(t testing.TB, format string, w, h, pad, off int) *frameBuf {
	t.Helper()
	stride := 4*w + pad
	pix := make([]byte, off+stride*h)
	for i := range pix {
		pix[i] = guard
	}
	info := goelement.VideoInfo{Width: w, Height: h, Format: format, Planes: 1, Size: len(pix)}
	info.Stride[0], info.Offset[0] = stride, off
	f := &frameBuf{pix: pix, info: info}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := f.index(x, y)
			pix[i], pix[i+1], pix[i+2], pix[i+3] = 0, 0, 0, 255
		}
	}
	return f
}

func (f *frameBuf) index(x, y int) int { return f.info.Offset[0] + y*f.info.Stride[0] + 4*x }

// rgb returns the pixel's colour whatever the format's byte order.
func (f *frameBuf) rgb(x, y int) [3]byte {
	i := f.index(x, y)
	p := f.pix[i : i+3]
	if f.info.Format[0] == 'B' {
		return [3]byte{p[2], p[1], p[0]}
	}
	return [3]byte{p[0], p[1], p[2]}
}

func (f *frameBuf) canvas(t testing.TB) *canvas {
	t.Helper()
	c, err := newCanvas(f.pix, f.info)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// count returns how many pixels of r satisfy pred.
func (f *frameBuf) count(r image.Rectangle, pred func([3]byte) bool) int {
	n := 0
	r = r.Intersect(image.Rect(0, 0, f.info.Width, f.info.Height))
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if pred(f.rgb(x, y)) {
				n++
			}
		}
	}
	return n
}

// guardsIntact says no byte outside the picture (offset, row padding) was written.
func (f *frameBuf) guardsIntact() bool {
	inside := make([]bool, len(f.pix))
	for y := 0; y < f.info.Height; y++ {
		for x := 0; x < f.info.Width; x++ {
			i := f.index(x, y)
			inside[i], inside[i+1], inside[i+2], inside[i+3] = true, true, true, true
		}
	}
	for i, b := range f.pix {
		if !inside[i] && b != guard {
			return false
		}
	}
	return true
}

func black(p [3]byte) bool { return p == [3]byte{} }

func rgbOf(c rgba) [3]byte { return [3]byte{c.R, c.G, c.B} }
