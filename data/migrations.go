package data

import (
	"context"
	"database/sql"
	"fmt"
)

// migration is one step of the schema. Steps are applied in order, each in its own
// transaction together with the PRAGMA user_version that records it, so a crash leaves the
// database at the previous version and the step runs again in full at the next Open.
//
// Never edit a released step: databases in the field already ran it. Append a new one
// one.
type migration struct {
	name string
	sql  string
}

// migrations: version N is migrations[N-1].
var migrations = []migration{
	{
		name: "catalog: products, images, embeddings",
		sql: `
-- One row: the generation counter that the index sidecar is checked against (bumped in the
-- same transaction as every change to the searchable content), and a random identity so an
-- index file copied from another catalog is never taken for ours.
CREATE TABLE catalog_state (
	singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
	generation INTEGER NOT NULL,
	catalog_id TEXT    NOT NULL
);
INSERT INTO catalog_state (singleton, generation, catalog_id)
	VALUES (1, 0, lower(hex(randomblob(16))));

-- AUTOINCREMENT: ids are never reused, so a purchase recorded against a product id, or a
-- vector id still in an HNSW graph as a tombstone, can never come to mean something else.
-- name_key is the name folded for comparison (see foldName); its UNIQUE index is what makes
-- "Milk" and "milk" the same product, even for two admins racing.
CREATE TABLE products (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	name        TEXT    NOT NULL CHECK (length(name) > 0),
	name_key    TEXT    NOT NULL UNIQUE,
	sku         TEXT,
	price_cents INTEGER CHECK (price_cents IS NULL OR price_cents >= 0),
	created_at  TEXT    NOT NULL
);
CREATE INDEX products_sku ON products (sku) WHERE sku IS NOT NULL;

-- The original bytes are kept: they are shown back to admins and re-embedded when the model
-- changes. position is 1..N in the order given.
CREATE TABLE product_images (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	product_id INTEGER NOT NULL REFERENCES products (id) ON DELETE CASCADE,
	position   INTEGER NOT NULL CHECK (position >= 1),
	data       BLOB    NOT NULL,
	sha256     TEXT    NOT NULL,
	mime       TEXT    NOT NULL,
	width      INTEGER NOT NULL CHECK (width > 0),
	height     INTEGER NOT NULL CHECK (height > 0),
	UNIQUE (product_id, position)
);

-- id is the FAISS vector id. model is the embedder fingerprint: vectors of several models
-- may coexist (a model upgrade keeps the old ones, so rolling back needs no re-embedding);
-- only the current model's are indexed. view 0 is the image itself, 1.. augmented views.
-- vector is little-endian float32, L2-normalised.
CREATE TABLE embeddings (
	id       INTEGER PRIMARY KEY AUTOINCREMENT,
	image_id INTEGER NOT NULL REFERENCES product_images (id) ON DELETE CASCADE,
	model    TEXT    NOT NULL,
	view     INTEGER NOT NULL CHECK (view >= 0),
	vector   BLOB    NOT NULL,
	UNIQUE (image_id, model, view)
);
CREATE INDEX embeddings_model ON embeddings (model);
`,
	},
	{
		name: "checkout: purchases",
		sql: `
-- A purchase is a confirmed checkout cart. session_id is UNIQUE: a session is confirmed at
-- most once, even if two confirms race or the client retries after a lost response.
CREATE TABLE purchases (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	session_id TEXT    NOT NULL UNIQUE CHECK (length(session_id) > 0),
	created_at TEXT    NOT NULL
);

-- product_name is copied, and product_id is cleared rather than cascading, so a receipt
-- stays readable after the product leaves the catalog.
CREATE TABLE purchase_items (
	purchase_id  INTEGER NOT NULL REFERENCES purchases (id) ON DELETE CASCADE,
	position     INTEGER NOT NULL CHECK (position >= 1),
	product_id   INTEGER REFERENCES products (id) ON DELETE SET NULL,
	product_name TEXT    NOT NULL,
	quantity     INTEGER NOT NULL CHECK (quantity >= 1),
	score        REAL,
	PRIMARY KEY (purchase_id, position)
);
`,
	},
	{
		name: "learning: learned views and the none memory",
		sql: `
-- A learned view is a crop a cashier answered for: product_id is the product it showed, or
-- NULL for a "none of these" answer (the negative memory). Stored like a photo (the bytes
-- are re-embedded when the model changes), with where the answer came from and when.
CREATE TABLE learned_views (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	product_id INTEGER REFERENCES products (id) ON DELETE CASCADE,
	origin     TEXT    NOT NULL CHECK (origin IN ('review', 'correction')),
	created_at TEXT    NOT NULL,
	data       BLOB    NOT NULL,
	sha256     TEXT    NOT NULL,
	mime       TEXT    NOT NULL,
	width      INTEGER NOT NULL CHECK (width > 0),
	height     INTEGER NOT NULL CHECK (height > 0)
);
CREATE INDEX learned_views_product ON learned_views (product_id, id);

-- One query vector per learned view and embedder fingerprint (as embeddings is for photos).
CREATE TABLE learned_vectors (
	view_id INTEGER NOT NULL REFERENCES learned_views (id) ON DELETE CASCADE,
	model   TEXT    NOT NULL,
	vector  BLOB    NOT NULL,
	PRIMARY KEY (view_id, model)
);

-- Learned views change what Recognise scores, not the vector index: they have a counter of
-- their own, so that learning does not make index.faiss stale (see scatter.bin).
ALTER TABLE catalog_state ADD COLUMN learned_generation INTEGER NOT NULL DEFAULT 0;
`,
	},
	{
		name: "history: every decision of the cameras, and purchase prices",
		sql: `
-- What the cameras decided, visit by visit, for the back office: when, where (a shopper's
-- session or a camera station), which product (kept by name too: the row outlives the
-- product), the score, the decision, and the visit's crop (JPEG). Kept for the configured
-- retention (PruneHistory).
CREATE TABLE count_history (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	created_at   TEXT    NOT NULL,
	session_id   TEXT    NOT NULL,
	station      TEXT,
	product_id   INTEGER REFERENCES products (id) ON DELETE SET NULL,
	product_name TEXT,
	score        REAL,
	decision     TEXT    NOT NULL CHECK (decision IN ('count', 'ask', 'unknown', 'cooldown')),
	crop         BLOB,
	crop_mime    TEXT
);
CREATE INDEX count_history_time    ON count_history (created_at);
CREATE INDEX count_history_product ON count_history (product_id, created_at);
CREATE INDEX count_history_station ON count_history (station, created_at);

-- The unit price of each purchase line when it was bought (purchase_items has none), and
-- the currency: receipts and totals stay right after a price changes.
CREATE TABLE purchase_prices (
	purchase_id      INTEGER NOT NULL REFERENCES purchases (id) ON DELETE CASCADE,
	position         INTEGER NOT NULL CHECK (position >= 1),
	unit_price_cents INTEGER CHECK (unit_price_cents IS NULL OR unit_price_cents >= 0),
	currency         TEXT    NOT NULL,
	PRIMARY KEY (purchase_id, position)
);
`,
	},
}

// schemaVersion is the version this build writes.
func schemaVersion() int { return len(migrations) }

// migrate brings db up to schemaVersion. A database newer than that is refused with
// ErrSchemaTooNew rather than used half-understood.
func migrate(ctx context.Context, db *sql.DB) error {
	current, err := readSchemaVersion(ctx, db)
	if err != nil {
		return err
	}
	for v := current + 1; v <= schemaVersion(); v++ {
		m := migrations[v-1]
		if err := applyMigration(ctx, db, v, m); err != nil {
			return fmt.Errorf("data: migration %d (%s): %w", v, m.name, err)
		}
	}
	return nil
}

// checkSchema is migrate for a read-only database: it must already be at schemaVersion.
func checkSchema(ctx context.Context, db *sql.DB) error {
	current, err := readSchemaVersion(ctx, db)
	if err != nil {
		return err
	}
	if current < schemaVersion() {
		return fmt.Errorf("%w: the database (schema version %d) needs migrating to version %d, which needs a writable directory",
			ErrReadOnly, current, schemaVersion())
	}
	return nil
}

// readSchemaVersion returns the database's schema version, refusing one newer than this
// build knows.
func readSchemaVersion(ctx context.Context, db *sql.DB) (int, error) {
	var current int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return 0, fmt.Errorf("data: read schema version: %w", err)
	}
	if current > schemaVersion() {
		return 0, fmt.Errorf("%w: database is at version %d, this program knows up to %d", ErrSchemaTooNew, current, schemaVersion())
	}
	return current, nil
}

func applyMigration(ctx context.Context, db *sql.DB, version int, m migration) error {
	// One connection for the whole step: BEGIN IMMEDIATE takes the write lock up front, so a
	// second process migrating at the same moment waits (busy_timeout) and then sees our
	// version instead of applying the same step twice.
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	var current int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return err
	}
	if current >= version {
		done = true
		_, err := conn.ExecContext(ctx, "COMMIT")
		return err
	}
	if _, err := conn.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	// PRAGMA takes no bind parameters; version is our own integer.
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", version)); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return err
	}
	done = true
	return nil
}
