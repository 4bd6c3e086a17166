package data

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The catalog of record (Options.RecordURL, `catalog_url`): PostgreSQL holds the truth for
// every node, and each node's data directory holds a replica of it (catalog.db with its
// index files) that Search and Recognise run from, so recognition goes on while the record
// is unreachable.
//
// A change is written to the record in one transaction that also takes the next number of
// the change feed (change_seq, whose row lock orders the writers, so the numbers are
// gap-free and in commit order), lists what it changed in changes, and notifies the
// channel recordChannel. Each node listens on that channel and applies, in order, every
// change after the last one its replica applied (replica.go): the node that made the change
// too, before its call returns. A node that was away (a restart, a lost connection, a missed
// notification) catches up from its replica's number; nothing is ever polled in full.

// recordChannel is the LISTEN/NOTIFY channel of the change feed; the payload is the number.
const recordChannel = "ebrcs_catalog"

// Kinds of change in the feed.
const (
	changeProductAdded   = "product_added"
	changeProductUpdated = "product_updated" // name, SKU or price
	changeProductRemoved = "product_removed"
	changeProductImages  = "product_images_changed" // photos added or removed; see productimages.go
	changeLearnedAdded   = "learned_added"
	changeLearnedRemoved = "learned_removed"
)

// recordTimeout bounds one exchange with the record, so that a write to a database that
// hangs is refused (ErrCatalogUnavailable) rather than left waiting.
const recordTimeout = 10 * time.Second

// pgRecord is the PostgreSQL record.
type pgRecord struct {
	url  string
	pool *pgxpool.Pool
	log  *slog.Logger
}

// openRecord makes the connection pool; it does not wait for the database, which may be
// down when a node starts (the node then serves from its replica).
func openRecord(url string, log *slog.Logger) (*pgRecord, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("data: catalog URL: %w", err)
	}
	cfg.MaxConns = 4
	cfg.ConnConfig.ConnectTimeout = 3 * time.Second
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		return nil, fmt.Errorf("data: catalog URL: %w", err)
	}
	return &pgRecord{url: url, pool: pool, log: log}, nil
}

func (r *pgRecord) close() { r.pool.Close() }

// change is one row of the feed.
type change struct {
	seq  int64
	kind string
	ref  int64
}

// identity returns the record's catalog id and its last change number.
func (r *pgRecord) identity(ctx context.Context) (id string, seq int64, err error) {
	err = r.pool.QueryRow(ctx, "SELECT s.catalog_id, c.seq FROM catalog_state s, change_seq c").Scan(&id, &seq)
	return id, seq, unavailable(err)
}

// changesSince returns the changes of the (at most n) transactions numbered after seq, in
// order. A number is taken under the row lock of change_seq, held until the commit, so
// transactions become visible in the order of their numbers: none can appear later below
// one already seen.
func (r *pgRecord) changesSince(ctx context.Context, seq int64, n int) ([]change, error) {
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	rows, err := r.pool.Query(ctx, `SELECT seq, kind, ref FROM changes WHERE seq IN
		(SELECT DISTINCT seq FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2) ORDER BY seq, ord`, seq, n)
	if err != nil {
		return nil, unavailable(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (change, error) {
		var ch change
		err := row.Scan(&ch.seq, &ch.kind, &ch.ref)
		return ch, err
	})
	return out, unavailable(err)
}

// changeWriter lists what a write transaction changes.
type changeWriter struct {
	tx  pgx.Tx
	seq int64
	ord int
}

func (w *changeWriter) note(ctx context.Context, kind string, ref int64) error {
	w.ord++
	_, err := w.tx.Exec(ctx, "INSERT INTO changes (seq, ord, kind, ref) VALUES ($1, $2, $3, $4)", w.seq, w.ord, kind, ref)
	return err
}

// write runs fn in one transaction that takes the next change number first and notifies the
// nodes at commit. It returns the number. Errors from fn that are ours (ErrNotFound,
// ErrDuplicateName, ...) come back as they are; a database that cannot be reached, or that
// went away before the commit was acknowledged, is ErrCatalogUnavailable.
func (r *pgRecord) write(ctx context.Context, fn func(w *changeWriter) error) (int64, error) {
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	var seq int64
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, "UPDATE change_seq SET seq = seq + 1 RETURNING seq").Scan(&seq); err != nil {
			return err
		}
		w := &changeWriter{tx: tx, seq: seq}
		if err := fn(w); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "SELECT pg_notify($1, $2)", recordChannel, strconv.FormatInt(seq, 10))
		return err
	})
	if err != nil {
		return 0, unavailable(err)
	}
	return seq, nil
}

// recordProduct is a product as the record holds it, with its images and the vectors of one
// embedder, ordered as the replica stores them.
type recordProduct struct {
	id         int64
	name, key  string
	sku        *string
	price      *int64
	created    time.Time
	images     []recordImage
	vectorRows []vectorRow // ordered by id
}

type recordImage struct {
	id, productID int64
	position      int
	data          []byte
	sha256, mime  string
	width, height int
}

type vectorRow struct {
	id, imageID int64
	view        int
	blob        []byte
}

// addProduct writes a product with its images and vectors, and deletes the "none" answers
// it explains, in one transaction.
func (r *pgRecord) addProduct(ctx context.Context, fp, name, key, sku string, price *int64, created time.Time,
	imgs []*decodedImage, views [][][]float32, dropNones []evicted) (pid, seq int64, err error) {
	seq, err = r.write(ctx, func(w *changeWriter) error {
		if err := w.deleteNones(ctx, dropNones); err != nil {
			return err
		}
		var skuArg *string
		if sku != "" {
			skuArg = &sku
		}
		err := w.tx.QueryRow(ctx, `INSERT INTO products (name, name_key, sku, price_cents, created_at)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`, name, key, skuArg, price, created).Scan(&pid)
		if isPGUnique(err, "products_name_key") {
			return fmt.Errorf("%w: %q", ErrDuplicateName, name)
		}
		if err != nil {
			return err
		}
		for i, d := range imgs {
			var imageID int64
			if err := w.tx.QueryRow(ctx, `INSERT INTO product_images (product_id, position, data, sha256, mime, width, height)
				VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`, pid, i+1, d.data, d.sha256, d.mime, d.width, d.height).Scan(&imageID); err != nil {
				return err
			}
			for view, v := range views[i] {
				if _, err := w.tx.Exec(ctx, "INSERT INTO embeddings (image_id, model, view, vector) VALUES ($1, $2, $3, $4)",
					imageID, fp, view, encodeVector(v)); err != nil {
					return err
				}
			}
		}
		return w.note(ctx, changeProductAdded, pid)
	})
	return pid, seq, err
}

// deleteNones deletes the "none" answers gone (those still there, and still none answers),
// each noted as a change, so that every replica drops them.
func (w *changeWriter) deleteNones(ctx context.Context, gone []evicted) error {
	for _, e := range gone {
		tag, err := w.tx.Exec(ctx, "DELETE FROM learned_views WHERE id = $1 AND product_id IS NULL", e.id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() > 0 {
			if err := w.note(ctx, changeLearnedRemoved, e.id); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeProduct deletes a product (its images, vectors and learned views cascade), or
// returns ErrNotFound with nothing changed.
func (r *pgRecord) removeProduct(ctx context.Context, id int64) (int64, error) {
	return r.write(ctx, func(w *changeWriter) error {
		tag, err := w.tx.Exec(ctx, "DELETE FROM products WHERE id = $1", id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: product %d", ErrNotFound, id)
		}
		return w.note(ctx, changeProductRemoved, id)
	})
}

// updateProduct changes a product's name, SKU and price, or returns ErrNotFound or
// ErrDuplicateName with nothing changed.
func (r *pgRecord) updateProduct(ctx context.Context, id int64, name, key, sku string, price *int64) (int64, error) {
	return r.write(ctx, func(w *changeWriter) error {
		tag, err := w.tx.Exec(ctx, "UPDATE products SET name = $1, name_key = $2, sku = $3, price_cents = $4 WHERE id = $5",
			name, key, nullString(sku), price, id)
		if isPGUnique(err, "products_name_key") {
			return fmt.Errorf("%w: %q", ErrDuplicateName, name)
		}
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: product %d", ErrNotFound, id)
		}
		return w.note(ctx, changeProductUpdated, id)
	})
}

// productRow reads a product's own columns; nil when it is gone.
func (r *pgRecord) productRow(ctx context.Context, id int64) (*recordProduct, error) {
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	p := &recordProduct{id: id}
	err := r.pool.QueryRow(ctx, "SELECT name, name_key, sku, price_cents, created_at FROM products WHERE id = $1", id).
		Scan(&p.name, &p.key, &p.sku, &p.price, &p.created)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, unavailable(err)
	}
	return p, nil
}

// addLearned writes a learned view (pid 0: a "none" answer) with its vector, and deletes the
// evicted views, in one transaction.
func (r *pgRecord) addLearned(ctx context.Context, fp string, pid int64, origin string, created time.Time, d *decodedImage,
	vec []float32, evict []evicted) (id, seq int64, err error) {
	seq, err = r.write(ctx, func(w *changeWriter) error {
		for _, e := range evict {
			tag, err := w.tx.Exec(ctx, "DELETE FROM learned_views WHERE id = $1", e.id)
			if err != nil {
				return err
			}
			if tag.RowsAffected() > 0 {
				if err := w.note(ctx, changeLearnedRemoved, e.id); err != nil {
					return err
				}
			}
		}
		var product *int64
		if pid != 0 {
			product = &pid
		}
		err := w.tx.QueryRow(ctx, `INSERT INTO learned_views (product_id, origin, created_at, data, sha256, mime, width, height)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`, product, origin, created, d.data, d.sha256, d.mime, d.width, d.height).Scan(&id)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23503" { // foreign_key_violation: the product is gone
			return fmt.Errorf("%w: product %d", ErrNotFound, pid)
		}
		if err != nil {
			return err
		}
		if _, err := w.tx.Exec(ctx, "INSERT INTO learned_vectors (view_id, model, vector) VALUES ($1, $2, $3)", id, fp, encodeVector(vec)); err != nil {
			return err
		}
		return w.note(ctx, changeLearnedAdded, id)
	})
	return id, seq, err
}

// removeLearned deletes a learned view, or returns ErrNotFound.
func (r *pgRecord) removeLearned(ctx context.Context, id int64) (int64, error) {
	return r.write(ctx, func(w *changeWriter) error {
		tag, err := w.tx.Exec(ctx, "DELETE FROM learned_views WHERE id = $1", id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("%w: learned view %d", ErrNotFound, id)
		}
		return w.note(ctx, changeLearnedRemoved, id)
	})
}

// product reads a product with its images and the vectors of model fp; nil when it is gone.
func (r *pgRecord) product(ctx context.Context, id int64, fp string) (*recordProduct, error) {
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	tx, err := r.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, unavailable(err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	p := &recordProduct{id: id}
	err = tx.QueryRow(ctx, "SELECT name, name_key, sku, price_cents, created_at FROM products WHERE id = $1", id).
		Scan(&p.name, &p.key, &p.sku, &p.price, &p.created)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, unavailable(err)
	}
	rows, err := tx.Query(ctx, `SELECT id, product_id, position, data, sha256, mime, width, height FROM product_images
		WHERE product_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, unavailable(err)
	}
	if p.images, err = pgx.CollectRows(rows, scanRecordImage); err != nil {
		return nil, unavailable(err)
	}
	rows, err = tx.Query(ctx, `SELECT e.id, e.image_id, e.view, e.vector FROM embeddings e JOIN product_images i ON i.id = e.image_id
		WHERE i.product_id = $1 AND e.model = $2 ORDER BY e.id`, id, fp)
	if err != nil {
		return nil, unavailable(err)
	}
	if p.vectorRows, err = pgx.CollectRows(rows, scanVectorRow); err != nil {
		return nil, unavailable(err)
	}
	return p, nil
}

func scanRecordImage(row pgx.CollectableRow) (recordImage, error) {
	var im recordImage
	err := row.Scan(&im.id, &im.productID, &im.position, &im.data, &im.sha256, &im.mime, &im.width, &im.height)
	return im, err
}

func scanVectorRow(row pgx.CollectableRow) (vectorRow, error) {
	var v vectorRow
	err := row.Scan(&v.id, &v.imageID, &v.view, &v.blob)
	return v, err
}

// recordLearned is a learned view as the record holds it, with its vector of one embedder
// (nil when it has none).
type recordLearned struct {
	id        int64
	productID *int64
	origin    string
	created   time.Time
	image     recordImage
	vector    []byte
}

// learned reads a learned view; nil when it is gone.
func (r *pgRecord) learned(ctx context.Context, id int64, fp string) (*recordLearned, error) {
	ctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	v := &recordLearned{id: id}
	err := r.pool.QueryRow(ctx, `SELECT l.product_id, l.origin, l.created_at, l.data, l.sha256, l.mime, l.width, l.height, v.vector
		FROM learned_views l LEFT JOIN learned_vectors v ON v.view_id = l.id AND v.model = $2 WHERE l.id = $1`, id, fp).
		Scan(&v.productID, &v.origin, &v.created, &v.image.data, &v.image.sha256, &v.image.mime, &v.image.width, &v.image.height, &v.vector)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	return v, unavailable(err)
}

// unavailable turns an error that is not an answer from PostgreSQL about the request itself
// (a refused or broken connection, a timeout, a server shutting down or recovering) into
// ErrCatalogUnavailable naming the cause. Our own errors, and the server's answers (a
// constraint, a syntax error), are returned as they are.
func unavailable(err error) error {
	if err == nil || errors.Is(err, ErrCatalogUnavailable) {
		return err
	}
	for _, own := range []error{ErrNotFound, ErrDuplicateName, ErrAlreadyConfirmed, ErrInvalidPurchase, ErrSchemaTooNew,
		ErrTooManyImages, ErrLastImage, pgx.ErrNoRows} {
		if errors.Is(err, own) {
			return err
		}
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code[:2] {
		case "08", "53", "57", "58": // connection, insufficient resources, operator intervention, system
		default:
			return err
		}
	}
	return fmt.Errorf("%w: %v", ErrCatalogUnavailable, err)
}

// isPGUnique reports whether err is a unique violation of the named constraint.
func isPGUnique(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == constraint
}
