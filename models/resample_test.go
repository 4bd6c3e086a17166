package models

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// pilCase is one entry of testdata/pil_reference.py's manifest.
type pilCase struct {
	Kind   string `json:"kind"`
	In     string `json:"in"`
	W      int    `json:"w"`
	H      int    `json:"h"`
	OutW   int    `json:"out_w,omitempty"`
	OutH   int    `json:"out_h,omitempty"`
	Preset string `json:"preset,omitempty"`
	Size   int    `json:"size,omitempty"`
	Out    string `json:"out"`
	Pixels string `json:"pixels,omitempty"`
}

// runPIL runs every case through Pillow in one interpreter start.
func runPIL(t *testing.T, dir string, cases []pilCase) {
	t.Helper()
	manifest, err := json.Marshal(map[string]any{"cases": cases})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "manifest.json")
	if err := os.WriteFile(path, manifest, 0o644); err != nil {
		t.Fatal(err)
	}
	runPython(t, filepath.Join("testdata", "pil_reference.py"), path)
}

// TestResizeMatchesPillow compares resizeRGB with Debian's Pillow (9.4) on random images of
// many shapes, down- and up-scaling, odd sizes and extreme aspect ratios, and on a real photo:
// the pixels must be byte-identical.
func TestResizeMatchesPillow(t *testing.T) {
	type shape struct{ w, h, ow, oh int }
	shapes := []shape{
		{348, 348, 256, 256},   // the grocery photos, imagenet's resize
		{348, 348, 224, 224},   // clip's and imagenet-full's
		{640, 480, 341, 256},   // a camera frame
		{257, 263, 256, 261},   // odd, almost square
		{300, 304, 256, 259},   // crop offset x.5 on one axis
		{50, 37, 345, 256},     // upscaling
		{1000, 20, 12800, 256}, // extreme aspect ratio
		{20, 1000, 224, 224},   // squashed
		{3, 5, 224, 224},       // tiny
		{1, 1, 7, 3},           // single pixel
		{224, 224, 224, 224},   // identity
		{1920, 1080, 455, 256}, // large downscale
		{97, 311, 31, 77},      // down on one axis, ...
		{31, 77, 97, 311},      // ... up on both
		{100, 100, 100, 33},    // vertical pass only
		{100, 100, 33, 100},    // horizontal pass only
		{513, 129, 224, 224},   // factor 2.3 and 0.58
	}
	rng := rand.New(rand.NewPCG(1, 2))
	// Plus a sweep of random shapes: every scale factor from 1/40 to 40 on each axis.
	for i := 0; i < 150; i++ {
		shapes = append(shapes, shape{1 + rng.IntN(400), 1 + rng.IntN(400), 1 + rng.IntN(400), 1 + rng.IntN(400)})
	}
	dir := t.TempDir()
	var cases []pilCase
	var inputs []*rgbImage
	for i, s := range shapes {
		img := testImage(rng, s.w, s.h, i)
		inputs = append(inputs, img)
		in := filepath.Join(dir, fmt.Sprintf("%d.rgb", i))
		writeRaw(t, in, img)
		cases = append(cases, pilCase{Kind: "resize", In: in, W: s.w, H: s.h, OutW: s.ow, OutH: s.oh,
			Out: filepath.Join(dir, fmt.Sprintf("%d.out", i))})
	}
	// A real photo, decoded in Go, resized by both from the same RGB bytes.
	if photo := realPhotoRGB(t); photo != nil {
		in := filepath.Join(dir, "photo.rgb")
		writeRaw(t, in, photo)
		inputs = append(inputs, photo)
		shapes = append(shapes, shape{photo.w, photo.h, 256, 256})
		cases = append(cases, pilCase{Kind: "resize", In: in, W: photo.w, H: photo.h, OutW: 256, OutH: 256,
			Out: filepath.Join(dir, "photo.out")})
	}
	runPIL(t, dir, cases)
	for i, c := range cases {
		want, err := os.ReadFile(c.Out)
		if err != nil {
			t.Fatal(err)
		}
		got, err := resizeRGB(inputs[i], c.OutW, c.OutH, image.Rect(0, 0, c.OutW, c.OutH))
		if err != nil {
			t.Fatal(err)
		}
		if diff, n := byteDiff(got.clone().pix, want); n > 0 {
			t.Errorf("%dx%d -> %dx%d: %d bytes differ from Pillow (max difference %d)", c.W, c.H, c.OutW, c.OutH, n, diff)
		}
	}
	if !t.Failed() {
		t.Logf("%d resizes byte-identical to Pillow", len(cases))
	}
}

// TestResizeCropEqualsFullResize: computing only a window of the resized image gives the same
// pixels as resizing everything and cropping.
func TestResizeCropEqualsFullResize(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i, s := range [][4]int{{348, 348, 256, 256}, {640, 480, 341, 256}, {50, 37, 345, 256}, {100, 100, 100, 33}, {3, 300, 256, 25600}} {
		img := testImage(rng, s[0], s[1], i)
		full, err := resizeRGB(img, s[2], s[3], image.Rect(0, 0, s[2], s[3]))
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j < 5; j++ {
			x0, y0 := rng.IntN(s[2]), rng.IntN(s[3])
			r := image.Rect(x0, y0, x0+1+rng.IntN(s[2]-x0), y0+1+rng.IntN(s[3]-y0))
			got, err := resizeRGB(img, s[2], s[3], r)
			if err != nil {
				t.Fatal(err)
			}
			if _, n := byteDiff(got.clone().pix, full.sub(r).clone().pix); n > 0 {
				t.Errorf("%v of %dx%d -> %dx%d: %d bytes differ from the full resize", r, s[0], s[1], s[2], s[3], n)
			}
		}
	}
}

// TestPreprocessSliver: a degenerate crop (2 x 4000 pixels, whose shorter side is scaled up
// 128 times to a 256 x 512000 image) costs only its 224 x 224 centre.
func TestPreprocessSliver(t *testing.T) {
	p, err := newPreprocessor(PreprocessImageNet, 224)
	if err != nil {
		t.Fatal(err)
	}
	img := testImage(newRand(9), 2, 4000, 1)
	start := time.Now()
	px, err := p.pixels(img)
	if err != nil {
		t.Fatal(err)
	}
	if px.w != 224 || px.h != 224 {
		t.Fatalf("%dx%d", px.w, px.h)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("took %v", d)
	}
}

// TestPreprocessMatchesReference runs each preset on images whose crop offsets hit every
// rounding case and compares the tensor with torchvision's / Hugging Face's transform
// computed by numpy on Pillow's resize.
func TestPreprocessMatchesReference(t *testing.T) {
	sizes := [][2]int{{348, 348}, {640, 480}, {480, 640}, {300, 304}, {304, 300}, {224, 259}, {259, 224},
		{257, 263}, {50, 37}, {1000, 20}, {225, 226}}
	presets := []string{PreprocessImageNet, PreprocessCLIP, PreprocessImageNetFull}
	rng := rand.New(rand.NewPCG(5, 6))
	dir := t.TempDir()
	type job struct {
		img *rgbImage
		c   pilCase
	}
	var jobs []job
	for i, s := range sizes {
		img := testImage(rng, s[0], s[1], i)
		in := filepath.Join(dir, fmt.Sprintf("%d.rgb", i))
		writeRaw(t, in, img)
		for _, p := range presets {
			jobs = append(jobs, job{img, pilCase{Kind: "tensor", In: in, W: s[0], H: s[1], Preset: p, Size: 224,
				Out:    filepath.Join(dir, fmt.Sprintf("%d.%s.f32", i, p)),
				Pixels: filepath.Join(dir, fmt.Sprintf("%d.%s.px", i, p))}})
		}
	}
	cases := make([]pilCase, len(jobs))
	for i, j := range jobs {
		cases[i] = j.c
	}
	runPIL(t, dir, cases)
	worst := 0.0
	for _, j := range jobs {
		p, err := newPreprocessor(j.c.Preset, j.c.Size)
		if err != nil {
			t.Fatal(err)
		}
		px, err := p.pixels(j.img)
		if err != nil {
			t.Fatal(err)
		}
		wantPx, err := os.ReadFile(j.c.Pixels)
		if err != nil {
			t.Fatal(err)
		}
		if d, n := byteDiff(px.clone().pix, wantPx); n > 0 {
			t.Errorf("%s %dx%d: %d crop bytes differ (max %d): wrong crop offset or resize", j.c.Preset, j.c.W, j.c.H, n, d)
		}
		got := make([]float32, p.tensorLen())
		p.toTensor(got, px)
		want := readFloat32s(t, j.c.Out)
		if len(want) != len(got) {
			t.Fatalf("%s: reference has %d values, want %d", j.c.Preset, len(want), len(got))
		}
		d := maxAbsDiff(got, want)
		worst = max(worst, d)
		if d > 1e-6 {
			t.Errorf("%s %dx%d: tensor differs from numpy by up to %g", j.c.Preset, j.c.W, j.c.H, d)
		}
	}
	t.Logf("%d tensors, max |ours - numpy| = %g", len(jobs), worst)
}

// TestCropOffsets pins the two rounding rules on the cases where they disagree.
func TestCropOffsets(t *testing.T) {
	for _, c := range []struct {
		n, want       int
		roundHalfEven bool
	}{
		{256, 16, true}, {257, 16, true}, {259, 18, true}, {261, 18, true}, {263, 20, true}, {224, 0, true},
		{256, 16, false}, {257, 16, false}, {259, 17, false}, {261, 18, false}, {263, 19, false},
	} {
		if got := cropOffset(c.n, 224, c.roundHalfEven); got != c.want {
			t.Errorf("cropOffset(%d, 224, %v) = %d, want %d", c.n, c.roundHalfEven, got, c.want)
		}
	}
	for _, c := range [][4]int{{348, 348, 256, 256}, {640, 480, 341, 256}, {480, 640, 256, 341}, {300, 304, 256, 259}, {1000, 3, 85333, 256}} {
		if w, h := shortSideSize(c[0], c[1], 256); w != c[2] || h != c[3] {
			t.Errorf("shortSideSize(%d, %d, 256) = %d, %d, want %d, %d", c[0], c[1], w, h, c[2], c[3])
		}
	}
}

func realPhotoRGB(t *testing.T) *rgbImage {
	dir := filepath.Join("..", "..", "shared")
	if _, err := os.Stat(dir); err != nil {
		return nil
	}
	m, err := toRGB(groceryPhoto(t, "train/Fruit/Banana/Banana_001.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// byteDiff returns the largest difference and the number of differing bytes (len(b) - len(a)
// extra bytes count as differing by 255).
func byteDiff(a, b []byte) (maxDiff, n int) {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			n++
			maxDiff = max(maxDiff, int(a[i])-int(b[i]), int(b[i])-int(a[i]))
		}
	}
	if len(a) != len(b) {
		n += max(len(a), len(b)) - min(len(a), len(b))
		maxDiff = 255
	}
	return maxDiff, n
}

func readFloat32s(t *testing.T, path string) []float32 {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float32, len(raw)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[i*4:]))
	}
	return out
}
