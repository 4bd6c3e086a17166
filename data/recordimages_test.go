package data

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/testkit/pgtest"
)

// Photos added to and removed from a product with a PostgreSQL catalog of record: the node
// that makes the change recognises with it when the call returns, the other node's replica
// applies it from the change feed (and again, harmlessly), a node closed meanwhile catches up
// at Open, a new node copies it, and every node scores alike. The limits hold across nodes.
func TestRecordProductImages(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	pg := pgtest.Start(t)
	url := pg.CreateDatabase(t, "catalog")
	e := newGridEmbedder(4)
	dirB := t.TempDir()
	a := openReplica(t, t.TempDir(), e, url)
	b := openReplica(t, dirB, e, url)

	milkP := makeProduct(t, "Milk", 1, 1, false)
	milk := mustAdd(t, a, milkP.new())
	for i, name := range []string{"Bread", "Eggs", "Tea", "Rice"} {
		mustAdd(t, a, makeProduct(t, name, uint64(i+2), 2, false).new())
	}
	waitUntil(t, 2*time.Second, "the products on b", func() bool { return b.Stats().Products == 5 })
	other := makeProduct(t, "Another object", 9, 3, true)
	images := func(c *Catalog) int {
		p, err := c.Product(milk.ID)
		if err != nil {
			t.Fatal(err)
		}
		return p.Images
	}

	// Added on a: found by the new photo on a at once, on b soon after.
	got, err := a.AddProductImages(milk.ID, other.bytes[:1])
	if err != nil {
		t.Fatal(err)
	}
	if got.Images != 2 || !finds(t, a, query(t, e, other, 0), milk.ID) {
		t.Fatalf("a after adding a photo: %+v, found %v", got, finds(t, a, query(t, e, other, 0), milk.ID))
	}
	took := waitUntil(t, 2*time.Second, "the new photo on b", func() bool {
		return images(b) == 2 && finds(t, b, query(t, e, other, 0), milk.ID)
	})
	t.Logf("the added photo recognised on the other node after %v", took.Round(time.Millisecond))
	if img, _, err := b.Image(milk.ID, 2); err != nil || !bytes.Equal(img, other.bytes[0]) {
		t.Fatalf("b's photo 2: %d bytes, %v", len(img), err)
	}

	// The limits are the record's: b cannot add two more, nor remove what is not there.
	if _, err := b.AddProductImages(milk.ID, other.bytes[1:3]); !errors.Is(err, ErrTooManyImages) {
		t.Fatalf("two more photos on b: %v, want ErrTooManyImages", err)
	}
	if _, err := b.RemoveProductImage(milk.ID, 3); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removing photo 3 of 2 on b: %v, want ErrNotFound", err)
	}
	if _, err := b.AddProductImages(12345, other.bytes[1:2]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a photo for an unknown product: %v, want ErrNotFound", err)
	}

	// Removed on b: Milk's own photo no longer matches it, on either node.
	before, _ := hitFor(mustSearch(t, a, query(t, e, milkP, 0), 5), milk.ID)
	if got, err = b.RemoveProductImage(milk.ID, 1); err != nil || got.Images != 1 {
		t.Fatalf("removing Milk's first photo on b: %+v, %v", got, err)
	}
	waitUntil(t, 2*time.Second, "the removal on a", func() bool { return images(a) == 1 })
	for name, c := range map[string]*Catalog{"a": a, "b": b} {
		after, _ := hitFor(mustSearch(t, c, query(t, e, milkP, 0), 5), milk.ID)
		if after.Score >= before.Score-0.01 {
			t.Fatalf("%s: Milk's removed photo still matches it: %v, %v before", name, after.Score, before.Score)
		}
		if img, _, err := c.Image(milk.ID, 1); err != nil || !bytes.Equal(img, other.bytes[0]) {
			t.Fatalf("%s: photo 1 is not the added one: %d bytes, %v", name, len(img), err)
		}
	}
	if _, err := a.RemoveProductImage(milk.ID, 1); !errors.Is(err, ErrLastImage) {
		t.Fatalf("removing the only photo: %v, want ErrLastImage", err)
	}
	sameReplicas(t, pg, "catalog", a, b)

	// Applying the change again (a notification and a catch-up crossing) changes nothing.
	vectors := b.Stats().Vectors
	b.lockWrite()
	err = b.applyChangeLocked(context.Background(), change{seq: b.rep.seq, kind: changeProductImages, ref: milk.ID}, 0)
	b.unlockWrite()
	if err != nil || b.Stats().Vectors != vectors || images(b) != 1 {
		t.Fatalf("applied twice: %v, %d vectors (was %d), %d photos", err, b.Stats().Vectors, vectors, images(b))
	}

	// b, closed while photos come and go, catches up at Open from its own files.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddProductImages(milk.ID, other.bytes[1:3]); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RemoveProductImage(milk.ID, 2); err != nil {
		t.Fatal(err)
	}
	b = openReplica(t, dirB, e, url)
	if st := b.Stats(); !st.LoadedFromFile || st.RecordSeq != a.Stats().RecordSeq || images(b) != 2 {
		t.Fatalf("b reopened: from file %v (%s), at change %d (a at %d), %d photos", st.LoadedFromFile, st.RebuildReason, st.RecordSeq, a.Stats().RecordSeq, images(b))
	}
	for i, want := range [][]byte{other.bytes[0], other.bytes[2]} {
		if img, _, err := b.Image(milk.ID, i+1); err != nil || !bytes.Equal(img, want) {
			t.Fatalf("b's photo %d: %d bytes, %v", i+1, len(img), err)
		}
	}
	c := openReplica(t, t.TempDir(), e, url)
	sameReplicas(t, pg, "catalog", a, b, c)

	// Every node scores alike: a and b changed step by step, c copied the record.
	queries := [][]float32{query(t, e, milkP, 0)}
	for i := range other.images {
		queries = append(queries, query(t, e, other, i))
	}
	want := scoresOf(t, a, queries)
	for name, n := range map[string]*Catalog{"b": b, "c": c} {
		sameScores(t, fmt.Sprintf("node %s", name), want, scoresOf(t, n, queries))
	}
}

// Photos added to a product with a catalog of record drop the "none" answers they explain in
// the record's transaction, so every replica drops them: the node that adds the photos and
// the other one, while an unrelated none answer stays everywhere.
func TestRecordProductImagesDropNonesExplained(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	pg := pgtest.Start(t)
	url := pg.CreateDatabase(t, "catalog")
	const dim = 16
	e := vecEmbedder{dim}
	s := newSynthetic(7, dim, 7)
	a := openReplica(t, t.TempDir(), e, url)
	b := openReplica(t, t.TempDir(), e, url)
	for p := range 5 {
		addSynthetic(t, a, s, p, 3)
	}
	// X's only photo shows its other side; crop is a view of X; away, an object unlike any
	// product.
	x := mustAdd(t, a, NewProduct{Name: "X", Images: [][]byte{vecImage(t, s.sample(6))}})
	crop := s.sample(5)
	away := make([]float32, dim)
	for i, v := range s.unit() {
		away[i] = float32(v)
	}
	waitUntil(t, 2*time.Second, "the products on b", func() bool { return b.Stats().Products == 6 })
	for _, n := range []*Catalog{a, b} {
		n.WaitRefit()
		if err := n.Refit(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.AddNone(vecImage(t, crop), OriginCorrection); err != nil {
		t.Fatal(err)
	}
	unrelated, err := a.AddNone(vecImage(t, away), OriginReview)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Second, "the none answers on b", func() bool { return b.Stats().NoneViews == 2 })
	if ev := mustRecognise(t, b, 1, crop); ev.None < ev.Hits[0].Score {
		t.Fatalf("b: the none answer does not block X's view: %+v", ev)
	}

	if _, err := b.AddProductImages(x.ID, [][]byte{vecImage(t, s.sample(5)), vecImage(t, s.sample(5))}); err != nil {
		t.Fatal(err)
	}
	if got := pg.Psql(t, "catalog", "SELECT string_agg(id::text, ',') FROM learned_views"); got != fmt.Sprint(unrelated.ID) {
		t.Fatalf("the record's none answers after adding X's photos: %q, want %d", got, unrelated.ID)
	}
	waitUntil(t, 2*time.Second, "the dropped none answer on a", func() bool { return a.Stats().NoneViews == 1 })
	for name, n := range map[string]*Catalog{"a": a, "b": b} {
		if list, err := n.NoneViews(); err != nil || len(list) != 1 || list[0].ID != unrelated.ID || n.Stats().NoneViews != 1 {
			t.Fatalf("%s: none answers: %+v, %v; want only %d", name, list, err, unrelated.ID)
		}
		waitUntil(t, 2*time.Second, name+": X's new photos", func() bool { return finds(t, n, crop, x.ID) })
		if ev := mustRecognise(t, n, 1, crop); ev.Hits[0].ProductID != x.ID || ev.None >= ev.Hits[0].Score {
			t.Fatalf("%s: X's view after its photos were added: %+v", name, ev)
		}
		if ev := mustRecognise(t, n, 1, away); ev.None < ev.Hits[0].Score {
			t.Fatalf("%s: the unrelated none answer no longer blocks its view: %+v", name, ev)
		}
	}
	sameReplicas(t, pg, "catalog", a, b)
}
