package models

import (
	"bytes"
	"image"
	"image/color"
	_ "image/jpeg"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// python is Debian's interpreter, which has python3-pil, python3-numpy and python3-onnx
// (installed by scripts/install-deps.sh). A pyenv python3 earlier on PATH would not.
const python = "/usr/bin/python3"

// runPython runs a script from testdata (or inline code with "-c") and fails the test with
// its output when it does not succeed.
func runPython(t testing.TB, args ...string) []byte {
	t.Helper()
	if _, err := os.Stat(python); err != nil {
		t.Fatalf("%s is missing: run scripts/install-deps.sh", python)
	}
	cmd := exec.Command(python, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", python, args, err, stderr.String())
	}
	return out
}

// testImage makes a w x h RGB image of one of several kinds, chosen by kind: uniform noise
// (every rounding case), smooth gradients, and hard black/white edges (the cubic's negative
// lobes overshoot there, so clipping is exercised).
func testImage(rng *rand.Rand, w, h, kind int) *rgbImage {
	m := newRGB(w, h)
	fx, fy := rng.Float64()*0.3, rng.Float64()*0.3
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := m.pix[y*m.stride+x*3:]
			for c := 0; c < 3; c++ {
				var v int
				switch kind % 3 {
				case 0:
					v = rng.IntN(256)
				case 1:
					v = int(127.5+120*math.Sin(fx*float64(x+7*c)+fy*float64(y))) + rng.IntN(8)
				case 2:
					if (x/(1+c)+y/(2+c))%2 == 0 {
						v = 255
					}
				}
				p[c] = byte(min(max(v, 0), 255))
			}
		}
	}
	return m
}

// writeRaw writes m's pixels, packed, row major.
func writeRaw(t testing.TB, path string, m *rgbImage) {
	t.Helper()
	if err := os.WriteFile(path, m.clone().pix, 0o644); err != nil {
		t.Fatal(err)
	}
}

// sharedDir is ../shared from the repository root: real photos and models. Tests that need
// it skip when it is absent (it is present on development machines and in CI).
func sharedDir(t testing.TB) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "shared"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("%s is absent", dir)
	}
	return dir
}

// groceryPhoto decodes a photo of the GroceryStore dataset, e.g. "train/Fruit/Banana/Banana_001.jpg".
func groceryPhoto(t testing.TB, rel string) image.Image {
	t.Helper()
	path := filepath.Join(sharedDir(t), "datasets", "grocery-store", "dataset", rel)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// solidImage is a uniform w x h image.
func solidImage(w, h int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return img
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

func maxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, math.Abs(float64(a[i])-float64(b[i])))
	}
	return d
}

func norm(v []float32) float64 {
	s := 0.0
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }
