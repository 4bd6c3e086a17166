package data

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// vecEmbedder is an embedder whose images carry their vector: pixel i of a 1-pixel-high
// 16-bit grey image is component i, mapped from [-2, 2]. It lets a test generate exactly the
// vectors it wants and still go through images, SQLite and FAISS as the real catalog does.
type vecEmbedder struct{ dim int }

func (e vecEmbedder) Fingerprint() string { return fmt.Sprintf("test-vec%d-v1", e.dim) }
func (e vecEmbedder) Dim() int            { return e.dim }

func (e vecEmbedder) EmbedCatalog(img image.Image) ([][]float32, error) {
	return [][]float32{e.decode(img)}, nil
}

func (e vecEmbedder) EmbedQueries(imgs []image.Image) ([][]float32, error) {
	out := make([][]float32, len(imgs))
	for i, img := range imgs {
		out[i] = e.decode(img)
	}
	return out, nil
}

func (e vecEmbedder) decode(img image.Image) []float32 {
	v := make([]float32, e.dim)
	g := img.(*image.Gray16)
	for i := range v {
		v[i] = float32(g.Gray16At(i, 0).Y)/65535*4 - 2
	}
	return v
}

// vecImage is the PNG whose embedding is v.
func vecImage(t testing.TB, v []float32) []byte {
	t.Helper()
	img := image.NewGray16(image.Rect(0, 0, len(v), 1))
	for i, f := range v {
		y := math.Round((math.Max(-2, math.Min(2, float64(f))) + 2) / 4 * 65535)
		img.Pix[2*i], img.Pix[2*i+1] = uint8(uint16(y)>>8), uint8(uint16(y))
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// synthetic is generated embeddings: products around their own means, every view of every
// product also moving along a few shared nuisance directions (lighting, angle: large
// variance that says nothing about the product), plus a little noise. Cosine is fooled by the
// nuisance; the within-class whitening learns to ignore it from the catalog's own photos.
type synthetic struct {
	dim       int
	means     [][]float64
	nuisances [][]float64
	rng       *rand.Rand
}

func newSynthetic(seed uint64, dim, products int) *synthetic {
	s := &synthetic{dim: dim, rng: rand.New(rand.NewPCG(seed, 7))}
	base := s.unit()
	for range products {
		u := s.unit()
		m := make([]float64, dim)
		for i := range m {
			m[i] = base[i] + 0.35*u[i]
		}
		s.means = append(s.means, m)
	}
	for range 3 {
		s.nuisances = append(s.nuisances, s.unit())
	}
	return s
}

func (s *synthetic) unit() []float64 {
	v := make([]float64, s.dim)
	var n float64
	for i := range v {
		v[i] = s.rng.NormFloat64()
		n += v[i] * v[i]
	}
	for i := range v {
		v[i] /= math.Sqrt(n)
	}
	return v
}

// sample is a view of product p.
func (s *synthetic) sample(p int) []float32 {
	v := make([]float32, s.dim)
	for i := range v {
		v[i] = float32(s.means[p][i] + 0.02*s.rng.NormFloat64())
	}
	for _, n := range s.nuisances {
		a := 0.5 * s.rng.NormFloat64()
		for i := range v {
			v[i] += float32(a * n[i])
		}
	}
	return v
}

// clean is product p's mean: a view without nuisance or noise.
func (s *synthetic) clean(p int) []float32 {
	v := make([]float32, s.dim)
	for i, m := range s.means[p] {
		v[i] = float32(m)
	}
	return v
}

// addSynthetic registers product p with photos photos and returns its id.
func addSynthetic(t testing.TB, c *Catalog, s *synthetic, p, photos int) int64 {
	t.Helper()
	var imgs [][]byte
	for range photos {
		imgs = append(imgs, vecImage(t, s.sample(p)))
	}
	return mustAdd(t, c, NewProduct{Name: fmt.Sprintf("P%d", p), Images: imgs}).ID
}

func mustRecognise(t testing.TB, c *Catalog, k int, queries ...[]float32) Evidence {
	t.Helper()
	ev, err := c.Recognise(queries, k)
	if err != nil {
		t.Fatalf("Recognise: %v", err)
	}
	return ev
}

// quickAdapt refits at once after a product change, so tests need not wait.
var quickAdapt = AdaptOptions{RefitDelay: time.Millisecond, RefitMaxDelay: 5 * time.Millisecond}

// TestAdaptedMatchingSeparatesAndRefits: on generated data where shared nuisance
// directions dominate, cosine prototypes confuse products and the fitted projection does
// not; products added later are recognised at once, and a refit follows.
func TestAdaptedMatchingSeparatesAndRefits(t *testing.T) {
	const dim, products = 24, 12
	s := newSynthetic(1, dim, products)
	c := openTest(t, t.TempDir(), vecEmbedder{dim}, Options{Match: MatchPrototype, MaxImages: 10, Adapt: quickAdapt})
	ids := make([]int64, products)
	for p := range 8 {
		ids[p] = addSynthetic(t, c, s, p, 5)
	}
	c.WaitRefit()
	if st := c.Stats(); !st.Adapted || st.Refits < 2 {
		t.Fatalf("after 8 products: %+v", st)
	}
	score := func(n int) (adapted, cosine float64) {
		var a, b int
		for q := range 40 * n {
			p := q % n
			v := s.sample(p)
			if ev := mustRecognise(t, c, 3, v); ev.Hits[0].ProductID == ids[p] {
				a++
			}
			if hits := mustSearch(t, c, v, 1); hits[0].ProductID == ids[p] {
				b++
			}
		}
		return float64(a) / float64(40*n), float64(b) / float64(40*n)
	}
	adapted, cosine := score(8)
	t.Logf("8 products: top-1 adapted %.3f, cosine %.3f", adapted, cosine)
	if adapted < 0.95 || adapted < cosine+0.2 {
		t.Fatalf("top-1 adapted %.3f, cosine %.3f: the projection does not separate", adapted, cosine)
	}

	// New products are recognised before any refit...
	refits := c.Stats().Refits
	c.opts.Adapt.RefitDelay, c.opts.Adapt.RefitMaxDelay = time.Hour, time.Hour
	for p := 8; p < products; p++ {
		ids[p] = addSynthetic(t, c, s, p, 5)
		if ev := mustRecognise(t, c, 1, s.sample(p)); ev.Hits[0].ProductID != ids[p] {
			t.Fatalf("product %d not recognised right after AddProduct: %+v", p, ev)
		}
	}
	if got := c.Stats().Refits; got != refits {
		t.Fatalf("refitted before the delay: %d → %d", refits, got)
	}
	// ...and the (debounced) refit after them makes no new confusion.
	if err := c.Refit(); err != nil {
		t.Fatal(err)
	}
	if got := c.Stats().Refits; got != refits+1 {
		t.Fatalf("Refit: refits %d → %d", refits, got)
	}
	if adapted, _ := score(products); adapted < 0.95 {
		t.Fatalf("after the refit with %d products: top-1 %.3f", products, adapted)
	}
}

// TestRecogniseSmallCatalogs: below MinProducts, Recognise scores by cosine (one product's
// centred prototype would be zero); from MinProducts it adapts; Second and None.
func TestRecogniseSmallCatalogs(t *testing.T) {
	const dim = 16
	s := newSynthetic(2, dim, 5)
	c := openTest(t, t.TempDir(), vecEmbedder{dim}, Options{Match: MatchPrototype, MaxImages: 10, Adapt: quickAdapt})
	if ev := mustRecognise(t, c, 3, s.sample(0)); len(ev.Hits) != 0 || ev.Second != -1 || ev.None != NoNone {
		t.Fatalf("empty catalog: %+v", ev)
	}
	for p := range 5 {
		id := addSynthetic(t, c, s, p, 4)
		c.WaitRefit()
		ev := mustRecognise(t, c, 3, s.sample(p), s.sample(p))
		if want := p+1 >= DefaultMinProducts; ev.Adapted != want {
			t.Fatalf("%d products: Adapted %v", p+1, ev.Adapted)
		}
		if ev.Hits[0].ProductID != id || len(ev.Hits) != min(3, p+1) {
			t.Fatalf("%d products: %+v", p+1, ev)
		}
		if p == 0 && (ev.Second != -1 || ev.Hits[0].Score < 0.9) {
			t.Fatalf("one product: %+v", ev)
		}
		if p > 0 && ev.Second != ev.Hits[1].Score {
			t.Fatalf("Second %v, second hit %v", ev.Second, ev.Hits[1].Score)
		}
	}
	if _, err := c.Recognise(nil, 1); err == nil {
		t.Fatal("Recognise without queries")
	}
	if _, err := c.Recognise([][]float32{s.sample(0)}, 0); err == nil {
		t.Fatal("Recognise with k = 0")
	}
	if _, err := c.Recognise([][]float32{make([]float32, dim+1)}, 1); err == nil {
		t.Fatal("Recognise with a vector of the wrong dimension")
	}
	for _, id := range []int64{1, 2} {
		if err := c.RemoveProduct(id); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitRefit()
	if st := c.Stats(); st.Adapted {
		t.Fatalf("back to %d products: %+v", st.Products, st)
	}
}

// TestScatterMatchesRecomputation: the statistics kept up to date through adds, removals,
// learned views and evictions give the same scores as statistics recomputed from the stored
// vectors (scatter.bin removed), and scatter.bin is used at the next Open when it matches.
func TestScatterMatchesRecomputation(t *testing.T) {
	const dim = 20
	s := newSynthetic(3, dim, 9)
	dir := t.TempDir()
	e := vecEmbedder{dim}
	c := openTest(t, dir, e, Options{Match: MatchPrototype, MaxLearnedViews: 2})
	var ids []int64
	for p := range 9 {
		ids = append(ids, addSynthetic(t, c, s, p, 3))
	}
	for i := range 7 {
		p := i % 3
		if _, err := c.AddLearnedView(ids[p], vecImage(t, s.sample(p)), OriginReview); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.RemoveProduct(ids[4]); err != nil {
		t.Fatal(err)
	}
	views, _ := c.LearnedViews(ids[0])
	if err := c.RemoveLearnedView(views[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := c.Refit(); err != nil {
		t.Fatal(err)
	}
	queries := make([][]float32, 20)
	for i := range queries {
		queries[i] = s.sample(i % 9)
	}
	before := evidence(t, c, queries)
	c.Close()

	c = openTest(t, dir, e, Options{Match: MatchPrototype})
	if st := c.Stats(); !st.ScatterFromFile {
		t.Fatalf("scatter.bin not used after a clean Close: %+v", st)
	}
	sameEvidence(t, "from scatter.bin", before, evidence(t, c, queries))
	c.Close()

	if err := os.Remove(filepath.Join(dir, scatterFile)); err != nil {
		t.Fatal(err)
	}
	c = openTest(t, dir, e, Options{Match: MatchPrototype})
	if st := c.Stats(); st.ScatterFromFile || st.LearnedViews != 5 {
		t.Fatalf("without scatter.bin: %+v", st)
	}
	sameEvidence(t, "recomputed", before, evidence(t, c, queries))
}

// TestScatterFileCrashSafety: a scatter.bin from before the last changes (a crash before it
// was written), or damaged, is not trusted.
func TestScatterFileCrashSafety(t *testing.T) {
	const dim = 12
	s := newSynthetic(4, dim, 6)
	dir := t.TempDir()
	e := vecEmbedder{dim}
	c := openTest(t, dir, e, Options{Match: MatchPrototype})
	var ids []int64
	for p := range 5 {
		ids = append(ids, addSynthetic(t, c, s, p, 3))
	}
	c.Close()
	old, err := os.ReadFile(filepath.Join(dir, scatterFile))
	if err != nil {
		t.Fatal(err)
	}
	queries := [][]float32{s.sample(0), s.sample(3), s.sample(5)}
	for _, change := range []struct {
		name string
		do   func(c *Catalog)
	}{
		{"product added", func(c *Catalog) { addSynthetic(t, c, s, 5, 2) }},
		{"learned view added", func(c *Catalog) {
			if _, err := c.AddLearnedView(ids[1], vecImage(t, s.sample(1)), OriginCorrection); err != nil {
				t.Fatal(err)
			}
		}},
		{"none answer added", func(c *Catalog) {
			if _, err := c.AddNone(vecImage(t, s.sample(5)), OriginReview); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		c := openTest(t, dir, e, Options{Match: MatchPrototype})
		change.do(c)
		c.Close()
		good, _ := os.ReadFile(filepath.Join(dir, scatterFile))
		c = openTest(t, dir, e, Options{Match: MatchPrototype})
		want := evidence(t, c, queries)
		c.Close()
		// The crash: the change committed, scatter.bin still the old one.
		os.WriteFile(filepath.Join(dir, scatterFile), old, 0o644)
		c = openTest(t, dir, e, Options{Match: MatchPrototype})
		if st := c.Stats(); st.ScatterFromFile {
			t.Fatalf("%s: a stale scatter.bin was used", change.name)
		}
		sameEvidence(t, change.name, want, evidence(t, c, queries))
		c.Close()
		old = good
	}
	// A damaged file is recomputed.
	raw, _ := os.ReadFile(filepath.Join(dir, scatterFile))
	raw[len(raw)/2] ^= 0xff
	os.WriteFile(filepath.Join(dir, scatterFile), raw, 0o644)
	if _, reason := readScatter(dir, scatterHeader{}); !strings.Contains(reason, "checksum") {
		t.Fatalf("damaged file: %q", reason)
	}
	c = openTest(t, dir, e, Options{Match: MatchPrototype})
	if st := c.Stats(); st.ScatterFromFile {
		t.Fatal("a damaged scatter.bin was used")
	}
}

func evidence(t testing.TB, c *Catalog, queries [][]float32) []Evidence {
	t.Helper()
	var out []Evidence
	for _, q := range queries {
		out = append(out, mustRecognise(t, c, 3, q))
	}
	return out
}

func sameEvidence(t testing.TB, what string, want, got []Evidence) {
	t.Helper()
	for i := range want {
		w, g := want[i], got[i]
		if len(w.Hits) != len(g.Hits) || w.Adapted != g.Adapted || math.Abs(float64(w.None-g.None)) > 1e-4 {
			t.Fatalf("%s: query %d: %+v, want %+v", what, i, g, w)
		}
		for j := range w.Hits {
			if w.Hits[j].ProductID != g.Hits[j].ProductID || math.Abs(float64(w.Hits[j].Score-g.Hits[j].Score)) > 1e-4 {
				t.Fatalf("%s: query %d hit %d: %+v, want %+v", what, i, j, g.Hits[j], w.Hits[j])
			}
		}
	}
}

// TestRecogniseConcurrent: Recognise goes on, always with consistent results, while products,
// learned views and none answers come and go and the projection is refitted (run with -race).
func TestRecogniseConcurrent(t *testing.T) {
	const dim = 16
	s := newSynthetic(8, dim, 10)
	c := openTest(t, t.TempDir(), vecEmbedder{dim}, Options{Match: MatchPrototype, MaxLearnedViews: 3, MaxNoneViews: 4,
		Adapt: AdaptOptions{RefitEvery: 3, RefitDelay: time.Millisecond, RefitMaxDelay: 2 * time.Millisecond}})
	var ids []int64
	for p := range 5 {
		ids = append(ids, addSynthetic(t, c, s, p, 2))
	}
	queries := make([][]float32, 5)
	for i := range queries {
		queries[i] = s.sample(i)
	}
	stop := make(chan struct{})
	const readers = 2
	errs := make(chan error, readers)
	for w := range readers {
		go func() {
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				ev, err := c.Recognise(queries[w:w+2], 3)
				if err == nil && (len(ev.Hits) == 0 || (len(ev.Hits) > 1 && ev.Second != ev.Hits[1].Score)) {
					err = fmt.Errorf("inconsistent evidence %+v", ev)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for i := range 30 {
		p := i % 5
		switch i % 3 {
		case 0:
			_, err := c.AddLearnedView(ids[p], vecImage(t, s.sample(p)), OriginReview)
			if err != nil {
				t.Error(err)
			}
		case 1:
			if _, err := c.AddNone(vecImage(t, s.sample(9)), OriginCorrection); err != nil {
				t.Error(err)
			}
		case 2:
			id := addSynthetic(t, c, s, 5+i%4, 2)
			if err := c.RemoveProduct(id); err != nil {
				t.Error(err)
			}
		}
	}
	close(stop)
	for range readers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	c.WaitRefit()
	if st := c.Stats(); st.LearnedViews != 10 || st.NoneViews != 4 || st.Products != 5 {
		t.Fatalf("Stats = %+v", st)
	}
}
