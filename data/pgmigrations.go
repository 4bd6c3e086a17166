package data

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pgMigrations are the PostgreSQL record's schema, versioned like the SQLite migrations
// (migrations.go): version N is pgMigrations[N-1], each applied in one transaction with the
// row of schema_migrations that records it. Never edit a released step; append one.
//
// The tables mirror the SQLite ones (same columns, same meaning, ids shared with every
// node's replica), plus the change feed: change_seq, one row whose counter every write
// transaction increments first (the row lock orders the writers, so sequence numbers are
// gap-free and in commit order), and changes, what each of those transactions changed.
var pgMigrations = []migration{
	{
		name: "catalog: products, images, embeddings, learned views, purchases, the change feed",
		sql: `
CREATE TABLE catalog_state (
	singleton  integer PRIMARY KEY CHECK (singleton = 1),
	catalog_id text    NOT NULL
);
INSERT INTO catalog_state (singleton, catalog_id) VALUES (1, md5(random()::text || clock_timestamp()::text));

CREATE TABLE products (
	id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	name        text   NOT NULL CHECK (length(name) > 0),
	name_key    text   NOT NULL CONSTRAINT products_name_key UNIQUE,
	sku         text,
	price_cents bigint CHECK (price_cents IS NULL OR price_cents >= 0),
	created_at  timestamptz NOT NULL
);
CREATE INDEX products_sku ON products (sku) WHERE sku IS NOT NULL;

CREATE TABLE product_images (
	id         bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	product_id bigint  NOT NULL REFERENCES products (id) ON DELETE CASCADE,
	position   integer NOT NULL CHECK (position >= 1),
	data       bytea   NOT NULL,
	sha256     text    NOT NULL,
	mime       text    NOT NULL,
	width      integer NOT NULL CHECK (width > 0),
	height     integer NOT NULL CHECK (height > 0),
	UNIQUE (product_id, position)
);

CREATE TABLE embeddings (
	id       bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	image_id bigint  NOT NULL REFERENCES product_images (id) ON DELETE CASCADE,
	model    text    NOT NULL,
	view     integer NOT NULL CHECK (view >= 0),
	vector   bytea   NOT NULL,
	UNIQUE (image_id, model, view)
);
CREATE INDEX embeddings_model ON embeddings (model, id);

CREATE TABLE learned_views (
	id         bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	product_id bigint  REFERENCES products (id) ON DELETE CASCADE,
	origin     text    NOT NULL CHECK (origin IN ('review', 'correction')),
	created_at timestamptz NOT NULL,
	data       bytea   NOT NULL,
	sha256     text    NOT NULL,
	mime       text    NOT NULL,
	width      integer NOT NULL CHECK (width > 0),
	height     integer NOT NULL CHECK (height > 0)
);
CREATE INDEX learned_views_product ON learned_views (product_id, id);

CREATE TABLE learned_vectors (
	view_id bigint NOT NULL REFERENCES learned_views (id) ON DELETE CASCADE,
	model   text   NOT NULL,
	vector  bytea  NOT NULL,
	PRIMARY KEY (view_id, model)
);

CREATE TABLE purchases (
	id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	session_id text   NOT NULL CONSTRAINT purchases_session_id_key UNIQUE CHECK (length(session_id) > 0),
	created_at timestamptz NOT NULL
);

CREATE TABLE purchase_items (
	purchase_id  bigint  NOT NULL REFERENCES purchases (id) ON DELETE CASCADE,
	position     integer NOT NULL CHECK (position >= 1),
	product_id   bigint  REFERENCES products (id) ON DELETE SET NULL,
	product_name text    NOT NULL,
	quantity     integer NOT NULL CHECK (quantity >= 1),
	score        real,
	PRIMARY KEY (purchase_id, position)
);

-- The change feed. kind is what happened to ref (a product id or a learned view id); ord
-- orders the changes of one transaction.
CREATE TABLE change_seq (
	singleton integer PRIMARY KEY CHECK (singleton = 1),
	seq       bigint  NOT NULL
);
INSERT INTO change_seq (singleton, seq) VALUES (1, 0);

CREATE TABLE changes (
	seq  bigint  NOT NULL,
	ord  integer NOT NULL,
	kind text    NOT NULL CHECK (kind IN ('product_added', 'product_updated', 'product_removed', 'learned_added', 'learned_removed')),
	ref  bigint  NOT NULL,
	at   timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (seq, ord)
);
`,
	},
	{
		name: "history: every decision of the camera, and purchase prices",
		sql: `
-- As SQLite's migration 4 (issue 19): every node's decisions in one place.
CREATE TABLE count_history (
	id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	created_at   timestamptz NOT NULL,
	session_id   text   NOT NULL,
	station      text,
	product_id   bigint REFERENCES products (id) ON DELETE SET NULL,
	product_name text,
	score        real,
	decision     text   NOT NULL CHECK (decision IN ('count', 'ask', 'unknown', 'cooldown')),
	crop         bytea,
	crop_mime    text
);
CREATE INDEX count_history_time    ON count_history (created_at);
CREATE INDEX count_history_product ON count_history (product_id, created_at);
CREATE INDEX count_history_station ON count_history (station, created_at);

CREATE TABLE purchase_prices (
	purchase_id      bigint  NOT NULL REFERENCES purchases (id) ON DELETE CASCADE,
	position         integer NOT NULL CHECK (position >= 1),
	unit_price_cents bigint  CHECK (unit_price_cents IS NULL OR unit_price_cents >= 0),
	currency         text    NOT NULL,
	PRIMARY KEY (purchase_id, position)
);
`,
	},
	{
		name: "change feed: product photos changed",
		sql: `
-- Photos added to or removed from an existing product (ref: the product); a replica applies it
-- by reading the product's photos and vectors again. A node of an older build refuses this
-- schema (ErrSchemaTooNew) rather than skip such changes.
ALTER TABLE changes DROP CONSTRAINT changes_kind_check;
ALTER TABLE changes ADD CONSTRAINT changes_kind_check CHECK (kind IN ('product_added', 'product_updated',
	'product_removed', 'product_images_changed', 'learned_added', 'learned_removed'));
`,
	},
}

// pgMigrationLock is the advisory lock key under which a node migrates, so that nodes
// starting together apply each step once.
const pgMigrationLock = 0x6562726373 // "ebrcs"

// migratePG brings the record's schema up to date, refusing one newer than this build
// (ErrSchemaTooNew).
func migratePG(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", pgMigrationLock); err != nil {
		return err
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", pgMigrationLock) //nolint:errcheck
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return err
	}
	var current int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return err
	}
	if current > len(pgMigrations) {
		return fmt.Errorf("%w: the PostgreSQL catalog is at version %d, this program knows up to %d", ErrSchemaTooNew, current, len(pgMigrations))
	}
	for v := current + 1; v <= len(pgMigrations); v++ {
		m := pgMigrations[v-1]
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", v, m.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("data: PostgreSQL migration %d (%s): %w", v, m.name, err)
		}
	}
	return nil
}
