package data

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// NoNone is Evidence.None when the catalog holds no "none" answer.
const NoNone float32 = -2

// Evidence is what Recognise found for a visit: the scores a decision is made from.
type Evidence struct {
	// Hits are the best products, best first, at most k. Score is in the catalog's score
	// space: the adapted (whitened) cosine when Adapted, the plain cosine otherwise.
	Hits []Hit
	// Second is the second best product's score (the margin is Hits[0].Score − Second); -1
	// when the catalog has fewer than two products.
	Second float32
	// None is the best score of a "none of these" answer (see AddNone), NoNone when there
	// are none.
	None float32
	// Adapted: the scores are in the fitted projection; false: cosine, below
	// AdaptOptions.MinProducts products or with adaptation off. Decision rules differ.
	Adapted bool
}

// Recognise scores a visit: queries are the query vectors of the crops seen so far (one or
// more, from the embedder's EmbedQueries), each projected into the catalog's score space,
// then fused as normalize(Σ f(q)). Products are scored by their prototypes: the weighted mean
// of their photos and learned views. An empty catalog gives no hits and no error.
//
// It runs under the read lock, concurrently with other searches, and always scores with the
// projection that the prototypes were projected with: a refit swaps both at once.
func (c *Catalog) Recognise(queries [][]float32, k int) (Evidence, error) {
	singleThreadedOMP()
	if k <= 0 {
		return Evidence{}, fmt.Errorf("data: Recognise: k must be positive, got %d", k)
	}
	if len(queries) == 0 {
		return Evidence{}, errors.New("data: Recognise: no query vectors")
	}
	raw := make([]float32, 0, len(queries)*c.dim)
	for i, q := range queries {
		n, err := normalize(q, c.dim)
		if err != nil {
			return Evidence{}, fmt.Errorf("data: Recognise: query %d: %w", i, err)
		}
		raw = append(raw, n...)
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return Evidence{}, ErrClosed
	}
	u := fuse(c.proj.apply(raw), c.dim)
	ev := Evidence{Hits: []Hit{}, Second: -1, None: NoNone, Adapted: c.proj.adapted()}
	if n := c.aprotos.ntotal(); n > 0 {
		scores, labels, err := c.aprotos.search(u, min(max(k, 2), n))
		if err != nil {
			return Evidence{}, fmt.Errorf("data: Recognise: %w", err)
		}
		var found []Hit
		for i, pid := range labels {
			if p := c.products[pid]; pid >= 0 && p != nil {
				found = append(found, Hit{ProductID: pid, Name: p.name, Score: scores[i]})
			}
		}
		if len(found) > 1 {
			ev.Second = found[1].Score
		}
		ev.Hits = append(ev.Hits, found[:min(k, len(found))]...)
	}
	if len(c.negIDs) > 0 {
		ev.None = slices.Max(matVec(c.negProj, len(c.negIDs), u))
	}
	return ev, nil
}

// fuse sums projected vectors (concatenated) and normalises the sum.
func fuse(flat []float32, dim int) []float32 {
	sum := make([]float64, dim)
	for i, v := range flat {
		sum[i%dim] += float64(v)
	}
	var s float64
	for _, v := range sum {
		s += v * v
	}
	out := make([]float32, dim)
	if s == 0 {
		return out
	}
	inv := 1 / math.Sqrt(s)
	for i, v := range sum {
		out[i] = float32(v * inv)
	}
	return out
}
