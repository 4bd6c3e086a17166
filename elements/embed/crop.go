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
// during Process, and the embedder may run after it returns to the pool). A 4:2:0 frame (the
// live path's I420 or NV12) is converted to RGB for the crop only.
func cropRGBA(b *goelement.Buffer, rect image.Rectangle) (*image.RGBA, error) {
	info := b.Info
	if info.Format == "I420" || info.Format == "NV12" {
		return crop420(b, rect)
	}
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

// crop420 cuts rect out of an I420 or NV12 frame as RGBA (BT.601 limited range, as
// videoconvert converts the decoders' 4:2:0), each pixel with its 2×2 block's chroma.
func crop420(b *goelement.Buffer, rect image.Rectangle) (*image.RGBA, error) {
	info := b.Info
	rect = rect.Intersect(image.Rect(0, 0, info.Width, info.Height))
	if rect.Empty() {
		return nil, fmt.Errorf("empty crop")
	}
	ys, cs := info.Stride[0], info.Stride[1]
	yo, uo, vo, step := info.Offset[0], info.Offset[1], info.Offset[2], 1
	if info.Format == "NV12" {
		vo, step = uo+1, 2
	}
	cw, ch := (info.Width+1)/2, (info.Height+1)/2
	if yo < 0 || uo < 0 || vo < 0 || yo+(info.Height-1)*ys+info.Width > len(b.Pixels) ||
		max(uo, vo)+(ch-1)*cs+(cw-1)*step+1 > len(b.Pixels) {
		return nil, fmt.Errorf("a %dx%d %s frame does not fit in %d bytes", info.Width, info.Height, info.Format, len(b.Pixels))
	}
	img := image.NewRGBA(image.Rect(0, 0, rect.Dx(), rect.Dy()))
	clamp := func(v int) uint8 {
		if v < 0 {
			return 0
		}
		if v > 255 {
			return 255
		}
		return uint8(v)
	}
	for y := 0; y < rect.Dy(); y++ {
		sy := rect.Min.Y + y
		yrow := b.Pixels[yo+sy*ys:]
		crow := (sy / 2) * cs
		dst := img.Pix[y*img.Stride : y*img.Stride+rect.Dx()*4]
		for x := 0; x < rect.Dx(); x++ {
			sx := rect.Min.X + x
			c := (int(yrow[sx]) - 16) * 76309
			d := int(b.Pixels[uo+crow+(sx/2)*step]) - 128
			e := int(b.Pixels[vo+crow+(sx/2)*step]) - 128
			p := dst[x*4 : x*4+4 : x*4+4]
			p[0] = clamp((c + 104597*e + 32768) >> 16)
			p[1] = clamp((c - 25675*d - 53279*e + 32768) >> 16)
			p[2] = clamp((c + 132201*d + 32768) >> 16)
			p[3] = 255
		}
	}
	return img, nil
}
