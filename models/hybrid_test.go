package models

import (
	"errors"
	"image"
	"image/color"
	"math"
	"strings"
	"testing"
)

func newHybridT(t *testing.T, cfg HybridConfig, modelDir string) *Hybrid {
	t.Helper()
	h, err := NewHybrid(cfg, modelDir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h
}

// TestDefaultHybrid: MobileNetV2 alone gives unit 1280-d vectors equal to the encoder's own,
// normalised; one vector per catalog image (no views).
func TestDefaultHybrid(t *testing.T) {
	dir := defaultModelDir(t)
	h := newHybridT(t, DefaultHybridConfig(dir), dir)
	e := openT(t, DefaultEncoderConfig(dir))
	photo := groceryPhoto(t, "train/Fruit/Kiwi/Kiwi_001.jpg")
	if h.Dim() != 1280 {
		t.Fatalf("dim %d", h.Dim())
	}
	cat, err := h.EmbedCatalog(photo)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat) != 1 {
		t.Fatalf("%d catalog vectors, want 1", len(cat))
	}
	raw, err := e.Embed([]image.Image{photo})
	if err != nil {
		t.Fatal(err)
	}
	l2Normalize(raw[0])
	if d := maxAbsDiff(cat[0], raw[0]); d > 1e-6 {
		t.Errorf("hybrid differs from the normalised encoder output by %g", d)
	}
	q, err := h.EmbedQueries([]image.Image{photo, photo})
	if err != nil {
		t.Fatal(err)
	}
	if len(q) != 2 || maxAbsDiff(q[0], cat[0]) > 1e-6 || math.Abs(norm(q[1])-1) > 1e-5 {
		t.Errorf("queries differ from the catalog vector of the same image")
	}
	if !strings.HasPrefix(h.Fingerprint(), "hybrid:v1:") || !strings.Contains(h.Description(), e.Fingerprint()) {
		t.Errorf("fingerprint %q, description %q", h.Fingerprint(), h.Description())
	}
}

// TestHybridRule checks the combination rule on two encoders: each output L2-normalised,
// times its weight, concatenated, renormalised.
func TestHybridRule(t *testing.T) {
	clipPath := fakeModel(t, "fake-clip.onnx")
	h := newHybridT(t, HybridConfig{Encoders: []EncoderSpec{
		{Kind: KindCLIP, EncoderConfig: EncoderConfig{Path: clipPath}, Weight: 2},
		{Kind: KindColor, Weight: 0.5},
	}}, "")
	if h.Dim() != 24+colorBins {
		t.Fatalf("dim %d", h.Dim())
	}
	imgs := randomImages(10, 3)
	got, err := h.EmbedQueries(imgs)
	if err != nil {
		t.Fatal(err)
	}
	enc := openT(t, CLIPEncoderConfig(clipPath))
	a, err := enc.Embed(imgs)
	if err != nil {
		t.Fatal(err)
	}
	for i, img := range imgs {
		m, _ := toRGB(img)
		c, _ := colorHistogram{}.embedRGB([]*rgbImage{m})
		l2Normalize(a[i])
		want := make([]float32, 0, h.Dim())
		for _, x := range a[i] {
			want = append(want, 2*x)
		}
		for _, x := range c[0] {
			want = append(want, 0.5*x)
		}
		l2Normalize(want)
		if d := maxAbsDiff(got[i], want); d > 1e-6 {
			t.Errorf("image %d differs from the rule by %g", i, d)
		}
		if math.Abs(norm(got[i])-1) > 1e-5 {
			t.Errorf("image %d has norm %g", i, norm(got[i]))
		}
	}
}

// TestHybridViews: catalog views give one vector per view in order; query views are averaged
// into one vector per query; all of it takes one ONNX Runtime call per encoder.
func TestHybridViews(t *testing.T) {
	dinoPath := fakeModel(t, "fake-dinov2.onnx")
	specs := []EncoderSpec{{Kind: KindDINOv2, EncoderConfig: EncoderConfig{Path: dinoPath}}, {Kind: KindColor}}
	plain := newHybridT(t, HybridConfig{Encoders: specs}, "")
	h := newHybridT(t, HybridConfig{Encoders: specs, CatalogViews: []string{"hflip", "crop90"}, QueryViews: []string{"hflip", "crop80"}}, "")
	if plain.Fingerprint() == h.Fingerprint() {
		t.Fatal("views do not change the fingerprint")
	}
	if q := newHybridT(t, HybridConfig{Encoders: specs, QueryViews: []string{"hflip"}}, ""); q.Fingerprint() != plain.Fingerprint() {
		t.Fatal("query views change the fingerprint, so a catalog would be embedded again for nothing")
	}
	imgs := randomImages(11, 3)
	m, _ := toRGB(imgs[0])
	flipped, cropped90, cropped80 := hflip(m).toImage(), centreCrop(m, 90).clone().toImage(), centreCrop(m, 80).clone().toImage()

	cat, err := h.EmbedCatalog(imgs[0])
	if err != nil {
		t.Fatal(err)
	}
	want, err := plain.EmbedQueries([]image.Image{imgs[0], flipped, cropped90, cropped80})
	if err != nil {
		t.Fatal(err)
	}
	if len(cat) != 3 {
		t.Fatalf("%d catalog vectors, want 3", len(cat))
	}
	for i := range cat {
		if d := maxAbsDiff(cat[i], want[i]); d > 1e-6 {
			t.Errorf("catalog vector %d differs from its view embedded alone by %g", i, d)
		}
	}

	dino := h.parts[0].part.(*Encoder)
	before := dino.Runs()
	q, err := h.EmbedQueries(imgs)
	if err != nil {
		t.Fatal(err)
	}
	if runs := dino.Runs() - before; runs != 1 {
		t.Errorf("3 queries x 3 views took %d ONNX Runtime calls, want 1", runs)
	}
	mean := make([]float32, h.Dim())
	for _, v := range [][]float32{want[0], want[1], want[3]} {
		for j, x := range v {
			mean[j] += x
		}
	}
	l2Normalize(mean)
	if len(q) != 3 {
		t.Fatalf("%d query vectors", len(q))
	}
	if d := maxAbsDiff(q[0], mean); d > 1e-6 {
		t.Errorf("query vector differs from the normalised mean of its views by %g", d)
	}
}

// TestHybridConfigYAML: kinds, inline encoder fields, views; unknown keys are refused.
func TestHybridConfigYAML(t *testing.T) {
	cfg, err := ParseHybridConfig([]byte(`
encoders:
  - kind: mobilenetv2
    threads: 2
  - kind: color
    weight: 0.5
  - path: dinov2-small.onnx
    input: pixel_values
    output: last_hidden_state
    reduce: cls
    preprocess: imagenet
    size: 224
    weight: 1.5
catalog_views: [hflip, crop90]
query_views: [crop80]
`))
	if err != nil {
		t.Fatal(err)
	}
	want := HybridConfig{
		Encoders: []EncoderSpec{
			{Kind: "mobilenetv2", EncoderConfig: EncoderConfig{Threads: 2}},
			{Kind: "color", Weight: 0.5},
			{EncoderConfig: EncoderConfig{Path: "dinov2-small.onnx", Input: "pixel_values", Output: "last_hidden_state",
				Reduce: "cls", Preprocess: "imagenet", Size: 224}, Weight: 1.5},
		},
		CatalogViews: []string{"hflip", "crop90"},
		QueryViews:   []string{"crop80"},
	}
	if len(cfg.Encoders) != 3 || cfg.Encoders[0] != want.Encoders[0] || cfg.Encoders[1] != want.Encoders[1] ||
		cfg.Encoders[2] != want.Encoders[2] || strings.Join(cfg.CatalogViews, ",") != "hflip,crop90" ||
		strings.Join(cfg.QueryViews, ",") != "crop80" {
		t.Errorf("parsed %+v\nwant %+v", cfg, want)
	}
	if _, err := ParseHybridConfig([]byte("encoders:\n  - kind: color\n    wieght: 2\n")); err == nil || !strings.Contains(err.Error(), "wieght") {
		t.Errorf("misspelt key: %v", err)
	}

	// The mobilenetv2 kind resolves against the model directory and keeps the override.
	dir := defaultModelDir(t)
	h := newHybridT(t, HybridConfig{Encoders: cfg.Encoders[:2]}, dir)
	if e := h.parts[0].part.(*Encoder); e.Config().Threads != 2 || e.Config().Output != "embedding" {
		t.Errorf("mobilenetv2 kind: %+v", e.Config())
	}
	if h.Dim() != 1280+colorBins {
		t.Errorf("dim %d", h.Dim())
	}
}

func TestHybridErrors(t *testing.T) {
	clip := fakeModel(t, "fake-clip.onnx")
	ok := EncoderSpec{Kind: KindCLIP, EncoderConfig: EncoderConfig{Path: clip}}
	for name, c := range map[string]struct {
		cfg  HybridConfig
		want string
	}{
		"no encoders":    {HybridConfig{}, "no encoders"},
		"unknown view":   {HybridConfig{Encoders: []EncoderSpec{ok}, CatalogViews: []string{"rot90"}}, `unknown view "rot90"`},
		"crop too small": {HybridConfig{Encoders: []EncoderSpec{ok}, QueryViews: []string{"crop10"}}, `unknown view "crop10"`},
		"unknown kind":   {HybridConfig{Encoders: []EncoderSpec{{Kind: "sift"}}}, `unknown kind "sift"`},
		"negative":       {HybridConfig{Encoders: []EncoderSpec{{Kind: KindColor, Weight: -1}}}, "weight -1"},
		"color fields":   {HybridConfig{Encoders: []EncoderSpec{{Kind: KindColor, EncoderConfig: EncoderConfig{Path: clip}}}}, "takes no model fields"},
		"dinov2 no path": {HybridConfig{Encoders: []EncoderSpec{{Kind: KindDINOv2}}}, "needs a model path"},
		"bad model":      {HybridConfig{Encoders: []EncoderSpec{ok, {Kind: KindDINOv2, EncoderConfig: EncoderConfig{Path: clip}}}}, `no output "last_hidden_state"`},
	} {
		h, err := NewHybrid(c.cfg, "")
		if err == nil {
			h.Close()
			t.Errorf("%s: no error", name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q does not mention %q", name, err, c.want)
		}
	}
	h, err := NewHybrid(HybridConfig{Encoders: []EncoderSpec{ok}}, "")
	if err != nil {
		t.Fatal(err)
	}
	h.Close()
	if _, err := h.EmbedQueries(randomImages(1, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

// TestColorHistogram: unit vectors of 128 bins; colour tells products apart, size and
// position of the same colours do not.
func TestColorHistogram(t *testing.T) {
	red := solidImage(64, 48, color.RGBA{200, 30, 30, 255})
	bigRed := solidImage(300, 500, color.RGBA{200, 30, 30, 255})
	green := solidImage(64, 48, color.RGBA{30, 200, 30, 255})
	var rgbs []*rgbImage
	for _, img := range []image.Image{red, bigRed, green} {
		m, err := toRGB(img)
		if err != nil {
			t.Fatal(err)
		}
		rgbs = append(rgbs, m)
	}
	v, err := colorHistogram{}.embedRGB(rgbs)
	if err != nil {
		t.Fatal(err)
	}
	if len(v[0]) != colorBins || math.Abs(norm(v[0])-1) > 1e-6 {
		t.Fatalf("dim %d norm %g", len(v[0]), norm(v[0]))
	}
	if cosine(v[0], v[1]) < 0.999 || cosine(v[0], v[2]) > 0.01 {
		t.Errorf("red/big red %.3f, red/green %.3f", cosine(v[0], v[1]), cosine(v[0], v[2]))
	}
	for _, c := range []struct{ r, g, b, want int }{
		{0, 0, 0, 0},       // black: hue 0, sat 0, value 0
		{255, 255, 255, 3}, // white: value 3
		{255, 0, 0, (0*colorSatBins+3)*colorValBins + 3},   // red
		{0, 255, 0, (2*colorSatBins+3)*colorValBins + 3},   // green: 120 degrees
		{0, 0, 255, (5*colorSatBins+3)*colorValBins + 3},   // blue: 240 degrees
		{255, 0, 200, (6*colorSatBins+3)*colorValBins + 3}, // 313 degrees: bin 6 (315..360 is 7)
	} {
		if got := hsvBin(c.r, c.g, c.b); got != c.want {
			t.Errorf("hsvBin(%d, %d, %d) = %d, want %d", c.r, c.g, c.b, got, c.want)
		}
	}
}
