package data

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"
)

// scatter.bin keeps S = Σ x xᵀ, the one statistic of the fit that Open cannot derive cheaply:
// the product sums come from the vectors Open reads anyway for the prototypes, but S costs
// O(N·D²) (2 s at 1,000 products, 17 s at 10,000 with OpenBLAS on two cores). Like index.faiss
// it is a cache: it is trusted only when its stamp matches the database (catalog, embedder,
// both generations, vector count) and its checksum its contents; otherwise Open recomputes S
// from the stored vectors. It is written after each refit and at Close, atomically.
const scatterFile = "scatter.bin"

// scatterHeader is the file's first line, JSON.
type scatterHeader struct {
	Format            int       `json:"format"`
	CatalogID         string    `json:"catalog_id"`
	Fingerprint       string    `json:"fingerprint"`
	Dim               int       `json:"dim"`
	Generation        int64     `json:"generation"`
	LearnedGeneration int64     `json:"learned_generation"`
	Vectors           int64     `json:"vectors"`
	WrittenAt         time.Time `json:"written_at"`
}

const scatterFormat = 1

// saveScatterLocked writes scatter.bin if the statistics changed since it was written.
// writeMu is held, so the statistics and both generations agree. A failure is logged: the
// next Open recomputes.
func (c *Catalog) saveScatterLocked() {
	sc := c.ad.sc
	if c.readOnly || !sc.unsaved {
		return
	}
	c.mu.RLock()
	gen := c.generation
	c.mu.RUnlock()
	h := scatterHeader{Format: scatterFormat, CatalogID: c.catalogID, Fingerprint: c.fp, Dim: c.dim,
		Generation: gen, LearnedGeneration: c.ad.learnedGen, Vectors: int64(math.Round(sc.n)), WrittenAt: time.Now().UTC()}
	start := time.Now()
	if err := writeScatter(c.dir, h, sc.s); err != nil {
		c.log.Error("could not save the scatter statistics; the next Open recomputes them", "err", err)
		return
	}
	sc.unsaved = false
	c.log.Debug("scatter statistics saved", "vectors", h.Vectors, "took", time.Since(start).Round(time.Millisecond))
}

func writeScatter(dir string, h scatterHeader, s []float64) error {
	head, err := json.Marshal(h)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	b.Grow(len(head) + 1 + 4*h.Dim*(h.Dim+1) + sha256.Size)
	b.Write(head)
	b.WriteByte('\n')
	var w [8]byte
	for i := 0; i < h.Dim; i++ {
		for j := 0; j <= i; j++ {
			binary.LittleEndian.PutUint64(w[:], math.Float64bits(s[i*h.Dim+j]))
			b.Write(w[:])
		}
	}
	sum := sha256.Sum256(b.Bytes())
	b.Write(sum[:])
	if err := writeFileAtomic(dir, scatterFile, b.Bytes()); err != nil {
		return err
	}
	return syncDir(dir)
}

// readScatter returns S from scatter.bin if the file matches want (every field but
// WrittenAt), or nil and why not.
func readScatter(dir string, want scatterHeader) ([]float64, string) {
	raw, err := os.ReadFile(filepath.Join(dir, scatterFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "no scatter file"
	}
	if err != nil {
		return nil, "read scatter file: " + err.Error()
	}
	if len(raw) < sha256.Size {
		return nil, "scatter file truncated"
	}
	body, sum := raw[:len(raw)-sha256.Size], raw[len(raw)-sha256.Size:]
	if got := sha256.Sum256(body); !bytes.Equal(got[:], sum) {
		return nil, "scatter file checksum mismatch"
	}
	nl := bytes.IndexByte(body, '\n')
	if nl < 0 {
		return nil, "scatter file has no header"
	}
	var h scatterHeader
	if err := json.Unmarshal(body[:nl], &h); err != nil {
		return nil, "corrupt scatter header: " + err.Error()
	}
	h.WrittenAt = want.WrittenAt
	if h != want {
		return nil, fmt.Sprintf("scatter file is stale (generations %d/%d, %d vectors; database %d/%d, %d vectors)",
			h.Generation, h.LearnedGeneration, h.Vectors, want.Generation, want.LearnedGeneration, want.Vectors)
	}
	d := h.Dim
	data := body[nl+1:]
	if len(data) != 4*d*(d+1) {
		return nil, fmt.Sprintf("scatter file holds %d bytes, want %d", len(data), 4*d*(d+1))
	}
	s := make([]float64, d*d)
	k := 0
	for i := 0; i < d; i++ {
		for j := 0; j <= i; j++ {
			s[i*d+j] = math.Float64frombits(binary.LittleEndian.Uint64(data[8*k:]))
			k++
		}
	}
	return s, ""
}
