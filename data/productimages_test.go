package data

import (
	"bytes"
	"errors"
	"image"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Photos added to and removed from an existing product: a photo of another object added to
// it finds the product at once, by nearest vector and by prototype, in a flat index and an
// HNSW graph; a removed photo no longer matches it; the limits (1 to MaxImages photos), an
// unknown product or photo, a bad image and a failing embedder are refused with nothing
// changed; and the index, prototypes and statistics kept up to date change by change are
// those a catalog computes from its database at Open.
func TestProductImages(t *testing.T) {
	for _, tc := range []struct {
		name, match, index string
	}{
		{"nearest/flat", MatchNearest, IndexFlat},
		{"nearest/hnsw", MatchNearest, IndexHNSW},
		{"prototype/flat", MatchPrototype, IndexFlat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newGridEmbedder(4)
			dir := t.TempDir()
			opts := Options{Match: tc.match, Index: tc.index, Adapt: AdaptOptions{RefitDelay: 20 * time.Millisecond}}
			c := openTest(t, dir, e, opts)
			milkP := makeProduct(t, "Milk", 1, 1, false)
			milk := mustAdd(t, c, milkP.new())
			prods := []testProduct{milkP}
			for i, name := range []string{"Bread", "Eggs", "Tea", "Rice"} {
				p := makeProduct(t, name, uint64(i+2), 2, false)
				mustAdd(t, c, p.new())
				prods = append(prods, p)
			}
			other := makeProduct(t, "Another object", 9, 3, true)
			vectors := c.Stats().Vectors

			// Added: a photo of another object finds Milk at once, by search and by Recognise.
			if hits := mustSearch(t, c, query(t, e, other, 0), 1); hits[0].ProductID == milk.ID {
				t.Fatalf("the other object is Milk before its photo was added: %+v", hits)
			}
			got, err := c.AddProductImages(milk.ID, other.bytes[:1])
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != milk.ID || got.Name != "Milk" || got.Images != 2 {
				t.Fatalf("after adding a photo: %+v", got)
			}
			if hits := mustSearch(t, c, query(t, e, other, 0), 1); hits[0].ProductID != milk.ID {
				t.Fatalf("the added photo does not find Milk: %+v", hits)
			}
			if ev, err := c.Recognise([][]float32{query(t, e, other, 0)}, 1); err != nil || ev.Hits[0].ProductID != milk.ID {
				t.Fatalf("Recognise with the added photo: %+v, %v", ev, err)
			}
			if b, mime, err := c.Image(milk.ID, 2); err != nil || !bytes.Equal(b, other.bytes[0]) || mime != "image/png" {
				t.Fatalf("photo 2: %d bytes, %q, %v", len(b), mime, err)
			}
			if st := c.Stats(); st.Vectors != vectors+2 || st.Products != 5 {
				t.Fatalf("after adding a photo of 2 views: %d vectors (was %d), %d products", st.Vectors, vectors, st.Products)
			}
			before, _ := hitFor(mustSearch(t, c, query(t, e, milkP, 0), 5), milk.ID)
			if tc.match == MatchNearest && before.Score < 0.999 {
				t.Fatalf("Milk's own photo scores %v before it is removed", before.Score)
			}

			// Removed: Milk's own photo no longer matches it; the added one moves to position 1.
			if got, err = c.RemoveProductImage(milk.ID, 1); err != nil {
				t.Fatal(err)
			}
			if got.Images != 1 {
				t.Fatalf("after removing a photo: %+v", got)
			}
			if b, _, err := c.Image(milk.ID, 1); err != nil || !bytes.Equal(b, other.bytes[0]) {
				t.Fatalf("photo 1 after the removal is not the added photo: %d bytes, %v", len(b), err)
			}
			if _, _, err := c.Image(milk.ID, 2); !errors.Is(err, ErrNotFound) {
				t.Fatalf("photo 2 after the removal: %v, want ErrNotFound", err)
			}
			after, _ := hitFor(mustSearch(t, c, query(t, e, milkP, 0), 5), milk.ID)
			if after.Score >= before.Score-0.01 || (tc.match == MatchNearest && after.Score > 0.99) {
				t.Fatalf("Milk's removed photo still matches it: score %v, %v before", after.Score, before.Score)
			}
			if hits := mustSearch(t, c, query(t, e, other, 0), 1); hits[0].ProductID != milk.ID {
				t.Fatalf("the remaining photo does not find Milk: %+v", hits)
			}
			if st := c.Stats(); st.Vectors != vectors {
				t.Fatalf("after removing the photo: %d vectors, want %d", st.Vectors, vectors)
			}

			// Refused, with nothing changed (and nothing embedded for what is refused first).
			state, calls := counts(t, c), e.calls.Load()
			notImage := []byte("this is not an image")
			var imgErr *ImageError
			for what, err := range map[string]error{
				"no photo":                  second(c.AddProductImages(milk.ID, nil)),
				"three more photos":         second(c.AddProductImages(milk.ID, other.bytes)),
				"an unknown product":        second(c.AddProductImages(999, other.bytes[1:2])),
				"removing the only photo":   second(c.RemoveProductImage(milk.ID, 1)),
				"removing photo 2 of 1":     second(c.RemoveProductImage(milk.ID, 2)),
				"removing photo 0":          second(c.RemoveProductImage(milk.ID, 0)),
				"removing an unknown's":     second(c.RemoveProductImage(999, 1)),
				"a photo that is not image": second(c.AddProductImages(milk.ID, [][]byte{other.bytes[1], notImage})),
			} {
				want := map[string]error{"no photo": ErrNoImages, "three more photos": ErrTooManyImages,
					"removing the only photo": ErrLastImage}[what]
				switch {
				case what == "a photo that is not image":
					if !errors.As(err, &imgErr) || imgErr.Index != 1 {
						t.Errorf("%s: %v, want an ImageError for image 1", what, err)
					}
				case want == nil:
					if !errors.Is(err, ErrNotFound) {
						t.Errorf("%s: %v, want ErrNotFound", what, err)
					}
				case !errors.Is(err, want):
					t.Errorf("%s: %v, want %v", what, err, want)
				}
			}
			if e.calls.Load() != calls {
				t.Errorf("refused requests embedded %d images", e.calls.Load()-calls)
			}
			e.fail = func(image.Image) bool { return true }
			if _, err := c.AddProductImages(milk.ID, other.bytes[1:2]); err == nil {
				t.Fatal("a photo the embedder failed on was added")
			}
			e.fail = nil
			if now := counts(t, c); now != state || c.Stats().Vectors != vectors {
				t.Fatalf("refused requests changed the catalog: %+v, was %+v", now, state)
			}
			if p, _ := c.Product(milk.ID); p.Images != 1 {
				t.Fatalf("refused requests changed Milk: %+v", p)
			}

			// Up to the limit, then no more.
			if got, err = c.AddProductImages(milk.ID, other.bytes[1:3]); err != nil || got.Images != 3 {
				t.Fatalf("two more photos: %+v, %v", got, err)
			}
			if _, err := c.AddProductImages(milk.ID, other.bytes[:1]); !errors.Is(err, ErrTooManyImages) {
				t.Fatalf("a fourth photo: %v, want ErrTooManyImages", err)
			}
			if _, err := c.RemoveProductImage(milk.ID, 2); err != nil {
				t.Fatal(err)
			}
			for i, want := range [][]byte{other.bytes[0], other.bytes[2]} {
				if b, _, err := c.Image(milk.ID, i+1); err != nil || !bytes.Equal(b, want) {
					t.Fatalf("photo %d after removing the middle one: %d bytes, %v", i+1, len(b), err)
				}
			}

			// What was kept up to date change by change is what the database implies: the
			// saved index and statistics are current, and computed afresh they score alike.
			queries := [][]float32{query(t, e, milkP, 0)}
			for _, p := range append(prods[1:], other) {
				queries = append(queries, query(t, e, p, 0), query(t, e, p, 1))
			}
			live := scoresOf(t, c, queries)
			c.Close()
			c = openTest(t, dir, e, opts)
			if st := c.Stats(); !st.LoadedFromFile || !st.ScatterFromFile {
				t.Fatalf("reopened: index from file %v (%s), statistics from file %v", st.LoadedFromFile, st.RebuildReason, st.ScatterFromFile)
			}
			sameScores(t, "reopened", live, scoresOf(t, c, queries))
			c.Close()
			for _, f := range []string{indexFile, sidecarFile, scatterFile} {
				os.Remove(filepath.Join(dir, f))
			}
			c = openTest(t, dir, e, opts)
			sameScores(t, "recomputed from the database", live, scoresOf(t, c, queries))
		})
	}
}

func second[T any](_ T, err error) error { return err }

// scoresOf refits c and returns, for each query, its Search and Recognise hits.
func scoresOf(t *testing.T, c *Catalog, queries [][]float32) [][]Hit {
	t.Helper()
	c.WaitRefit()
	if err := c.Refit(); err != nil {
		t.Fatal(err)
	}
	var out [][]Hit
	for _, q := range queries {
		ev, err := c.Recognise([][]float32{q}, 10)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, mustSearch(t, c, q, 10), ev.Hits)
	}
	return out
}

func sameScores(t *testing.T, what string, want, got [][]Hit) {
	t.Helper()
	for i := range want {
		if len(want[i]) != len(got[i]) {
			t.Fatalf("%s: query %d: %+v, want %+v", what, i/2, got[i], want[i])
		}
		for j := range want[i] {
			w, g := want[i][j], got[i][j]
			if w.ProductID != g.ProductID || math.Abs(float64(w.Score-g.Score)) > 1e-4 {
				t.Fatalf("%s: query %d (%s): %+v, want %+v", what, i/2, map[bool]string{true: "Search", false: "Recognise"}[i%2 == 0], got[i], want[i])
			}
		}
	}
}

// Searches and Recognise running while a product's photos come and go never fail, and see
// the product with or without the photo, never a product without a prototype (run with -race).
func TestProductImagesConcurrentSearch(t *testing.T) {
	e := newGridEmbedder(4)
	c := openTest(t, t.TempDir(), e, Options{Match: MatchPrototype, Adapt: AdaptOptions{RefitDelay: time.Millisecond}})
	milk := mustAdd(t, c, makeProduct(t, "Milk", 1, 1, false).new())
	for i, name := range []string{"Bread", "Eggs", "Tea", "Rice"} {
		mustAdd(t, c, makeProduct(t, name, uint64(i+2), 2, false).new())
	}
	other := makeProduct(t, "Another object", 9, 1, false)
	q := query(t, e, other, 0)
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for {
				select {
				case <-stop:
					errs <- nil
					return
				default:
				}
				hits, err := c.Search(q, 5)
				if err == nil && len(hits) != 5 {
					err = errors.New("a product is missing from the hits")
				}
				if err == nil {
					_, err = c.Recognise([][]float32{q}, 5)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range 20 {
		if _, err := c.AddProductImages(milk.ID, other.bytes); err != nil {
			t.Fatal(err)
		}
		if _, err := c.RemoveProductImage(milk.ID, 2); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if p, _ := c.Product(milk.ID); p.Images != 1 || c.Stats().Vectors != 18 {
		t.Fatalf("after 20 adds and removals: %+v, %d vectors", p, c.Stats().Vectors)
	}
}

// A "none" answer given for a view of a product that its photos did not show (X's only photo
// is of its other side) blocks the product; adding a photo that shows it drops that answer,
// as registering a product drops those it explains, in the same write (it stays dropped
// after Open), and keeps an unrelated one.
func TestProductImagesDropNonesExplained(t *testing.T) {
	const dim = 16
	s := newSynthetic(7, dim, 7)
	dir := t.TempDir()
	opts := Options{Match: MatchPrototype, MaxImages: 10, Adapt: quickAdapt}
	c := openTest(t, dir, vecEmbedder{dim}, opts)
	for p := range 5 {
		addSynthetic(t, c, s, p, 6)
	}
	x := mustAdd(t, c, NewProduct{Name: "X", Images: [][]byte{vecImage(t, s.sample(6))}})
	if err := c.Refit(); err != nil {
		t.Fatal(err)
	}
	crop := s.sample(5) // a view of X
	blocking, err := c.AddNone(vecImage(t, crop), OriginCorrection)
	if err != nil {
		t.Fatal(err)
	}
	away := make([]float32, dim) // an object unlike any product
	for i, v := range s.unit() {
		away[i] = float32(v)
	}
	unrelated, err := c.AddNone(vecImage(t, away), OriginReview)
	if err != nil {
		t.Fatal(err)
	}
	ev := mustRecognise(t, c, 1, crop)
	t.Logf("before: %+v", ev)
	if ev.None < ev.Hits[0].Score {
		t.Fatalf("the none answer does not block X's view: %+v", ev)
	}

	var photos [][]byte
	for range 3 {
		photos = append(photos, vecImage(t, s.sample(5)))
	}
	if _, err := c.AddProductImages(x.ID, photos); err != nil {
		t.Fatal(err)
	}
	list, err := c.NoneViews()
	if err != nil || len(list) != 1 || list[0].ID != unrelated.ID || c.Stats().NoneViews != 1 {
		t.Fatalf("none answers after adding X's photos: %+v, %v; want only %d (%d dropped)", list, err, unrelated.ID, blocking.ID)
	}
	for _, q := range [][]float32{crop, s.sample(5)} {
		if ev := mustRecognise(t, c, 1, q); ev.Hits[0].ProductID != x.ID || ev.None >= ev.Hits[0].Score {
			t.Fatalf("X's view after its photos were added: %+v", ev)
		}
	}
	c.WaitRefit()
	q := s.sample(5)
	ev = mustRecognise(t, c, 1, q)
	t.Logf("after refit: %+v", ev)
	if ev.Hits[0].ProductID != x.ID || ev.None >= ev.Hits[0].Score {
		t.Fatalf("X's view after a refit: %+v", ev)
	}
	if ev := mustRecognise(t, c, 1, away); ev.None < ev.Hits[0].Score {
		t.Fatalf("the unrelated none answer no longer blocks its view: %+v", ev)
	}
	c.Close()
	c = openTest(t, dir, vecEmbedder{dim}, opts)
	if list, _ := c.NoneViews(); len(list) != 1 || list[0].ID != unrelated.ID {
		t.Fatalf("none answers after Open: %+v", list)
	}
}
