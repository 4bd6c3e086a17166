package data

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"math"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"
)

// gridEmbedder is a small, real, deterministic embedder for tests: the mean RGB colour of each
// cell of a grid×grid partition of the image (4×4 → 48 dimensions), L2-normalised.
// EmbedCatalog returns the image's vector and its horizontal flip's as a second view.
type gridEmbedder struct {
	fp    string
	grid  int
	calls atomic.Int64 // EmbedCatalog calls
	// fail, when set, makes EmbedCatalog fail for images it returns true for.
	fail func(image.Image) bool
}

func newGridEmbedder(grid int) *gridEmbedder {
	return &gridEmbedder{fp: fmt.Sprintf("test-grid%d-v1", grid), grid: grid}
}

func (e *gridEmbedder) Fingerprint() string { return e.fp }
func (e *gridEmbedder) Dim() int            { return e.grid * e.grid * 3 }

func (e *gridEmbedder) EmbedCatalog(img image.Image) ([][]float32, error) {
	e.calls.Add(1)
	if e.fail != nil && e.fail(img) {
		return nil, errors.New("test embedder: refused")
	}
	return [][]float32{e.embed(img, false), e.embed(img, true)}, nil
}

func (e *gridEmbedder) EmbedQueries(imgs []image.Image) ([][]float32, error) {
	out := make([][]float32, len(imgs))
	for i, img := range imgs {
		out[i] = e.embed(img, false)
	}
	return out, nil
}

func (e *gridEmbedder) embed(img image.Image, flip bool) []float32 {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	sums := make([]float64, e.Dim())
	counts := make([]float64, e.grid*e.grid)
	for y := 0; y < h; y++ {
		gy := y * e.grid / h
		for x := 0; x < w; x++ {
			gx := x * e.grid / w
			if flip {
				gx = e.grid - 1 - gx
			}
			r, g, bl, _ := img.At(b.Min.X+x, b.Min.Y+y).RGBA()
			cell := gy*e.grid + gx
			sums[3*cell] += float64(r)
			sums[3*cell+1] += float64(g)
			sums[3*cell+2] += float64(bl)
			counts[cell]++
		}
	}
	v := make([]float32, e.Dim())
	var n float64
	for i := range sums {
		// +1/255 keeps a black image from being the zero vector.
		m := sums[i]/math.Max(counts[i/3], 1)/65535 + 1.0/255
		v[i] = float32(m)
		n += m * m
	}
	for i := range v {
		v[i] /= float32(math.Sqrt(n))
	}
	return v
}

var _ Embedder = (*gridEmbedder)(nil)

// blockImage is a w×h image made of 4×4 blocks of random colours from seed: different seeds
// give clearly different embeddings.
func blockImage(seed uint64, w, h int) *image.RGBA {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	var cols [16]color.RGBA
	for i := range cols {
		cols[i] = color.RGBA{uint8(20 + r.IntN(236)), uint8(20 + r.IntN(236)), uint8(20 + r.IntN(236)), 255}
	}
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.SetRGBA(x, y, cols[(y*4/h)*4+x*4/w])
		}
	}
	return img
}

func pngBytes(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func jpegBytes(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func gifBytes(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := gif.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// testProduct is a product the tests register, with the images its queries are made from.
type testProduct struct {
	name   string
	images []image.Image
	bytes  [][]byte
}

// makeProduct builds a product with n PNG images (JPEG for odd images when jpegOdd).
func makeProduct(t testing.TB, name string, seed uint64, n int, jpegOdd bool) testProduct {
	t.Helper()
	p := testProduct{name: name}
	for i := range n {
		img := blockImage(seed*100+uint64(i), 64, 64)
		var b []byte
		if jpegOdd && i%2 == 1 {
			b = jpegBytes(t, img)
		} else {
			b = pngBytes(t, img)
		}
		// The query is what the recogniser would embed: the decoded stored image.
		dec, _, err := image.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		p.images = append(p.images, dec)
		p.bytes = append(p.bytes, b)
	}
	return p
}

func (p testProduct) new() NewProduct { return NewProduct{Name: p.name, Images: p.bytes} }

// query is the embedder's query vector for image i of p.
func query(t testing.TB, e *gridEmbedder, p testProduct, i int) []float32 {
	t.Helper()
	v, err := e.EmbedQueries([]image.Image{p.images[i]})
	if err != nil {
		t.Fatal(err)
	}
	return v[0]
}

// openTest opens a catalog for a test. Unless the test says otherwise it searches in
// MatchNearest mode: most tests here are about the vector index (its persistence, rebuilds,
// HNSW) that nearest-neighbour search reads; prototypes_test.go covers MatchPrototype.
func openTest(t testing.TB, dir string, e Embedder, opts Options) *Catalog {
	t.Helper()
	if opts.Match == "" {
		opts.Match = MatchNearest
	}
	c, err := Open(dir, e, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func mustAdd(t testing.TB, c *Catalog, p NewProduct) *Product {
	t.Helper()
	got, err := c.AddProduct(p)
	if err != nil {
		t.Fatalf("AddProduct(%q): %v", p.Name, err)
	}
	return got
}

func mustSearch(t testing.TB, c *Catalog, v []float32, k int) []Hit {
	t.Helper()
	hits, err := c.Search(v, k)
	if err != nil {
		t.Fatalf("Search: %v", err)
	}
	return hits
}

// rowCounts reads the database directly: products, images, embeddings, generation, learned
// views and their vectors, learned generation.
type rowCounts struct {
	products, images, embeddings, generation   int64
	learned, learnedVectors, learnedGeneration int64
}

func counts(t testing.TB, c *Catalog) rowCounts {
	t.Helper()
	var r rowCounts
	for q, dst := range map[string]*int64{
		"SELECT count(*) FROM products":                &r.products,
		"SELECT count(*) FROM product_images":          &r.images,
		"SELECT count(*) FROM embeddings":              &r.embeddings,
		"SELECT generation FROM catalog_state":         &r.generation,
		"SELECT count(*) FROM learned_views":           &r.learned,
		"SELECT count(*) FROM learned_vectors":         &r.learnedVectors,
		"SELECT learned_generation FROM catalog_state": &r.learnedGeneration,
	} {
		if err := c.db.QueryRow(q).Scan(dst); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// execDB runs SQL on a closed catalog's database behind its back.
func execDB(t testing.TB, dir, q string) {
	t.Helper()
	db, err := sql.Open("sqlite", dir+"/"+dbFile)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(q); err != nil {
		t.Fatal(err)
	}
}

// hitFor returns the hit for product id, if any.
func hitFor(hits []Hit, id int64) (Hit, bool) {
	for _, h := range hits {
		if h.ProductID == id {
			return h, true
		}
	}
	return Hit{}, false
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
