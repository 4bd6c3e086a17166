package data

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// adaptLoader builds the adapted projection's statistics at Open, from the vectors that
// loadPrototypes reads anyway: the product sums always, S only when scatter.bin does not
// match the database.
type adaptLoader struct {
	sc     *scatter
	fileS  []float64 // S from scatter.bin; nil: accumulated below
	reason string    // why scatter.bin was not used
	rows   []float64 // vectors waiting to be added to S, concatenated
	start  time.Time
}

// sRows is how many vectors are added to S at a time (one rank-k update; 10 MB).
const sRows = 1024

func (c *Catalog) newAdaptLoader(ctx context.Context) (*adaptLoader, error) {
	var learned int64
	err := c.db.QueryRowContext(ctx, `SELECT count(*) FROM learned_vectors v JOIN learned_views l ON l.id = v.view_id
		WHERE v.model = ? AND l.product_id IS NOT NULL`, c.fp).Scan(&learned)
	if err != nil {
		return nil, fmt.Errorf("data: count learned views: %w", err)
	}
	want := scatterHeader{Format: scatterFormat, CatalogID: c.catalogID, Fingerprint: c.fp, Dim: c.dim,
		Generation: c.generation, LearnedGeneration: c.ad.learnedGen, Vectors: int64(len(c.owner)) + learned}
	ld := &adaptLoader{sc: newScatter(c.dim), start: time.Now()}
	ld.fileS, ld.reason = readScatter(c.dir, want)
	return ld, nil
}

// addVector adds one vector of product pid to its sums (photo or learned) and to S.
func (ld *adaptLoader) addVector(pid int64, v []float32, kind vectorKind, newPhoto bool) {
	sc := ld.sc
	p := sc.products[pid]
	if p == nil {
		p = &productSums{photoSum: make([]float32, sc.dim)}
		sc.products[pid] = p
	}
	sum := p.photoSum
	if kind == learnedVector {
		if p.learnedSum == nil {
			p.learnedSum = make([]float32, sc.dim)
		}
		sum = p.learnedSum
		p.learned++
	} else {
		p.photoVecs++
		if newPhoto {
			p.photos++
		}
	}
	for i, f := range v {
		sum[i] += f
		sc.t[i] += float64(f)
	}
	sc.n++
	if ld.fileS == nil {
		for _, f := range v {
			ld.rows = append(ld.rows, float64(f))
		}
		if len(ld.rows) >= sRows*sc.dim {
			ld.flush()
		}
	}
}

func (ld *adaptLoader) addPhotoVector(pid int64, newPhoto bool, v []float32) {
	ld.addVector(pid, v, photoVector, newPhoto)
}

func (ld *adaptLoader) flush() {
	symRankK(ld.sc.s, ld.rows, len(ld.rows)/ld.sc.dim, ld.sc.dim, 1)
	ld.rows = ld.rows[:0]
}

// loadAdaptation reads the learned views and the "none" memory, completes the statistics and
// fits the projection (at Open, after loadPrototypes has read the photo vectors).
func (c *Catalog) loadAdaptation(ctx context.Context, ld *adaptLoader) error {
	rows, err := c.db.QueryContext(ctx, `SELECT l.id, l.product_id, v.vector FROM learned_views l
		JOIN learned_vectors v ON v.view_id = l.id AND v.model = ? ORDER BY l.id`, c.fp)
	if err != nil {
		return fmt.Errorf("data: load learned views: %w", err)
	}
	var nones []noneView
	for rows.Next() {
		var id int64
		var pid sql.NullInt64
		var blob []byte
		if err := rows.Scan(&id, &pid, &blob); err != nil {
			rows.Close()
			return fmt.Errorf("data: load learned views: %w", err)
		}
		v, err := decodeVectorInto(nil, blob, c.dim)
		if err != nil {
			rows.Close()
			return fmt.Errorf("data: learned view %d: %w", id, err)
		}
		if !pid.Valid {
			nones = append(nones, noneView{id: id, vec: v})
			continue
		}
		if c.products[pid.Int64] == nil {
			rows.Close()
			return fmt.Errorf("data: learned view %d belongs to missing product %d", id, pid.Int64)
		}
		ld.addVector(pid.Int64, v, learnedVector, false)
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("data: load learned views: %w", err)
	}
	sc := ld.sc
	if ld.fileS != nil {
		sc.s = ld.fileS
	} else {
		if len(ld.rows) > 0 {
			ld.flush()
		}
		sc.unsaved = true
	}
	sc.rebuildB()
	c.ad.sc, c.ad.nones = sc, nones
	c.log.Info("catalog statistics loaded", "vectors", int(sc.n), "products", len(sc.products), "nones", len(nones),
		"scatter_from_file", ld.fileS != nil, "reason", ld.reason, "took", time.Since(ld.start).Round(time.Millisecond))
	c.stats.ScatterFromFile = ld.fileS != nil
	for _, p := range sc.products {
		c.stats.LearnedViews += p.learned
	}
	c.refitLocked("open")
	return nil
}
