package scenario

import (
	"image"
	"math"

	xdraw "golang.org/x/image/draw"
)

// scaleToHeight resizes img to height h, keeping its aspect ratio, as premultiplied RGBA.
func scaleToHeight(img image.Image, h int) *image.RGBA {
	b := img.Bounds()
	w := int(float64(b.Dx())*float64(h)/float64(b.Dy()) + 0.5)
	if w < 1 {
		w = 1
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	xdraw.CatmullRom.Scale(dst, dst.Bounds(), img, b, xdraw.Src, nil)
	return dst
}

// capsule is a segment with a radius: a finger, a thumb, a wrist.
type capsule struct{ ax, ay, bx, by, r float64 }

func (c capsule) dist(x, y float64) float64 {
	dx, dy := c.bx-c.ax, c.by-c.ay
	t := ((x-c.ax)*dx + (y-c.ay)*dy) / (dx*dx + dy*dy)
	t = math.Max(0, math.Min(1, t))
	return math.Hypot(x-c.ax-t*dx, y-c.ay-t*dy) - c.r
}

// handShape is an open right hand, palm side, fingers up, in units of its length.
var handShape = []capsule{
	{0.21, 0.50, 0.19, 0.16, 0.056}, // index
	{0.34, 0.48, 0.34, 0.06, 0.058}, // middle
	{0.47, 0.49, 0.49, 0.11, 0.055}, // ring
	{0.59, 0.53, 0.64, 0.26, 0.048}, // little
	{0.60, 0.78, 0.76, 0.50, 0.066}, // thumb
	{0.40, 0.86, 0.40, 0.97, 0.155}, // wrist
}

// palmDist is the signed distance to the palm, a rounded box.
func palmDist(x, y float64) float64 {
	const cx, cy, hx, hy, r = 0.40, 0.66, 0.24, 0.20, 0.11
	qx := math.Abs(x-cx) - (hx - r)
	qy := math.Abs(y-cy) - (hy - r)
	out := math.Hypot(math.Max(qx, 0), math.Max(qy, 0))
	return out + math.Min(math.Max(qx, qy), 0) - r
}

func handDist(x, y float64) float64 {
	d := palmDist(x, y)
	for _, c := range handShape {
		d = math.Min(d, c.dist(x, y))
	}
	return d
}

// handSprite draws a hand of the given length (palm base to fingertip, pixels), fingers up,
// anti-aliased, with a darker rim so it reads as a rounded shape. It is cropped to its pixels.
func handSprite(length int, skin [3]uint8) *image.RGBA {
	l := float64(length)
	w, h := int(0.95*l), int(1.15*l)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	const ss = 4 // supersampling per axis
	for py := 0; py < h; py++ {
		for px := 0; px < w; px++ {
			n := 0
			for sy := 0; sy < ss; sy++ {
				for sx := 0; sx < ss; sx++ {
					if handDist((float64(px)+(float64(sx)+0.5)/ss)/l, (float64(py)+(float64(sy)+0.5)/ss)/l) < 0 {
						n++
					}
				}
			}
			if n == 0 {
				continue
			}
			u, v := (float64(px)+0.5)/l, (float64(py)+0.5)/l
			d := handDist(u, v)
			rim := math.Min(1, math.Max(0, -d/0.045))
			shade := (0.80 + 0.20*rim) * (1.04 - 0.10*v)
			a := float64(n) / (ss * ss)
			i := img.PixOffset(px, py)
			for c := 0; c < 3; c++ {
				img.Pix[i+c] = uint8(math.Min(255, float64(skin[c])*shade) * a)
			}
			img.Pix[i+3] = uint8(255*a + 0.5)
		}
	}
	return crop(img)
}

// crop trims fully transparent borders and rebases the image at (0,0).
func crop(img *image.RGBA) *image.RGBA {
	b := img.Bounds()
	r := image.Rectangle{Min: b.Max, Max: b.Min}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if img.Pix[img.PixOffset(x, y)+3] != 0 {
				r = r.Union(image.Rect(x, y, x+1, y+1))
			}
		}
	}
	out := image.NewRGBA(image.Rect(0, 0, r.Dx(), r.Dy()))
	for y := 0; y < r.Dy(); y++ {
		copy(out.Pix[y*out.Stride:y*out.Stride+4*r.Dx()], img.Pix[img.PixOffset(r.Min.X, r.Min.Y+y):])
	}
	return out
}

// orient turns a fingers-up hand so that it comes from side: its wrist on that side, its
// fingers pointing into the frame.
func orient(img *image.RGBA, side string) *image.RGBA {
	w, h := img.Bounds().Dx(), img.Bounds().Dy()
	var out *image.RGBA
	var at func(x, y int) (int, int)
	switch side {
	case Bottom:
		return img
	case Top: // fingers down
		out = image.NewRGBA(image.Rect(0, 0, w, h))
		at = func(x, y int) (int, int) { return w - 1 - x, h - 1 - y }
	case Right: // fingers left
		out = image.NewRGBA(image.Rect(0, 0, h, w))
		at = func(x, y int) (int, int) { return y, w - 1 - x }
	default: // Left: fingers right
		out = image.NewRGBA(image.Rect(0, 0, h, w))
		at = func(x, y int) (int, int) { return h - 1 - y, x }
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			nx, ny := at(x, y)
			copy(out.Pix[out.PixOffset(nx, ny):out.PixOffset(nx, ny)+4], img.Pix[img.PixOffset(x, y):])
		}
	}
	return out
}
