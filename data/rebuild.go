package data

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ebrcs/ebrcs/internal/cores"
)

// buildChunk is how many vectors are read from SQLite and added to FAISS at a time: large
// enough for FAISS to parallelise HNSW insertion, small enough (40 MB at dimension 1280) not
// to double the memory of a large rebuild.
const buildChunk = 8192

// buildIndex builds a kind index from the current embedder's stored vectors and returns it
// with the ids it holds, ascending. It takes no lock: it reads the database in pages by id,
// which is not one snapshot, so a concurrent change may or may not be in it; rebuildOnce
// reconciles that under writeMu.
func (c *Catalog) buildIndex(ctx context.Context, kind string) (*vectorIndex, []int64, error) {
	x, err := newVectorIndex(kind, c.dim, c.opts.HNSWM, c.opts.EfSearch)
	if err != nil {
		return nil, nil, err
	}
	var ids []int64
	last := int64(0)
	lastLog := time.Now()
	for {
		if err := ctx.Err(); err != nil {
			x.close()
			return nil, nil, err
		}
		chunkIDs, vecs, err := c.readVectors(ctx, `SELECT id, vector FROM embeddings
			WHERE model = ? AND id > ? ORDER BY id LIMIT ?`, c.fp, last, buildChunk)
		if err != nil {
			x.close()
			return nil, nil, err
		}
		if len(chunkIDs) == 0 {
			return x, ids, nil
		}
		if err := x.add(vecs, chunkIDs); err != nil {
			x.close()
			return nil, nil, err
		}
		ids = append(ids, chunkIDs...)
		last = chunkIDs[len(chunkIDs)-1]
		if time.Since(lastLog) > 10*time.Second {
			c.log.Info("building index", "kind", kind, "vectors", len(ids))
			lastLog = time.Now()
		}
	}
}

// readVectors runs a query returning (id, vector) rows.
func (c *Catalog) readVectors(ctx context.Context, query string, args ...any) ([]int64, []float32, error) {
	rows, err := c.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, nil, fmt.Errorf("data: read vectors: %w", err)
	}
	var ids []int64
	var vecs []float32
	for rows.Next() {
		var id int64
		var b []byte
		if err := rows.Scan(&id, &b); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("data: read vectors: %w", err)
		}
		if vecs, err = decodeVectorInto(vecs, b, c.dim); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("data: vector %d (model %q): %w", id, c.fp, err)
		}
		ids = append(ids, id)
	}
	if err := closeRows(rows); err != nil {
		return nil, nil, fmt.Errorf("data: read vectors: %w", err)
	}
	return ids, vecs, nil
}

// needsRebuildLocked says whether the live index should be rebuilt, into which kind and why:
// it may not match the database (a failed FAISS update), the catalog crossed the auto
// threshold, Options.HNSWM differs from the graph's, or an HNSW graph is 10% tombstones
// (they cost search time and memory).
func (c *Catalog) needsRebuildLocked() (kind, reason string, ok bool) {
	if c.idx == nil {
		return "", "", false
	}
	live := len(c.owner)
	want := c.wantKind(live, c.idx.kind)
	switch tomb := c.idx.ntotal() - live; {
	case c.suspect:
		return want, "the live index may not match the database", true
	case want != c.idx.kind:
		return want, fmt.Sprintf("%d vectors: switch from %s to %s", live, c.idx.kind, want), true
	case want == IndexHNSW && c.idx.m != c.opts.HNSWM:
		return want, fmt.Sprintf("HNSW M changed from %d to %d", c.idx.m, c.opts.HNSWM), true
	case c.idx.kind == IndexHNSW && tomb > 0 && tomb*10 >= c.idx.ntotal():
		return want, fmt.Sprintf("%d of %d vectors in the graph are removed products", tomb, c.idx.ntotal()), true
	}
	return "", "", false
}

// scheduleRebuildLocked starts a background rebuild unless one is running (which will check
// again when it finishes) or the catalog is closing. The caller holds mu for writing.
func (c *Catalog) scheduleRebuildLocked(kind, reason string) {
	if c.closing || c.rebuilding {
		return
	}
	c.rebuilding = true
	c.bgWG.Add(1)
	go c.rebuildLoop(kind, reason)
}

// rebuildLoop rebuilds until the index no longer needs it. A failed rebuild is logged and
// not retried here: the next change or Open tries again, and meanwhile the current index
// goes on serving.
func (c *Catalog) rebuildLoop(kind, reason string) {
	defer c.bgWG.Done()
	for {
		c.log.Info("rebuilding index in the background", "kind", kind, "reason", reason)
		start := time.Now()
		err := c.rebuildOnce(kind)
		if err != nil && c.bgCtx.Err() == nil {
			c.log.Error("background index rebuild failed", "kind", kind, "err", err)
		} else if err == nil {
			c.log.Info("background index rebuild done", "kind", kind, "took", time.Since(start).Round(time.Millisecond))
		}
		c.mu.Lock()
		var ok bool
		if err == nil && !c.closing {
			kind, reason, ok = c.needsRebuildLocked()
		}
		if !ok {
			c.rebuilding = false
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// rebuildOnce builds a new index without holding any lock (searches and changes go on), then
// under writeMu, where the database cannot change, brings it up to date with the changes
// made during the build, swaps it in under the write lock and saves it.
func (c *Catalog) rebuildOnce(kind string) error {
	x, built, err := c.buildIndex(c.bgCtx, kind)
	if err != nil {
		return err
	}
	if testHookRebuildBuilt != nil {
		testHookRebuildBuilt()
	}
	c.lockWrite()
	defer c.unlockWrite()
	c.mu.RLock()
	closed := c.closed
	live := make([]int64, 0, len(c.owner))
	for id := range c.owner {
		live = append(live, id)
	}
	c.mu.RUnlock()
	if closed || c.bgCtx.Err() != nil {
		x.close()
		return context.Canceled
	}
	slices.Sort(live)
	added, removed := sortedDiff(live, built)
	// Vectors added since the page that would have held them was read.
	for len(added) > 0 {
		n := min(len(added), 500)
		ids, vecs, err := c.readVectors(context.Background(),
			"SELECT id, vector FROM embeddings WHERE id IN ("+placeholders(n)+") ORDER BY id", int64sAsArgs(added[:n])...)
		if err == nil && len(ids) != n {
			err = fmt.Errorf("data: %d of %d new vectors found", len(ids), n)
		}
		if err == nil {
			err = x.add(vecs, ids)
		}
		if err != nil {
			x.close()
			return err
		}
		added = added[n:]
	}
	// Vectors removed since they were read: a flat index drops them; an HNSW graph keeps them
	// as tombstones (Search resolves ids through owner, where they no longer are).
	if x.kind == IndexFlat && len(removed) > 0 {
		if n, err := x.remove(removed); err != nil || n != len(removed) {
			x.close()
			return fmt.Errorf("data: reconcile rebuilt index: removed %d of %d: %v", n, len(removed), err)
		}
	}
	c.mu.Lock()
	old := c.idx
	c.idx = x
	c.suspect = false
	c.stats.BackgroundRebuilds++
	c.mu.Unlock()
	old.close()
	c.dirty = true
	return nil
}

// testHookRebuildBuilt, when set by a test, runs between a background build and its
// reconciliation, where changes made concurrently with the build must be caught up.
var testHookRebuildBuilt func()

// sortedDiff returns the elements of want missing from have, and of have missing from want.
// Both inputs are sorted ascending without duplicates.
func sortedDiff(want, have []int64) (missing, extra []int64) {
	i, j := 0, 0
	for i < len(want) || j < len(have) {
		switch {
		case j == len(have) || (i < len(want) && want[i] < have[j]):
			missing = append(missing, want[i])
			i++
		case i == len(want) || have[j] < want[i]:
			extra = append(extra, have[j])
			j++
		default:
			i++
			j++
		}
	}
	return missing, extra
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func int64sAsArgs(v []int64) []any {
	out := make([]any, len(v))
	for i, x := range v {
		out[i] = x
	}
	return out
}

// waitBackground waits for a running background rebuild (tests, and Close through bgWG).
func (c *Catalog) waitBackground() {
	for {
		c.mu.RLock()
		busy := c.rebuilding
		c.mu.RUnlock()
		if !busy {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// reembedBatch is how many images are embedded between two commits: a crash loses at most
// this much work, since the next Open re-embeds only the images still missing vectors.
const reembedBatch = 32

// reembedMissing embeds every stored image that has no vector for the current embedder:
// after a model change, all of them. The images are decoded from their stored bytes; the
// vectors of other models are kept (rolling back the model then needs no re-embedding).
// An image that cannot be embedded is logged and skipped (its product stays searchable
// through its other images, and the next Open tries again); if none can be, the embedder is
// broken and Open fails.
func (c *Catalog) reembedMissing(ctx context.Context) error {
	rows, err := c.db.QueryContext(ctx, `SELECT i.id FROM product_images i WHERE NOT EXISTS
		(SELECT 1 FROM embeddings e WHERE e.image_id = i.id AND e.model = ?) ORDER BY i.id`, c.fp)
	if err != nil {
		return fmt.Errorf("data: find images to embed: %w", err)
	}
	var todo []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("data: find images to embed: %w", err)
		}
		todo = append(todo, id)
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("data: find images to embed: %w", err)
	}
	if len(todo) == 0 {
		return nil
	}
	c.log.Info("embedding stored images for the current model", "model", c.fp, "images", len(todo))
	start, lastLog := time.Now(), time.Now()
	var firstErr error
	done, failed := 0, 0
	for len(todo) > 0 {
		n := min(len(todo), reembedBatch)
		batch := todo[:n]
		todo = todo[n:]
		views, errs, err := c.embedStored(ctx, batch)
		if err != nil {
			return err
		}
		for i, e := range errs {
			if e != nil {
				failed++
				if firstErr == nil {
					firstErr = e
				}
				if failed <= 10 {
					c.log.Error("cannot embed stored image", "image", batch[i], "err", e)
				}
			}
		}
		if err := c.storeEmbeddings(ctx, batch, views); err != nil {
			return err
		}
		done += n
		if time.Since(lastLog) > 5*time.Second || len(todo) == 0 {
			c.log.Info("embedding stored images", "done", done, "of", done+len(todo), "failed", failed,
				"elapsed", time.Since(start).Round(time.Second))
			lastLog = time.Now()
		}
	}
	c.stats.Reembedded = done - failed
	c.stats.ReembedFailed = failed
	if failed > 0 && failed == done {
		return fmt.Errorf("data: could not embed any of %d stored images with %q: %w", done, c.fp, firstErr)
	}
	return nil
}

// reembedLearned embeds every learned view that has no vector for the current embedder (a
// model change), from its stored crop, as the recogniser embeds queries. A view that cannot
// be embedded is logged and left out (the next Open tries again).
func (c *Catalog) reembedLearned(ctx context.Context) error {
	rows, err := c.db.QueryContext(ctx, `SELECT l.id, l.data FROM learned_views l WHERE NOT EXISTS
		(SELECT 1 FROM learned_vectors v WHERE v.view_id = l.id AND v.model = ?) ORDER BY l.id`, c.fp)
	if err != nil {
		return fmt.Errorf("data: find learned views to embed: %w", err)
	}
	type todo struct {
		id   int64
		data []byte
	}
	var all []todo
	for rows.Next() {
		var t todo
		if err := rows.Scan(&t.id, &t.data); err != nil {
			rows.Close()
			return fmt.Errorf("data: find learned views to embed: %w", err)
		}
		all = append(all, t)
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("data: find learned views to embed: %w", err)
	}
	if len(all) == 0 {
		return nil
	}
	c.log.Info("embedding learned views for the current model", "model", c.fp, "views", len(all))
	failed := 0
	for len(all) > 0 {
		batch := all[:min(len(all), reembedBatch)]
		all = all[len(batch):]
		var ids []int64
		var vecs [][]float32
		for _, t := range batch {
			d, err := decodeImage(0, t.data, int(^uint(0)>>1), 0)
			var v []float32
			if err == nil {
				v, err = c.embedQuery(d.img)
			}
			if err != nil {
				failed++
				c.log.Error("cannot embed learned view", "id", t.id, "err", err)
				continue
			}
			ids, vecs = append(ids, t.id), append(vecs, v)
		}
		if err := c.storeLearnedVectors(ctx, ids, vecs); err != nil {
			return err
		}
	}
	c.stats.ReembedFailed += failed
	return nil
}

// storeLearnedVectors writes re-embedded learned views' vectors in one transaction.
func (c *Catalog) storeLearnedVectors(ctx context.Context, ids []int64, vecs [][]float32) (err error) {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("data: store learned vectors: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err = bumpLearnedGeneration(ctx, tx); err != nil {
		return err
	}
	for i, id := range ids {
		if _, err = tx.ExecContext(ctx, "INSERT INTO learned_vectors (view_id, model, vector) VALUES (?, ?, ?)", id, c.fp, encodeVector(vecs[i])); err != nil {
			return fmt.Errorf("data: store learned vectors: %w", err)
		}
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("data: store learned vectors: %w", err)
	}
	return nil
}

// embedStored decodes and embeds stored images on a few goroutines. errs[i] is image i's
// own failure; err is a database failure.
func (c *Catalog) embedStored(ctx context.Context, imageIDs []int64) (views [][][]float32, errs []error, err error) {
	data := make(map[int64][]byte, len(imageIDs))
	rows, err := c.db.QueryContext(ctx, "SELECT id, data FROM product_images WHERE id IN ("+placeholders(len(imageIDs))+")",
		int64sAsArgs(imageIDs)...)
	if err != nil {
		return nil, nil, fmt.Errorf("data: read stored images: %w", err)
	}
	for rows.Next() {
		var id int64
		var b []byte
		if err := rows.Scan(&id, &b); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("data: read stored images: %w", err)
		}
		data[id] = b
	}
	if err := closeRows(rows); err != nil {
		return nil, nil, fmt.Errorf("data: read stored images: %w", err)
	}
	views = make([][][]float32, len(imageIDs))
	errs = make([]error, len(imageIDs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(cores.N(), len(imageIDs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				// Stored images passed validation when added; MaxPixels may have been lowered
				// since, but refusing an image already in the catalog helps nobody.
				d, err := decodeImage(i, data[imageIDs[i]], int(^uint(0)>>1), 0)
				if err == nil {
					views[i], err = c.embedOne(d.img)
				}
				errs[i] = err
			}
		}()
	}
	for i := range imageIDs {
		next <- i
	}
	close(next)
	wg.Wait()
	return views, errs, nil
}

// storeEmbeddings writes the vectors of a batch of images in one transaction.
func (c *Catalog) storeEmbeddings(ctx context.Context, imageIDs []int64, views [][][]float32) (err error) {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("data: store vectors: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, err = bumpGeneration(ctx, tx); err != nil {
		return err
	}
	ins, err := tx.PrepareContext(ctx, "INSERT INTO embeddings (image_id, model, view, vector) VALUES (?, ?, ?, ?)")
	if err != nil {
		return fmt.Errorf("data: store vectors: %w", err)
	}
	defer ins.Close()
	for i, vs := range views {
		for view, v := range vs {
			if _, err = ins.ExecContext(ctx, imageIDs[i], c.fp, view, encodeVector(v)); err != nil {
				return fmt.Errorf("data: store vectors: %w", err)
			}
		}
	}
	if err = tx.Commit(); err != nil {
		return fmt.Errorf("data: store vectors: %w", err)
	}
	return nil
}
