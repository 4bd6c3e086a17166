package recognition

import (
	"fmt"
	"image"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/data"
)

// BenchmarkRegisterProduct registers a product with 5 real photos (GroceryStore, 348×348
// JPEG) with the default embedder — every photo embedded with its 4 catalog views — and
// checks it is searchable: the admin's "add a product" until the recogniser finds it (the
// original system took about 2 minutes).
//
//	go test ./recognition -run '^$' -bench RegisterProduct -benchtime 10x
func BenchmarkRegisterProduct(b *testing.B) {
	photos, _ := filepath.Glob("../../shared/datasets/grocery-store/dataset/train/Packages/Milk/Arla-Standard-Milk/*.jpg")
	if len(photos) < 5 {
		b.Skip("needs ../shared/datasets (GroceryStore)")
	}
	var images [][]byte
	for _, p := range photos[:5] {
		raw, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		images = append(images, raw)
	}
	defer CloseAll()
	emb, err := OpenEmbedder("", "../models")
	if err != nil {
		b.Fatal(err)
	}
	cat, err := data.Open(b.TempDir(), emb.Hybrid, data.Options{MaxImages: 5})
	if err != nil {
		b.Fatal(err)
	}
	defer cat.Close()
	query, err := LoadImage(photos[5])
	if err != nil {
		b.Fatal(err)
	}
	qv, err := emb.EmbedQueries([]image.Image{query})
	if err != nil {
		b.Fatal(err)
	}
	var worst time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		p, err := cat.AddProduct(data.NewProduct{Name: fmt.Sprintf("Milk %d", i), Images: images})
		if err != nil {
			b.Fatal(err)
		}
		hits, err := cat.Search(qv[0], 50)
		if err != nil {
			b.Fatal(err)
		}
		found := false
		for _, h := range hits {
			found = found || h.ProductID == p.ID
		}
		if !found {
			b.Fatalf("product %d not searchable after AddProduct", p.ID)
		}
		worst = max(worst, time.Since(start))
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/product")
	b.ReportMetric(float64(worst.Milliseconds()), "worst-ms")
	b.ReportMetric(0, "ns/op")
}
