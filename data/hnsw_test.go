package data

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func addN(t *testing.T, c *Catalog, prefix string, n, images int, seed uint64) ([]testProduct, []int64) {
	t.Helper()
	var ps []testProduct
	var ids []int64
	for i := range n {
		p := makeProduct(t, fmt.Sprintf("%s-%02d", prefix, i), seed+uint64(i), images, false)
		ps = append(ps, p)
		ids = append(ids, mustAdd(t, c, p.new()).ID)
	}
	return ps, ids
}

func assertFinds(t *testing.T, c *Catalog, emb *gridEmbedder, ps []testProduct, ids []int64, skip map[int64]bool) {
	t.Helper()
	for i, p := range ps {
		hits := mustSearch(t, c, query(t, emb, p, 0), len(ps))
		if skip[ids[i]] {
			if _, ok := hitFor(hits, ids[i]); ok {
				t.Fatalf("removed %s returned: %+v", p.name, hits)
			}
			continue
		}
		if hits[0].ProductID != ids[i] || hits[0].Score < 0.999 {
			t.Fatalf("%s: %+v", p.name, hits)
		}
	}
}

func TestHNSWIndex(t *testing.T) {
	dir := t.TempDir()
	emb := newGridEmbedder(4)
	c := openTest(t, dir, emb, Options{Index: IndexHNSW})
	ps, ids := addN(t, c, "h", 20, 2, 100)
	if st := c.Stats(); st.IndexKind != IndexHNSW || st.Vectors != 80 {
		t.Fatalf("Stats = %+v", st)
	}
	assertFinds(t, c, emb, ps, ids, nil)

	// HNSW cannot delete: the vectors become tombstones that Search never returns.
	removed := map[int64]bool{ids[3]: true}
	if err := c.RemoveProduct(ids[3]); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.Tombstones != 4 || st.Vectors != 76 || st.Rebuilding {
		t.Fatalf("after one removal (5%% tombstones, below the rebuild point): %+v", st)
	}
	assertFinds(t, c, emb, ps, ids, removed)

	// The tombstones survive a restart with the index file.
	c.Close()
	c = openTest(t, dir, emb, Options{Index: IndexHNSW})
	if st := c.Stats(); !st.LoadedFromFile || st.Tombstones != 4 || st.IndexKind != IndexHNSW {
		t.Fatalf("reopen: %+v", st)
	}
	assertFinds(t, c, emb, ps, ids, removed)

	// At 10% tombstones the graph is rebuilt in the background without them.
	removed[ids[7]] = true
	if err := c.RemoveProduct(ids[7]); err != nil { // 8 of 80
		t.Fatal(err)
	}
	assertFinds(t, c, emb, ps, ids, removed) // before or during the rebuild
	c.waitBackground()
	st := c.Stats()
	if st.Tombstones != 0 || st.Vectors != 72 || st.BackgroundRebuilds != 1 || st.IndexKind != IndexHNSW {
		t.Fatalf("after the background rebuild: %+v", st)
	}
	assertFinds(t, c, emb, ps, ids, removed)
	c.Close()
	c = openTest(t, dir, emb, Options{Index: IndexHNSW})
	if st := c.Stats(); !st.LoadedFromFile || st.Tombstones != 0 || st.IndexKind != IndexHNSW || st.Vectors != 72 {
		t.Fatalf("reopen after rebuild: %+v", st)
	}
	// A different M is a different graph: the old one serves while the new one is built.
	c.Close()
	c = openTest(t, dir, emb, Options{Index: IndexHNSW, HNSWM: 16})
	c.waitBackground()
	if st := c.Stats(); st.BackgroundRebuilds != 1 || st.IndexKind != IndexHNSW || c.idx.m != 16 {
		t.Fatalf("HNSWM changed: %+v", st)
	}
	assertFinds(t, c, emb, ps, ids, removed)
}

// Opening a catalog whose HNSW index must be rebuilt serves an exact flat index at once and
// builds the graph in the background.
func TestHNSWRebuildAtOpenInBackground(t *testing.T) {
	dir := t.TempDir()
	emb := newGridEmbedder(4)
	c := openTest(t, dir, emb, Options{Index: IndexHNSW})
	ps, ids := addN(t, c, "b", 10, 2, 300)
	c.Close()
	os.Remove(filepath.Join(dir, sidecarFile))

	c = openTest(t, dir, emb, Options{Index: IndexHNSW})
	assertFinds(t, c, emb, ps, ids, nil) // flat or HNSW, whichever is live
	c.waitBackground()
	if st := c.Stats(); st.LoadedFromFile || st.IndexKind != IndexHNSW || st.BackgroundRebuilds != 1 {
		t.Fatalf("Stats = %+v", st)
	}
	assertFinds(t, c, emb, ps, ids, nil)
	c.Close()
	c = openTest(t, dir, emb, Options{Index: IndexHNSW})
	if st := c.Stats(); !st.LoadedFromFile || st.IndexKind != IndexHNSW {
		t.Fatalf("reopen: %+v", st)
	}
}

func TestAutoSwitchesToHNSW(t *testing.T) {
	dir := t.TempDir()
	emb := newGridEmbedder(4)
	opts := Options{HNSWThreshold: 20}
	c := openTest(t, dir, emb, opts)
	ps, ids := addN(t, c, "a", 4, 2, 500) // 16 vectors
	if st := c.Stats(); st.IndexKind != IndexFlat || st.Rebuilding {
		t.Fatalf("below threshold: %+v", st)
	}
	more, moreIDs := addN(t, c, "z", 1, 2, 600) // 20 vectors: at the threshold
	ps, ids = append(ps, more...), append(ids, moreIDs...)
	c.waitBackground()
	if st := c.Stats(); st.IndexKind != IndexHNSW || st.Vectors != 20 {
		t.Fatalf("at threshold: %+v", st)
	}
	assertFinds(t, c, emb, ps, ids, nil)
	// Down to 12 vectors (above half the threshold): stays HNSW, also across a restart.
	c.RemoveProduct(ids[0])
	c.RemoveProduct(ids[1])
	c.waitBackground()
	c.Close()
	c = openTest(t, dir, emb, opts)
	if st := c.Stats(); !st.LoadedFromFile || st.IndexKind != IndexHNSW {
		t.Fatalf("reopen at 12 vectors: %+v", st)
	}
	// Below half: back to flat.
	c.RemoveProduct(ids[2])
	c.waitBackground()
	if st := c.Stats(); st.IndexKind != IndexFlat || st.Vectors != 8 {
		t.Fatalf("at 8 vectors: %+v", st)
	}
	assertFinds(t, c, emb, ps, ids, map[int64]bool{ids[0]: true, ids[1]: true, ids[2]: true})
}

// A background rebuild catches up with products added and removed while it was building.
func TestRebuildReconcilesConcurrentChanges(t *testing.T) {
	for _, kind := range []string{IndexFlat, IndexHNSW} {
		t.Run(kind, func(t *testing.T) {
			emb := newGridEmbedder(4)
			c := openTest(t, t.TempDir(), emb, Options{Index: kind})
			ps, ids := addN(t, c, "r", 6, 2, 700)
			late := makeProduct(t, "late", 799, 2, false)
			var lateID int64
			testHookRebuildBuilt = func() {
				testHookRebuildBuilt = nil
				lateID = mustAdd(t, c, late.new()).ID
				if err := c.RemoveProduct(ids[0]); err != nil {
					t.Error(err)
				}
			}
			t.Cleanup(func() { testHookRebuildBuilt = nil })
			c.mu.Lock()
			c.suspect = true // force a rebuild of the same kind
			c.scheduleRebuildLocked(kind, "test")
			c.mu.Unlock()
			c.waitBackground()
			st := c.Stats()
			if st.BackgroundRebuilds < 1 || st.Vectors != 24 {
				t.Fatalf("Stats = %+v", st)
			}
			if kind == IndexFlat && st.Tombstones != 0 {
				t.Fatalf("flat index kept removed vectors: %+v", st)
			}
			ps, ids = append(ps, late), append(ids, lateID)
			assertFinds(t, c, emb, ps, ids, map[int64]bool{ids[0]: true})
			c.Close()
			c = openTest(t, c.dir, emb, Options{Index: kind})
			if st := c.Stats(); !st.LoadedFromFile || st.Vectors != 24 {
				t.Fatalf("reopen: %+v", st)
			}
		})
	}
}

func TestSortedDiff(t *testing.T) {
	missing, extra := sortedDiff([]int64{1, 2, 4, 7, 9}, []int64{2, 3, 4, 8, 9, 10})
	if fmt.Sprint(missing) != "[1 7]" || fmt.Sprint(extra) != "[3 8 10]" {
		t.Fatal(missing, extra)
	}
	if m, e := sortedDiff(nil, nil); m != nil || e != nil {
		t.Fatal(m, e)
	}
}

// A FAISS failure after the commit (here: a live index of the wrong dimension) undoes the
// product, so the error leaves the catalog as it was, and the index is rebuilt.
func TestIndexFailureAfterCommitIsUndone(t *testing.T) {
	emb := newGridEmbedder(4)
	c := openTest(t, t.TempDir(), emb, Options{})
	ps, ids := addN(t, c, "u", 3, 2, 900)
	before := counts(t, c)
	wrong, err := newVectorIndex(IndexFlat, 12, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.idx.close()
	c.idx = wrong
	c.mu.Unlock()
	p := makeProduct(t, "undone", 999, 2, false)
	if _, err := c.AddProduct(p.new()); err == nil {
		t.Fatal("AddProduct succeeded with a broken index")
	}
	c.waitBackground()
	after := counts(t, c)
	if after.products != before.products || after.images != before.images || after.embeddings != before.embeddings {
		t.Fatalf("failed add left rows: %+v → %+v", before, after)
	}
	if st := c.Stats(); st.Vectors != 12 || st.IndexKind != IndexFlat || st.BackgroundRebuilds != 1 || c.idx.dim != 48 {
		t.Fatalf("after recovery: %+v", st)
	}
	assertFinds(t, c, emb, ps, ids, nil)
	mustAdd(t, c, p.new())
}
