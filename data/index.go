package data

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	faiss "github.com/DataIntelligenceCrew/go-faiss"

	"github.com/ebrcs/ebrcs/internal/atomicfile"
)

// Files of the derived index in the data directory. Both can be deleted at any time: the next
// Open rebuilds them from the database.
const (
	indexFile   = "index.faiss"
	sidecarFile = "index.json"
	tmpMarker   = ".tmp-"
)

// vectorIndex is the FAISS index the catalog searches: an IDMap (so FAISS labels are our
// embeddings.id) over either an exact IndexFlatIP or an HNSW graph with inner product. The
// vectors are L2-normalised, so inner product is cosine similarity.
//
// It is not safe for concurrent modification; the Catalog's locks provide that. Concurrent
// searches are safe (FAISS search is const on CPU indexes).
type vectorIndex struct {
	ix   *faiss.IndexImpl
	kind string // IndexFlat or IndexHNSW
	m    int    // HNSW graph degree; 0 for flat
	dim  int
}

// factoryDescription is the FAISS index_factory string for a kind.
func factoryDescription(kind string, m int) string {
	if kind == IndexHNSW {
		return fmt.Sprintf("IDMap,HNSW%d,Flat", m)
	}
	return "IDMap,Flat"
}

// newVectorIndex returns an empty index. efSearch applies to HNSW only.
func newVectorIndex(kind string, dim, m, efSearch int) (*vectorIndex, error) {
	if kind != IndexHNSW {
		kind, m = IndexFlat, 0
	}
	ix, err := faiss.IndexFactory(dim, factoryDescription(kind, m), faiss.MetricInnerProduct)
	if err != nil {
		return nil, fmt.Errorf("data: create %s index: %w", kind, err)
	}
	x := &vectorIndex{ix: ix, kind: kind, m: m, dim: dim}
	if err := x.setEfSearch(efSearch); err != nil {
		x.close()
		return nil, err
	}
	return x, nil
}

// setEfSearch sets HNSW's search beam width. It is a search-time parameter, not saved in the
// file, so it is set again after every load.
func (x *vectorIndex) setEfSearch(ef int) error {
	if x.kind != IndexHNSW {
		return nil
	}
	ps, err := faiss.NewParameterSpace()
	if err != nil {
		return fmt.Errorf("data: set efSearch: %w", err)
	}
	defer ps.Delete()
	if err := ps.SetIndexParameter(x.ix, "efSearch", float64(ef)); err != nil {
		return fmt.Errorf("data: set efSearch: %w", err)
	}
	return nil
}

func (x *vectorIndex) ntotal() int { return int(x.ix.Ntotal()) }

// add adds len(ids) vectors (concatenated in vecs).
func (x *vectorIndex) add(vecs []float32, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if len(vecs) != len(ids)*x.dim {
		return fmt.Errorf("%w: %d floats for %d vectors of %d", ErrDimension, len(vecs), len(ids), x.dim)
	}
	if err := x.ix.AddWithIDs(vecs, ids); err != nil {
		return fmt.Errorf("data: add %d vectors to the %s index: %w", len(ids), x.kind, err)
	}
	return nil
}

// remove deletes ids from a flat index and returns how many were found. HNSW graphs cannot
// delete (FAISS refuses); the catalog tombstones instead, see Catalog.RemoveProduct.
func (x *vectorIndex) remove(ids []int64) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	if x.kind != IndexFlat {
		return 0, fmt.Errorf("data: %s index cannot remove vectors", x.kind)
	}
	sel, err := faiss.NewIDSelectorBatch(ids)
	if err != nil {
		return 0, fmt.Errorf("data: remove vectors: %w", err)
	}
	defer sel.Delete()
	n, err := x.ix.RemoveIDs(sel)
	if err != nil {
		return n, fmt.Errorf("data: remove vectors: %w", err)
	}
	return n, nil
}

// search returns the k best (score, id) pairs for one normalised query, best first. Missing
// results (k larger than the index) have id -1.
func (x *vectorIndex) search(q []float32, k int) ([]float32, []int64, error) {
	if x.ntotal() == 0 || k <= 0 {
		return nil, nil, nil
	}
	return x.ix.Search(q, int64(k))
}

func (x *vectorIndex) close() {
	if x != nil && x.ix != nil {
		x.ix.Delete()
		x.ix = nil
	}
}

// sidecar describes index.faiss. The index file is only trusted when every field matches
// the database it is opened with; its presence certifies that index.faiss was completely
// written (it is removed before, and written after, the index file).
type sidecar struct {
	Format       int       `json:"format"`
	CatalogID    string    `json:"catalog_id"`
	Fingerprint  string    `json:"fingerprint"`
	Dim          int       `json:"dim"`
	Vectors      int       `json:"vectors"`    // in the file, tombstones included
	Tombstones   int       `json:"tombstones"` // removed from the catalog, still in an HNSW graph
	DBGeneration int64     `json:"db_generation"`
	Kind         string    `json:"kind"`
	HNSWM        int       `json:"hnsw_m,omitempty"`
	IndexBytes   int64     `json:"index_bytes"`
	WrittenAt    time.Time `json:"written_at"`
}

const sidecarFormat = 1

func sidecarPath(dir string) string { return filepath.Join(dir, sidecarFile) }

// saveIndex writes x and its sidecar atomically: the sidecar is removed first, the index is
// written to a temporary file in the same directory, fsynced and renamed, then the sidecar
// likewise. A crash at any point leaves either the previous complete pair or no sidecar
// (which Open treats as "rebuild"), never a sidecar vouching for a partial index.
func saveIndex(dir string, x *vectorIndex, sc sidecar) error {
	scPath := filepath.Join(dir, sidecarFile)
	if err := os.Remove(scPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := syncDir(dir); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, indexFile+tmpMarker+"*")
	if err != nil {
		return err
	}
	tmpPath := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpPath) // no-op once renamed
	if err := faiss.WriteIndex(x.ix, tmpPath); err != nil {
		return fmt.Errorf("write index: %w", err)
	}
	size, err := syncFile(tmpPath)
	if err != nil {
		return err
	}
	if err := os.Rename(tmpPath, filepath.Join(dir, indexFile)); err != nil {
		return err
	}
	sc.Format = sidecarFormat
	sc.IndexBytes = size
	sc.WrittenAt = time.Now().UTC()
	b, err := json.MarshalIndent(sc, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFileAtomic(dir, sidecarFile, append(b, '\n')); err != nil {
		return err
	}
	return syncDir(dir)
}

// loadIndex reads index.faiss if its sidecar matches want (catalog, embedder, dimension,
// generation), its live vector count matches the database's, and the file matches the
// sidecar (size, vector count, dimension). Otherwise it returns nil and why, for the log.
func loadIndex(dir string, want sidecar, live int, efSearch int) (*vectorIndex, sidecar, string) {
	b, err := os.ReadFile(filepath.Join(dir, sidecarFile))
	if errors.Is(err, fs.ErrNotExist) {
		if _, err := os.Stat(filepath.Join(dir, indexFile)); err == nil {
			return nil, sidecar{}, "index file without sidecar (interrupted write)"
		}
		return nil, sidecar{}, "no index file"
	}
	if err != nil {
		return nil, sidecar{}, "read sidecar: " + err.Error()
	}
	var sc sidecar
	if err := json.Unmarshal(b, &sc); err != nil {
		return nil, sidecar{}, "corrupt sidecar: " + err.Error()
	}
	switch {
	case sc.Format != sidecarFormat:
		return nil, sc, fmt.Sprintf("sidecar format %d, want %d", sc.Format, sidecarFormat)
	case sc.CatalogID != want.CatalogID:
		return nil, sc, "index belongs to another catalog"
	case sc.Fingerprint != want.Fingerprint:
		return nil, sc, fmt.Sprintf("embedder changed (%q → %q)", sc.Fingerprint, want.Fingerprint)
	case sc.Dim != want.Dim:
		return nil, sc, fmt.Sprintf("dimension %d, want %d", sc.Dim, want.Dim)
	case sc.DBGeneration != want.DBGeneration:
		return nil, sc, fmt.Sprintf("stale: index at generation %d, database at %d", sc.DBGeneration, want.DBGeneration)
	case sc.Kind != IndexFlat && sc.Kind != IndexHNSW:
		return nil, sc, fmt.Sprintf("unknown index kind %q", sc.Kind)
	case sc.Vectors-sc.Tombstones != live || sc.Tombstones < 0:
		return nil, sc, fmt.Sprintf("sidecar counts %d live vectors, database has %d", sc.Vectors-sc.Tombstones, live)
	}
	path := filepath.Join(dir, indexFile)
	st, err := os.Stat(path)
	if err != nil {
		return nil, sc, "index file: " + err.Error()
	}
	if st.Size() != sc.IndexBytes {
		// Checked before FAISS reads it: a truncated file is the likeliest corruption, and
		// catching it here spares a failed multi-gigabyte read.
		return nil, sc, fmt.Sprintf("index file is %d bytes, sidecar says %d", st.Size(), sc.IndexBytes)
	}
	ix, err := faiss.ReadIndex(path, 0)
	if err != nil {
		return nil, sc, "read index: " + err.Error()
	}
	x := &vectorIndex{ix: ix, kind: sc.Kind, m: sc.HNSWM, dim: sc.Dim}
	if x.kind == IndexFlat {
		x.m = 0
	}
	switch {
	case ix.D() != sc.Dim:
		x.close()
		return nil, sc, fmt.Sprintf("index file has dimension %d, sidecar says %d", ix.D(), sc.Dim)
	case x.ntotal() != sc.Vectors:
		x.close()
		return nil, sc, fmt.Sprintf("index file has %d vectors, sidecar says %d", x.ntotal(), sc.Vectors)
	case ix.MetricType() != faiss.MetricInnerProduct:
		x.close()
		return nil, sc, "index file does not use inner product"
	}
	if err := x.setEfSearch(efSearch); err != nil {
		x.close()
		return nil, sc, err.Error()
	}
	return x, sc, ""
}

// removeTempFiles deletes temporaries left by a crash during saveIndex.
func removeTempFiles(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), tmpMarker) && (strings.HasPrefix(e.Name(), indexFile) ||
			strings.HasPrefix(e.Name(), sidecarFile) || strings.HasPrefix(e.Name(), scatterFile)) {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// syncFile fsyncs a file written by someone else (FAISS) and returns its size.
func syncFile(path string) (int64, error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// syncDir makes renames and removals in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// normalize returns v scaled to unit length, refusing the wrong length, NaN, infinities and
// the zero vector (which has no direction to compare).
func normalize(v []float32, dim int) ([]float32, error) {
	if len(v) != dim {
		return nil, fmt.Errorf("%w: %d, want %d", ErrDimension, len(v), dim)
	}
	var s float64
	for _, f := range v {
		if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
			return nil, errors.New("vector contains NaN or Inf")
		}
		s += float64(f) * float64(f)
	}
	if s == 0 {
		return nil, errors.New("zero vector")
	}
	inv := 1 / math.Sqrt(s)
	out := make([]float32, dim)
	for i, f := range v {
		out[i] = float32(float64(f) * inv)
	}
	return out, nil
}

// writeFileAtomic replaces name in dir (see atomicfile.Write); a leftover temporary file
// carries tmpMarker, for removeTemporaries.
func writeFileAtomic(dir, name string, data []byte) error {
	return atomicfile.Write(filepath.Join(dir, name), name+tmpMarker+"*", data)
}
