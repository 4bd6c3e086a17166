package data

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
)

// A product's photos change in place: photos are added to it and removed from it, keeping
// between 1 and Options.MaxImages. Recognition follows at once: the photos' vectors join or
// leave the vector index, the product's prototypes (cosine and adapted) and the adapted
// statistics under the write lock, as AddProduct's do. Photos are addressed by position,
// 1..Product.Images, as Image reads them; removing one moves the photos after it down by one.
//
// Writes are made as AddProduct's are: decoding and embedding first, without a lock; then one
// SQLite transaction (or, with a catalog of record, one PostgreSQL transaction that every
// replica applies, this node's before the call returns); then the in-memory update. Adding
// photos also drops the "none" answers the product now explains, as AddProduct does: a
// cashier's "none of these" for a view that the product's photos did not show would
// otherwise keep blocking it.

// AddProductImages decodes and embeds images (JPEG, PNG, GIF or WebP bytes, as AddProduct
// takes them) and adds them to product id after its photos. It returns the product once
// every search sees the new photos. The "none" answers that the product's prototype, with
// the new photos, explains better than any prototype did before (its own included), are
// deleted in the same write (see nonesExplainedLocked).
//
// Errors: ErrNoImages (none given), ErrTooManyImages (the product would have more than
// Options.MaxImages photos), ErrNotFound, *ImageError (which of images, and why),
// ErrReadOnly, ErrDiskFull, ErrCatalogUnavailable, ErrClosed, or the embedder's. On any error
// nothing is stored and the product is as it was.
func (c *Catalog) AddProductImages(id int64, images [][]byte) (*Product, error) {
	ctx := context.Background()
	if len(images) == 0 {
		return nil, ErrNoImages
	}
	if err := c.checkWritable(); err != nil {
		return nil, err
	}
	// Refuse an unknown product, or one without room, before the expensive embedding; the
	// write checks again, where no other change can come in between.
	p, err := c.Product(id)
	if err != nil {
		return nil, err
	}
	if err := c.checkRoom(id, p.Images, len(images)); err != nil {
		return nil, err
	}
	imgs := make([]*decodedImage, len(images))
	for i, b := range images {
		if imgs[i], err = decodeImage(i, b, c.opts.MaxPixels, c.opts.MaxImageBytes); err != nil {
			return nil, err
		}
	}
	views, err := c.embedImages(imgs)
	if err != nil {
		return nil, err
	}

	c.lockWrite()
	defer c.unlockWrite()
	if err := c.checkOpen(); err != nil {
		return nil, err
	}
	explained := c.nonesExplainedLocked(c.prototypeWithPhotosLocked(id, views))
	if c.record != nil {
		seq, err := c.record.addProductImages(ctx, c.fp, id, imgs, views, c.opts.MaxImages, explained)
		if err != nil {
			return nil, c.recordError(err)
		}
		c.recordWroteLocked(ctx, seq)
		return c.Product(id)
	}
	added, gen, learnedGen, err := c.insertImages(ctx, id, imgs, views, explained)
	if err != nil {
		return nil, c.storageError(err)
	}
	c.applyPhotosLocked(id, added, photoVectors{}, gen)
	c.dropNonesLocked(explained, learnedGen)
	c.log.Info("product photos added", "id", id, "images", len(imgs), "vectors", len(added.ids), "nones_dropped", len(explained))
	return c.Product(id)
}

// RemoveProductImage removes the photo at position (1..Product.Images) from product id; the
// photos after it move down by one. It returns the product once no search matches the
// photo any more.
//
// Errors: ErrNotFound (no such product or photo), ErrLastImage (it is the product's only
// photo), ErrReadOnly, ErrDiskFull, ErrCatalogUnavailable, ErrClosed. On any error nothing is
// changed.
func (c *Catalog) RemoveProductImage(id int64, position int) (*Product, error) {
	ctx := context.Background()
	if err := c.checkWritable(); err != nil {
		return nil, err
	}
	c.lockWrite()
	defer c.unlockWrite()
	if err := c.checkOpen(); err != nil {
		return nil, err
	}
	if c.record != nil {
		seq, err := c.record.removeProductImage(ctx, id, position)
		if err != nil {
			return nil, c.recordError(err)
		}
		c.recordWroteLocked(ctx, seq)
		return c.Product(id)
	}
	// The photo's vectors are read before the delete cascades them away; writeMu keeps
	// them from changing meanwhile.
	gone, err := c.readPhotoVectors(ctx, "i.product_id = ? AND i.position = ?", id, position)
	if err != nil {
		return nil, err
	}
	gen, err := c.deleteImage(ctx, id, position)
	if err != nil {
		return nil, c.storageError(err)
	}
	c.applyPhotosLocked(id, photoVectors{}, gone, gen)
	c.log.Info("product photo removed", "id", id, "position", position, "vectors", len(gone.ids))
	return c.Product(id)
}

// checkRoom refuses adding n photos to a product that has have.
func (c *Catalog) checkRoom(id int64, have, n int) error {
	if have+n > c.opts.MaxImages {
		return fmt.Errorf("%w: product %d has %d photos, %d more would make %d, at most %d",
			ErrTooManyImages, id, have, n, have+n, c.opts.MaxImages)
	}
	return nil
}

// checkRemovable refuses removing photo position of a product that has have photos.
func checkRemovable(id int64, position, have int) error {
	switch {
	case position < 1 || position > have:
		return fmt.Errorf("%w: product %d has no photo %d (it has %d)", ErrNotFound, id, position, have)
	case have == 1:
		return fmt.Errorf("%w: photo %d is product %d's only one", ErrLastImage, position, id)
	}
	return nil
}

// photoVectors are photo vectors of the current embedder: their ids, the image each is a
// view of, and the vectors concatenated, in the same order.
type photoVectors struct {
	ids, images []int64
	flat        []float32
}

func (pv *photoVectors) add(id, image int64, v []float32) {
	pv.ids = append(pv.ids, id)
	pv.images = append(pv.images, image)
	pv.flat = append(pv.flat, v...)
}

// photos is how many images the vectors are views of.
func (pv photoVectors) photos() int {
	seen := map[int64]bool{}
	for _, im := range pv.images {
		seen[im] = true
	}
	return len(seen)
}

// readPhotoVectors reads the current embedder's photo vectors of the images that where
// selects (on product_images i), by id.
func (c *Catalog) readPhotoVectors(ctx context.Context, where string, args ...any) (photoVectors, error) {
	var pv photoVectors
	rows, err := c.db.QueryContext(ctx, `SELECT e.id, e.image_id, e.vector FROM embeddings e JOIN product_images i ON i.id = e.image_id
		WHERE `+where+` AND e.model = ? ORDER BY e.id`, append(args, c.fp)...)
	if err != nil {
		return pv, fmt.Errorf("data: read photo vectors: %w", err)
	}
	for rows.Next() {
		var id, image int64
		var blob []byte
		if err := rows.Scan(&id, &image, &blob); err != nil {
			rows.Close()
			return pv, fmt.Errorf("data: read photo vectors: %w", err)
		}
		v, err := decodeVectorInto(nil, blob, c.dim)
		if err != nil {
			rows.Close()
			return pv, fmt.Errorf("data: vector %d: %w", id, err)
		}
		pv.add(id, image, v)
	}
	if err := closeRows(rows); err != nil {
		return pv, fmt.Errorf("data: read photo vectors: %w", err)
	}
	return pv, nil
}

// imageCount returns how many photos product id has and its last position, or ErrNotFound.
func imageCount(ctx context.Context, tx *sql.Tx, id int64) (n, last int, err error) {
	err = tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM product_images WHERE product_id = p.id),
		(SELECT coalesce(max(position), 0) FROM product_images WHERE product_id = p.id) FROM products p WHERE p.id = ?`, id).Scan(&n, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("%w: product %d", ErrNotFound, id)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("data: product %d: %w", id, err)
	}
	return n, last, nil
}

// insertImages writes images and their vectors after product id's photos, and deletes the
// none answers dropNones, in one transaction. It returns what it added and the new
// generations (learnedGen 0 when no none answer was dropped).
func (c *Catalog) insertImages(ctx context.Context, id int64, imgs []*decodedImage, views [][][]float32,
	dropNones []evicted) (added photoVectors, gen, learnedGen int64, err error) {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return added, 0, 0, fmt.Errorf("data: add photos: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	n, last, err := imageCount(ctx, tx, id)
	if err != nil {
		return added, 0, 0, err
	}
	if err = c.checkRoom(id, n, len(imgs)); err != nil {
		return added, 0, 0, err
	}
	if gen, err = bumpGeneration(ctx, tx); err != nil {
		return added, 0, 0, err
	}
	if learnedGen, err = deleteNones(ctx, tx, dropNones); err != nil {
		return added, 0, 0, err
	}
	for i, d := range imgs {
		var imageID int64
		err = tx.QueryRowContext(ctx, `INSERT INTO product_images (product_id, position, data, sha256, mime, width, height)
			VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`, id, last+1+i, d.data, d.sha256, d.mime, d.width, d.height).Scan(&imageID)
		if err != nil {
			return added, 0, 0, fmt.Errorf("data: add photo %d: %w", i, err)
		}
		for view, v := range views[i] {
			var vid int64
			err = tx.QueryRowContext(ctx, "INSERT INTO embeddings (image_id, model, view, vector) VALUES (?, ?, ?, ?) RETURNING id",
				imageID, c.fp, view, encodeVector(v)).Scan(&vid)
			if err != nil {
				return added, 0, 0, fmt.Errorf("data: add vector: %w", err)
			}
			added.add(vid, imageID, v)
		}
	}
	if err = tx.Commit(); err != nil {
		return added, 0, 0, fmt.Errorf("data: add photos: commit: %w", err)
	}
	return added, gen, learnedGen, nil
}

// deleteImage deletes product id's photo at position (its vectors cascade) and moves the
// photos after it down by one, in one transaction, and returns the new generation.
func (c *Catalog) deleteImage(ctx context.Context, id int64, position int) (gen int64, err error) {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("data: remove photo: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	n, _, err := imageCount(ctx, tx, id)
	if err != nil {
		return 0, err
	}
	if err = checkRemovable(id, position, n); err != nil {
		return 0, err
	}
	if gen, err = bumpGeneration(ctx, tx); err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, "DELETE FROM product_images WHERE product_id = ? AND position = ?", id, position)
	if err != nil {
		return 0, fmt.Errorf("data: remove photo: %w", err)
	}
	if k, _ := res.RowsAffected(); k == 0 {
		return 0, fmt.Errorf("%w: product %d has no photo %d", ErrNotFound, id, position)
	}
	// One row at a time, upwards: each moves into the place just freed, so (product_id,
	// position) stays unique throughout.
	rows, err := tx.QueryContext(ctx, "SELECT id FROM product_images WHERE product_id = ? AND position > ? ORDER BY position", id, position)
	if err != nil {
		return 0, fmt.Errorf("data: remove photo: %w", err)
	}
	var after []int64
	for rows.Next() {
		var im int64
		if err = rows.Scan(&im); err != nil {
			rows.Close()
			return 0, fmt.Errorf("data: remove photo: %w", err)
		}
		after = append(after, im)
	}
	if err = closeRows(rows); err != nil {
		return 0, fmt.Errorf("data: remove photo: %w", err)
	}
	for _, im := range after {
		if _, err = tx.ExecContext(ctx, "UPDATE product_images SET position = position - 1 WHERE id = ?", im); err != nil {
			return 0, fmt.Errorf("data: remove photo: renumber: %w", err)
		}
	}
	if err = tx.Commit(); err != nil {
		return 0, fmt.Errorf("data: remove photo: commit: %w", err)
	}
	return gen, nil
}

// prototypeWithPhotosLocked returns product pid's adapted prototype, projected as
// projectPrototypeLocked does, as it will be once photos with these views are added: what
// applyPhotosLocked will index. writeMu is held.
func (c *Catalog) prototypeWithPhotosLocked(pid int64, views [][][]float32) []float32 {
	p := productSums{photoSum: make([]float32, c.dim)}
	if ps := c.ad.sc.products[pid]; ps != nil {
		p = *ps
		p.photoSum = slices.Clone(ps.photoSum)
	}
	for _, vs := range views {
		p.photos++
		for _, v := range vs {
			p.photoVecs++
			for i, x := range v {
				p.photoSum[i] += x
			}
		}
	}
	return c.proj.applyRows(p.rawMean(c.dim, c.opts.Adapt.LearnedWeight))
}

// applyPhotosLocked brings the in-memory state up to a committed change of product pid's
// photos: the vectors of added join, those of gone leave the vector index, the statistics
// and both prototypes, all at once for searches; gen is the change's generation. FAISS
// failing to add (out of memory) marks the index suspect: it is rebuilt from the database,
// which holds the change whole, while the prototypes already match with it. writeMu is held.
func (c *Catalog) applyPhotosLocked(pid int64, added, gone photoVectors, gen int64) {
	sc := c.ad.sc
	sc.add(pid, gone.flat, photoVector, gone.photos(), -1)
	sc.add(pid, added.flat, photoVector, added.photos(), 1)
	aproto := c.projectPrototypeLocked(pid)
	var proto []float32 // the cosine prototype: the normalised sum of its photo vectors
	if ps := sc.products[pid]; ps != nil && ps.photoVecs > 0 {
		sum := make([]float64, c.dim)
		for i, v := range ps.photoSum {
			sum[i] = float64(v)
		}
		proto = normalised(sum)
	}

	c.mu.Lock()
	if len(added.ids) > 0 {
		if err := c.idx.add(added.flat, added.ids); err != nil {
			c.suspect = true
			c.log.Error("could not index a product's new photos; rebuilding the index", "id", pid, "err", err)
		}
	}
	if len(gone.ids) > 0 && c.idx.kind == IndexFlat {
		// An HNSW graph keeps them as tombstones, unreachable once out of owner.
		if n, err := c.idx.remove(gone.ids); err != nil || n != len(gone.ids) {
			c.suspect = true
			c.log.Error("index removal did not match the database; rebuilding", "product", pid, "removed", n, "want", len(gone.ids), "err", err)
		}
	}
	p := c.products[pid]
	if p == nil { // cannot be: the change was committed for a known product
		p = &liveProduct{}
		c.products[pid] = p
	}
	had := p.vectors > 0
	for _, v := range gone.ids {
		if _, ok := c.owner[v]; ok {
			delete(c.owner, v)
			p.vectors--
		}
	}
	for _, v := range added.ids {
		c.owner[v] = pid
	}
	p.vectors += len(added.ids)
	switch has := p.vectors > 0; {
	case has && !had:
		c.searchable++
	case had && !has:
		c.searchable--
	}
	if _, err := c.protos.remove([]int64{pid}); err != nil {
		c.log.Error("could not update the product's prototype", "id", pid, "err", err)
	} else if proto != nil {
		if err := c.protos.add(proto, []int64{pid}); err != nil {
			c.log.Error("could not update the product's prototype", "id", pid, "err", err)
		}
	}
	c.updatePrototypeLocked(pid, aproto)
	c.generation = gen
	if kind, why, ok := c.needsRebuildLocked(); ok {
		c.scheduleRebuildLocked(kind, why)
	}
	c.mu.Unlock()
	c.dirty = true
	c.requestRefit(c.opts.Adapt.RefitDelay)
}
