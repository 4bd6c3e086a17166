package embed

import (
	"fmt"
	"image"
	"math"

	"github.com/ebrcs/ebrcs/elements/goelement"
)

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
	layout, ok := goelement.PackedRGBLayout(info.Format)
	if !ok {
		return nil, fmt.Errorf("unsupported format %q", info.Format)
	}
	rect = rect.Intersect(image.Rect(0, 0, info.Width, info.Height))
	if rect.Empty() {
		return nil, fmt.Errorf("empty crop")
	}
	img := image.NewRGBA(image.Rect(0, 0, rect.Dx(), rect.Dy()))
	stride, base, bpp := info.Stride[0], info.Offset[0], layout.BytesPerPixel
	for y := 0; y < rect.Dy(); y++ {
		src := b.Pixels[base+(rect.Min.Y+y)*stride+rect.Min.X*bpp:]
		dst := img.Pix[y*img.Stride : y*img.Stride+rect.Dx()*4]
		for x := 0; x < rect.Dx(); x++ {
			p := src[x*bpp:]
			dst[x*4], dst[x*4+1], dst[x*4+2], dst[x*4+3] = p[layout.R], p[layout.G], p[layout.B], 255
		}
	}
	return img, nil
}
