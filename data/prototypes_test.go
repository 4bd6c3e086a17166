package data

import (
	"math"
	"sync"
	"testing"
)

// prototypeOf computes, independently of the catalog, what a product's prototype must be: the
// normalised mean of the embedder's catalog vectors of all its images.
func prototypeOf(t *testing.T, e *gridEmbedder, p testProduct) []float64 {
	t.Helper()
	sum := make([]float64, e.Dim())
	for _, img := range p.images {
		views, err := e.EmbedCatalog(img)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range views {
			for i, f := range v {
				sum[i] += float64(f)
			}
		}
	}
	var n float64
	for _, v := range sum {
		n += v * v
	}
	for i := range sum {
		sum[i] /= math.Sqrt(n)
	}
	return sum
}

func cosine(a []float32, b []float64) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * b[i]
	}
	return s
}

// In prototype mode each product is scored by the cosine between the query and the mean of
// its vectors, one hit per product; it follows additions, removals and reopening.
func TestPrototypeSearch(t *testing.T) {
	emb := newGridEmbedder(4)
	dir := t.TempDir()
	c := openTest(t, dir, emb, Options{Match: MatchPrototype})
	products := []testProduct{
		makeProduct(t, "Milk", 1, 3, true),
		makeProduct(t, "Bread", 2, 2, false),
		makeProduct(t, "Eggs", 3, 1, false),
	}
	ids := map[string]int64{}
	for _, p := range products {
		ids[p.name] = mustAdd(t, c, p.new()).ID
	}
	check := func(c *Catalog, live []testProduct) {
		t.Helper()
		if st := c.Stats(); st.Prototypes != len(live) {
			t.Fatalf("%d prototypes, want %d", st.Prototypes, len(live))
		}
		for _, p := range live {
			q := query(t, emb, p, 0)
			hits := mustSearch(t, c, q, 10)
			if len(hits) != len(live) {
				t.Fatalf("%s: %d hits, want one per product (%d)", p.name, len(hits), len(live))
			}
			seen := map[int64]bool{}
			for i, h := range hits {
				if seen[h.ProductID] {
					t.Fatalf("%s: product %d twice", p.name, h.ProductID)
				}
				seen[h.ProductID] = true
				if i > 0 && h.Score > hits[i-1].Score {
					t.Fatalf("%s: hits not best first: %+v", p.name, hits)
				}
				for _, other := range live {
					if other.name == h.Name {
						if want := cosine(q, prototypeOf(t, emb, other)); math.Abs(float64(h.Score)-want) > 1e-5 {
							t.Fatalf("%s vs %s: score %v, want %v (cosine with the prototype)", p.name, h.Name, h.Score, want)
						}
					}
				}
			}
			if hits[0].Name != p.name || hits[0].ProductID != ids[p.name] {
				t.Fatalf("%s: best hit %+v", p.name, hits[0])
			}
		}
	}
	check(c, products)

	if err := c.RemoveProduct(ids["Bread"]); err != nil {
		t.Fatal(err)
	}
	live := []testProduct{products[0], products[2]}
	check(c, live)

	// Prototypes are derived from the database: after reopening they are the same.
	c.Close()
	c = openTest(t, dir, emb, Options{Match: MatchPrototype})
	check(c, live)

	// An empty catalog has no prototypes and no hits.
	empty := openTest(t, t.TempDir(), emb, Options{Match: MatchPrototype})
	if hits := mustSearch(t, empty, query(t, emb, products[0], 0), 3); len(hits) != 0 {
		t.Fatalf("empty catalog: %+v", hits)
	}
	if _, err := Open(t.TempDir(), emb, Options{Match: "closest"}); err == nil {
		t.Fatal("an unknown match mode was accepted")
	}
}

// Searches running while products come and go always see whole products.
func TestPrototypeSearchConcurrent(t *testing.T) {
	emb := newGridEmbedder(4)
	c := openTest(t, t.TempDir(), emb, Options{Match: MatchPrototype})
	stable := makeProduct(t, "Stable", 9, 2, false)
	mustAdd(t, c, stable.new())
	q := query(t, emb, stable, 0)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				hits, err := c.Search(q, 5)
				if err != nil || len(hits) == 0 || hits[0].Name != "Stable" {
					t.Errorf("search during changes: %+v %v", hits, err)
					return
				}
			}
		}()
	}
	for i := 0; i < 20; i++ {
		p := makeProduct(t, "Temp", uint64(100+i), 1, false)
		got := mustAdd(t, c, p.new())
		if err := c.RemoveProduct(got.ID); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if st := c.Stats(); st.Prototypes != 1 {
		t.Fatalf("%d prototypes left, want 1", st.Prototypes)
	}
}
