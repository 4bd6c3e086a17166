package embed

import (
	"image"
	"testing"

	"github.com/ebrcs/ebrcs/elements/goelement"
)

// A crop cut out of the live path's I420 or NV12 is the crop an RGB frame gives, converted
// (BT.601 limited range): within a few levels on a smooth picture.
func TestCropFrom420MatchesRGB(t *testing.T) {
	const w, h = 64, 48
	rgb := make([]byte, w*h*4)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			i := 4 * (y*w + x)
			rgb[i], rgb[i+1], rgb[i+2], rgb[i+3] = uint8(40+x*3), uint8(30+y*4), uint8(200-x-y), 255
		}
	}
	yuv := make([]byte, w*h*3/2)
	for i := 0; i < w*h; i++ {
		r, g, b := int(rgb[4*i]), int(rgb[4*i+1]), int(rgb[4*i+2])
		yuv[i] = uint8((66*r+129*g+25*b+128)>>8 + 16)
	}
	nv12 := append([]byte(nil), yuv[:w*h]...)
	nv12 = append(nv12, make([]byte, w*h/2)...)
	for cy := 0; cy < h/2; cy++ {
		for cx := 0; cx < w/2; cx++ {
			i := 4 * (2*cy*w + 2*cx)
			r, g, b := int(rgb[i]), int(rgb[i+1]), int(rgb[i+2])
			u, v := uint8((-38*r-74*g+112*b+128)>>8+128), uint8((112*r-94*g-18*b+128)>>8+128)
			yuv[w*h+cy*w/2+cx], yuv[w*h*5/4+cy*w/2+cx] = u, v
			nv12[w*h+cy*w+2*cx], nv12[w*h+cy*w+2*cx+1] = u, v
		}
	}
	rect := image.Rect(10, 7, 50, 41)
	packed := &goelement.Buffer{Pixels: rgb, Info: goelement.VideoInfo{Width: w, Height: h, Format: "RGBA", Stride: [4]int{4 * w}}}
	want, err := cropRGBA(packed, rect)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*goelement.Buffer{
		{Pixels: yuv, Info: goelement.VideoInfo{Width: w, Height: h, Format: "I420", Stride: [4]int{w, w / 2, w / 2}, Offset: [4]int{0, w * h, w * h * 5 / 4}}},
		{Pixels: nv12, Info: goelement.VideoInfo{Width: w, Height: h, Format: "NV12", Stride: [4]int{w, w}, Offset: [4]int{0, w * h}}},
	} {
		got, err := cropRGBA(b, rect)
		if err != nil {
			t.Fatal(err)
		}
		if got.Rect != want.Rect {
			t.Fatalf("%s: crop %v, want %v", b.Info.Format, got.Rect, want.Rect)
		}
		worst := 0
		for i := range got.Pix {
			d := int(got.Pix[i]) - int(want.Pix[i])
			worst = max(worst, d, -d)
		}
		if worst > 8 {
			t.Errorf("%s: a channel off by %d", b.Info.Format, worst)
		}
		if _, err := cropRGBA(&goelement.Buffer{Pixels: b.Pixels[:w*h], Info: b.Info}, rect); err == nil {
			t.Errorf("%s: a frame without its chroma was cropped", b.Info.Format)
		}
	}
}
