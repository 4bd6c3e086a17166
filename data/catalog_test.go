package data

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestAddSearchRemove(t *testing.T) {
	emb := newGridEmbedder(4)
	c := openTest(t, t.TempDir(), emb, Options{})
	price := int64(129)
	milkSrc := makeProduct(t, "Milk 1L", 1, 3, true)
	np := milkSrc.new()
	np.SKU, np.PriceCents = "MLK-1", &price
	milk := mustAdd(t, c, np)
	bread := makeProduct(t, "Bread", 2, 2, false)
	breadP := mustAdd(t, c, bread.new())
	eggs := makeProduct(t, "Eggs", 3, 1, false)
	eggsP := mustAdd(t, c, eggs.new())

	if c.Len() != (3+2+1)*2 {
		t.Fatalf("Len = %d, want 12 (6 images × 2 views)", c.Len())
	}
	for _, tc := range []struct {
		p  testProduct
		id int64
	}{{milkSrc, milk.ID}, {bread, breadP.ID}, {eggs, eggsP.ID}} {
		for i := range tc.p.images {
			hits := mustSearch(t, c, query(t, emb, tc.p, i), 3)
			if len(hits) != 3 || hits[0].ProductID != tc.id || hits[0].Name != tc.p.name {
				t.Fatalf("%s image %d: hits %+v", tc.p.name, i, hits)
			}
			if hits[0].Score < 0.999 || hits[0].Score > 1.001 {
				t.Fatalf("%s image %d: own image scores %v, want ≈1", tc.p.name, i, hits[0].Score)
			}
		}
	}

	got, err := c.Product(milk.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "Milk 1L" || got.SKU != "MLK-1" || got.PriceCents == nil || *got.PriceCents != 129 ||
		got.Images != 3 || !got.CreatedAt.Equal(milk.CreatedAt) || time.Since(got.CreatedAt) > time.Minute {
		t.Fatalf("Product = %+v, added %+v", got, milk)
	}
	if byName, err := c.ProductByName("  MILK 1l "); err != nil || byName.ID != milk.ID {
		t.Fatalf("ProductByName: %+v, %v", byName, err)
	}
	if p, err := c.Product(eggsP.ID); err != nil || p.SKU != "" || p.PriceCents != nil {
		t.Fatalf("Product without SKU/price: %+v, %v", p, err)
	}
	data, mime, err := c.Image(milk.ID, 2)
	if err != nil || mime != "image/jpeg" || !bytes.Equal(data, milkSrc.bytes[1]) {
		t.Fatalf("Image(milk, 2): mime %q, %d bytes, %v", mime, len(data), err)
	}
	if _, mime, _ := c.Image(milk.ID, 1); mime != "image/png" {
		t.Fatalf("Image(milk, 1) mime %q", mime)
	}
	if _, _, err := c.Image(milk.ID, 4); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Image(milk, 4): %v", err)
	}
	list, err := c.Products()
	if err != nil || len(list) != 3 || list[0].ID != milk.ID || list[2].Name != "Eggs" {
		t.Fatalf("Products = %+v, %v", list, err)
	}

	if err := c.RemoveProduct(milk.ID); err != nil {
		t.Fatal(err)
	}
	if c.Len() != 6 {
		t.Fatalf("Len after remove = %d, want 6", c.Len())
	}
	for i := range milkSrc.images {
		for _, h := range mustSearch(t, c, query(t, emb, milkSrc, i), 10) {
			if h.ProductID == milk.ID {
				t.Fatalf("removed product returned: %+v", h)
			}
		}
	}
	if _, err := c.Product(milk.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Product(removed): %v", err)
	}
	if _, err := c.ProductByName("milk 1l"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ProductByName(removed): %v", err)
	}
	if _, _, err := c.Image(milk.ID, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Image(removed): %v", err)
	}
	if err := c.RemoveProduct(milk.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RemoveProduct twice: %v", err)
	}
	// The images and vectors went with the product (foreign keys with ON DELETE CASCADE).
	if n := counts(t, c); n.products != 2 || n.images != 3 || n.embeddings != 6 {
		t.Fatalf("rows after remove: %+v", n)
	}
	// The name is free again.
	mustAdd(t, c, milkSrc.new())
}

func TestSearchReturnsDistinctProducts(t *testing.T) {
	emb := newGridEmbedder(4)
	c := openTest(t, t.TempDir(), emb, Options{})
	var ps []testProduct
	for i := range 10 {
		p := makeProduct(t, "product "+string(rune('A'+i)), uint64(10+i), 3, false)
		mustAdd(t, c, p.new())
		ps = append(ps, p)
	}
	q := query(t, emb, ps[4], 0)
	for _, k := range []int{1, 5, 10, 50} {
		hits := mustSearch(t, c, q, k)
		want := min(k, 10)
		if len(hits) != want {
			t.Fatalf("k=%d: %d hits, want %d", k, len(hits), want)
		}
		seen := map[int64]bool{}
		for i, h := range hits {
			if seen[h.ProductID] {
				t.Fatalf("k=%d: product %d twice: %+v", k, h.ProductID, hits)
			}
			seen[h.ProductID] = true
			if i > 0 && h.Score > hits[i-1].Score {
				t.Fatalf("k=%d: not best first: %+v", k, hits)
			}
		}
		if hits[0].Name != ps[4].name {
			t.Fatalf("k=%d: best hit %+v, want %s", k, hits[0], ps[4].name)
		}
	}
	// A product's score is its best vector's: check against brute force over the stored
	// vectors, and the order of all 10 products.
	best := map[int64]float32{}
	rows, err := c.db.Query(`SELECT i.product_id, e.vector FROM embeddings e JOIN product_images i ON i.id = e.image_id`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var pid int64
		var b []byte
		rows.Scan(&pid, &b)
		v, _ := decodeVectorInto(nil, b, emb.Dim())
		var dot float32
		for i := range v {
			dot += v[i] * q[i]
		}
		if s, ok := best[pid]; !ok || dot > s {
			best[pid] = dot
		}
	}
	rows.Close()
	hits := mustSearch(t, c, q, 10)
	for i, h := range hits {
		if d := h.Score - best[h.ProductID]; d > 1e-4 || d < -1e-4 {
			t.Fatalf("hit %+v, brute-force best %v", h, best[h.ProductID])
		}
		if i > 0 && best[h.ProductID] > best[hits[i-1].ProductID]+1e-6 {
			t.Fatalf("order: %+v", hits)
		}
	}
	if _, err := c.Search(q, 0); err == nil {
		t.Fatal("Search k=0: no error")
	}
	if _, err := c.Search(q[:10], 3); !errors.Is(err, ErrDimension) {
		t.Fatalf("Search with a short vector: %v", err)
	}
	if _, err := c.Search(make([]float32, emb.Dim()), 3); err == nil {
		t.Fatal("Search with the zero vector: no error")
	}
}

func TestDuplicateNames(t *testing.T) {
	emb := newGridEmbedder(4)
	c := openTest(t, t.TempDir(), emb, Options{})
	mustAdd(t, c, makeProduct(t, "Milk", 1, 1, false).new())
	mustAdd(t, c, makeProduct(t, "Café", 2, 1, false).new())
	mustAdd(t, c, makeProduct(t, "Straße", 3, 1, false).new())
	before, lenBefore := counts(t, c), c.Len()
	for _, name := range []string{"Milk", "milk", "  MILK\t", "Cafe\u0301", "CAFÉ", "STRASSE"} {
		_, err := c.AddProduct(makeProduct(t, name, 9, 1, false).new())
		if !errors.Is(err, ErrDuplicateName) {
			t.Fatalf("AddProduct(%q): %v, want ErrDuplicateName", name, err)
		}
	}
	if after := counts(t, c); after != before || c.Len() != lenBefore {
		t.Fatalf("a refused duplicate changed the catalog: %+v → %+v", before, after)
	}

	// Two admins racing past the early check: the UNIQUE index lets exactly one in.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.AddProduct(makeProduct(t, "Butter", uint64(20+i), 2, false).new())
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, ErrDuplicateName):
			t.Fatalf("racing add: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d racing adds of the same name succeeded", ok)
	}
	if got := counts(t, c); got.products != before.products+1 || got.embeddings != before.embeddings+4 {
		t.Fatalf("after racing adds: %+v", got)
	}
}

// bombPNG is a valid PNG signature and IHDR chunk declaring w×h pixels, with no pixel data.
func bombPNG(w, h uint32) []byte {
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8-bit RGB
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	binary.Write(&b, binary.BigEndian, uint32(len(ihdr)))
	chunk := append([]byte("IHDR"), ihdr...)
	b.Write(chunk)
	binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(chunk))
	return b.Bytes()
}

func TestBadImagesRefused(t *testing.T) {
	emb := newGridEmbedder(4)
	c := openTest(t, t.TempDir(), emb, Options{})
	mustAdd(t, c, makeProduct(t, "Existing", 1, 2, false).new())
	good := pngBytes(t, blockImage(7, 64, 64))
	jpg := jpegBytes(t, blockImage(8, 64, 64))
	bmp := append([]byte("BM"), make([]byte, 60)...)
	for _, tc := range []struct {
		name, reason string
		data         []byte
	}{
		{"zero bytes", "zero bytes", []byte{}},
		{"nil", "zero bytes", nil},
		{"not an image", "not an image", []byte("this is a text file, not a photo")},
		{"truncated JPEG", "corrupt or truncated", jpg[:len(jpg)-64]},
		{"truncated PNG", "corrupt or truncated", good[:len(good)-40]},
		{"JPEG header only", "corrupt image header", jpg[:20]},
		{"too many pixels", "too many pixels", bombPNG(100000, 100000)},
		{"BMP", "unsupported format BMP", bmp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, calls := counts(t, c), emb.calls.Load()
			_, err := c.AddProduct(NewProduct{Name: "New " + tc.name, Images: [][]byte{good, tc.data, good}})
			var ie *ImageError
			if !errors.As(err, &ie) {
				t.Fatalf("err = %v, want *ImageError", err)
			}
			if ie.Index != 1 || !strings.Contains(ie.Reason, tc.reason) {
				t.Fatalf("ImageError{Index: %d, Reason: %q}, want index 1 and %q", ie.Index, ie.Reason, tc.reason)
			}
			if after := counts(t, c); after != before {
				t.Fatalf("catalog changed: %+v → %+v", before, after)
			}
			if emb.calls.Load() != calls {
				t.Fatal("images were embedded although one was refused")
			}
			if c.Len() != 4 {
				t.Fatalf("Len = %d", c.Len())
			}
		})
	}

	// The declared size is refused from the header alone, without decoding: a real image
	// above a small MaxPixels says "too many pixels", not a decoding problem.
	small := openTest(t, t.TempDir(), emb, Options{MaxPixels: 1000})
	_, err := small.AddProduct(NewProduct{Name: "Big", Images: [][]byte{good}})
	var ie *ImageError
	if !errors.As(err, &ie) || ie.Index != 0 || !strings.Contains(ie.Reason, "64×64 = 4096") {
		t.Fatalf("MaxPixels 1000, 64×64 image: %v", err)
	}
	// MaxImageBytes.
	tiny := openTest(t, t.TempDir(), emb, Options{MaxImageBytes: 100})
	if _, err := tiny.AddProduct(NewProduct{Name: "Big", Images: [][]byte{good}}); !errors.As(err, &ie) ||
		!strings.Contains(ie.Reason, "too large") {
		t.Fatalf("MaxImageBytes 100: %v", err)
	}
}

func TestImageFormats(t *testing.T) {
	emb := newGridEmbedder(4)
	c := openTest(t, t.TempDir(), emb, Options{MaxImages: 4})
	webp, err := os.ReadFile("testdata/gopher.lossless.webp") // from golang.org/x/image (BSD)
	if err != nil {
		t.Fatal(err)
	}
	img := blockImage(5, 48, 32)
	p := mustAdd(t, c, NewProduct{Name: "Formats", Images: [][]byte{pngBytes(t, img), jpegBytes(t, img), gifBytes(t, img), webp}})
	for pos, want := range []string{"image/png", "image/jpeg", "image/gif", "image/webp"} {
		if _, mime, err := c.Image(p.ID, pos+1); err != nil || mime != want {
			t.Fatalf("image %d: %q, %v; want %s", pos+1, mime, err, want)
		}
	}
	var w, h int
	if err := c.db.QueryRow("SELECT width, height FROM product_images WHERE product_id = ? AND position = 1", p.ID).Scan(&w, &h); err != nil || w != 48 || h != 32 {
		t.Fatalf("stored size %d×%d, %v", w, h, err)
	}
	var sum string
	if err := c.db.QueryRow("SELECT sha256 FROM product_images WHERE product_id = ? AND position = 4", p.ID).Scan(&sum); err != nil ||
		sum != sha256Hex(webp) {
		t.Fatalf("sha256 %q, %v", sum, err)
	}
}

func TestImageCountLimits(t *testing.T) {
	emb := newGridEmbedder(4)
	c := openTest(t, t.TempDir(), emb, Options{})
	p := makeProduct(t, "Four", 1, 4, false)
	if _, err := c.AddProduct(p.new()); !errors.Is(err, ErrTooManyImages) {
		t.Fatalf("4 images with the default limit of 3: %v", err)
	}
	if _, err := c.AddProduct(NewProduct{Name: "None"}); !errors.Is(err, ErrNoImages) {
		t.Fatalf("no images: %v", err)
	}
	if n := counts(t, c); n.products != 0 || n.generation != 0 {
		t.Fatalf("refused products changed the catalog: %+v", n)
	}
	five := openTest(t, t.TempDir(), emb, Options{MaxImages: 5})
	if got := mustAdd(t, five, makeProduct(t, "Five", 2, 5, false).new()); got.Images != 5 {
		t.Fatalf("Images = %d", got.Images)
	}
}

func TestFieldValidation(t *testing.T) {
	emb := newGridEmbedder(4)
	c := openTest(t, t.TempDir(), emb, Options{})
	img := [][]byte{pngBytes(t, blockImage(1, 32, 32))}
	neg := int64(-1)
	for _, tc := range []struct {
		p    NewProduct
		want error
	}{
		{NewProduct{Name: "", Images: img}, ErrInvalidName},
		{NewProduct{Name: "   \t ", Images: img}, ErrInvalidName},
		{NewProduct{Name: strings.Repeat("é", 201), Images: img}, ErrInvalidName},
		{NewProduct{Name: "Milk\nEggs", Images: img}, ErrInvalidName},
		{NewProduct{Name: "Milk\x00", Images: img}, ErrInvalidName},
		{NewProduct{Name: "Mi\u0085lk", Images: img}, ErrInvalidName},
		{NewProduct{Name: "bad \xff utf8", Images: img}, ErrInvalidName},
		{NewProduct{Name: "ok", SKU: "A\tB", Images: img}, ErrInvalidSKU},
		{NewProduct{Name: "ok", SKU: strings.Repeat("9", 65), Images: img}, ErrInvalidSKU},
		{NewProduct{Name: "ok", PriceCents: &neg, Images: img}, ErrInvalidPrice},
	} {
		if _, err := c.AddProduct(tc.p); !errors.Is(err, tc.want) {
			t.Errorf("AddProduct(%q, sku %q): %v, want %v", tc.p.Name, tc.p.SKU, err, tc.want)
		}
	}
	if n := counts(t, c); n.products != 0 {
		t.Fatalf("invalid products were written: %+v", n)
	}
	long := strings.Repeat("é", 200)
	if p := mustAdd(t, c, NewProduct{Name: "  " + long + "  ", Images: img}); p.Name != long {
		t.Fatalf("name not trimmed: %q", p.Name)
	}
}

func TestEmbedderFailureLeavesNothing(t *testing.T) {
	emb := newGridEmbedder(4)
	c := openTest(t, t.TempDir(), emb, Options{})
	mustAdd(t, c, makeProduct(t, "First", 1, 1, false).new())
	before := counts(t, c)
	p := makeProduct(t, "Second", 2, 3, false)
	target := p.images[2].(*image.RGBA)
	emb.fail = func(img image.Image) bool {
		r, _, _, _ := img.At(0, 0).RGBA()
		tr, _, _, _ := target.At(0, 0).RGBA()
		return r == tr && img.Bounds() == target.Bounds()
	}
	if _, err := c.AddProduct(p.new()); err == nil || !strings.Contains(err.Error(), "embed image 2") {
		t.Fatalf("err = %v", err)
	}
	emb.fail = nil
	if after := counts(t, c); after != before || c.Len() != 2 {
		t.Fatalf("failed add changed the catalog: %+v → %+v, Len %d", before, after, c.Len())
	}
	mustAdd(t, c, p.new())
}

func TestEmptyCatalog(t *testing.T) {
	dir := t.TempDir()
	emb := newGridEmbedder(4)
	c := openTest(t, dir, emb, Options{})
	hits, err := c.Search(query(t, emb, makeProduct(t, "x", 1, 1, false), 0), 5)
	if err != nil || hits == nil || len(hits) != 0 {
		t.Fatalf("Search on empty catalog: %v, %v", hits, err)
	}
	if c.Len() != 0 {
		t.Fatal("Len != 0")
	}
	if list, err := c.Products(); err != nil || len(list) != 0 {
		t.Fatalf("Products: %v, %v", list, err)
	}
	if _, err := c.Product(1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Product(1): %v", err)
	}
	if err := c.RemoveProduct(1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("RemoveProduct(1): %v", err)
	}
	if c.Fingerprint() != emb.fp {
		t.Fatal("Fingerprint")
	}
	c.Close()
	c2 := openTest(t, dir, emb, Options{})
	if st := c2.Stats(); !st.LoadedFromFile || st.Vectors != 0 {
		t.Fatalf("reopened empty catalog: %+v", st)
	}
	if hits := mustSearch(t, c2, query(t, emb, makeProduct(t, "x", 1, 1, false), 0), 1); len(hits) != 0 {
		t.Fatal(hits)
	}
}

func TestPersistenceAcrossOpen(t *testing.T) {
	dir := t.TempDir()
	emb := newGridEmbedder(4)
	c := openTest(t, dir, emb, Options{})
	if st := c.Stats(); st.LoadedFromFile || st.RebuildReason != "no index file" {
		t.Fatalf("first Open: %+v", st)
	}
	var ps []testProduct
	var ids []int64
	for i := range 5 {
		p := makeProduct(t, "p"+string(rune('0'+i)), uint64(i+1), 2, true)
		ps = append(ps, p)
		ids = append(ids, mustAdd(t, c, p.new()).ID)
	}
	c.RemoveProduct(ids[1])
	gen := c.Stats().Generation
	c.Close()

	c = openTest(t, dir, emb, Options{})
	st := c.Stats()
	if !st.LoadedFromFile || st.RebuildReason != "" || st.Vectors != 16 || st.Generation != gen || st.IndexKind != IndexFlat {
		t.Fatalf("reopen: %+v", st)
	}
	for i, p := range ps {
		hits := mustSearch(t, c, query(t, emb, p, 1), 1)
		if i == 1 {
			if hits[0].ProductID == ids[1] {
				t.Fatal("removed product found after reopen")
			}
			continue
		}
		if hits[0].ProductID != ids[i] || hits[0].Score < 0.999 {
			t.Fatalf("after reopen, %s: %+v", p.name, hits)
		}
	}
}

// TestStaleIndexRebuilt damages the derived index in every way a crash, a restore or a disk
// can, and checks that Open notices, rebuilds from the database, and finds everything.
func TestStaleIndexRebuilt(t *testing.T) {
	emb := newGridEmbedder(4)
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string)
		reason string
	}{
		{"index deleted", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, indexFile)) }, "no such file"},
		{"both deleted", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, indexFile))
			os.Remove(filepath.Join(dir, sidecarFile))
		}, "no index file"},
		{"sidecar deleted", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, sidecarFile)) }, "without sidecar"},
		{"index truncated", func(t *testing.T, dir string) {
			st, _ := os.Stat(filepath.Join(dir, indexFile))
			os.Truncate(filepath.Join(dir, indexFile), st.Size()/2)
		}, "bytes, sidecar says"},
		{"index truncated, sidecar agreeing", func(t *testing.T, dir string) {
			path := filepath.Join(dir, indexFile)
			st, _ := os.Stat(path)
			os.Truncate(path, st.Size()-100)
			b, _ := os.ReadFile(filepath.Join(dir, sidecarFile))
			b = bytes.Replace(b, []byte(`"index_bytes": `+itoa(st.Size())), []byte(`"index_bytes": `+itoa(st.Size()-100)), 1)
			os.WriteFile(filepath.Join(dir, sidecarFile), b, 0o644)
		}, "read index"},
		{"index garbage", func(t *testing.T, dir string) {
			path := filepath.Join(dir, indexFile)
			st, _ := os.Stat(path)
			os.WriteFile(path, bytes.Repeat([]byte{0x5a}, int(st.Size())), 0o644)
		}, "read index"},
		{"sidecar corrupt", func(t *testing.T, dir string) {
			os.WriteFile(filepath.Join(dir, sidecarFile), []byte("{not json"), 0o644)
		}, "corrupt sidecar"},
		{"generation bumped behind its back", func(t *testing.T, dir string) {
			execDB(t, dir, "UPDATE catalog_state SET generation = generation + 1")
		}, "stale"},
		{"index of another catalog", func(t *testing.T, dir string) {
			execDB(t, dir, "UPDATE catalog_state SET catalog_id = 'someone-else'")
		}, "another catalog"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := openTest(t, dir, emb, Options{})
			var ps []testProduct
			var ids []int64
			for i := range 4 {
				p := makeProduct(t, "p"+string(rune('0'+i)), uint64(i+1), 2, false)
				ps = append(ps, p)
				ids = append(ids, mustAdd(t, c, p.new()).ID)
			}
			c.Close()
			tc.damage(t, dir)
			c = openTest(t, dir, emb, Options{})
			st := c.Stats()
			if st.LoadedFromFile || !strings.Contains(st.RebuildReason, tc.reason) || st.Vectors != 16 {
				t.Fatalf("Stats = %+v, want a rebuild because %q", st, tc.reason)
			}
			for i, p := range ps {
				if hits := mustSearch(t, c, query(t, emb, p, 0), 1); hits[0].ProductID != ids[i] || hits[0].Score < 0.999 {
					t.Fatalf("%s: %+v", p.name, hits)
				}
			}
			c.Close()
			// The rebuilt index was saved: the next Open loads it.
			c = openTest(t, dir, emb, Options{})
			if st := c.Stats(); !st.LoadedFromFile {
				t.Fatalf("after the rebuild, the next Open did not load the file: %+v", st)
			}
		})
	}
}

// TestCrashBetweenCommitAndIndexWrite simulates a crash after a product's transaction
// committed but before the index file was written: the old index files come back.
func TestCrashBetweenCommitAndIndexWrite(t *testing.T) {
	dir := t.TempDir()
	emb := newGridEmbedder(4)
	c := openTest(t, dir, emb, Options{})
	a := makeProduct(t, "A", 1, 2, false)
	mustAdd(t, c, a.new())
	oldIndex, _ := os.ReadFile(filepath.Join(dir, indexFile))
	oldSidecar, _ := os.ReadFile(filepath.Join(dir, sidecarFile))
	b := makeProduct(t, "B", 2, 2, false)
	bp := mustAdd(t, c, b.new())
	c.Close()
	os.WriteFile(filepath.Join(dir, indexFile), oldIndex, 0o644)
	os.WriteFile(filepath.Join(dir, sidecarFile), oldSidecar, 0o644)

	c = openTest(t, dir, emb, Options{})
	if st := c.Stats(); st.LoadedFromFile || !strings.Contains(st.RebuildReason, "stale") {
		t.Fatalf("Stats = %+v", st)
	}
	if hits := mustSearch(t, c, query(t, emb, b, 1), 1); hits[0].ProductID != bp.ID {
		t.Fatalf("product committed before the crash not found: %+v", hits)
	}
}

func TestModelChangeReembeds(t *testing.T) {
	dir := t.TempDir()
	v1 := newGridEmbedder(4)
	c := openTest(t, dir, v1, Options{})
	var ps []testProduct
	var ids []int64
	for i := range 6 {
		p := makeProduct(t, "p"+string(rune('0'+i)), uint64(i+1), 2, true)
		ps = append(ps, p)
		ids = append(ids, mustAdd(t, c, p.new()).ID)
	}
	c.Close()

	// A broken new model: nothing can be embedded, Open fails and writes nothing.
	broken := newGridEmbedder(2)
	broken.fp = "test-broken"
	broken.fail = func(image.Image) bool { return true }
	if _, err := Open(dir, broken, Options{}); err == nil || !strings.Contains(err.Error(), "could not embed any of 12") {
		t.Fatalf("Open with a broken embedder: %v", err)
	}

	// A new model (different fingerprint and dimension). Progress goes to the logger.
	v2 := newGridEmbedder(2)
	v2.fp = "test-grid2-v2"
	var logs bytes.Buffer
	c = openTest(t, dir, v2, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if !strings.Contains(logs.String(), `msg="embedding stored images" component=catalog done=12 of=12 failed=0`) {
		t.Fatalf("no progress logged:\n%s", logs.String())
	}
	st := c.Stats()
	if st.Reembedded != 12 || st.ReembedFailed != 0 || v2.calls.Load() != 12 || st.LoadedFromFile || st.Vectors != 24 {
		t.Fatalf("after model change: %+v, %d embed calls", st, v2.calls.Load())
	}
	if c.Fingerprint() != "test-grid2-v2" {
		t.Fatal(c.Fingerprint())
	}
	for i, p := range ps {
		if hits := mustSearch(t, c, query(t, v2, p, 1), 1); hits[0].ProductID != ids[i] || hits[0].Score < 0.999 {
			t.Fatalf("%s with the new model: %+v", p.name, hits)
		}
	}
	// New products get the new model's vectors only.
	mustAdd(t, c, makeProduct(t, "new", 99, 1, false).new())
	c.Close()

	// Same model again: nothing to re-embed, the index is loaded.
	v2.calls.Store(0)
	c = openTest(t, dir, v2, Options{})
	if st := c.Stats(); st.Reembedded != 0 || !st.LoadedFromFile || v2.calls.Load() != 0 {
		t.Fatalf("reopen with the same model: %+v", st)
	}
	c.Close()

	// An image that cannot be embedded is skipped (and retried at the next Open); its
	// product stays searchable through its other image.
	v3 := newGridEmbedder(4)
	v3.fp = "test-grid4-v3"
	bad := ps[2].images[1]
	v3.fail = func(img image.Image) bool {
		r1, _, _, _ := img.At(0, 0).RGBA()
		r2, _, _, _ := bad.At(0, 0).RGBA()
		g1, _, _, _ := img.At(60, 60).RGBA()
		g2, _, _, _ := bad.At(60, 60).RGBA()
		return r1 == r2 && g1 == g2
	}
	c = openTest(t, dir, v3, Options{})
	if st := c.Stats(); st.Reembedded != 12 || st.ReembedFailed != 1 || st.Vectors != 24 {
		t.Fatalf("one image failing: %+v", st)
	}
	if hits := mustSearch(t, c, query(t, v3, ps[2], 0), 1); hits[0].ProductID != ids[2] {
		t.Fatalf("product with a failed image: %+v", hits)
	}
	c.Close()
	v3.fail = nil
	c = openTest(t, dir, v3, Options{})
	if st := c.Stats(); st.Reembedded != 1 || st.ReembedFailed != 0 || st.Vectors != 26 {
		t.Fatalf("retry of the failed image: %+v", st)
	}
	c.Close()

	// Rolling back to v1: its vectors were kept; only the product added under v2 is embedded.
	c = openTest(t, dir, v1, Options{})
	if st := c.Stats(); st.Reembedded != 1 || st.LoadedFromFile || st.Vectors != 26 {
		t.Fatalf("roll back to v1: %+v", st)
	}
	if hits := mustSearch(t, c, query(t, v1, ps[3], 0), 1); hits[0].ProductID != ids[3] {
		t.Fatalf("v1 search after rollback: %+v", hits)
	}
}

func TestMigrations(t *testing.T) {
	dir := t.TempDir()
	emb := newGridEmbedder(4)
	c := openTest(t, dir, emb, Options{})
	var v, fk int
	var mode string
	c.db.QueryRow("PRAGMA user_version").Scan(&v)
	c.db.QueryRow("PRAGMA foreign_keys").Scan(&fk)
	c.db.QueryRow("PRAGMA journal_mode").Scan(&mode)
	if v != schemaVersion() || fk != 1 || mode != "wal" {
		t.Fatalf("user_version %d, foreign_keys %d, journal_mode %s", v, fk, mode)
	}
	mustAdd(t, c, makeProduct(t, "A", 1, 1, false).new())
	c.Close()
	// Reopening applies nothing again and keeps the data.
	c = openTest(t, dir, emb, Options{})
	if list, _ := c.Products(); len(list) != 1 {
		t.Fatal(list)
	}
	c.Close()

	execDB(t, dir, "PRAGMA user_version = 99")
	if _, err := Open(dir, emb, Options{}); !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), "version 99") {
		t.Fatalf("Open of a newer database: %v", err)
	}
	// A failed Open released the directory lock.
	execDB(t, dir, fmt.Sprintf("PRAGMA user_version = %d", schemaVersion()))
	openTest(t, dir, emb, Options{})

	// A failing migration leaves the database at the previous version.
	saved := migrations
	t.Cleanup(func() { migrations = saved })
	migrations = append(slices.Clone(saved), migration{name: "broken", sql: "CREATE TABLE sessions (id INTEGER PRIMARY KEY); SELECT nonsense FROM nowhere;"})
	dir2 := t.TempDir()
	if _, err := Open(dir2, emb, Options{}); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("migration %d (broken)", len(saved)+1)) {
		t.Fatalf("broken migration: %v", err)
	}
	migrations = saved
	c2 := openTest(t, dir2, emb, Options{})
	var n int
	c2.db.QueryRow("PRAGMA user_version").Scan(&n)
	if err := c2.db.QueryRow("SELECT count(*) FROM sqlite_master WHERE name = 'sessions'").Scan(&v); err != nil || v != 0 || n != len(saved) {
		t.Fatalf("rolled back migration left version %d, sessions tables %d", n, v)
	}
}

func TestDirectoryLockAndClose(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "catalog")
	emb := newGridEmbedder(4)
	c, err := Open(dir, emb, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, emb, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	q := make([]float32, emb.Dim())
	q[0] = 1
	if _, err := c.Search(q, 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("Search after Close: %v", err)
	}
	if _, err := c.AddProduct(makeProduct(t, "A", 1, 1, false).new()); !errors.Is(err, ErrClosed) {
		t.Fatalf("AddProduct after Close: %v", err)
	}
	if err := c.RemoveProduct(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("RemoveProduct after Close: %v", err)
	}
	if _, err := c.Products(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Products after Close: %v", err)
	}
	c2 := openTest(t, dir, emb, Options{})
	c2.Close()

	for _, o := range []Options{{Index: "ivf"}, {MaxImages: -1}, {HNSWM: 1}} {
		if _, err := Open(t.TempDir(), emb, o); err == nil {
			t.Errorf("Open with %+v: no error", o)
		}
	}
}
