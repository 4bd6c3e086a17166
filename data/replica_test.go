package data

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/testkit/pgtest"
)

// openReplica opens a node's replica of the record at url in dir.
func openReplica(t testing.TB, dir string, e Embedder, url string) *Catalog {
	t.Helper()
	var log bytes.Buffer
	var mu sync.Mutex
	t.Cleanup(func() {
		if t.Failed() {
			mu.Lock()
			t.Logf("the log of the replica in %s:\n%s", dir, log.String())
			mu.Unlock()
		}
	})
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &log}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return openTest(t, dir, e, Options{RecordURL: url, Match: MatchPrototype, Logger: logger,
		Adapt: AdaptOptions{RefitDelay: 50 * time.Millisecond}})
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// waitUntil polls cond every 5 ms and returns how long it took, failing after within.
func waitUntil(t testing.TB, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > within {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

// finds says whether c's best prototype match for v is product id.
func finds(t testing.TB, c *Catalog, v []float32, id int64) bool {
	t.Helper()
	hits, err := c.Search(v, 1)
	if err != nil {
		t.Fatalf("Search: %v", err)
	}
	return len(hits) == 1 && hits[0].ProductID == id
}

// sameReplicas fails unless every catalog lists the same products with the same images
// and vectors, and the record's tables hold exactly those.
func sameReplicas(t testing.TB, pg *pgtest.Server, db string, cats ...*Catalog) {
	t.Helper()
	want := pg.Psql(t, db, `SELECT coalesce(string_agg(p.id || ':' || p.name || ':' ||
		(SELECT count(*) FROM product_images i WHERE i.product_id = p.id), ',' ORDER BY p.id), '') FROM products p`)
	vectors := pg.Psql(t, db, "SELECT count(*) FROM embeddings")
	for i, c := range cats {
		ps, err := c.Products()
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for j, p := range ps {
			if j > 0 {
				got += ","
			}
			got += fmt.Sprintf("%d:%s:%d", p.ID, p.Name, p.Images)
		}
		if got != want {
			t.Fatalf("replica %d lists %q, the database %q", i, got, want)
		}
		if n := fmt.Sprint(c.Stats().Vectors); n != vectors {
			t.Fatalf("replica %d indexes %s vectors, the database holds %s", i, n, vectors)
		}
	}
}

// Two nodes' replicas of one PostgreSQL record: changes made on either reach the other
// through LISTEN/NOTIFY and the change feed; the record going away refuses writes with
// ErrCatalogUnavailable and leaves search running; a node closed while changes are made
// catches up when it opens again.
func TestRecordReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	pg := pgtest.Start(t)
	url := pg.CreateDatabase(t, "catalog")
	e := newGridEmbedder(4)
	dirB := t.TempDir()
	a := openReplica(t, t.TempDir(), e, url)
	b := openReplica(t, dirB, e, url)

	// Added on a: searchable on a when AddProduct returns, on b soon after.
	var prods []testProduct
	var ids []int64
	for i := range 5 {
		p := makeProduct(t, fmt.Sprintf("Product %d", i), uint64(i+1), 2, false)
		got := mustAdd(t, a, p.new())
		if !finds(t, a, query(t, e, p, 0), got.ID) {
			t.Fatalf("%s is not found on the node that added it", p.name)
		}
		took := waitUntil(t, 2*time.Second, p.name+" on b", func() bool { return finds(t, b, query(t, e, p, 0), got.ID) })
		t.Logf("%s: on the other node after %v", p.name, took.Round(time.Millisecond))
		prods, ids = append(prods, p), append(ids, got.ID)
	}
	if _, err := b.AddProduct(prods[0].new()); !errors.Is(err, ErrDuplicateName) {
		t.Fatalf("the same name on the other node: %v, want ErrDuplicateName", err)
	}

	// Learned views and "none" answers travel too.
	if _, err := b.AddLearnedView(ids[1], prods[1].bytes[1], OriginReview); err != nil {
		t.Fatal(err)
	}
	wrong, err := b.AddLearnedView(ids[2], prods[1].bytes[0], OriginCorrection)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddNone(pngBytes(t, blockImage(999, 64, 64)), OriginReview); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Second, "learned views on both", func() bool {
		sa, sb := a.Stats(), b.Stats()
		return sa.LearnedViews == 2 && sb.LearnedViews == 2 && sa.NoneViews == 1 && sb.NoneViews == 1
	})
	if err := a.RemoveLearnedView(wrong.ID); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Second, "the wrong answer gone from b", func() bool { return b.Stats().LearnedViews == 1 })
	if views, err := b.LearnedViews(ids[1]); err != nil || len(views) != 1 || views[0].Origin != OriginReview {
		t.Fatalf("b's learned views of %s: %+v, %v", prods[1].name, views, err)
	}

	// Edited on a: renamed on b, in its list and in what its searches report.
	price := int64(199)
	if _, err := a.UpdateProduct(ids[2], "Renamed", "SKU-2", &price); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Second, "the new name on b", func() bool {
		p, err := b.Product(ids[2])
		hits, _ := b.Search(query(t, e, prods[2], 0), 1)
		return err == nil && p.Name == "Renamed" && p.SKU == "SKU-2" && *p.PriceCents == 199 && len(hits) == 1 && hits[0].Name == "Renamed"
	})
	if _, err := b.UpdateProduct(ids[3], "renamed", "", nil); !errors.Is(err, ErrDuplicateName) {
		t.Fatalf("another product's name: %v, want ErrDuplicateName", err)
	}
	prods[2].name = "Renamed"

	// Removed on b: gone from a.
	if err := b.RemoveProduct(ids[4]); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 2*time.Second, "the removal on a", func() bool { return !finds(t, a, query(t, e, prods[4], 0), ids[4]) })
	if err := a.RemoveProduct(ids[4]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removing it again: %v, want ErrNotFound", err)
	}

	// Purchases are the record's: recorded once whichever node confirms.
	if _, err := a.RecordPurchase("s1", []PurchaseItem{{ProductID: ids[0], Product: prods[0].name, Quantity: 2, Score: 0.9}}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.RecordPurchase("s1", []PurchaseItem{{Product: "x", Quantity: 1}}); !errors.Is(err, ErrAlreadyConfirmed) {
		t.Fatalf("the same session on the other node: %v, want ErrAlreadyConfirmed", err)
	}
	if p, err := b.PurchaseBySession("s1"); err != nil || len(p.Items) != 1 || p.Items[0].Quantity != 2 || p.Items[0].ProductID != ids[0] {
		t.Fatalf("the purchase read on the other node: %+v, %v", p, err)
	}
	// So is the history: every node's decisions and prices in one place.
	rec, err := a.RecordCount(CountRecord{SessionID: "s1", ProductID: ids[0], Product: prods[0].name, Score: 0.9, Decision: DecisionCount}, []byte("jpeg"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.RecordCount(CountRecord{SessionID: "s9", Station: "cam", Decision: DecisionUnknown}, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Counts(HistoryFilter{ProductID: ids[0]}); err != nil || len(got) != 1 || got[0].ID != rec.ID || !got[0].HasCrop {
		t.Fatalf("the count read on the other node: %+v, %v", got, err)
	}
	if got, err := a.Counts(HistoryFilter{Station: "cam"}); err != nil || len(got) != 1 || got[0].Decision != DecisionUnknown {
		t.Fatalf("the station's decisions: %+v, %v", got, err)
	}
	if crop, _, err := b.CountCrop(rec.ID); err != nil || string(crop) != "jpeg" {
		t.Fatalf("the crop read on the other node: %q, %v", crop, err)
	}
	p1, _ := a.PurchaseBySession("s1")
	unit := int64(250)
	if err := a.RecordPurchasePrices(p1.ID, []*int64{&unit}, "EUR"); err != nil {
		t.Fatal(err)
	}
	if got, err := b.PurchaseHistory(HistoryFilter{Product: prods[0].name}); err != nil || len(got) != 1 || got[0].TotalCents != 500 || got[0].Currency != "EUR" {
		t.Fatalf("the priced purchase read on the other node: %+v, %v", got, err)
	}
	if n, err := b.PruneHistory(time.Now().Add(time.Hour)); err != nil || n != 2 {
		t.Fatalf("pruning: %d, %v; want 2", n, err)
	}
	sameReplicas(t, pg, "catalog", a, b)

	// The record killed: writes are refused, naming the cause; searches go on.
	pg.Kill()
	late := makeProduct(t, "Late", 77, 2, false)
	if _, err := a.AddProduct(late.new()); !errors.Is(err, ErrCatalogUnavailable) {
		t.Fatalf("AddProduct with the database down: %v, want ErrCatalogUnavailable", err)
	}
	if err := a.RemoveProduct(ids[0]); !errors.Is(err, ErrCatalogUnavailable) {
		t.Fatalf("RemoveProduct with the database down: %v, want ErrCatalogUnavailable", err)
	}
	if _, err := a.RecordPurchase("s2", []PurchaseItem{{Product: "x", Quantity: 1}}); !errors.Is(err, ErrCatalogUnavailable) {
		t.Fatalf("RecordPurchase with the database down: %v, want ErrCatalogUnavailable", err)
	}
	for i := range 4 {
		if !finds(t, a, query(t, e, prods[i], 0), ids[i]) || !finds(t, b, query(t, e, prods[i], 0), ids[i]) {
			t.Fatalf("%s is not found with the database down", prods[i].name)
		}
	}
	waitUntil(t, 5*time.Second, "both nodes see the database gone", func() bool {
		return !a.Stats().RecordConnected && !b.Stats().RecordConnected
	})

	// A node starting with the database down serves its replica as it was.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = openReplica(t, dirB, e, url)
	if st := b.Stats(); st.RecordConnected || st.Products != 4 || !finds(t, b, query(t, e, prods[3], 0), ids[3]) {
		t.Fatalf("b started with the database down: connected %v, %d products", st.RecordConnected, st.Products)
	}

	// Back: both reconnect and catch up with what is made then.
	pg.Start(t)
	waitUntil(t, 5*time.Second, "a and b reconnect", func() bool { return a.Stats().RecordConnected && b.Stats().RecordConnected })
	got := mustAdd(t, a, late.new())
	waitUntil(t, 2*time.Second, "the late product on b", func() bool { return finds(t, b, query(t, e, late, 0), got.ID) })

	// b, closed while a product comes and one goes, catches up at Open from its own index file.
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	later := makeProduct(t, "Later", 78, 1, false)
	gotLater := mustAdd(t, a, later.new())
	if err := a.RemoveProduct(ids[3]); err != nil {
		t.Fatal(err)
	}
	// Two products swap names (through a third): b, catching up, applies each change with
	// the database's current row, which is ahead of its own for the other product.
	for _, step := range []struct {
		id   int64
		name string
	}{{ids[0], "Swap"}, {ids[1], prods[0].name}, {ids[0], prods[1].name}} {
		if _, err := a.UpdateProduct(step.id, step.name, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	prods[0].name, prods[1].name = prods[1].name, prods[0].name
	b = openReplica(t, dirB, e, url)
	if !finds(t, b, query(t, e, later, 0), gotLater.ID) || finds(t, b, query(t, e, prods[3], 0), ids[3]) {
		t.Fatal("b reopened has not caught up with the changes made while it was closed")
	}
	if st := b.Stats(); !st.LoadedFromFile || st.RecordSeq != a.Stats().RecordSeq {
		t.Fatalf("b reopened: loaded from file %v (%s), at change %d, a at %d", st.LoadedFromFile, st.RebuildReason, st.RecordSeq, a.Stats().RecordSeq)
	}
	if !finds(t, b, query(t, e, late, 0), got.ID) {
		t.Fatal("the product added while b was closed is not found on b")
	}
	sameReplicas(t, pg, "catalog", a, b)

	// A third node starting on an empty directory copies the record, embedding nothing.
	calls := e.calls.Load()
	c := openReplica(t, t.TempDir(), e, url)
	if e.calls.Load() != calls {
		t.Fatal("a new node embedded images instead of copying the vectors")
	}
	if st := c.Stats(); !st.LoadedFromFile || !st.ScatterFromFile {
		t.Fatalf("the copy's index and scatter were not taken from the files it wrote: %q, scatter %v", st.RebuildReason, st.ScatterFromFile)
	}
	sameReplicas(t, pg, "catalog", a, b, c)
	// The same scores as a node whose statistics grew change by change.
	a.WaitRefit()
	if err := a.Refit(); err != nil {
		t.Fatal(err)
	}
	for i, p := range prods[:3] {
		q := [][]float32{query(t, e, p, 1)}
		ea, err1 := a.Recognise(q, 3)
		ec, err2 := c.Recognise(q, 3)
		if err1 != nil || err2 != nil || len(ea.Hits) != len(ec.Hits) || ea.Adapted != ec.Adapted {
			t.Fatalf("product %d: a %+v %v, c %+v %v", i, ea, err1, ec, err2)
		}
		for j := range ea.Hits {
			if ea.Hits[j].ProductID != ec.Hits[j].ProductID || math.Abs(float64(ea.Hits[j].Score-ec.Hits[j].Score)) > 1e-4 {
				t.Fatalf("product %d: a scores %+v, the copy %+v", i, ea.Hits, ec.Hits)
			}
		}
	}
	if ev, err := c.Recognise([][]float32{query(t, e, prods[2], 1)}, 1); err != nil || len(ev.Hits) == 0 || ev.Hits[0].ProductID != ids[2] {
		t.Fatalf("Recognise on the new node: %+v, %v", ev, err)
	}
}
