package counter

import (
	"bytes"
	"image"
	"image/jpeg"

	"golang.org/x/image/draw"
)

// The crops a cart keeps: small JPEGs, large enough for the embedder (which resizes the
// shorter side to 256 and takes the middle 224) to learn from and for a prompt to show.
const (
	// CropMaxSide bounds the longer side of a kept crop, in pixels.
	CropMaxSide = 320
	cropQuality = 85
)

// encodeCrop returns img as a JPEG no larger than CropMaxSide on its longer side (nil for a
// nil or empty image).
func encodeCrop(img *image.RGBA) []byte {
	if img == nil || img.Bounds().Empty() {
		return nil
	}
	var src image.Image = img
	b := img.Bounds()
	if side := max(b.Dx(), b.Dy()); side > CropMaxSide {
		w, h := max(1, b.Dx()*CropMaxSide/side), max(1, b.Dy()*CropMaxSide/side)
		dst := image.NewRGBA(image.Rect(0, 0, w, h))
		draw.ApproxBiLinear.Scale(dst, dst.Bounds(), img, b, draw.Src, nil)
		src = dst
	}
	var out bytes.Buffer
	if err := jpeg.Encode(&out, src, &jpeg.Options{Quality: cropQuality}); err != nil {
		return nil // cannot happen with an in-memory RGBA image
	}
	return out.Bytes()
}
