package data

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"image"
	"time"
)

// Learning from a cashier's answers. When the recogniser asks, or a cashier corrects a count,
// the answer is a labelled crop of the store's own camera: the best data there is. A
// learned view is that crop, stored like a photo (its bytes, so that a new model can embed it
// again) with its origin and time, and embedded with the query views (EmbedQueries). It joins
// its product's prototype at once, weighing Options.Adapt.LearnedWeight photos, and the fit
// statistics; a product keeps its Options.MaxLearnedViews newest. A "none of these" answer
// goes into the "none" memory instead (product 0), which Recognise reports as Evidence.None
// and which keeps an unknown product that was answered once from being counted as its
// nearest neighbour later; it keeps the Options.MaxNoneViews newest.
//
// Writes are made as AddProduct's are: the slow part (decoding, embedding) first, then one
// SQLite transaction, then the in-memory update under the write lock. Learned views do not
// change the vector index, so they bump their own counter (learned_generation), which only
// scatter.bin is stamped with.

// Origins of a learned view.
const (
	// OriginReview: the recogniser asked, and the cashier answered.
	OriginReview = "review"
	// OriginCorrection: the recogniser counted, and the cashier corrected it.
	OriginCorrection = "correction"
)

// ErrInvalidOrigin: a learned view's origin is neither OriginReview nor OriginCorrection.
var ErrInvalidOrigin = errors.New("data: a learned view's origin must be \"review\" or \"correction\"")

// LearnedView is a stored answer: a crop of a product (ProductID) or of something in none of
// them (ProductID 0, see AddNone).
type LearnedView struct {
	ID        int64     `json:"id"`
	ProductID int64     `json:"product_id"` // 0: a "none" answer
	Origin    string    `json:"origin"`
	CreatedAt time.Time `json:"created_at"`
	MIME      string    `json:"mime"`
	Width     int       `json:"width"`
	Height    int       `json:"height"`
}

// AddLearnedView stores img (a crop as JPEG, PNG, GIF or WebP bytes) as a view of the
// product and returns it once every Recognise sees it. When the product already has
// Options.MaxLearnedViews learned views, its oldest goes. Errors: ErrInvalidOrigin,
// *ImageError, ErrNotFound (no such product), ErrReadOnly, ErrDiskFull, ErrClosed, or the
// embedder's; on any error nothing is stored.
func (c *Catalog) AddLearnedView(productID int64, img []byte, origin string) (LearnedView, error) {
	return c.addLearned(productID, img, origin)
}

// AddNone stores img as a "none of these" answer: the crop showed no product of the catalog.
// The memory keeps the Options.MaxNoneViews newest; registering a product drops those it
// explains (see AdaptOptions.ClearNone). Errors as AddLearnedView's.
func (c *Catalog) AddNone(img []byte, origin string) (LearnedView, error) {
	return c.addLearned(0, img, origin)
}

func (c *Catalog) addLearned(pid int64, img []byte, origin string) (LearnedView, error) {
	ctx := context.Background()
	if origin != OriginReview && origin != OriginCorrection {
		return LearnedView{}, fmt.Errorf("%w: %q", ErrInvalidOrigin, origin)
	}
	if err := c.checkWritable(); err != nil {
		return LearnedView{}, err
	}
	d, err := decodeImage(0, img, c.opts.MaxPixels, c.opts.MaxImageBytes)
	if err != nil {
		return LearnedView{}, err
	}
	vec, err := c.embedQuery(d.img)
	if err != nil {
		return LearnedView{}, fmt.Errorf("data: embed learned view: %w", err)
	}
	created := time.Now().UTC().Truncate(time.Microsecond)

	c.lockWrite()
	defer c.unlockWrite()
	if err := c.checkOpen(); err != nil {
		return LearnedView{}, err
	}
	if pid != 0 {
		c.mu.RLock()
		known := c.products[pid] != nil
		c.mu.RUnlock()
		if !known {
			return LearnedView{}, fmt.Errorf("%w: product %d", ErrNotFound, pid)
		}
	}
	evict, err := c.learnedToEvict(ctx, pid)
	if err != nil {
		return LearnedView{}, err
	}
	if c.record != nil {
		id, seq, err := c.record.addLearned(ctx, c.fp, pid, origin, created, d, vec, evict)
		if err != nil {
			return LearnedView{}, c.recordError(err)
		}
		c.recordWroteLocked(ctx, seq)
		return LearnedView{ID: id, ProductID: pid, Origin: origin, CreatedAt: created, MIME: d.mime, Width: d.width, Height: d.height}, nil
	}
	id, gen, err := c.insertLearned(ctx, pid, origin, created, d, vec, evict)
	if err != nil {
		return LearnedView{}, c.storageError(err)
	}
	c.ad.learnedGen = gen
	if pid == 0 {
		c.applyNonesLocked([]noneView{{id: id, vec: vec}}, evict)
	} else {
		c.applyLearnedLocked(pid, vec, evict)
	}
	c.log.Info("learned view added", "id", id, "product", pid, "origin", origin, "evicted", len(evict))
	return LearnedView{ID: id, ProductID: pid, Origin: origin, CreatedAt: created, MIME: d.mime, Width: d.width, Height: d.height}, nil
}

// embedQuery embeds one crop as the recogniser does, normalised.
func (c *Catalog) embedQuery(img image.Image) ([]float32, error) {
	vecs, err := c.emb.EmbedQueries([]image.Image{img})
	if err != nil {
		return nil, err
	}
	if len(vecs) != 1 {
		return nil, fmt.Errorf("embedder returned %d vectors for one image", len(vecs))
	}
	return normalize(vecs[0], c.dim)
}

// evicted is a learned view leaving its product (or the none memory) to make room: its id
// and its current vector (nil when it has none for this embedder, so was never counted).
type evicted struct {
	id  int64
	vec []float32
}

// learnedToEvict returns the oldest views of product pid (0: the none memory) beyond what
// the cap leaves room for, with one more coming. writeMu is held.
func (c *Catalog) learnedToEvict(ctx context.Context, pid int64) ([]evicted, error) {
	limit, where, args := c.opts.MaxLearnedViews, "l.product_id = ?", []any{c.fp, pid}
	if pid == 0 {
		limit, where, args = c.opts.MaxNoneViews, "l.product_id IS NULL", []any{c.fp}
	}
	rows, err := c.db.QueryContext(ctx, `SELECT l.id, v.vector FROM learned_views l
		LEFT JOIN learned_vectors v ON v.view_id = l.id AND v.model = ? WHERE `+where+` ORDER BY l.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("data: learned views: %w", err)
	}
	var all []evicted
	for rows.Next() {
		var e evicted
		var blob []byte
		if err := rows.Scan(&e.id, &blob); err != nil {
			rows.Close()
			return nil, fmt.Errorf("data: learned views: %w", err)
		}
		if blob != nil {
			if e.vec, err = decodeVectorInto(nil, blob, c.dim); err != nil {
				rows.Close()
				return nil, fmt.Errorf("data: learned view %d: %w", e.id, err)
			}
		}
		all = append(all, e)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("data: learned views: %w", err)
	}
	if n := len(all) + 1 - limit; n > 0 {
		return all[:n], nil
	}
	return nil, nil
}

// insertLearned writes the view and its vector and deletes the evicted views in one
// transaction, and returns the view's id and the new learned generation.
func (c *Catalog) insertLearned(ctx context.Context, pid int64, origin string, created time.Time, d *decodedImage,
	vec []float32, evict []evicted) (id, gen int64, err error) {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("data: add learned view: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if gen, err = bumpLearnedGeneration(ctx, tx); err != nil {
		return 0, 0, err
	}
	var product any
	if pid != 0 {
		product = pid
	}
	err = tx.QueryRowContext(ctx, `INSERT INTO learned_views (product_id, origin, created_at, data, sha256, mime, width, height)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`, product, origin, formatTime(created), d.data, d.sha256, d.mime, d.width, d.height).Scan(&id)
	if err != nil {
		return 0, 0, fmt.Errorf("data: add learned view: %w", err)
	}
	if _, err = tx.ExecContext(ctx, "INSERT INTO learned_vectors (view_id, model, vector) VALUES (?, ?, ?)", id, c.fp, encodeVector(vec)); err != nil {
		return 0, 0, fmt.Errorf("data: add learned view: %w", err)
	}
	for _, e := range evict {
		if _, err = tx.ExecContext(ctx, "DELETE FROM learned_views WHERE id = ?", e.id); err != nil {
			return 0, 0, fmt.Errorf("data: evict learned view %d: %w", e.id, err)
		}
	}
	if err = tx.Commit(); err != nil {
		return 0, 0, fmt.Errorf("data: add learned view: commit: %w", err)
	}
	return id, gen, nil
}

// bumpLearnedGeneration is bumpGeneration for learned views (see the migration).
func bumpLearnedGeneration(ctx context.Context, tx *sql.Tx) (int64, error) {
	var gen int64
	err := tx.QueryRowContext(ctx, "UPDATE catalog_state SET learned_generation = learned_generation + 1 RETURNING learned_generation").Scan(&gen)
	if err != nil {
		return 0, fmt.Errorf("data: bump learned generation: %w", err)
	}
	return gen, nil
}

// applyLearnedLocked brings the statistics and product pid's adapted prototype up to date
// with a committed change of its learned views: vec added (nil: none), evict removed.
// writeMu is held.
func (c *Catalog) applyLearnedLocked(pid int64, vec []float32, evict []evicted) {
	changes := 0
	if vec != nil {
		c.ad.sc.add(pid, vec, learnedVector, 0, 1)
		changes++
	}
	for _, e := range evict {
		if e.vec != nil {
			c.ad.sc.add(pid, e.vec, learnedVector, 0, -1)
			changes++
		}
	}
	proto := c.projectPrototypeLocked(pid)
	c.mu.Lock()
	c.updatePrototypeLocked(pid, proto)
	if vec != nil {
		c.stats.LearnedViews++
	}
	c.stats.LearnedViews -= len(evict)
	c.mu.Unlock()
	c.ad.learnedSinceFit += changes
	if c.ad.learnedSinceFit >= c.opts.Adapt.RefitEvery {
		c.requestRefit(0)
	}
}

// applyNonesLocked adds and removes "none" answers, committed, in memory. writeMu is held.
func (c *Catalog) applyNonesLocked(add []noneView, remove []evicted) {
	gone := make(map[int64]bool, len(remove))
	for _, e := range remove {
		gone[e.id] = true
	}
	kept := c.ad.nones[:0]
	for _, n := range c.ad.nones {
		if !gone[n.id] {
			kept = append(kept, n)
		}
	}
	c.ad.nones = append(kept, add...)
	var raw []float32
	for _, n := range add {
		raw = append(raw, n.vec...)
	}
	proj := c.proj.apply(raw)
	c.mu.Lock()
	ids, vecs := c.negIDs[:0:0], c.negProj[:0:0]
	for i, id := range c.negIDs {
		if !gone[id] {
			ids = append(ids, id)
			vecs = append(vecs, c.negProj[i*c.dim:(i+1)*c.dim]...)
		}
	}
	for i, n := range add {
		ids = append(ids, n.id)
		vecs = append(vecs, proj[i*c.dim:(i+1)*c.dim]...)
	}
	c.negIDs, c.negProj = ids, vecs
	c.mu.Unlock()
}

// LearnedViews lists the product's learned views, oldest first (ErrNotFound: no product).
func (c *Catalog) LearnedViews(productID int64) ([]LearnedView, error) {
	if _, err := c.Product(productID); err != nil {
		return nil, err
	}
	return c.listLearned("product_id = ?", productID)
}

// NoneViews lists the "none" memory, oldest first.
func (c *Catalog) NoneViews() ([]LearnedView, error) {
	if err := c.checkOpen(); err != nil {
		return nil, err
	}
	return c.listLearned("product_id IS NULL")
}

func (c *Catalog) listLearned(where string, args ...any) ([]LearnedView, error) {
	rows, err := c.db.Query(`SELECT id, product_id, origin, created_at, mime, width, height FROM learned_views
		WHERE `+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("data: list learned views: %w", err)
	}
	out := []LearnedView{}
	for rows.Next() {
		var v LearnedView
		var pid sql.NullInt64
		var created string
		if err := rows.Scan(&v.ID, &pid, &v.Origin, &created, &v.MIME, &v.Width, &v.Height); err != nil {
			rows.Close()
			return nil, fmt.Errorf("data: list learned views: %w", err)
		}
		v.ProductID = pid.Int64
		if v.CreatedAt, err = time.Parse(timeLayout, created); err != nil {
			rows.Close()
			return nil, fmt.Errorf("data: learned view %d: created_at %q: %w", v.ID, created, err)
		}
		out = append(out, v)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("data: list learned views: %w", err)
	}
	return out, nil
}

// LearnedViewImage returns a learned view's stored bytes and MIME type, or ErrNotFound.
func (c *Catalog) LearnedViewImage(id int64) (data []byte, mime string, err error) {
	if err := c.checkOpen(); err != nil {
		return nil, "", err
	}
	err = c.db.QueryRow("SELECT data, mime FROM learned_views WHERE id = ?", id).Scan(&data, &mime)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", fmt.Errorf("%w: learned view %d", ErrNotFound, id)
	}
	if err != nil {
		return nil, "", fmt.Errorf("data: learned view %d: %w", id, err)
	}
	return data, mime, nil
}

// RemoveLearnedView deletes a learned view or "none" answer (ErrNotFound if there is none):
// a wrong answer stops counting at once.
func (c *Catalog) RemoveLearnedView(id int64) error {
	ctx := context.Background()
	c.lockWrite()
	defer c.unlockWrite()
	if err := c.checkWritable(); err != nil {
		return err
	}
	if c.record != nil {
		seq, err := c.record.removeLearned(ctx, id)
		if err != nil {
			return c.recordError(err)
		}
		c.recordWroteLocked(ctx, seq)
		return nil
	}
	return c.removeLearnedLocked(ctx, id, 0)
}

// removeLearnedLocked deletes a learned view from the database (recording the record's
// change number seq in the same transaction, for a replica; 0: none) and from the
// statistics. writeMu is held.
func (c *Catalog) removeLearnedLocked(ctx context.Context, id, seq int64) error {
	var pid sql.NullInt64
	var blob []byte
	err := c.db.QueryRowContext(ctx, `SELECT l.product_id, v.vector FROM learned_views l
		LEFT JOIN learned_vectors v ON v.view_id = l.id AND v.model = ? WHERE l.id = ?`, c.fp, id).Scan(&pid, &blob)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%w: learned view %d", ErrNotFound, id)
	}
	if err != nil {
		return fmt.Errorf("data: remove learned view %d: %w", id, err)
	}
	e := evicted{id: id}
	if blob != nil {
		if e.vec, err = decodeVectorInto(nil, blob, c.dim); err != nil {
			return fmt.Errorf("data: learned view %d: %w", id, err)
		}
	}
	gen, err := c.deleteLearned(ctx, id, seq)
	if err != nil {
		return c.storageError(err)
	}
	c.ad.learnedGen = gen
	if pid.Valid {
		c.applyLearnedLocked(pid.Int64, nil, []evicted{e})
	} else {
		c.applyNonesLocked(nil, []evicted{e})
	}
	c.log.Info("learned view removed", "id", id, "product", pid.Int64)
	return nil
}

func (c *Catalog) deleteLearned(ctx context.Context, id, seq int64) (gen int64, err error) {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("data: remove learned view: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if gen, err = bumpLearnedGeneration(ctx, tx); err != nil {
		return 0, err
	}
	if _, err = tx.ExecContext(ctx, "DELETE FROM learned_views WHERE id = ?", id); err != nil {
		return 0, fmt.Errorf("data: remove learned view: %w", err)
	}
	if err = noteApplied(ctx, tx, seq); err != nil {
		return 0, err
	}
	if err = tx.Commit(); err != nil {
		return 0, fmt.Errorf("data: remove learned view: commit: %w", err)
	}
	return gen, nil
}
