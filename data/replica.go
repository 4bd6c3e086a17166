package data

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// The node's replica of the catalog of record (see record.go). The data directory's
// catalog.db holds the record's rows under the record's ids, plus replica_state: which record
// it copies and the last change it applied, written in the same SQLite transaction as the
// change itself, so that a crash never loses or repeats one. Applying a change goes through
// the same in-memory updates as a local write (the vector index, the prototypes, the
// adapted statistics), under writeMu, so Search and Recognise see a product whole or not at
// all, on every node alike.
//
// At Open the replica is copied whole from the record when it has never been (or copies
// another record, or is ahead of it: a restored backup), writing index.faiss and
// scatter.bin from the vectors as they are copied (replicafiles.go); then it is loaded as a
// single-node catalog is, from those files, and catches up with the changes made since its
// number. Then a listener waits for notifications and catches up
// after each, after every reconnection, and after a quiet minute (a notification lost with a
// connection): one query that returns nothing when nothing changed.

// replicaTable is the replica's state; it exists only in a replica's catalog.db.
const replicaTable = `CREATE TABLE IF NOT EXISTS replica_state (
	singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
	record_id TEXT    NOT NULL,
	seq       INTEGER NOT NULL
)`

// changesPerQuery is how many change numbers one catch-up query asks for.
const changesPerQuery = 500

// replicaState is the replica's position; guarded by writeMu.
type replicaState struct {
	recordID string
	seq      int64
}

// prepareReplica makes the local database a current copy of the record's, or, with the
// record unreachable, serves the copy as it is (refusing a directory that never had one).
// At Open, before the in-memory state is loaded.
func (c *Catalog) prepareReplica(ctx context.Context) error {
	if _, err := c.db.ExecContext(ctx, replicaTable); err != nil {
		return fmt.Errorf("data: replica state: %w", err)
	}
	var localID string
	var localSeq int64
	err := c.db.QueryRowContext(ctx, "SELECT record_id, seq FROM replica_state").Scan(&localID, &localSeq)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("data: replica state: %w", err)
	}
	c.rep = replicaState{recordID: localID, seq: localSeq}
	tctx, cancel := context.WithTimeout(ctx, recordTimeout)
	err = migratePG(tctx, c.record.pool)
	var id string
	var seq int64
	if err == nil {
		id, seq, err = c.record.identity(tctx)
	}
	cancel()
	if err = unavailable(err); err != nil {
		if !errors.Is(err, ErrCatalogUnavailable) || localID == "" {
			return fmt.Errorf("data: the catalog database: %w", err)
		}
		c.log.Warn("the catalog database is unreachable: serving this node's replica as last updated, changes are refused until it is back",
			"seq", localSeq, "err", err)
		return nil
	}
	c.setRecordConnected(true)
	c.warnUnembedded(ctx)
	switch {
	case localID == id && localSeq <= seq:
		return nil // caught up once loaded
	case localID == "":
		var n int
		if err := c.db.QueryRowContext(ctx, "SELECT count(*) FROM products").Scan(&n); err != nil {
			return fmt.Errorf("data: replica: %w", err)
		}
		if n > 0 {
			return fmt.Errorf("data: %s holds a single-node catalog of %d products: give catalog_url a data directory of its own", c.dir, n)
		}
		c.log.Info("first start against the catalog database: copying it")
	case localID != id:
		c.log.Warn("this replica copies another catalog database: copying this one", "replica_of", localID, "database", id)
	default:
		c.log.Warn("this replica is ahead of the catalog database (restored from a backup?): copying it again", "replica_seq", localSeq, "database_seq", seq)
	}
	return c.snapshot(ctx)
}

// warnUnembedded says how many of the record's photos have no vector of this node's
// embedder (a model change): a replica embeds nothing, so those products are not recognised
// here until their vectors are in the record.
func (c *Catalog) warnUnembedded(ctx context.Context) {
	tctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	var n int64
	err := c.record.pool.QueryRow(tctx, `SELECT count(*) FROM product_images i WHERE NOT EXISTS
		(SELECT 1 FROM embeddings e WHERE e.image_id = i.id AND e.model = $1)`, c.fp).Scan(&n)
	if err == nil && n > 0 {
		c.log.Warn("photos in the catalog database have no vectors of this node's embedder: their products are not recognised here "+
			"(a model change needs the new vectors in the database: register the products again)", "photos", n, "model", c.fp)
	}
}

// snapshot replaces the local rows with the record's, as of one moment, in one SQLite
// transaction: products, images, the current embedder's vectors, learned views. Nothing is
// embedded: the vectors are the record's.
func (c *Catalog) snapshot(ctx context.Context) error {
	start := time.Now()
	ptx, err := c.record.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("data: copy the catalog database: %w", unavailable(err))
	}
	defer ptx.Rollback(context.Background()) //nolint:errcheck
	var id string
	var seq int64
	if err := ptx.QueryRow(ctx, "SELECT s.catalog_id, c.seq FROM catalog_state s, change_seq c").Scan(&id, &seq); err != nil {
		return fmt.Errorf("data: copy the catalog database: %w", unavailable(err))
	}
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("data: replica: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck
	gen, err := bumpGeneration(ctx, tx)
	if err != nil {
		return err
	}
	learnedGen, err := bumpLearnedGeneration(ctx, tx)
	if err != nil {
		return err
	}
	var localID string
	if err := tx.QueryRowContext(ctx, "SELECT catalog_id FROM catalog_state").Scan(&localID); err != nil {
		return fmt.Errorf("data: replica: %w", err)
	}
	for _, q := range []string{"DELETE FROM learned_views", "DELETE FROM products"} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("data: replica: %w", err)
		}
	}
	files := newSnapshotFiles(c)
	defer files.close()
	photo := func(vals []any) ([]any, error) { return vals, files.photo(vals[0].(int64), vals[4].([]byte)) }
	learned := func(vals []any) ([]any, error) {
		if vals[3].(bool) { // a product's view; "none" answers are not in the fit
			if err := files.learned(vals[0].(int64), vals[2].([]byte)); err != nil {
				return nil, err
			}
		}
		return vals[:3], nil
	}
	copies := []struct {
		what, from, into string
		args             []any
		tap              func([]any) ([]any, error)
	}{
		{"products", "SELECT id, name, name_key, sku, price_cents, created_at FROM products ORDER BY id",
			"INSERT INTO products (id, name, name_key, sku, price_cents, created_at) VALUES (?, ?, ?, ?, ?, ?)", nil, nil},
		{"images", "SELECT id, product_id, position, data, sha256, mime, width, height FROM product_images ORDER BY id",
			"INSERT INTO product_images (id, product_id, position, data, sha256, mime, width, height) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", nil, nil},
		{"vectors", "SELECT id, image_id, model, view, vector FROM embeddings WHERE model = $1 ORDER BY id",
			"INSERT INTO embeddings (id, image_id, model, view, vector) VALUES (?, ?, ?, ?, ?)", []any{c.fp}, photo},
		{"learned views", "SELECT id, product_id, origin, created_at, data, sha256, mime, width, height FROM learned_views ORDER BY id",
			"INSERT INTO learned_views (id, product_id, origin, created_at, data, sha256, mime, width, height) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", nil, nil},
		{"learned vectors", `SELECT v.view_id, v.model, v.vector, l.product_id IS NOT NULL FROM learned_vectors v
			JOIN learned_views l ON l.id = v.view_id WHERE v.model = $1 ORDER BY v.view_id`,
			"INSERT INTO learned_vectors (view_id, model, vector) VALUES (?, ?, ?)", []any{c.fp}, learned},
	}
	counts := map[string]int{}
	for _, cp := range copies {
		n, err := copyRows(ctx, ptx, tx, cp.from, cp.into, cp.args, cp.tap)
		if err != nil {
			files.finish()
			return fmt.Errorf("data: copy the catalog database's %s: %w", cp.what, err)
		}
		counts[cp.what] = n
	}
	files.finish()
	if _, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO replica_state (singleton, record_id, seq) VALUES (1, ?, ?)", id, seq); err != nil {
		return fmt.Errorf("data: replica: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("data: replica: %w", err)
	}
	files.save(localID, gen, learnedGen)
	c.rep = replicaState{recordID: id, seq: seq}
	c.log.Info("catalog copied from the database", "products", counts["products"], "vectors", counts["vectors"],
		"learned_views", counts["learned views"], "seq", seq, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// copyRows copies the rows of a PostgreSQL query into an SQLite insert with as many
// parameters as the query has columns; times become the replica's text. tap, when set, sees
// each row and returns the values to insert.
func copyRows(ctx context.Context, from pgx.Tx, to *sql.Tx, query, insert string, args []any, tap func([]any) ([]any, error)) (int, error) {
	rows, err := from.Query(ctx, query, args...)
	if err != nil {
		return 0, unavailable(err)
	}
	defer rows.Close()
	ins, err := to.PrepareContext(ctx, insert)
	if err != nil {
		return 0, err
	}
	defer ins.Close()
	n := 0
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return n, unavailable(err)
		}
		for i, v := range vals {
			if t, ok := v.(time.Time); ok {
				vals[i] = formatTime(t)
			}
		}
		if tap != nil {
			if vals, err = tap(vals); err != nil {
				return n, err
			}
		}
		if _, err := ins.ExecContext(ctx, vals...); err != nil {
			return n, err
		}
		n++
	}
	return n, unavailable(rows.Err())
}

// catchUpLocked applies every change of the record after the replica's, in order. writeMu
// is held. On an error the replica stays at the last change applied whole.
func (c *Catalog) catchUpLocked(ctx context.Context) error {
	applied := 0
	defer func() {
		c.mu.Lock()
		c.stats.RecordSeq = c.rep.seq
		c.stats.RecordApplied += applied
		c.mu.Unlock()
	}()
	for {
		changes, err := c.record.changesSince(ctx, c.rep.seq, changesPerQuery)
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			return nil
		}
		for i, ch := range changes {
			mark := int64(0) // the last change of its transaction records the number
			if i == len(changes)-1 || changes[i+1].seq != ch.seq {
				mark = ch.seq
			}
			if err := c.applyChangeLocked(ctx, ch, mark); err != nil {
				return fmt.Errorf("data: apply change %d (%s %d): %w", ch.seq, ch.kind, ch.ref, err)
			}
			if mark > 0 {
				c.rep.seq = mark
			}
			applied++
		}
	}
}

// applyChangeLocked applies one change to the replica and the in-memory state; mark > 0
// records that number as applied in the same SQLite transaction. Applying is idempotent: a
// change whose object is already there (or gone, or already removed) only records the
// number. writeMu is held.
func (c *Catalog) applyChangeLocked(ctx context.Context, ch change, mark int64) error {
	switch ch.kind {
	case changeProductAdded:
		if c.knownProduct(ch.ref) {
			return c.markApplied(ctx, mark)
		}
		p, err := c.record.product(ctx, ch.ref, c.fp)
		if err != nil {
			return err
		}
		if p == nil {
			return c.markApplied(ctx, mark) // removed since: a later change says so
		}
		return c.applyRecordProductLocked(ctx, p, mark)
	case changeProductUpdated:
		p, err := c.record.productRow(ctx, ch.ref)
		if err != nil {
			return err
		}
		if p == nil || !c.knownProduct(ch.ref) {
			return c.markApplied(ctx, mark) // removed since
		}
		return c.applyRecordUpdateLocked(ctx, p, mark)
	case changeProductImages:
		if !c.knownProduct(ch.ref) {
			return c.markApplied(ctx, mark) // removed since
		}
		p, err := c.record.product(ctx, ch.ref, c.fp)
		if err != nil {
			return err
		}
		if p == nil {
			return c.markApplied(ctx, mark) // removed since: a later change says so
		}
		return c.applyRecordImagesLocked(ctx, p, mark)
	case changeProductRemoved:
		if !c.knownProduct(ch.ref) {
			return c.markApplied(ctx, mark)
		}
		return c.removeLocked(ctx, ch.ref, mark)
	case changeLearnedAdded:
		v, err := c.record.learned(ctx, ch.ref, c.fp)
		if err != nil {
			return err
		}
		if v == nil || c.knownLearned(ctx, ch.ref) || (v.productID != nil && !c.knownProduct(*v.productID)) {
			return c.markApplied(ctx, mark)
		}
		return c.applyRecordLearnedLocked(ctx, v, mark)
	case changeLearnedRemoved:
		if !c.knownLearned(ctx, ch.ref) {
			return c.markApplied(ctx, mark)
		}
		return c.removeLearnedLocked(ctx, ch.ref, mark)
	}
	c.log.Warn("unknown kind of change in the catalog database (written by a newer version?): skipped", "seq", ch.seq, "kind", ch.kind)
	return c.markApplied(ctx, mark)
}

func (c *Catalog) knownProduct(id int64) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.products[id] != nil
}

func (c *Catalog) knownLearned(ctx context.Context, id int64) bool {
	var one int
	return c.db.QueryRowContext(ctx, "SELECT 1 FROM learned_views WHERE id = ?", id).Scan(&one) == nil
}

// markApplied records change number seq as applied (a no-op for 0).
func (c *Catalog) markApplied(ctx context.Context, seq int64) error {
	if seq <= 0 {
		return nil
	}
	if _, err := c.db.ExecContext(ctx, "UPDATE replica_state SET seq = ?", seq); err != nil {
		return fmt.Errorf("data: replica state: %w", err)
	}
	c.rep.seq = seq
	return nil
}

// noteApplied records change number seq in a replica's transaction (a no-op for 0).
func noteApplied(ctx context.Context, tx *sql.Tx, seq int64) error {
	if seq <= 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, "UPDATE replica_state SET seq = ?", seq); err != nil {
		return fmt.Errorf("data: replica state: %w", err)
	}
	return nil
}

// replicaTx applies one change of the record to the replica in one SQLite transaction: bump
// (the catalog's or the learned views' generation; nil: neither) and write, with the change's
// number marked applied (mark > 0), committed together. It returns the new generation.
func (c *Catalog) replicaTx(ctx context.Context, mark int64, bump func(context.Context, *sql.Tx) (int64, error),
	write func(*sql.Tx) error) (gen int64, err error) {
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("data: replica: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if bump != nil {
		if gen, err = bump(ctx, tx); err != nil {
			return 0, err
		}
	}
	if err = write(tx); err != nil {
		return 0, err
	}
	if err = noteApplied(ctx, tx, mark); err != nil {
		return 0, err
	}
	if err = tx.Commit(); err != nil {
		return 0, fmt.Errorf("data: replica: commit: %w", err)
	}
	return gen, nil
}

// applyRecordProductLocked stores a product of the record in the replica and makes it searchable.
func (c *Catalog) applyRecordProductLocked(ctx context.Context, p *recordProduct, mark int64) error {
	ids := make([]int64, 0, len(p.vectorRows))
	flat := make([]float32, 0, len(p.vectorRows)*c.dim)
	photos := map[int64]bool{}
	var err error
	for _, v := range p.vectorRows {
		if flat, err = decodeVectorInto(flat, v.blob, c.dim); err != nil {
			return fmt.Errorf("vector %d: %w", v.id, err)
		}
		ids = append(ids, v.id)
		photos[v.imageID] = true
	}
	gen, err := c.storeReplicaProduct(ctx, p, mark)
	if err != nil {
		return c.storageError(err)
	}
	var aproto []float32
	if len(flat) > 0 {
		aproto = c.proj.applyRows(meanRow(flat, c.dim))
	}
	if err := c.indexProductLocked(p.id, p.name, ids, flat, len(photos), gen, aproto); err != nil {
		// It is in the replica: make it known, and the rebuild just scheduled indexes it.
		c.mu.Lock()
		c.applyAddLocked(p.id, p.name, ids, gen)
		if kind, why, ok := c.needsRebuildLocked(); ok {
			c.scheduleRebuildLocked(kind, why)
		}
		c.mu.Unlock()
		c.dirty = true
		c.log.Error("could not index a product of the catalog database; rebuilding the index", "id", p.id, "err", err)
	}
	c.log.Info("product added (catalog database)", "id", p.id, "name", p.name, "images", len(p.images), "vectors", len(ids), "seq", mark)
	return nil
}

// storeReplicaProduct writes a product of the record, under its ids, in one transaction.
func (c *Catalog) storeReplicaProduct(ctx context.Context, p *recordProduct, mark int64) (int64, error) {
	return c.replicaTx(ctx, mark, bumpGeneration, func(tx *sql.Tx) error {
		if err := releaseNameKey(ctx, tx, p.key, p.id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO products (id, name, name_key, sku, price_cents, created_at) VALUES (?, ?, ?, ?, ?, ?)",
			p.id, p.name, p.key, p.sku, p.price, formatTime(p.created)); err != nil {
			return fmt.Errorf("data: replica: product %d: %w", p.id, err)
		}
		return c.insertReplicaPhotos(ctx, tx, p)
	})
}

// insertReplicaPhotos writes a record product's photos and their vectors into the replica's
// transaction (registering it, or replacing its photos).
func (c *Catalog) insertReplicaPhotos(ctx context.Context, tx *sql.Tx, p *recordProduct) error {
	for _, im := range p.images {
		if _, err := tx.ExecContext(ctx, `INSERT INTO product_images (id, product_id, position, data, sha256, mime, width, height)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, im.id, p.id, im.position, im.data, im.sha256, im.mime, im.width, im.height); err != nil {
			return fmt.Errorf("data: replica: image %d: %w", im.id, err)
		}
	}
	for _, v := range p.vectorRows {
		if _, err := tx.ExecContext(ctx, "INSERT INTO embeddings (id, image_id, model, view, vector) VALUES (?, ?, ?, ?, ?)",
			v.id, v.imageID, c.fp, v.view, v.blob); err != nil {
			return fmt.Errorf("data: replica: vector %d: %w", v.id, err)
		}
	}
	return nil
}

// releaseNameKey frees a name for product id in the replica. A change is applied with the
// record's current row, which may be ahead of the replica: another product may still hold
// the name here, which it gave up in a change not applied yet (which will set its real
// name). Until then it keeps its name under a key of its own, which no name can be (a
// control character and its id).
func releaseNameKey(ctx context.Context, tx *sql.Tx, key string, id int64) error {
	_, err := tx.ExecContext(ctx, "UPDATE products SET name_key = name_key || char(1) || id WHERE name_key = ? AND id <> ?", key, id)
	if err != nil {
		return fmt.Errorf("data: replica: %w", err)
	}
	return nil
}

// applyRecordUpdateLocked applies a product's new name, SKU and price to the replica and to
// what searches report.
func (c *Catalog) applyRecordUpdateLocked(ctx context.Context, p *recordProduct, mark int64) error {
	_, err := c.replicaTx(ctx, mark, nil, func(tx *sql.Tx) error {
		if err := releaseNameKey(ctx, tx, p.key, p.id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE products SET name = ?, name_key = ?, sku = ?, price_cents = ? WHERE id = ?",
			p.name, p.key, p.sku, p.price, p.id); err != nil {
			return fmt.Errorf("data: replica: product %d: %w", p.id, err)
		}
		return nil
	})
	if err != nil {
		return c.storageError(err)
	}
	c.mu.Lock()
	if lp := c.products[p.id]; lp != nil {
		lp.name = p.name
	}
	c.mu.Unlock()
	c.log.Info("product updated (catalog database)", "id", p.id, "name", p.name, "seq", mark)
	return nil
}

// applyRecordLearnedLocked stores a learned view of the record in the replica and makes it count.
func (c *Catalog) applyRecordLearnedLocked(ctx context.Context, v *recordLearned, mark int64) error {
	var vec []float32
	if v.vector != nil {
		var err error
		if vec, err = decodeVectorInto(nil, v.vector, c.dim); err != nil {
			return fmt.Errorf("learned view %d: %w", v.id, err)
		}
	}
	gen, err := c.storeReplicaLearned(ctx, v, mark)
	if err != nil {
		return c.storageError(err)
	}
	c.ad.learnedGen = gen
	var pid int64
	if v.productID != nil {
		pid = *v.productID
	}
	switch {
	case vec == nil: // another model's view: stored, not counted
	case pid == 0:
		c.applyNonesLocked([]noneView{{id: v.id, vec: vec}}, nil)
	default:
		c.applyLearnedLocked(pid, vec, nil)
	}
	c.log.Info("learned view added (catalog database)", "id", v.id, "product", pid, "seq", mark)
	return nil
}

// storeReplicaLearned writes a learned view of the record, under its id, in one transaction.
func (c *Catalog) storeReplicaLearned(ctx context.Context, v *recordLearned, mark int64) (int64, error) {
	return c.replicaTx(ctx, mark, bumpLearnedGeneration, func(tx *sql.Tx) error {
		im := v.image
		if _, err := tx.ExecContext(ctx, `INSERT INTO learned_views (id, product_id, origin, created_at, data, sha256, mime, width, height)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, v.id, v.productID, v.origin, formatTime(v.created), im.data, im.sha256, im.mime, im.width, im.height); err != nil {
			return fmt.Errorf("data: replica: learned view %d: %w", v.id, err)
		}
		if v.vector != nil {
			if _, err := tx.ExecContext(ctx, "INSERT INTO learned_vectors (view_id, model, vector) VALUES (?, ?, ?)", v.id, c.fp, v.vector); err != nil {
				return fmt.Errorf("data: replica: learned view %d: %w", v.id, err)
			}
		}
		return nil
	})
}

// recordWroteLocked brings the replica up to a write this node has just committed to the
// record (change number seq), so that the write's caller sees it when the call returns.
// The write is whole in the record whatever happens here: a failure (the database gone
// right after the commit) is logged, and the listener applies it once the database is back.
func (c *Catalog) recordWroteLocked(ctx context.Context, seq int64) {
	if err := c.catchUpLocked(ctx); err != nil {
		c.log.Warn("a change was stored in the catalog database but not yet applied here; it will be when the database is back",
			"seq", seq, "err", err)
	}
}

// followRecord is the listener: it waits for the record's notifications and catches up
// after each one, after every reconnection and after quiet minutes, until Close.
func (c *Catalog) followRecord() {
	defer c.bgWG.Done()
	backoff := 100 * time.Millisecond
	for c.bgCtx.Err() == nil {
		err := c.followOnce(c.bgCtx, func() { backoff = 100 * time.Millisecond })
		if c.bgCtx.Err() != nil {
			return
		}
		if c.setRecordConnected(false) {
			c.log.Warn("lost the catalog database: recognition goes on from this node's replica, changes are refused until it is back", "err", err)
		}
		select {
		case <-c.bgCtx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// quietCatchUp is how long the listener waits for a notification before checking anyway.
const quietCatchUp = time.Minute

// followOnce connects, listens, catches up, then catches up again at every notification;
// it returns when the connection fails. connected is called once it is listening.
func (c *Catalog) followOnce(ctx context.Context, connected func()) error {
	cctx, cancel := context.WithTimeout(ctx, recordTimeout)
	conn, err := pgx.Connect(cctx, c.record.url)
	cancel()
	if err != nil {
		return unavailable(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+recordChannel); err != nil {
		return unavailable(err)
	}
	if err := c.checkRecord(ctx); err != nil {
		return err
	}
	// Listening first, then catching up: a change committed in between is both caught up
	// and notified, never missed.
	if err := c.catchUp(ctx); err != nil {
		return err
	}
	if c.setRecordConnected(true) {
		c.log.Info("connected to the catalog database", "seq", c.replicaSeq())
	}
	connected()
	for {
		wctx, cancel := context.WithTimeout(ctx, quietCatchUp)
		_, err := conn.WaitForNotification(wctx)
		timedOut := wctx.Err() != nil && ctx.Err() == nil
		cancel()
		if err != nil && !timedOut {
			return unavailable(err)
		}
		if err := c.catchUp(ctx); err != nil {
			return err
		}
	}
}

// checkRecord makes sure the record is the one the replica copies (migrating it first, for
// a database that was empty when this node started).
func (c *Catalog) checkRecord(ctx context.Context) error {
	tctx, cancel := context.WithTimeout(ctx, recordTimeout)
	defer cancel()
	if err := migratePG(tctx, c.record.pool); err != nil {
		return unavailable(err)
	}
	id, _, err := c.record.identity(tctx)
	if err != nil {
		return err
	}
	c.lockWrite()
	defer c.unlockWrite()
	if c.rep.recordID != id {
		return fmt.Errorf("data: the catalog database was replaced (catalog %s, this replica copies %s): restart the node to copy it", id, c.rep.recordID)
	}
	return nil
}

// catchUp takes writeMu and catches up.
func (c *Catalog) catchUp(ctx context.Context) error {
	c.lockWrite()
	defer c.unlockWrite()
	if c.checkOpen() != nil {
		return ErrClosed
	}
	return c.catchUpLocked(ctx)
}

func (c *Catalog) replicaSeq() int64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.stats.RecordSeq
}

// setRecordConnected records whether the record is reachable and says whether that changed.
func (c *Catalog) setRecordConnected(up bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := c.stats.RecordConnected != up
	c.stats.RecordConnected = up
	return changed
}

// recordError is what a write to the record returns: ErrCatalogUnavailable is counted and
// logged, the rest returned as they are.
func (c *Catalog) recordError(err error) error {
	if errors.Is(err, ErrCatalogUnavailable) {
		c.mu.Lock()
		c.stats.StorageErrors++
		c.mu.Unlock()
		c.log.Warn("a change was refused: the catalog database is unavailable; nothing was stored", "err", err)
	}
	return err
}
