package recognition

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"math/rand/v2"
	"testing"

	"golang.org/x/image/draw"

	"github.com/ebrcs/ebrcs/data"
	"github.com/ebrcs/ebrcs/testkit/scenario"
)

// cameraView is what the gate might crop of a product held to the camera: part of it (80–95%),
// scaled, on a margin of counter, lighter or darker, with sensor noise.
func cameraView(img image.Image, r *rand.Rand) *image.RGBA {
	b := img.Bounds()
	f := 0.80 + 0.15*r.Float64()
	w, h := int(float64(b.Dx())*f), int(float64(b.Dy())*f)
	x0, y0 := b.Min.X+r.IntN(b.Dx()-w+1), b.Min.Y+r.IntN(b.Dy()-h+1)
	scale := 0.45 + 0.3*r.Float64() // crops of 100 to 200 pixels: the encoder sees 224 either way

	sw, sh := int(float64(w)*scale), int(float64(h)*scale)
	margin := sw / 10
	out := image.NewRGBA(image.Rect(0, 0, sw+2*margin, sh+2*margin))
	counter := color.RGBA{uint8(90 + r.IntN(60)), uint8(80 + r.IntN(50)), uint8(70 + r.IntN(40)), 255}
	draw.Draw(out, out.Bounds(), image.NewUniform(counter), image.Point{}, draw.Src)
	draw.ApproxBiLinear.Scale(out, image.Rect(margin, margin, margin+sw, margin+sh), img, image.Rect(x0, y0, x0+w, y0+h), draw.Src, nil)
	gain := 0.8 + 0.4*r.Float64()
	for i := 0; i < len(out.Pix); i += 4 {
		for c := 0; c < 3; c++ {
			v := float64(out.Pix[i+c])*gain + 6*r.NormFloat64()
			out.Pix[i+c] = uint8(min(255, max(0, v)))
		}
	}
	return out
}

func jpegOf(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// testEmbedder is the default embedder on the real model (shared; CloseAll at the end).
func testEmbedder(t testing.TB) *Embedder {
	t.Helper()
	emb, err := OpenEmbedder("", "../models")
	if err != nil {
		t.Skipf("the default model: %v (make models)", err)
	}
	return emb
}

// syntheticCatalog is a new catalog for the default embedder.
func syntheticCatalog(t testing.TB, emb *Embedder) *data.Catalog {
	t.Helper()
	cat, err := data.Open(t.TempDir(), emb.Hybrid, emb.CatalogOptions(data.Options{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cat.Close() })
	return cat
}

// addSynthetic registers products, one image each, fits the catalog and returns their ids.
func addSynthetic(t testing.TB, cat *data.Catalog, products ...scenario.Product) []int64 {
	t.Helper()
	var ids []int64
	for _, p := range products {
		got, err := cat.AddProduct(data.NewProduct{Name: p.Name, Images: [][]byte{jpegOf(t, p.Image)}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, got.ID)
	}
	if err := cat.Refit(); err != nil {
		t.Fatal(err)
	}
	return ids
}
