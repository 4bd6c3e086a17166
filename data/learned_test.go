package data

import (
	"errors"
	"testing"
)

// TestLearnedViews: a learned view is recognised at once, capped per product (oldest out),
// listed, served and removed, survives a reopen, and leaves with its product.
func TestLearnedViews(t *testing.T) {
	const dim = 16
	s := newSynthetic(5, dim, 6)
	dir := t.TempDir()
	e := vecEmbedder{dim}
	c := openTest(t, dir, e, Options{Match: MatchPrototype, MaxLearnedViews: 3})
	var ids []int64
	for p := range 5 {
		ids = append(ids, addSynthetic(t, c, s, p, 3))
	}
	if err := c.Refit(); err != nil {
		t.Fatal(err)
	}
	// A crop the catalog gets wrong: product 5 is not registered, and is taught as product 0.
	crop := s.sample(5)
	before := mustRecognise(t, c, 5, crop)
	v, err := c.AddLearnedView(ids[0], vecImage(t, crop), OriginCorrection)
	if err != nil {
		t.Fatal(err)
	}
	if v.ID == 0 || v.ProductID != ids[0] || v.Origin != OriginCorrection || v.CreatedAt.IsZero() || v.MIME != "image/png" || v.Width != dim {
		t.Fatalf("LearnedView = %+v", v)
	}
	after := mustRecognise(t, c, 5, crop)
	if h, _ := hitFor(after.Hits, ids[0]); after.Hits[0].ProductID != ids[0] && h.Score <= scoreOf(before, ids[0]) {
		t.Fatalf("the learned view did not move its product: before %+v, after %+v", before, after)
	}
	if st := c.Stats(); st.LearnedViews != 1 {
		t.Fatalf("Stats = %+v", st)
	}
	// The cap: three newest kept.
	var added []LearnedView
	for range 4 {
		v, err := c.AddLearnedView(ids[0], vecImage(t, s.sample(0)), OriginReview)
		if err != nil {
			t.Fatal(err)
		}
		added = append(added, v)
	}
	list, err := c.LearnedViews(ids[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].ID != added[1].ID || list[2].ID != added[3].ID {
		t.Fatalf("after 5 views with a cap of 3: %+v", list)
	}
	if st := c.Stats(); st.LearnedViews != 3 {
		t.Fatalf("Stats.LearnedViews %d, want 3", st.LearnedViews)
	}
	img, mime, err := c.LearnedViewImage(list[0].ID)
	if err != nil || mime != "image/png" || len(img) == 0 {
		t.Fatalf("LearnedViewImage: %d bytes, %q, %v", len(img), mime, err)
	}
	if _, _, err := c.LearnedViewImage(v.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("image of an evicted view: %v", err)
	}
	if err := c.RemoveLearnedView(list[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveLearnedView(list[0].ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second removal: %v", err)
	}
	// Refused: a bad origin, an unknown product, not an image. Nothing is stored.
	if _, err := c.AddLearnedView(ids[1], vecImage(t, crop), "guess"); !errors.Is(err, ErrInvalidOrigin) {
		t.Fatalf("bad origin: %v", err)
	}
	if _, err := c.AddLearnedView(9999, vecImage(t, crop), OriginReview); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown product: %v", err)
	}
	var ie *ImageError
	if _, err := c.AddLearnedView(ids[1], []byte("not an image"), OriginReview); !errors.As(err, &ie) {
		t.Fatalf("not an image: %v", err)
	}
	if _, err := c.LearnedViews(9999); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LearnedViews of no product: %v", err)
	}
	if list, _ := c.LearnedViews(ids[1]); len(list) != 0 {
		t.Fatalf("refused views were stored: %+v", list)
	}
	if err := c.Refit(); err != nil { // a reopened catalog starts with a fresh fit
		t.Fatal(err)
	}
	want := mustRecognise(t, c, 5, crop)
	c.Close()

	c = openTest(t, dir, e, Options{Match: MatchPrototype, MaxLearnedViews: 3})
	sameEvidence(t, "reopened", []Evidence{want}, []Evidence{mustRecognise(t, c, 5, crop)})
	if list, _ := c.LearnedViews(ids[0]); len(list) != 2 {
		t.Fatalf("after reopening: %+v", list)
	}
	if err := c.RemoveProduct(ids[0]); err != nil {
		t.Fatal(err)
	}
	if st := c.Stats(); st.LearnedViews != 0 {
		t.Fatalf("the product's learned views outlived it: %+v", st)
	}
	if _, _, err := c.LearnedViewImage(list[1].ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a removed product's view: %v", err)
	}
}

func scoreOf(ev Evidence, id int64) float32 {
	if h, ok := hitFor(ev.Hits, id); ok {
		return h.Score
	}
	return -1
}

// TestRefitAfterLearnedViews: the projection is refitted after RefitEvery learned views.
func TestRefitAfterLearnedViews(t *testing.T) {
	const dim = 16
	s := newSynthetic(6, dim, 5)
	c := openTest(t, t.TempDir(), vecEmbedder{dim}, Options{Match: MatchPrototype, Adapt: AdaptOptions{RefitEvery: 4}})
	var ids []int64
	for p := range 5 {
		ids = append(ids, addSynthetic(t, c, s, p, 2))
	}
	if err := c.Refit(); err != nil {
		t.Fatal(err)
	}
	refits := c.Stats().Refits
	for i := range 8 {
		if _, err := c.AddLearnedView(ids[i%5], vecImage(t, s.sample(i%5)), OriginReview); err != nil {
			t.Fatal(err)
		}
		c.WaitRefit()
		if got, want := c.Stats().Refits, refits+(i+1)/4; got != want {
			t.Fatalf("after %d learned views: %d refits, want %d", i+1, got, want)
		}
	}
}

// TestNoneMemory: a "none" answer is reported at once as Evidence.None, the memory is
// capped (oldest out), a product registered later drops the answers it explains, and a
// wrong answer can be removed.
func TestNoneMemory(t *testing.T) {
	const dim = 16
	s := newSynthetic(7, dim, 7)
	c := openTest(t, t.TempDir(), vecEmbedder{dim}, Options{Match: MatchPrototype, MaxImages: 10, MaxNoneViews: 3})
	for p := range 5 {
		addSynthetic(t, c, s, p, 6)
	}
	if err := c.Refit(); err != nil {
		t.Fatal(err)
	}
	unknown := s.sample(6) // product 6 is not in the catalog
	if ev := mustRecognise(t, c, 2, unknown); ev.None != NoNone {
		t.Fatalf("no none answers yet: %+v", ev)
	}
	n, err := c.AddNone(vecImage(t, unknown), OriginReview)
	if err != nil || n.ProductID != 0 {
		t.Fatalf("AddNone: %+v, %v", n, err)
	}
	ev := mustRecognise(t, c, 2, unknown)
	if ev.None < 0.99 || ev.None < ev.Hits[0].Score {
		t.Fatalf("the none answer does not score its own crop: %+v", ev)
	}
	if other := mustRecognise(t, c, 1, s.sample(0)); other.None >= other.Hits[0].Score {
		t.Fatalf("the none answer blocks a known product: %+v", other)
	}
	// The cap: FIFO.
	var added []LearnedView
	for range 3 {
		v, err := c.AddNone(vecImage(t, s.sample(6)), OriginCorrection)
		if err != nil {
			t.Fatal(err)
		}
		added = append(added, v)
	}
	list, err := c.NoneViews()
	if err != nil || len(list) != 3 || list[0].ID != added[0].ID || c.Stats().NoneViews != 3 {
		t.Fatalf("NoneViews after 4 answers with a cap of 3: %+v, %v", list, err)
	}
	// Registering product 6 drops the answers it explains...
	addSynthetic(t, c, s, 6, 3)
	if list, _ := c.NoneViews(); len(list) != 0 || c.Stats().NoneViews != 0 {
		t.Fatalf("none answers explained by the new product were kept: %+v", list)
	}
	// ...but not one that a product already registered explains (a wrong answer).
	wrong := s.clean(1)
	v, err := c.AddNone(vecImage(t, wrong), OriginReview)
	if err != nil {
		t.Fatal(err)
	}
	if ev := mustRecognise(t, c, 1, wrong); ev.None < 0.99 || ev.Hits[0].Name != "P1" {
		t.Fatalf("the wrong none answer: %+v", ev)
	}
	addSynthetic(t, c, s, 5, 3)
	if kept, _ := c.NoneViews(); len(kept) != 1 || kept[0].ID != v.ID {
		t.Fatalf("registering product 5 dropped product 1's none answer: %+v", kept)
	}
	if err := c.RemoveLearnedView(v.ID); err != nil {
		t.Fatal(err)
	}
	if ev := mustRecognise(t, c, 1, wrong); ev.None >= ev.Hits[0].Score {
		t.Fatalf("a removed none answer still blocks: %+v", ev)
	}
	if _, _, err := c.LearnedViewImage(v.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("image of a removed none answer: %v", err)
	}
}
