package data

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// A product's photos changed in the catalog of record (productimages.go): the record's write,
// and a replica applying it (changeProductImages).

// imageCount returns how many photos product id has in the record and its last position, or
// ErrNotFound. Writers are serialised by change_seq's row lock (see write), so nothing
// changes them before the transaction ends.
func (w *changeWriter) imageCount(ctx context.Context, id int64) (n, last int, err error) {
	err = w.tx.QueryRow(ctx, `SELECT (SELECT count(*) FROM product_images WHERE product_id = p.id),
		(SELECT coalesce(max(position), 0) FROM product_images WHERE product_id = p.id) FROM products p WHERE p.id = $1`, id).Scan(&n, &last)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, fmt.Errorf("%w: product %d", ErrNotFound, id)
	}
	return n, last, err
}

// addProductImages writes images and their vectors after product id's photos, and deletes
// the "none" answers dropNones, in one transaction, or returns ErrNotFound or
// ErrTooManyImages (more than maxImages photos) with nothing changed.
func (r *pgRecord) addProductImages(ctx context.Context, fp string, id int64, imgs []*decodedImage, views [][][]float32,
	maxImages int, dropNones []evicted) (int64, error) {
	return r.write(ctx, func(w *changeWriter) error {
		n, last, err := w.imageCount(ctx, id)
		if err != nil {
			return err
		}
		if n+len(imgs) > maxImages {
			return fmt.Errorf("%w: product %d has %d photos, %d more would make %d, at most %d",
				ErrTooManyImages, id, n, len(imgs), n+len(imgs), maxImages)
		}
		if err := w.deleteNones(ctx, dropNones); err != nil {
			return err
		}
		for i, d := range imgs {
			var imageID int64
			if err := w.tx.QueryRow(ctx, `INSERT INTO product_images (product_id, position, data, sha256, mime, width, height)
				VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, id, last+1+i, d.data, d.sha256, d.mime, d.width, d.height).Scan(&imageID); err != nil {
				return err
			}
			for view, v := range views[i] {
				if _, err := w.tx.Exec(ctx, "INSERT INTO embeddings (image_id, model, view, vector) VALUES ($1, $2, $3, $4)",
					imageID, fp, view, encodeVector(v)); err != nil {
					return err
				}
			}
		}
		return w.note(ctx, changeProductImages, id)
	})
}

// removeProductImage deletes product id's photo at position (its vectors cascade) and moves
// the photos after it down by one, or returns ErrNotFound or ErrLastImage with nothing
// changed.
func (r *pgRecord) removeProductImage(ctx context.Context, id int64, position int) (int64, error) {
	return r.write(ctx, func(w *changeWriter) error {
		n, _, err := w.imageCount(ctx, id)
		if err != nil {
			return err
		}
		if err := checkRemovable(id, position, n); err != nil {
			return err
		}
		tag, err := w.tx.Exec(ctx, "DELETE FROM product_images WHERE product_id = $1 AND position = $2", id, position)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: product %d has no photo %d", ErrNotFound, id, position)
		}
		rows, err := w.tx.Query(ctx, "SELECT id FROM product_images WHERE product_id = $1 AND position > $2 ORDER BY position", id, position)
		if err != nil {
			return err
		}
		after, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			return err
		}
		for _, im := range after { // upwards, each into the place just freed
			if _, err := w.tx.Exec(ctx, "UPDATE product_images SET position = position - 1 WHERE id = $1", im); err != nil {
				return err
			}
		}
		return w.note(ctx, changeProductImages, id)
	})
}

// applyRecordImagesLocked makes the replica's photos of product p those of the record (p,
// as read now: it may be ahead of the change being applied, which only makes applying the
// later change a no-op), and brings the index, prototypes and statistics up to date with
// the vectors that came and went. writeMu is held.
func (c *Catalog) applyRecordImagesLocked(ctx context.Context, p *recordProduct, mark int64) error {
	old, err := c.readPhotoVectors(ctx, "i.product_id = ?", p.id)
	if err != nil {
		return err
	}
	was := make(map[int64]bool, len(old.ids))
	for _, id := range old.ids {
		was[id] = true
	}
	var added, gone photoVectors
	now := make(map[int64]bool, len(p.vectorRows))
	for _, v := range p.vectorRows {
		now[v.id] = true
		if was[v.id] {
			continue
		}
		vec, err := decodeVectorInto(nil, v.blob, c.dim)
		if err != nil {
			return fmt.Errorf("vector %d: %w", v.id, err)
		}
		added.add(v.id, v.imageID, vec)
	}
	for i, id := range old.ids {
		if !now[id] {
			gone.add(id, old.images[i], old.flat[i*c.dim:(i+1)*c.dim])
		}
	}
	gen, err := c.storeReplicaImages(ctx, p, mark)
	if err != nil {
		return c.storageError(err)
	}
	c.applyPhotosLocked(p.id, added, gone, gen)
	c.log.Info("product photos changed (catalog database)", "id", p.id, "images", len(p.images),
		"vectors_added", len(added.ids), "vectors_removed", len(gone.ids), "seq", mark)
	return nil
}

// storeReplicaImages replaces the replica's photos of product p, and their vectors, with the
// record's, under the record's ids, in one transaction.
func (c *Catalog) storeReplicaImages(ctx context.Context, p *recordProduct, mark int64) (int64, error) {
	return c.replicaTx(ctx, mark, bumpGeneration, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM product_images WHERE product_id = ?", p.id); err != nil {
			return fmt.Errorf("data: replica: product %d's photos: %w", p.id, err)
		}
		return c.insertReplicaPhotos(ctx, tx, p)
	})
}
