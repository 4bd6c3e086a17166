package data

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentSearchDuringChanges runs 8 searching goroutines while products are added and
// removed (run it with -race). Each search must succeed, and every product it returns must be
// complete: the query is one of the product's images, so if the product is returned at all
// its score must be ≈1 (a half-added product missing that image's vectors would score lower);
// and, checked under the same read lock as the search, the product must have all its vectors
// in the index.
func TestConcurrentSearchDuringChanges(t *testing.T) {
	for _, kind := range []string{IndexFlat, IndexHNSW} {
		t.Run(kind, func(t *testing.T) { testConcurrent(t, kind) })
	}
}

func testConcurrent(t *testing.T, kind string) {
	const (
		total     = 40
		preloaded = 10
		images    = 2
		views     = 2
		searchers = 8
	)
	emb := newGridEmbedder(4)
	c := openTest(t, t.TempDir(), emb, Options{Index: kind})
	ps := make([]testProduct, total)
	queries := make([][][]float32, total)
	byName := map[string]int{}
	for i := range ps {
		ps[i] = makeProduct(t, fmt.Sprintf("c-%02d", i), uint64(1000+i), images, i%3 == 0)
		byName[ps[i].name] = i
		for m := range images {
			queries[i] = append(queries[i], query(t, emb, ps[i], m))
		}
	}
	var mu sync.Mutex
	var added []int64
	for i := range preloaded {
		added = append(added, mustAdd(t, c, ps[i].new()).ID)
	}

	var done atomic.Bool
	var searches, returned atomic.Int64
	errc := make(chan error, searchers+2)
	var wg sync.WaitGroup
	for g := range searchers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 7))
			for !done.Load() {
				j, m := r.IntN(total), r.IntN(images)
				q := queries[j][m]
				var hits []Hit
				var err error
				if r.IntN(2) == 0 {
					hits, err = c.Search(q, 5)
				} else {
					hits, err = checkedSearch(c, q, 5, images*views)
				}
				if err != nil {
					errc <- err
					return
				}
				searches.Add(1)
				seen := map[int64]bool{}
				for _, h := range hits {
					if seen[h.ProductID] {
						errc <- fmt.Errorf("product %d twice in %+v", h.ProductID, hits)
						return
					}
					seen[h.ProductID] = true
					i, ok := byName[h.Name]
					if !ok {
						errc <- fmt.Errorf("hit with unknown name: %+v", h)
						return
					}
					if i == j {
						returned.Add(1)
						if h.Score < 0.999 {
							errc <- fmt.Errorf("%s returned with score %v for its own image %d: half-added", h.Name, h.Score, m)
							return
						}
					}
				}
			}
		}()
	}
	// An admin screen listing products meanwhile.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !done.Load() {
			list, err := c.Products()
			if err != nil {
				errc <- err
				return
			}
			for _, p := range list {
				if p.Images != images || !strings.HasPrefix(p.Name, "c-") {
					errc <- fmt.Errorf("listed %+v", p)
					return
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()

	r := rand.New(rand.NewPCG(42, 42))
	for i := preloaded; i < total; i++ {
		p, err := c.AddProduct(ps[i].new())
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		added = append(added, p.ID)
		if i%2 == 0 {
			k := r.IntN(len(added))
			id := added[k]
			added = append(added[:k], added[k+1:]...)
			mu.Unlock()
			if err := c.RemoveProduct(id); err != nil {
				t.Fatal(err)
			}
		} else {
			mu.Unlock()
		}
	}
	// Let the searches run against the final state and any background rebuild.
	time.Sleep(50 * time.Millisecond)
	c.waitBackground()
	done.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if searches.Load() < 100 || returned.Load() == 0 {
		t.Fatalf("only %d searches, %d found their product", searches.Load(), returned.Load())
	}
	if c.Len() != len(added)*images*views {
		t.Fatalf("Len = %d, want %d", c.Len(), len(added)*images*views)
	}
	for i, p := range ps {
		hits := mustSearch(t, c, queries[i][0], total)
		_, found := hitFor(hits, idOf(t, c, p.name))
		if found != contains(c, p.name) {
			t.Fatalf("%s: found %v in search, in catalog %v", p.name, found, contains(c, p.name))
		}
	}
	t.Logf("%s: %d searches, %d returned their product, %d background rebuilds", kind, searches.Load(), returned.Load(), c.Stats().BackgroundRebuilds)
}

// checkedSearch searches and, under the same read lock, checks the invariants a half-applied
// change would break: every hit's product is known with all its vectors, and a flat index
// holds exactly the live vectors.
func checkedSearch(c *Catalog, vec []float32, k, vectorsPerProduct int) ([]Hit, error) {
	q, err := normalize(vec, c.dim)
	if err != nil {
		return nil, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	hits, err := c.searchLocked(q, k)
	if err != nil {
		return nil, err
	}
	if c.idx.kind == IndexFlat && c.idx.ntotal() != len(c.owner) {
		return nil, fmt.Errorf("flat index has %d vectors, catalog %d", c.idx.ntotal(), len(c.owner))
	}
	for _, h := range hits {
		p := c.products[h.ProductID]
		if p == nil || p.vectors != vectorsPerProduct || p.name != h.Name {
			return nil, fmt.Errorf("hit %+v: product state %+v", h, p)
		}
		n := 0
		for _, pid := range c.owner {
			if pid == h.ProductID {
				n++
			}
		}
		if n != vectorsPerProduct {
			return nil, fmt.Errorf("hit %+v has %d vectors, want %d", h, n, vectorsPerProduct)
		}
	}
	return hits, nil
}

func idOf(t *testing.T, c *Catalog, name string) int64 {
	p, err := c.ProductByName(name)
	if err != nil {
		return -1
	}
	return p.ID
}

func contains(c *Catalog, name string) bool {
	_, err := c.ProductByName(name)
	return err == nil
}

// Concurrent changes may leave the index file to the change that comes after them, but once
// all have returned the file reflects the last one.
func TestIndexSavedAfterConcurrentChanges(t *testing.T) {
	dir := t.TempDir()
	emb := newGridEmbedder(4)
	c := openTest(t, dir, emb, Options{})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				p := makeProduct(t, fmt.Sprintf("s-%d-%d", g, i), uint64(2000+10*g+i), 1, false)
				if _, err := c.AddProduct(p.new()); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	b, err := os.ReadFile(filepath.Join(dir, sidecarFile))
	if err != nil {
		t.Fatal(err)
	}
	var sc sidecar
	if err := json.Unmarshal(b, &sc); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); sc.DBGeneration != st.Generation || sc.Vectors != 40 || st.Generation != 20 {
		t.Fatalf("sidecar %+v, catalog %+v", sc, st)
	}
	c.Close()
	c = openTest(t, dir, emb, Options{})
	if st := c.Stats(); !st.LoadedFromFile || st.Vectors != 40 {
		t.Fatalf("reopen: %+v", st)
	}
}
