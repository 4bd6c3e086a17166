package data

import (
	"fmt"
	"time"
)

// snapshotFiles builds, from the vectors a snapshot copies, what Open would otherwise read
// them all back from SQLite for: the flat index (index.faiss) and the fit's scatter S
// (scatter.bin), S on a goroutine of its own while the copy goes on. Both are caches that
// Open checks against the database as it checks any: a failure only costs the rebuild.
type snapshotFiles struct {
	c       *Catalog
	x       *vectorIndex // nil once it failed
	ids     []int64      // waiting to be added to x
	flat    []float32
	rows    []float64 // waiting to be added to S
	s       []float64
	work    chan []float64
	done    chan struct{}
	vectors int64 // in S: photo vectors and products' learned vectors
	err     error
}

func newSnapshotFiles(c *Catalog) *snapshotFiles {
	f := &snapshotFiles{c: c, s: make([]float64, c.dim*c.dim), work: make(chan []float64, 2), done: make(chan struct{})}
	var err error
	if f.x, err = newVectorIndex(IndexFlat, c.dim, 0, 0); err != nil {
		f.x = nil
	}
	go func() {
		defer close(f.done)
		for rows := range f.work {
			symRankK(f.s, rows, len(rows)/c.dim, c.dim, 1)
		}
	}()
	return f
}

// photo adds a photo vector (index and S); learned a product's learned vector (S only).
func (f *snapshotFiles) photo(id int64, blob []byte) error {
	n := len(f.flat)
	var err error
	if f.flat, err = decodeVectorInto(f.flat, blob, f.c.dim); err != nil {
		return fmt.Errorf("vector %d: %w", id, err)
	}
	f.ids = append(f.ids, id)
	f.addS(f.flat[n:])
	if len(f.ids) == buildChunk {
		f.flushIndex()
	}
	return nil
}

func (f *snapshotFiles) learned(id int64, blob []byte) error {
	v, err := decodeVectorInto(nil, blob, f.c.dim)
	if err != nil {
		return fmt.Errorf("learned view %d: %w", id, err)
	}
	f.addS(v)
	return nil
}

func (f *snapshotFiles) addS(v []float32) {
	for _, x := range v {
		f.rows = append(f.rows, float64(x))
	}
	f.vectors++
	if len(f.rows) == sRows*f.c.dim {
		f.work <- f.rows
		f.rows = make([]float64, 0, sRows*f.c.dim)
	}
}

func (f *snapshotFiles) flushIndex() {
	if f.x != nil && len(f.ids) > 0 {
		if err := f.x.add(f.flat, f.ids); err != nil {
			f.x.close()
			f.x = nil
		}
	}
	f.ids, f.flat = f.ids[:0], f.flat[:0]
}

// finish waits for S and frees what was built (abandon: the snapshot failed).
func (f *snapshotFiles) finish() {
	f.flushIndex()
	if len(f.rows) > 0 {
		f.work <- f.rows
		f.rows = nil
	}
	close(f.work)
	<-f.done
}

func (f *snapshotFiles) close() { f.x.close() }

// save writes both files, stamped with the replica's state after the snapshot committed.
func (f *snapshotFiles) save(catalogID string, gen, learnedGen int64) {
	c := f.c
	start := time.Now()
	if f.x != nil && c.wantKind(f.x.ntotal(), "") == IndexFlat {
		sc := sidecar{CatalogID: catalogID, Fingerprint: c.fp, Dim: c.dim, Vectors: f.x.ntotal(), DBGeneration: gen, Kind: IndexFlat}
		if err := saveIndex(c.dir, f.x, sc); err != nil {
			c.log.Warn("could not save the copied catalog's index; Open rebuilds it", "err", err)
		}
	}
	h := scatterHeader{Format: scatterFormat, CatalogID: catalogID, Fingerprint: c.fp, Dim: c.dim,
		Generation: gen, LearnedGeneration: learnedGen, Vectors: f.vectors, WrittenAt: time.Now().UTC()}
	if err := writeScatter(c.dir, h, f.s); err != nil {
		c.log.Warn("could not save the copied catalog's scatter; Open recomputes it", "err", err)
	}
	c.log.Info("index and scatter of the copied catalog saved", "vectors", f.vectors, "took", time.Since(start).Round(time.Millisecond))
}
