package data

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ebrcs/ebrcs/testkit/pgtest"
)

// BenchmarkReplicaColdStart: a node starting against a catalog database of 10,000 products
// (one photo each, the default embedder's 7 views at dimension 1280: 70,000 vectors), until
// its first recognition:
//
//	go test -run '^$' -bench ReplicaColdStart -benchtime 1x -timeout 30m ./data/
//
// empty-dir copies the database (vectors included: nothing is embedded) and builds the index,
// the prototypes and the adapted fit; restart opens a replica that has its own index file
// and scatter.bin, and applies the 100 products registered on another node while it was down.
func BenchmarkReplicaColdStart(b *testing.B) {
	const products, views = 10_000, 7
	pg := pgtest.Start(b)
	url := pg.CreateDatabase(b, "catalog")
	e := viewsEmbedder{vecEmbedder{benchDim}, views}
	// The schema, through a first node.
	first, err := Open(b.TempDir(), e, Options{RecordURL: url})
	if err != nil {
		b.Fatal(err)
	}
	first.Close()
	start := time.Now()
	fillRecord(b, url, e.Fingerprint(), products, views)
	b.Logf("database filled with %d products, %d vectors in %v", products, products*views, time.Since(start).Round(time.Millisecond))
	probe := benchVectors(0, 1) // product 1's photo

	firstRecognition := func(b *testing.B, dir string) (*Catalog, time.Duration) {
		start := time.Now()
		c, err := Open(dir, e, Options{RecordURL: url, Logger: benchLogger()})
		if err != nil {
			b.Fatal(err)
		}
		ev, err := c.Recognise([][]float32{probe}, 1)
		took := time.Since(start)
		if err != nil || len(ev.Hits) == 0 || ev.Hits[0].ProductID != 1 {
			b.Fatalf("first recognition: %+v, %v", ev, err)
		}
		return c, took
	}
	b.Run("empty-dir", func(b *testing.B) {
		var total time.Duration
		for range b.N {
			c, took := firstRecognition(b, b.TempDir())
			total += took
			c.Close()
		}
		b.ReportMetric(total.Seconds()/float64(b.N), "s-to-first-recognition")
	})
	b.Run("restart", func(b *testing.B) {
		dir := b.TempDir()
		c, _ := firstRecognition(b, dir)
		c.Close()
		other, err := Open(b.TempDir(), e, Options{RecordURL: url})
		if err != nil {
			b.Fatal(err)
		}
		var total time.Duration
		for i := range b.N {
			b.StopTimer()
			for j := range 100 {
				v := benchVectors(products+1000*i+j, products+1000*i+j+1)
				mustAdd(b, other, NewProduct{Name: fmt.Sprintf("late %d-%d", i, j), Images: [][]byte{vecImage(b, v)}})
			}
			b.StartTimer()
			c, took := firstRecognition(b, dir)
			total += took
			if st := c.Stats(); !st.LoadedFromFile || !st.ScatterFromFile {
				b.Fatalf("restart: index from file %v (%s), scatter from file %v", st.LoadedFromFile, st.RebuildReason, st.ScatterFromFile)
			}
			c.Close()
		}
		other.Close()
		b.ReportMetric(total.Seconds()/float64(b.N), "s-to-first-recognition")
	})
}

// benchLogger shows the catalog's progress with EBRCS_BENCH_LOG=1.
func benchLogger() *slog.Logger {
	if os.Getenv("EBRCS_BENCH_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, nil))
}

// fillRecord writes products with one photo and views vectors each straight into the
// record's tables (COPY), as if registered: ids 1..products in a new database.
func fillRecord(b *testing.B, url, fp string, products, views int) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	img := vecImage(b, make([]float32, 8))
	created := time.Now().UTC()
	const chunk = 1000
	for lo := 0; lo < products; lo += chunk {
		hi := min(products, lo+chunk)
		var prows, irows, erows [][]any
		base := benchVectors(lo, hi)
		for p := lo; p < hi; p++ {
			name := fmt.Sprintf("product %05d", p+1)
			prows = append(prows, []any{name, name, created})
			irows = append(irows, []any{int64(p + 1), 1, img, "0", "image/png", 8, 1})
			v := base[(p-lo)*benchDim : (p-lo+1)*benchDim]
			for view := range views {
				w := append([]float32(nil), v...)
				if view > 0 {
					w[view] += 0.05
				}
				var s float64
				for _, f := range w {
					s += float64(f) * float64(f)
				}
				for k := range w {
					w[k] /= float32(math.Sqrt(s))
				}
				erows = append(erows, []any{int64(p + 1), fp, view, encodeVector(w)})
			}
		}
		for _, cp := range []struct {
			table string
			cols  []string
			rows  [][]any
		}{
			{"products", []string{"name", "name_key", "created_at"}, prows},
			{"product_images", []string{"product_id", "position", "data", "sha256", "mime", "width", "height"}, irows},
			{"embeddings", []string{"image_id", "model", "view", "vector"}, erows},
		} {
			if _, err := conn.CopyFrom(ctx, pgx.Identifier{cp.table}, cp.cols, pgx.CopyFromRows(cp.rows)); err != nil {
				b.Fatal(err)
			}
		}
	}
}
