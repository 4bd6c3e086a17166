package models

import (
	"errors"
	"fmt"
	"image"
	"image/color"
)

// rgbImage is a packed 8-bit RGB image (3 bytes per pixel, like Pillow's "RGB" mode without
// its padding byte). Every image is converted to it once; preprocessing, views and the
// colour encoder all work on it.
type rgbImage struct {
	w, h   int
	stride int // bytes between the starts of two rows
	pix    []byte
}

func newRGB(w, h int) *rgbImage {
	return &rgbImage{w: w, h: h, stride: w * 3, pix: make([]byte, w*h*3)}
}

// sub returns the pixels inside r (in this image's coordinates, origin at 0,0) without
// copying.
func (m *rgbImage) sub(r image.Rectangle) *rgbImage {
	if r.Empty() {
		return &rgbImage{}
	}
	off := r.Min.Y*m.stride + r.Min.X*3
	end := (r.Max.Y-1)*m.stride + r.Max.X*3
	return &rgbImage{w: r.Dx(), h: r.Dy(), stride: m.stride, pix: m.pix[off:end]}
}

// clone returns a compact copy.
func (m *rgbImage) clone() *rgbImage {
	out := newRGB(m.w, m.h)
	for y := 0; y < m.h; y++ {
		copy(out.pix[y*out.stride:(y+1)*out.stride], m.pix[y*m.stride:y*m.stride+m.w*3])
	}
	return out
}

// toRGB converts any image to packed RGB the way Pillow's convert("RGB") treats the common
// cases: alpha is dropped (colours are taken un-premultiplied), grey is replicated. Fast paths
// cover what decoders and our pipelines produce (YCbCr from JPEG, RGBA/NRGBA from PNG and
// GStreamer frames, Gray); anything else goes through the image's color model.
//
// JPEG note: Go's JPEG decoder and libjpeg (used by Pillow) differ slightly in their IDCT and
// chroma upsampling, so a JPEG decoded in Go is not byte-identical to the same file opened
// with Pillow. That is decoding, not preprocessing; everything after it is exact.
func toRGB(img image.Image) (*rgbImage, error) {
	if img == nil {
		return nil, errors.New("nil image")
	}
	b := img.Bounds()
	if b.Empty() {
		return nil, fmt.Errorf("empty image (bounds %v)", b)
	}
	w, h := b.Dx(), b.Dy()
	out := newRGB(w, h)
	switch src := img.(type) {
	case *image.RGBA:
		for y := 0; y < h; y++ {
			s := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):][: w*4 : w*4]
			d := out.pix[y*out.stride:][: w*3 : w*3]
			for x := 0; x < w; x++ {
				p := s[x*4 : x*4+4 : x*4+4]
				q := d[x*3 : x*3+3 : x*3+3]
				if a := p[3]; a == 0xff {
					q[0], q[1], q[2] = p[0], p[1], p[2]
				} else {
					// Premultiplied: undo it, as Pillow would see the straight colour.
					c := color.NRGBAModel.Convert(color.RGBA{p[0], p[1], p[2], a}).(color.NRGBA)
					q[0], q[1], q[2] = c.R, c.G, c.B
				}
			}
		}
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			s := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):][: w*4 : w*4]
			d := out.pix[y*out.stride:][: w*3 : w*3]
			for x := 0; x < w; x++ {
				p := s[x*4 : x*4+3 : x*4+3]
				q := d[x*3 : x*3+3 : x*3+3]
				q[0], q[1], q[2] = p[0], p[1], p[2]
			}
		}
	case *image.Gray:
		for y := 0; y < h; y++ {
			s := src.Pix[src.PixOffset(b.Min.X, b.Min.Y+y):][:w:w]
			d := out.pix[y*out.stride:][: w*3 : w*3]
			for x, v := range s {
				d[x*3], d[x*3+1], d[x*3+2] = v, v, v
			}
		}
	case *image.YCbCr:
		// Chroma samples are shared by 1, 2 or 4 horizontal neighbours; COffset per pixel
		// would dominate the conversion, so compute the row's chroma start once.
		hdiv := 1
		switch src.SubsampleRatio {
		case image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420:
			hdiv = 2
		case image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410:
			hdiv = 4
		}
		minX := src.Rect.Min.X
		for y := 0; y < h; y++ {
			d := out.pix[y*out.stride:][: w*3 : w*3]
			Y := b.Min.Y + y
			ys := src.Y[src.YOffset(b.Min.X, Y):][:w:w]
			cRow := src.COffset(minX, Y) - minX/hdiv
			for x, yv := range ys {
				ci := cRow + (b.Min.X+x)/hdiv
				q := d[x*3 : x*3+3 : x*3+3]
				q[0], q[1], q[2] = ycbcrToRGB(yv, src.Cb[ci], src.Cr[ci])
			}
		}
	default:
		for y := 0; y < h; y++ {
			d := out.pix[y*out.stride:][: w*3 : w*3]
			for x := 0; x < w; x++ {
				c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				d[x*3], d[x*3+1], d[x*3+2] = c.R, c.G, c.B
			}
		}
	}
	return out, nil
}

// toImage returns m as an *image.RGBA (opaque), for callers and tests that want a standard
// image.
func (m *rgbImage) toImage() *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, m.w, m.h))
	for y := 0; y < m.h; y++ {
		for x := 0; x < m.w; x++ {
			s := m.pix[y*m.stride+x*3:]
			d := out.Pix[y*out.Stride+x*4:]
			d[0], d[1], d[2], d[3] = s[0], s[1], s[2], 0xff
		}
	}
	return out
}

// ycbcrToRGB is image/color.YCbCrToRGB (JFIF full-range BT.601 in 16.16 fixed point, the
// same integer arithmetic, so the same results), small enough to be inlined in the
// conversion loop where a call per pixel was a third of the preprocessing time.
func ycbcrToRGB(y, cb, cr uint8) (uint8, uint8, uint8) {
	yy1 := int32(y) * 0x10101
	cb1 := int32(cb) - 128
	cr1 := int32(cr) - 128
	r := yy1 + 91881*cr1
	g := yy1 - 22554*cb1 - 46802*cr1
	b := yy1 + 116130*cb1
	return clampFixed16(r), clampFixed16(g), clampFixed16(b)
}

// clampFixed16 returns v >> 16 clamped to [0, 255].
func clampFixed16(v int32) uint8 {
	if uint32(v)&0xff000000 == 0 {
		return uint8(v >> 16)
	}
	return uint8(^(v >> 31)) // 0 for negative values, 255 for overflow
}
