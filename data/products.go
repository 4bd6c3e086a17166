package data

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"image"
	"sync"
	"time"
)

// AddProduct validates p, decodes and embeds its images, and registers it. It returns once
// the product is searchable.
//
// Errors: ErrInvalidName, ErrInvalidSKU, ErrInvalidPrice, ErrNoImages, ErrTooManyImages,
// *ImageError (which image and why), ErrDuplicateName, ErrClosed, or the embedder's error.
// On any error nothing is written: no product row, no image, no vector.
//
// The slow part (decoding, embedding) runs without any lock, so searches and other adds go
// on meanwhile. Then one SQLite transaction inserts the product, its images and vectors; only
// after it commits are the vectors added to the live index, under the write lock, all at
// once. The index file is then saved (see unlockWrite).
func (c *Catalog) AddProduct(p NewProduct) (*Product, error) {
	ctx := context.Background()
	name, err := cleanName(p.Name)
	if err != nil {
		return nil, err
	}
	key := foldName(name)
	sku, err := cleanSKU(p.SKU)
	if err != nil {
		return nil, err
	}
	var price *int64
	if p.PriceCents != nil {
		if *p.PriceCents < 0 {
			return nil, fmt.Errorf("%w: %d cents", ErrInvalidPrice, *p.PriceCents)
		}
		v := *p.PriceCents
		price = &v
	}
	switch n := len(p.Images); {
	case n == 0:
		return nil, ErrNoImages
	case n > c.opts.MaxImages:
		return nil, fmt.Errorf("%w: %d images, at most %d", ErrTooManyImages, n, c.opts.MaxImages)
	}
	if err := c.checkWritable(); err != nil {
		return nil, err
	}
	// Refuse a duplicate before the expensive embedding. The UNIQUE index still decides
	// when two admins race.
	var one int
	switch err := c.db.QueryRowContext(ctx, "SELECT 1 FROM products WHERE name_key = ?", key).Scan(&one); {
	case err == nil:
		return nil, fmt.Errorf("%w: %q", ErrDuplicateName, name)
	case !errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("data: add product: %w", err)
	}
	imgs := make([]*decodedImage, len(p.Images))
	for i, b := range p.Images {
		if imgs[i], err = decodeImage(i, b, c.opts.MaxPixels, c.opts.MaxImageBytes); err != nil {
			return nil, err
		}
	}
	views, err := c.embedImages(imgs)
	if err != nil {
		return nil, err
	}
	created := time.Now().UTC().Truncate(time.Microsecond)

	c.lockWrite()
	defer c.unlockWrite()
	if err := c.checkOpen(); err != nil {
		return nil, err
	}
	var all []float32
	for _, vs := range views {
		for _, v := range vs {
			all = append(all, v...)
		}
	}
	aproto := c.proj.applyRows(meanRow(all, c.dim))
	explained := c.nonesExplainedLocked(aproto)
	if c.record != nil {
		// One transaction in the record; this replica applies it as every other node does.
		pid, seq, err := c.record.addProduct(ctx, c.fp, name, key, sku, price, created, imgs, views, explained)
		if err != nil {
			return nil, c.recordError(err)
		}
		c.recordWroteLocked(ctx, seq)
		return &Product{ID: pid, Name: name, SKU: sku, PriceCents: price, Images: len(imgs), CreatedAt: created}, nil
	}
	in, err := c.insertProduct(ctx, name, key, sku, price, created, imgs, views, explained)
	if err != nil {
		return nil, c.storageError(err)
	}
	pid, ids, flat := in.pid, in.ids, in.flat
	if err := c.indexProductLocked(pid, name, ids, flat, len(imgs), in.gen, aproto); err != nil {
		c.dropNonesLocked(explained, in.learnedGen) // committed, and not undone
		return nil, c.undoAdd(ctx, pid, name, ids, in.gen, err)
	}
	c.dropNonesLocked(explained, in.learnedGen)
	c.log.Info("product added", "id", pid, "name", name, "images", len(imgs), "vectors", len(ids), "nones_dropped", len(explained))
	return &Product{ID: pid, Name: name, SKU: sku, PriceCents: price, Images: len(imgs), CreatedAt: created}, nil
}

// indexProductLocked makes a committed product searchable: its vectors (concatenated in
// flat, ids in the same order, the views of photos photos) join the index, the prototypes
// (aproto: its adapted prototype) and the adapted statistics, all at once for searches. An
// error is FAISS failing to add the vectors: the index is then marked suspect and nothing
// else is changed. writeMu is held.
func (c *Catalog) indexProductLocked(pid int64, name string, ids []int64, flat []float32, photos int, gen int64, aproto []float32) error {
	c.mu.Lock()
	if err := c.idx.add(flat, ids); err != nil {
		c.suspect = true
		c.mu.Unlock()
		return err
	}
	c.applyAddLocked(pid, name, ids, gen)
	if err := c.addPrototypeLocked(pid, flat); err != nil {
		// Only FAISS running out of memory gets here; the product's vectors are in, so
		// nearest-neighbour matching still finds it. Say so; the next Open recomputes.
		c.log.Error("could not index the product's prototype", "id", pid, "err", err)
	}
	c.updatePrototypeLocked(pid, aproto)
	if kind, why, ok := c.needsRebuildLocked(); ok {
		c.scheduleRebuildLocked(kind, why)
	}
	c.mu.Unlock()
	c.dirty = true
	c.ad.sc.add(pid, flat, photoVector, photos, 1)
	c.requestRefit(c.opts.Adapt.RefitDelay)
	return nil
}

// meanRow returns the mean of the vectors concatenated in flat, as float64.
func meanRow(flat []float32, dim int) []float64 {
	mean := make([]float64, dim)
	n := float64(len(flat) / dim)
	for i, v := range flat {
		mean[i%dim] += float64(v) / n
	}
	return mean
}

// dropNonesLocked forgets committed deletions of "none" answers. writeMu is held.
func (c *Catalog) dropNonesLocked(gone []evicted, learnedGen int64) {
	if len(gone) > 0 {
		c.ad.learnedGen = learnedGen
		c.applyNonesLocked(nil, gone)
	}
}

// nonesExplainedLocked returns the "none" answers that a new product with this projected
// prototype explains: those it would become the nearest product of, scoring at least
// AdaptOptions.ClearNone (ClearNoneCosine when scoring by cosine). They were most likely
// that product, answered "none" because it was not in the catalog yet; kept, they would
// block it. For photos added to a product (AddProductImages), proto is its prototype with
// them, and its current one is among those it must beat: only what the new photos explain
// is dropped, not an answer given while the product was already recognisable. writeMu is
// held.
func (c *Catalog) nonesExplainedLocked(proto []float32) []evicted {
	if len(c.negIDs) == 0 {
		return nil
	}
	floor := c.opts.Adapt.ClearNone
	if !c.proj.adapted() {
		floor = c.opts.Adapt.ClearNoneCosine
	}
	var out []evicted
	for i, s := range matVec(c.negProj, len(c.negIDs), proto) {
		if s < floor {
			continue
		}
		v := c.negProj[i*c.dim : (i+1)*c.dim]
		if scores, _, err := c.aprotos.search(v, 1); err == nil && len(scores) > 0 && scores[0] >= s {
			continue // an existing product explains it at least as well
		}
		out = append(out, evicted{id: c.negIDs[i]})
	}
	return out
}

// embedImages embeds the images concurrently (the Embedder is safe for concurrent use, and
// an admin waits for the slowest image rather than the sum) and returns each image's views,
// normalised.
func (c *Catalog) embedImages(imgs []*decodedImage) ([][][]float32, error) {
	out := make([][][]float32, len(imgs))
	errs := make([]error, len(imgs))
	var wg sync.WaitGroup
	for i, d := range imgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = c.embedOne(d.img)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("data: embed image %d: %w", i, err)
		}
	}
	return out, nil
}

// embedOne embeds one catalog image and checks what the embedder returned.
func (c *Catalog) embedOne(img image.Image) ([][]float32, error) {
	views, err := c.emb.EmbedCatalog(img)
	if err != nil {
		return nil, err
	}
	if len(views) == 0 {
		return nil, errors.New("embedder returned no vectors")
	}
	for j, v := range views {
		if views[j], err = normalize(v, c.dim); err != nil {
			return nil, fmt.Errorf("view %d: %w", j, err)
		}
	}
	return views, nil
}

// inserted is what insertProduct wrote: the new generations (learnedGen 0 when no none answer
// was dropped), the product id, the vector ids and the vectors concatenated in the same order.
type inserted struct {
	gen, learnedGen, pid int64
	ids                  []int64
	flat                 []float32
}

// insertProduct writes the product, its images and their vectors, and deletes the none
// answers it explains, in one transaction.
func (c *Catalog) insertProduct(ctx context.Context, name, key, sku string, price *int64, created time.Time,
	imgs []*decodedImage, views [][][]float32, dropNones []evicted) (in inserted, err error) {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return inserted{}, fmt.Errorf("data: add product: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if in.gen, err = bumpGeneration(ctx, tx); err != nil {
		return inserted{}, err
	}
	if in.learnedGen, err = deleteNones(ctx, tx, dropNones); err != nil {
		return inserted{}, err
	}
	var skuArg any
	if sku != "" {
		skuArg = sku
	}
	err = tx.QueryRowContext(ctx, `INSERT INTO products (name, name_key, sku, price_cents, created_at)
		VALUES (?, ?, ?, ?, ?) RETURNING id`, name, key, skuArg, price, formatTime(created)).Scan(&in.pid)
	if isDuplicateName(err) {
		return inserted{}, fmt.Errorf("%w: %q", ErrDuplicateName, name)
	}
	if err != nil {
		return inserted{}, fmt.Errorf("data: add product: %w", err)
	}
	insImg, err := tx.PrepareContext(ctx, `INSERT INTO product_images (product_id, position, data, sha256, mime, width, height)
		VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`)
	if err != nil {
		return inserted{}, fmt.Errorf("data: add product: %w", err)
	}
	defer insImg.Close()
	insVec, err := tx.PrepareContext(ctx, `INSERT INTO embeddings (image_id, model, view, vector) VALUES (?, ?, ?, ?) RETURNING id`)
	if err != nil {
		return inserted{}, fmt.Errorf("data: add product: %w", err)
	}
	defer insVec.Close()
	for i, d := range imgs {
		var imageID int64
		if err = insImg.QueryRowContext(ctx, in.pid, i+1, d.data, d.sha256, d.mime, d.width, d.height).Scan(&imageID); err != nil {
			return inserted{}, fmt.Errorf("data: add image %d: %w", i, err)
		}
		for view, v := range views[i] {
			var vid int64
			if err = insVec.QueryRowContext(ctx, imageID, c.fp, view, encodeVector(v)).Scan(&vid); err != nil {
				return inserted{}, fmt.Errorf("data: add vector: %w", err)
			}
			in.ids = append(in.ids, vid)
			in.flat = append(in.flat, v...)
		}
	}
	if err = tx.Commit(); err != nil {
		return inserted{}, fmt.Errorf("data: add product: commit: %w", err)
	}
	return in, nil
}

// deleteNones deletes the "none" answers gone in tx, and returns the new learned generation
// (0 when gone is empty: nothing changed).
func deleteNones(ctx context.Context, tx *sql.Tx, gone []evicted) (learnedGen int64, err error) {
	if len(gone) == 0 {
		return 0, nil
	}
	if learnedGen, err = bumpLearnedGeneration(ctx, tx); err != nil {
		return 0, err
	}
	for _, e := range gone {
		if _, err = tx.ExecContext(ctx, "DELETE FROM learned_views WHERE id = ?", e.id); err != nil {
			return 0, fmt.Errorf("data: drop a none answer: %w", err)
		}
	}
	return learnedGen, nil
}

// applyAddLocked records a committed product in the in-memory maps Search reads.
func (c *Catalog) applyAddLocked(pid int64, name string, ids []int64, gen int64) {
	p := c.products[pid]
	if p == nil {
		p = &liveProduct{name: name}
		c.products[pid] = p
	}
	if p.vectors == 0 && len(ids) > 0 {
		c.searchable++
	}
	p.vectors += len(ids)
	for _, v := range ids {
		c.owner[v] = pid
	}
	c.generation = gen
}

// undoAdd runs when the committed product's vectors could not be added to the live index
// (FAISS out of memory, say). To keep "an error leaves nothing behind", the product is deleted
// again. The live index may hold some of its vectors: they are not in owner, so Search skips
// them, and the index is marked suspect, so it is rebuilt from the database.
func (c *Catalog) undoAdd(ctx context.Context, pid int64, name string, ids []int64, addGen int64, cause error) error {
	gen, derr := c.deleteProduct(ctx, pid, 0)
	c.mu.Lock()
	if derr != nil {
		// The product stays in the database: make it known, the rebuild will index it.
		c.applyAddLocked(pid, name, ids, addGen)
		c.log.Error("could not undo a product whose vectors failed to index", "id", pid, "err", derr)
	} else {
		c.generation = gen
	}
	if kind, why, ok := c.needsRebuildLocked(); ok {
		c.scheduleRebuildLocked(kind, why)
	}
	c.mu.Unlock()
	c.dirty = true
	return fmt.Errorf("data: add product %q: %w", name, cause)
}

// RemoveProduct deletes the product, its images and vectors (ErrNotFound if there is none).
// After it returns, Search never returns the product.
//
// The database rows go in one transaction; then, under the write lock, the vectors leave the
// live index. A flat index deletes them (FAISS RemoveIDs). An HNSW graph cannot, so they stay
// in it as tombstones: they are dropped from the id → product map, which is what Search
// resolves results through, so they are never returned. When tombstones reach 10% of the
// graph, it is rebuilt from the database in the background (see rebuildLoop).
func (c *Catalog) RemoveProduct(id int64) error {
	ctx := context.Background()
	c.lockWrite()
	defer c.unlockWrite()
	if err := c.checkWritable(); err != nil {
		return err
	}
	if c.record != nil {
		seq, err := c.record.removeProduct(ctx, id)
		if err != nil {
			return c.recordError(err)
		}
		c.recordWroteLocked(ctx, seq)
		return nil
	}
	return c.removeLocked(ctx, id, 0)
}

// removeLocked deletes a product from the database (recording change number seq of the
// record in the same transaction, for a replica; 0: none) and from the index. writeMu is
// held.
func (c *Catalog) removeLocked(ctx context.Context, id, seq int64) error {
	// The vectors are read before the delete cascades them away.
	ids, err := c.productVectorIDs(ctx, id)
	if err != nil {
		return err
	}
	vecs, learned, err := c.productVectors(ctx, id)
	if err != nil {
		return err
	}
	gen, err := c.deleteProduct(ctx, id, seq)
	if err != nil {
		return c.storageError(err)
	}
	c.ad.sc.remove(id, vecs)
	c.mu.Lock()
	if c.idx.kind == IndexFlat {
		if n, err := c.idx.remove(ids); err != nil || n != len(ids) {
			c.suspect = true
			c.log.Error("index removal did not match the database; rebuilding", "product", id, "removed", n, "want", len(ids), "err", err)
		}
	}
	for _, v := range ids {
		delete(c.owner, v)
	}
	if _, err := c.protos.remove([]int64{id}); err != nil {
		c.log.Error("could not remove the product's prototype", "id", id, "err", err)
	}
	c.updatePrototypeLocked(id, nil)
	c.stats.LearnedViews -= learned
	if p := c.products[id]; p != nil && p.vectors > 0 {
		c.searchable--
	}
	delete(c.products, id)
	c.generation = gen
	if kind, why, ok := c.needsRebuildLocked(); ok {
		c.scheduleRebuildLocked(kind, why)
	}
	c.mu.Unlock()
	c.dirty = true
	c.requestRefit(c.opts.Adapt.RefitDelay)
	c.log.Info("product removed", "id", id, "vectors", len(ids), "learned_views", learned)
	return nil
}

// productVectors returns the product's photo and learned vectors for the current embedder,
// concatenated, and how many of them are learned views. The caller holds writeMu.
func (c *Catalog) productVectors(ctx context.Context, id int64) (flat []float32, learned int, err error) {
	_, flat, err = c.readVectors(ctx, `SELECT e.id, e.vector FROM embeddings e JOIN product_images i ON i.id = e.image_id
		WHERE i.product_id = ? AND e.model = ?`, id, c.fp)
	if err != nil {
		return nil, 0, err
	}
	lids, lflat, err := c.readVectors(ctx, `SELECT v.view_id, v.vector FROM learned_vectors v JOIN learned_views l ON l.id = v.view_id
		WHERE l.product_id = ? AND v.model = ?`, id, c.fp)
	if err != nil {
		return nil, 0, err
	}
	return append(flat, lflat...), len(lids), nil
}

// productVectorIDs returns the ids of the product's vectors for the current embedder. The
// caller holds writeMu, so they cannot change before the delete.
func (c *Catalog) productVectorIDs(ctx context.Context, id int64) ([]int64, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT e.id FROM embeddings e JOIN product_images i ON i.id = e.image_id
		WHERE i.product_id = ? AND e.model = ?`, id, c.fp)
	if err != nil {
		return nil, fmt.Errorf("data: remove product: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var v int64
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return nil, fmt.Errorf("data: remove product: %w", err)
		}
		ids = append(ids, v)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("data: remove product: %w", err)
	}
	return ids, nil
}

// deleteProduct deletes a product (its images and vectors cascade) and returns the new
// generation, or ErrNotFound with nothing changed. A replica records the record's change
// number seq in the same transaction (0: none).
func (c *Catalog) deleteProduct(ctx context.Context, id, seq int64) (gen int64, err error) {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("data: remove product: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if gen, err = bumpGeneration(ctx, tx); err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, "DELETE FROM products WHERE id = ?", id)
	if err != nil {
		return 0, fmt.Errorf("data: remove product: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return 0, fmt.Errorf("data: remove product: %w", err)
	} else if n == 0 {
		return 0, fmt.Errorf("%w: product %d", ErrNotFound, id)
	}
	if err = noteApplied(ctx, tx, seq); err != nil {
		return 0, err
	}
	if err = tx.Commit(); err != nil {
		return 0, fmt.Errorf("data: remove product: commit: %w", err)
	}
	return gen, nil
}

const productColumns = `p.id, p.name, p.sku, p.price_cents, p.created_at,
	(SELECT count(*) FROM product_images i WHERE i.product_id = p.id)`

// Products lists every product, oldest first.
func (c *Catalog) Products() ([]Product, error) {
	if err := c.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := c.db.Query("SELECT " + productColumns + " FROM products p ORDER BY p.id")
	if err != nil {
		return nil, fmt.Errorf("data: list products: %w", err)
	}
	out := []Product{}
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("data: list products: %w", err)
		}
		out = append(out, *p)
	}
	if err := closeRows(rows); err != nil {
		return nil, fmt.Errorf("data: list products: %w", err)
	}
	return out, nil
}

// Product returns the product with this id, or ErrNotFound.
func (c *Catalog) Product(id int64) (*Product, error) {
	if err := c.checkOpen(); err != nil {
		return nil, err
	}
	p, err := scanProduct(c.db.QueryRow("SELECT "+productColumns+" FROM products p WHERE p.id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: product %d", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("data: product %d: %w", id, err)
	}
	return p, nil
}

// ProductByName returns the product with this name, compared as AddProduct compares names
// (trimmed, case-insensitive), or ErrNotFound.
func (c *Catalog) ProductByName(name string) (*Product, error) {
	if err := c.checkOpen(); err != nil {
		return nil, err
	}
	clean, err := cleanName(name)
	if err != nil {
		return nil, fmt.Errorf("%w: product %q", ErrNotFound, name)
	}
	p, err := scanProduct(c.db.QueryRow("SELECT "+productColumns+" FROM products p WHERE p.name_key = ?", foldName(clean)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: product %q", ErrNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("data: product %q: %w", name, err)
	}
	return p, nil
}

// Image returns the stored bytes and MIME type of a product's image at position 1..Images,
// or ErrNotFound.
func (c *Catalog) Image(productID int64, position int) (data []byte, mime string, err error) {
	if err := c.checkOpen(); err != nil {
		return nil, "", err
	}
	err = c.db.QueryRow("SELECT data, mime FROM product_images WHERE product_id = ? AND position = ?",
		productID, position).Scan(&data, &mime)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", fmt.Errorf("%w: product %d image %d", ErrNotFound, productID, position)
	}
	if err != nil {
		return nil, "", fmt.Errorf("data: product %d image %d: %w", productID, position, err)
	}
	return data, mime, nil
}

type rowScanner interface{ Scan(dest ...any) error }

func scanProduct(r rowScanner) (*Product, error) {
	var p Product
	var sku sql.NullString
	var price sql.NullInt64
	var created string
	if err := r.Scan(&p.ID, &p.Name, &sku, &price, &created, &p.Images); err != nil {
		return nil, err
	}
	p.SKU = sku.String
	if price.Valid {
		v := price.Int64
		p.PriceCents = &v
	}
	t, err := time.Parse(timeLayout, created)
	if err != nil {
		return nil, fmt.Errorf("created_at %q: %w", created, err)
	}
	p.CreatedAt = t
	return &p, nil
}

// timeLayout stores times as UTC text that sorts chronologically and reads well in sqlite3.
const timeLayout = "2006-01-02T15:04:05.000000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func (c *Catalog) checkOpen() error {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return ErrClosed
	}
	return nil
}

// checkWritable refuses a change at once, before any work, when the catalog was opened
// read-only.
func (c *Catalog) checkWritable() error {
	if err := c.checkOpen(); err != nil {
		return err
	}
	if !c.readOnly {
		return nil
	}
	c.mu.Lock()
	c.stats.StorageErrors++
	c.mu.Unlock()
	return fmt.Errorf("%w (%s): it was read-only when the server started; nothing was stored", ErrReadOnly, c.dir)
}

// Search returns the products most similar to vec (an embedding of a crop, from the same
// embedder), best first: at most k distinct products. In MatchPrototype mode (the default) a
// product's score is the cosine with its prototype, searched in the prototype index; in
// MatchNearest mode it is its best vector's score. An empty catalog returns no hits and no error.
//
// It runs under the read lock, concurrently with other searches, and sees every product
// either with all its vectors or not at all.
func (c *Catalog) Search(vec []float32, k int) ([]Hit, error) {
	singleThreadedOMP()
	if k <= 0 {
		return nil, fmt.Errorf("data: Search: k must be positive, got %d", k)
	}
	q, err := normalize(vec, c.dim)
	if err != nil {
		return nil, fmt.Errorf("data: Search: %w", err)
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, ErrClosed
	}
	if c.opts.Match == MatchPrototype {
		return c.searchPrototypesLocked(q, k)
	}
	return c.searchLocked(q, k)
}

// searchLocked asks FAISS for more neighbours than k, since a product has several vectors
// (images × views) and an HNSW graph may hold tombstones: it starts at about twice what k
// distinct products need and quadruples until it has k products, has seen every searchable
// product, or has asked for the whole index.
func (c *Catalog) searchLocked(q []float32, k int) ([]Hit, error) {
	hits := []Hit{}
	if len(c.owner) == 0 {
		return hits, nil
	}
	total := c.idx.ntotal()
	perProduct := (len(c.owner) + c.searchable - 1) / max(c.searchable, 1)
	fetch := min(total, max(2*k*perProduct, k+8))
	for {
		scores, labels, err := c.idx.search(q, fetch)
		if err != nil {
			return nil, fmt.Errorf("data: Search: %w", err)
		}
		hits = hits[:0]
		seen := make(map[int64]struct{}, k)
		for i, id := range labels {
			if id < 0 {
				break // fewer results than asked for
			}
			pid, ok := c.owner[id]
			if !ok {
				continue // a tombstone
			}
			if _, dup := seen[pid]; dup {
				continue // results are best first: the product's best score is already in
			}
			seen[pid] = struct{}{}
			hits = append(hits, Hit{ProductID: pid, Name: c.products[pid].name, Score: scores[i]})
			if len(hits) == k {
				return hits, nil
			}
		}
		if len(hits) >= c.searchable || fetch >= total {
			return hits, nil
		}
		fetch = min(total, 4*fetch)
	}
}
