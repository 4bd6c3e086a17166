package models

import (
	"image"
	"image/color"
	"testing"
)

// TestYCbCrToRGBExhaustive: our inlined conversion equals image/color's for all 2^24 inputs.
func TestYCbCrToRGBExhaustive(t *testing.T) {
	for y := 0; y < 256; y++ {
		for cb := 0; cb < 256; cb++ {
			for cr := 0; cr < 256; cr++ {
				r0, g0, b0 := color.YCbCrToRGB(uint8(y), uint8(cb), uint8(cr))
				r1, g1, b1 := ycbcrToRGB(uint8(y), uint8(cb), uint8(cr))
				if r0 != r1 || g0 != g1 || b0 != b1 {
					t.Fatalf("YCbCr %d %d %d: %d %d %d, want %d %d %d", y, cb, cr, r1, g1, b1, r0, g0, b0)
				}
			}
		}
	}
}

// TestToRGBYCbCrRatios: every chroma subsampling, on a sub-image with odd offsets, converts
// like the image's own At method.
func TestToRGBYCbCrRatios(t *testing.T) {
	rng := newRand(20)
	for _, ratio := range []image.YCbCrSubsampleRatio{
		image.YCbCrSubsampleRatio444, image.YCbCrSubsampleRatio422, image.YCbCrSubsampleRatio420,
		image.YCbCrSubsampleRatio440, image.YCbCrSubsampleRatio411, image.YCbCrSubsampleRatio410,
	} {
		full := image.NewYCbCr(image.Rect(-3, 5, 40, 31), ratio)
		for _, p := range [][]byte{full.Y, full.Cb, full.Cr} {
			for i := range p {
				p[i] = byte(rng.IntN(256))
			}
		}
		for _, img := range []*image.YCbCr{full, full.SubImage(image.Rect(0, 8, 37, 30)).(*image.YCbCr)} {
			got, err := toRGB(img)
			if err != nil {
				t.Fatal(err)
			}
			b := img.Bounds()
			for y := 0; y < b.Dy(); y++ {
				for x := 0; x < b.Dx(); x++ {
					c := color.RGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.RGBA)
					p := got.pix[y*got.stride+x*3:]
					if p[0] != c.R || p[1] != c.G || p[2] != c.B {
						t.Fatalf("%v %v pixel %d,%d: %v, want %v", ratio, b, x, y, p[:3], c)
					}
				}
			}
		}
	}
}

// TestToRGB: every image type converts to the same pixels.
func TestToRGB(t *testing.T) {
	src := testImage(newRand(12), 37, 23, 0).toImage()
	want, _ := toRGB(src)
	nrgba := image.NewNRGBA(src.Bounds())
	ycc := image.NewYCbCr(src.Bounds(), image.YCbCrSubsampleRatio444)
	for y := 0; y < 23; y++ {
		for x := 0; x < 37; x++ {
			c := src.RGBAAt(x, y)
			nrgba.Set(x, y, c)
			yy, cb, cr := color.RGBToYCbCr(c.R, c.G, c.B)
			ycc.Y[ycc.YOffset(x, y)], ycc.Cb[ycc.COffset(x, y)], ycc.Cr[ycc.COffset(x, y)] = yy, cb, cr
		}
	}
	for name, img := range map[string]image.Image{"nrgba": nrgba, "sub-image": subImage(src)} {
		got, err := toRGB(img)
		if err != nil {
			t.Fatal(err)
		}
		if name == "sub-image" {
			want = want.sub(image.Rect(3, 2, 37, 23)).clone()
		}
		if _, n := byteDiff(got.pix, want.pix); n > 0 {
			t.Errorf("%s: %d bytes differ", name, n)
		}
		want, _ = toRGB(src)
	}
	// YCbCr round trips lose a level here and there; check against the generic conversion.
	got, _ := toRGB(ycc)
	for y := 0; y < 23; y++ {
		for x := 0; x < 37; x++ {
			r, g, b, _ := ycc.At(x, y).RGBA()
			p := got.pix[y*got.stride+x*3:]
			if p[0] != byte(r>>8) || p[1] != byte(g>>8) || p[2] != byte(b>>8) {
				t.Fatalf("YCbCr pixel %d,%d: %v, want %d %d %d", x, y, p[:3], r>>8, g>>8, b>>8)
			}
		}
	}
	if _, err := toRGB(nil); err == nil {
		t.Error("nil image accepted")
	}
	if _, err := toRGB(image.NewRGBA(image.Rect(0, 0, 0, 5))); err == nil {
		t.Error("empty image accepted")
	}
}

func subImage(img *image.RGBA) image.Image { return img.SubImage(image.Rect(3, 2, 37, 23)) }
