package e2e

import (
	"errors"
	"image"
	"image/color"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/testkit/scenario"
)

// The outline check of the browser test, on frames made here: the camera's own frame has no
// outline; the same frame with the ROI stroked as ebrcs_overlay does (2 px, #00c8ff) and
// passed through 4:2:0 chroma subsampling, as the VP8 encoder does, has it; an outline in
// another colour is not taken for it.
func TestOutlineCheckTellsTheOverlayApart(t *testing.T) {
	products := scenario.SyntheticProducts(6, 1)
	sc := &scenario.Scenario{Name: "outline", Config: scenario.DefaultConfig(), Steps: []scenario.Step{
		{Kind: scenario.Idle, Duration: 1500 * time.Millisecond},
		{Kind: scenario.Show, Product: products[0].Name},
		{Kind: scenario.Idle, Duration: 1500 * time.Millisecond},
	}}
	var camera *image.RGBA
	stop := errors.New("stop")
	err := scenario.Render(sc, products, func(i int, frame *image.RGBA) error {
		if i == 60 { // the product is in the ROI
			camera = image.NewRGBA(frame.Bounds())
			copy(camera.Pix, frame.Pix)
			return stop
		}
		return nil
	})
	if err != nil && !errors.Is(err, stop) {
		t.Fatal(err)
	}
	roi := scenario.DefaultROI
	for _, c := range []struct {
		name string
		img  image.Image
		want bool
	}{
		{"camera", subsample420(camera), false},
		{"overlay", subsample420(strokeROI(camera, roiColor)), true},
		{"overlay before the encoder", strokeROI(camera, roiColor), true},
		{"green outline", subsample420(strokeROI(camera, color.RGBA{0x00, 0xd2, 0x6a, 0xff})), false},
		{"white outline", subsample420(strokeROI(camera, color.RGBA{0xff, 0xff, 0xff, 0xff})), false},
	} {
		edge, inside, outside := sampleOutline(c.img, roi, 0), sampleOutline(c.img, roi, 24), sampleOutline(c.img, roi, -24)
		t.Logf("%s: %d/%d along the outline (median %.2f), %d/%d inside, %d/%d outside",
			c.name, edge.matched, edge.total, edge.toward, inside.matched, inside.total, outside.matched, outside.total)
		if got := edge.fraction() >= 0.6; got != c.want {
			t.Errorf("%s: outline found %v, want %v", c.name, got, c.want)
		}
		if inside.fraction() > 0.15 || outside.fraction() > 0.15 {
			t.Errorf("%s: the counter 24 px from the outline looks like it", c.name)
		}
	}
}

// strokeROI draws the bounding rectangle of the default ROI 2 px wide, as ebrcs_overlay does
// (an even width sits on pixel edges: x = 128 covers pixels 127 and 128).
func strokeROI(src *image.RGBA, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(src.Bounds())
	copy(img.Pix, src.Pix)
	w, h := src.Bounds().Dx(), src.Bounds().Dy()
	x0, x1 := int(0.2*float64(w)+0.5), int(0.8*float64(w)+0.5)
	y0, y1 := int(0.15*float64(h)+0.5), int(0.95*float64(h)+0.5)
	for x := x0 - 1; x <= x1; x++ {
		for _, y := range []int{y0 - 1, y0, y1 - 1, y1} {
			img.SetRGBA(x, y, c)
		}
	}
	for y := y0 - 1; y <= y1; y++ {
		for _, x := range []int{x0 - 1, x0, x1 - 1, x1} {
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

// subsample420 keeps each pixel's luma and one chroma sample (the mean) per 2x2 block, then
// converts back to RGB, as an I420 encoder and its decoder do (less the compression).
func subsample420(src *image.RGBA) *image.RGBA {
	b := src.Bounds()
	out := image.NewRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			var cb, cr int
			var luma [4]uint8
			for k := 0; k < 4; k++ {
				p := src.RGBAAt(x+k%2, y+k/2)
				yy, u, v := color.RGBToYCbCr(p.R, p.G, p.B)
				luma[k] = yy
				cb += int(u)
				cr += int(v)
			}
			for k := 0; k < 4; k++ {
				r, g, bl := color.YCbCrToRGB(luma[k], uint8((cb+2)/4), uint8((cr+2)/4))
				out.SetRGBA(x+k%2, y+k/2, color.RGBA{r, g, bl, 0xff})
			}
		}
	}
	return out
}
