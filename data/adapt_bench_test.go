package data

import (
	"fmt"
	"image"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Benchmarks of catalog-adapted matching at dimension 1280, 21 vectors a product (3 photos ×
// the default embedder's 7 views):
//
//	go test -run '^$' -bench 'Refit|ScatterFromScratch|OpenAdapted' -benchtime 3x -timeout 30m ./data/
//
// Refit is what a background refit costs (the fit: regularise + Cholesky; projecting every
// prototype; indexing them): it reads only the statistics, whatever the number of vectors.
// ScatterFromScratch is what Open pays to recompute S when scatter.bin does not match.
// OpenAdapted opens a real 1,000-product catalog with and without scatter.bin.

var adaptBenchProducts = []int{1000, 10_000}

const adaptBenchVectors = 21

// benchScatter returns statistics of products × 21 random unit vectors, built as Open builds
// them (sums, then S in rank-k chunks, then B), and how long S took.
func benchScatter(products int) (*scatter, time.Duration) {
	ld := &adaptLoader{sc: newScatter(benchDim)}
	var took time.Duration
	for p := range products {
		vecs := benchVectors(p*adaptBenchVectors, (p+1)*adaptBenchVectors)
		for v := range adaptBenchVectors {
			start := time.Now()
			ld.addVector(int64(p+1), vecs[v*benchDim:(v+1)*benchDim], photoVector, v%7 == 0)
			took += time.Since(start)
		}
	}
	start := time.Now()
	if len(ld.rows) > 0 {
		ld.flush()
	}
	ld.sc.rebuildB()
	return ld.sc, took + time.Since(start)
}

func BenchmarkRefit(b *testing.B) {
	for _, n := range adaptBenchProducts {
		b.Run(fmt.Sprintf("products=%d", n), func(b *testing.B) {
			sc, _ := benchScatter(n)
			c := &Catalog{dim: benchDim, readOnly: true, log: slog.New(slog.DiscardHandler), proj: &projection{dim: benchDim}}
			c.opts, _ = Options{}.withDefaults()
			c.ad.sc = sc
			b.ResetTimer()
			for b.Loop() {
				c.refitLocked("benchmark")
			}
			b.StopTimer()
			if !c.proj.adapted() || c.aprotos.ntotal() != n {
				b.Fatalf("adapted %v, %d prototypes", c.proj.adapted(), c.aprotos.ntotal())
			}
			c.aprotos.close()
		})
	}
}

func BenchmarkScatterFromScratch(b *testing.B) {
	for _, n := range adaptBenchProducts {
		b.Run(fmt.Sprintf("products=%d", n), func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				_, took := benchScatter(n)
				total += took
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s-scatter")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkOpenAdapted opens a catalog of 1,000 products (3 photos of 7 views each) with its
// scatter.bin and without.
func BenchmarkOpenAdapted(b *testing.B) {
	const products = 1000
	dir := filepath.Join(b.TempDir(), "catalog")
	e := viewsEmbedder{vecEmbedder{benchDim}, 7}
	c, err := Open(dir, e, Options{Match: MatchPrototype})
	if err != nil {
		b.Fatal(err)
	}
	// Added by 16 writers at once, so that the index file is saved once per burst rather
	// than once per product (see unlockWrite).
	next := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for p := range next {
				r := rand.New(rand.NewPCG(uint64(p), 1))
				var imgs [][]byte
				for range 3 {
					v := make([]float32, benchDim)
					for i := range v {
						v[i] = float32(r.NormFloat64() * 0.05)
					}
					imgs = append(imgs, vecImage(b, v))
				}
				if _, err := c.AddProduct(NewProduct{Name: fmt.Sprintf("P%d", p), Images: imgs}); err != nil {
					b.Error(err)
				}
			}
		})
	}
	for p := range products {
		next <- p
	}
	close(next)
	wg.Wait()
	if err := c.Close(); err != nil {
		b.Fatal(err)
	}
	for _, withFile := range []bool{true, false} {
		b.Run(fmt.Sprintf("scatter.bin=%v", withFile), func(b *testing.B) {
			for b.Loop() {
				if !withFile {
					b.StopTimer()
					os.Remove(filepath.Join(dir, scatterFile))
					b.StartTimer()
				}
				c, err := Open(dir, e, Options{Match: MatchPrototype})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if st := c.Stats(); st.ScatterFromFile != withFile || !st.Adapted || st.Vectors != products*21 {
					b.Fatalf("Stats = %+v", st)
				}
				c.Close()
				b.StartTimer()
			}
		})
	}
}

// viewsEmbedder is vecEmbedder with views-1 more catalog vectors per image (the image's
// vector with one component scaled), as the default embedder registers 7 views a photo.
type viewsEmbedder struct {
	vecEmbedder
	views int
}

func (e viewsEmbedder) EmbedCatalog(img image.Image) ([][]float32, error) {
	v := e.decode(img)
	out := [][]float32{v}
	for i := 1; i < e.views; i++ {
		w := append([]float32(nil), v...)
		w[i%len(w)] += 0.5
		out = append(out, w)
	}
	return out, nil
}
