package embed

import (
	"fmt"
	"image"
	"math"

	"github.com/ebrcs/ebrcs/elements/goelement"
)

// channels gives, per packed GStreamer format, bytes per pixel and the offsets of R, G and B.
var channels = map[string]struct {
	bpp     int
	r, g, b int
}{
	"RGBA": {4, 0, 1, 2}, "RGBx": {4, 0, 1, 2},
	"BGRA": {4, 2, 1, 0}, "BGRx": {4, 2, 1, 0},
	"ARGB": {4, 1, 2, 3}, "xRGB": {4, 1, 2, 3},
	"ABGR": {4, 3, 2, 1}, "xBGR": {4, 3, 2, 1},
	"RGB": {3, 0, 1, 2}, "BGR": {3, 2, 1, 0},
}

// Formats is the caps format list this element accepts.
const Formats = "{RGBA,BGRA,RGBx,BGRx,xRGB,xBGR,ARGB,ABGR,RGB,BGR}"

// scaleRect maps r from a w1×h1 pixel space to w2×h2, rounding outwards, clamped.
func scaleRect(r image.Rectangle, w1, h1, w2, h2 int) image.Rectangle {
	if w1 == w2 && h1 == h2 || w1 == 0 || h1 == 0 {
		return r.Intersect(image.Rect(0, 0, w2, h2))
	}
	sx, sy := float64(w2)/float64(w1), float64(h2)/float64(h1)
	out := image.Rect(int(math.Floor(float64(r.Min.X)*sx)), int(math.Floor(float64(r.Min.Y)*sy)),
		int(math.Ceil(float64(r.Max.X)*sx)), int(math.Ceil(float64(r.Max.Y)*sy)))
	return out.Intersect(image.Rect(0, 0, w2, h2))
}

// cropRGBA copies rect of the frame into a new RGBA image (the frame memory is only valid
// during Process, and the embedder may run after it returns to the pool).
func cropRGBA(b *goelement.Buffer, rect image.Rectangle) (*image.RGBA, error) {
	info := b.Info
	layout, ok := channels[info.Format]
	if !ok {
		return nil, fmt.Errorf("unsupported format %q", info.Format)
	}
	rect = rect.Intersect(image.Rect(0, 0, info.Width, info.Height))
	if rect.Empty() {
		return nil, fmt.Errorf("empty crop")
	}
	img := image.NewRGBA(image.Rect(0, 0, rect.Dx(), rect.Dy()))
	stride, base := info.Stride[0], info.Offset[0]
	for y := 0; y < rect.Dy(); y++ {
		src := b.Pixels[base+(rect.Min.Y+y)*stride+rect.Min.X*layout.bpp:]
		dst := img.Pix[y*img.Stride : y*img.Stride+rect.Dx()*4]
		for x := 0; x < rect.Dx(); x++ {
			p := src[x*layout.bpp:]
			dst[x*4], dst[x*4+1], dst[x*4+2], dst[x*4+3] = p[layout.r], p[layout.g], p[layout.b], 255
		}
	}
	return img, nil
}
