package data

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// NewProduct is what an admin registers: a name, optional SKU and price, and 1..MaxImages
// photos (JPEG, PNG, GIF or WebP bytes as uploaded).
type NewProduct struct {
	Name       string
	SKU        string // optional; "" stores NULL
	PriceCents *int64 // optional; nil stores NULL
	Images     [][]byte
}

// Product is a registered product.
type Product struct {
	ID         int64
	Name       string
	SKU        string // "" when none
	PriceCents *int64 // nil when none
	Images     int    // number of stored images, positions 1..Images
	CreatedAt  time.Time
}

// Hit is one search result: a product and the similarity of its best matching vector
// (cosine, in [-1, 1]; ≈1 for the product's own image).
type Hit struct {
	ProductID int64
	Name      string
	Score     float32
}

// Stats describe the catalog's index, for monitoring and tests.
type Stats struct {
	// LoadedFromFile: at Open, index.faiss was valid for the database and was used as is.
	LoadedFromFile bool
	// RebuildReason: why index.faiss was not used at Open ("" when it was).
	RebuildReason string
	// Reembedded / ReembedFailed: stored images embedded at Open because the database had no
	// vectors of the current embedder for them (a new model), and those that could not be.
	Reembedded, ReembedFailed int
	// IndexKind is IndexFlat or IndexHNSW: what searches use now. In HNSW mode this can be
	// IndexFlat for a while after Open or after growing past HNSWThreshold, while the graph
	// is built in the background.
	IndexKind string
	// Vectors are live (searchable) vectors; Tombstones are removed vectors still in an HNSW
	// graph until the next background rebuild (never returned by Search).
	Vectors, Tombstones int
	// Products in the catalog.
	Products int
	// Generation is the database's change counter.
	Generation int64
	// Prototypes in the prototype index (one per searchable product).
	Prototypes int
	// BackgroundRebuilds completed since Open; Rebuilding is true while one runs.
	BackgroundRebuilds int
	Rebuilding         bool
	// PersistErrors counts index files that could not be written (the catalog stays
	// correct: the next Open sees the stale file and rebuilds).
	PersistErrors int
	// StorageErrors counts changes refused because the data directory was read-only or
	// its disk full (ErrReadOnly, ErrDiskFull); nothing was stored for them.
	StorageErrors int
	// ReadOnly: the data directory was read-only at Open, so the catalog serves what is
	// stored and refuses every change with ErrReadOnly.
	ReadOnly bool
	// LearnedViews of products and NoneViews ("none" answers) stored.
	LearnedViews, NoneViews int
	// Adapted: Recognise scores in the fitted projection (false: cosine; see AdaptOptions).
	Adapted bool
	// Refits since Open (the fit at Open included) and how long the last one took.
	Refits    int
	LastRefit time.Duration
	// ScatterFromFile: at Open, the fit's statistics came from scatter.bin rather than from
	// the stored vectors.
	ScatterFromFile bool
	// Replica: the catalog is a replica of a catalog of record (Options.RecordURL);
	// RecordSeq is the last change of the record it applied, RecordConnected whether the
	// node is connected to the record now, and RecordApplied the changes applied since Open.
	Replica         bool
	RecordSeq       int64
	RecordConnected bool
	RecordApplied   int
}

// liveProduct is what Search needs about a product without asking SQLite.
type liveProduct struct {
	name    string
	vectors int // live vectors of the current embedder
}

// Catalog is the store's product catalog: products and their photos in SQLite, one vector per
// photo (and augmented view) in a FAISS index searched by the recogniser.
//
// All methods are safe for concurrent use. Search runs under a read lock and never waits for
// an embedding, a database write or an index file write: AddProduct embeds first, commits,
// and only then takes the write lock, just long enough for FAISS to insert the vectors (a
// copy for flat; about a millisecond per vector for HNSW), so a search sees a product with
// all its vectors or not at all. RemoveProduct holds it while a flat index compacts its
// storage (a memory move of the vectors after the removed ones).
type Catalog struct {
	dir       string
	readOnly  bool // the directory was read-only at Open: serve what is stored, refuse changes
	opts      Options
	emb       Embedder
	fp        string
	dim       int
	db        *sql.DB
	lockFile  *os.File
	log       *slog.Logger
	catalogID string

	// record is the catalog of record when it is PostgreSQL (Options.RecordURL): db is then
	// this node's replica of it, rep its position (guarded by writeMu). nil: db is the
	// record. See record.go and replica.go.
	record *pgRecord
	rep    replicaState

	// writeMu serialises changes: a database write, the matching live-index update and the
	// index file write happen as one unit, in commit order. Embedding happens before it.
	// Take it with lockWrite/unlockWrite.
	writeMu       sync.Mutex
	pendingWrites atomic.Int32 // holders of writeMu plus those waiting for it
	dirty         bool         // guarded by writeMu: the live index changed since it was saved

	// ad is the adapted matching's state: its statistics are guarded by writeMu, its
	// refit scheduling by refitMu (see refit.go).
	ad      adaptation
	refitMu sync.Mutex

	// mu guards everything below. Search and Recognise hold it for reading. proj is
	// replaced under both writeMu and mu, so a holder of either may read it.
	mu         sync.RWMutex
	idx        *vectorIndex
	protos     *vectorIndex    // product prototypes, id = product id (see prototypes.go)
	proj       *projection     // Recognise's score space (see adapt.go)
	aprotos    *vectorIndex    // prototypes projected with proj, id = product id
	negIDs     []int64         // the "none" memory's learned view ids...
	negProj    []float32       // ...and their vectors projected with proj, concatenated
	owner      map[int64]int64 // live vector id → product id (current embedder only)
	products   map[int64]*liveProduct
	searchable int // products with at least one live vector
	generation int64
	closing    bool // Close has begun: start no background work
	closed     bool
	suspect    bool // the live index may differ from the database: rebuild
	rebuilding bool
	stats      Stats

	bgCtx    context.Context
	bgCancel context.CancelFunc
	bgWG     sync.WaitGroup
}

// Open opens the catalog in dir (creating the directory and catalog.db if missing), applies
// schema migrations, re-embeds stored images that have no vectors for emb's fingerprint (a
// model change; progress goes to opts.Logger), and loads index.faiss if its sidecar matches
// the database, or rebuilds the index from the stored vectors.
//
// Only one Catalog may have dir open at a time (ErrLocked otherwise).
//
// A read-only directory (a volume mounted read-only, a file system the kernel remounted
// read-only after errors) opens read-only: searches, lists and images are served from what is
// stored, and every change is refused with ErrReadOnly, so that checkout keeps recognising
// products while the operator fixes the storage.
func Open(dir string, emb Embedder, opts Options) (*Catalog, error) {
	if emb == nil {
		return nil, errors.New("data: Open: nil Embedder")
	}
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	fp, dim := emb.Fingerprint(), emb.Dim()
	if fp == "" || dim <= 0 {
		return nil, fmt.Errorf("data: Open: embedder has fingerprint %q and dimension %d", fp, dim)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("data: create %s: %w", dir, err)
	}
	readOnly := errors.Is(probeWritable(dir), ErrReadOnly)
	if readOnly && opts.RecordURL != "" {
		return nil, fmt.Errorf("%w (%s): a replica of the catalog database must be able to apply its changes", ErrReadOnly, dir)
	}
	lock, err := lockDir(dir, readOnly)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	open := openDB
	if readOnly {
		open = openDBReadOnly
	}
	db, err := open(ctx, dir)
	if err != nil {
		unlockDir(lock)
		return nil, err
	}
	c := &Catalog{
		dir: dir, readOnly: readOnly, opts: opts, emb: emb, fp: fp, dim: dim, db: db, lockFile: lock,
		log:      opts.Logger.With("component", "catalog"),
		owner:    map[int64]int64{},
		products: map[int64]*liveProduct{},
	}
	c.stats.ReadOnly = readOnly
	c.stats.Replica = opts.RecordURL != ""
	if opts.RecordURL != "" {
		if c.record, err = openRecord(opts.RecordURL, c.log); err != nil {
			db.Close()
			unlockDir(lock)
			return nil, err
		}
	}
	if readOnly {
		c.log.Warn("the data directory is read-only: the catalog is served as stored, and registrations, removals and purchases are refused until it is writable and the server restarted", "dir", dir)
	}
	c.bgCtx, c.bgCancel = context.WithCancel(context.Background())
	if err := c.open(ctx); err != nil {
		c.bgCancel()
		c.bgWG.Wait()
		if c.idx != nil {
			c.idx.close()
		}
		c.protos.close()
		c.aprotos.close()
		if c.record != nil {
			c.record.close()
		}
		db.Close()
		unlockDir(lock)
		return nil, err
	}
	if c.record != nil {
		c.bgWG.Add(1)
		go c.followRecord()
	}
	return c, nil
}

func (c *Catalog) open(ctx context.Context) error {
	if c.readOnly {
		if err := checkSchema(ctx, c.db); err != nil {
			return err
		}
	} else {
		if err := migrate(ctx, c.db); err != nil {
			return err
		}
		removeTempFiles(c.dir)
	}
	switch {
	case c.record != nil:
		// A replica embeds nothing: its vectors are the record's.
		if err := c.prepareReplica(ctx); err != nil {
			return err
		}
	case !c.readOnly:
		// Read-only, images without vectors for this model stay unsearchable until the
		// directory is writable: their vectors could not be stored.
		if err := c.reembedMissing(ctx); err != nil {
			return err
		}
		if err := c.reembedLearned(ctx); err != nil {
			return err
		}
	}
	if err := c.loadState(ctx); err != nil {
		return err
	}

	// Nothing else can reach c yet: no locks needed until background work is scheduled.
	live := len(c.owner)
	want := sidecar{CatalogID: c.catalogID, Fingerprint: c.fp, Dim: c.dim, DBGeneration: c.generation}
	x, sc, reason := loadIndex(c.dir, want, live, c.opts.EfSearch)
	if x != nil {
		c.idx = x
		c.stats.LoadedFromFile = true
		c.log.Info("index loaded", "kind", x.kind, "vectors", live, "tombstones", sc.Tombstones, "generation", c.generation)
	} else {
		c.stats.RebuildReason = reason
		kind := c.wantKind(live, "")
		// An HNSW graph over a large catalog takes minutes to build; an exact flat index
		// over the same vectors takes a memory copy. Serve exact results at once and build
		// the graph in the background (scheduled below).
		build := kind
		if kind == IndexHNSW && live > 0 {
			build = IndexFlat
		}
		c.log.Info("rebuilding index from the database", "reason", reason, "kind", build, "vectors", live)
		start := time.Now()
		x, _, err := c.buildIndex(ctx, build)
		if err != nil {
			return err
		}
		if x.ntotal() != live {
			x.close()
			return fmt.Errorf("data: rebuilt index has %d vectors, database %d", x.ntotal(), live)
		}
		c.idx = x
		c.log.Info("index rebuilt", "kind", build, "vectors", live, "took", time.Since(start).Round(time.Millisecond))
		if build == kind {
			c.persistLocked()
		}
	}
	c.mu.Lock()
	if kind, why, ok := c.needsRebuildLocked(); ok {
		c.scheduleRebuildLocked(kind, why)
	}
	c.mu.Unlock()
	if err := c.loadPrototypes(ctx); err != nil {
		return err
	}
	if c.record != nil && c.stats.RecordConnected {
		// The changes made since the replica's number (none after a copy). A failure
		// leaves it to the listener.
		start := time.Now()
		if err := c.catchUpLocked(ctx); err != nil {
			c.log.Warn("could not catch up with the catalog database at start; the listener will", "err", err)
		} else {
			c.log.Info("replica caught up with the catalog database", "seq", c.rep.seq, "changes", c.stats.RecordApplied,
				"took", time.Since(start).Round(time.Millisecond))
		}
	}
	c.stats.RecordSeq = c.rep.seq
	return nil
}

// loadState reads the generation, the products and the vector → product map.
func (c *Catalog) loadState(ctx context.Context) error {
	if err := c.db.QueryRowContext(ctx, "SELECT generation, catalog_id, learned_generation FROM catalog_state").Scan(&c.generation, &c.catalogID, &c.ad.learnedGen); err != nil {
		return fmt.Errorf("data: read catalog state: %w", err)
	}
	rows, err := c.db.QueryContext(ctx, "SELECT id, name FROM products")
	if err != nil {
		return fmt.Errorf("data: load products: %w", err)
	}
	for rows.Next() {
		var id int64
		var name string
		if err := rows.Scan(&id, &name); err != nil {
			rows.Close()
			return fmt.Errorf("data: load products: %w", err)
		}
		c.products[id] = &liveProduct{name: name}
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("data: load products: %w", err)
	}
	rows, err = c.db.QueryContext(ctx, `SELECT e.id, i.product_id FROM embeddings e
		JOIN product_images i ON i.id = e.image_id WHERE e.model = ?`, c.fp)
	if err != nil {
		return fmt.Errorf("data: load vectors: %w", err)
	}
	for rows.Next() {
		var vid, pid int64
		if err := rows.Scan(&vid, &pid); err != nil {
			rows.Close()
			return fmt.Errorf("data: load vectors: %w", err)
		}
		p := c.products[pid]
		if p == nil {
			rows.Close()
			return fmt.Errorf("data: vector %d belongs to missing product %d", vid, pid)
		}
		c.owner[vid] = pid
		if p.vectors == 0 {
			c.searchable++
		}
		p.vectors++
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("data: load vectors: %w", err)
	}
	return nil
}

func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}

// wantKind is the index kind for live vectors. In auto mode a current HNSW index is kept down
// to half the threshold, so a catalog hovering around it does not flip between kinds (and
// rebuild a graph) on every restart.
func (c *Catalog) wantKind(live int, current string) string {
	switch c.opts.Index {
	case IndexFlat, IndexHNSW:
		return c.opts.Index
	}
	if live >= c.opts.HNSWThreshold || (current == IndexHNSW && live >= c.opts.HNSWThreshold/2) {
		return IndexHNSW
	}
	return IndexFlat
}

// Fingerprint is the embedder's fingerprint: the model whose vectors are indexed.
func (c *Catalog) Fingerprint() string { return c.fp }

// Len is the number of vectors searchable now (removed vectors awaiting an HNSW rebuild are
// not counted).
func (c *Catalog) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.owner)
}

// Stats returns the index's state.
func (c *Catalog) Stats() Stats {
	c.mu.RLock()
	defer c.mu.RUnlock()
	s := c.stats
	s.Vectors = len(c.owner)
	s.Products = len(c.products)
	s.Generation = c.generation
	s.Rebuilding = c.rebuilding
	if c.protos != nil {
		s.Prototypes = c.protos.ntotal()
	}
	s.NoneViews = len(c.negIDs)
	if c.proj != nil {
		s.Adapted = c.proj.adapted()
	}
	if c.idx != nil {
		s.IndexKind = c.idx.kind
		s.Tombstones = c.idx.ntotal() - len(c.owner)
	}
	return s
}

// Close stops background work (an unfinished rebuild is dropped: the saved index is still
// valid, or the next Open rebuilds), frees the index and closes the database. Calls after
// Close return ErrClosed; Close itself may be called more than once.
func (c *Catalog) Close() error {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return nil
	}
	c.closing = true
	c.mu.Unlock()

	c.stopRefits()
	c.bgCancel()
	c.bgWG.Wait()

	c.lockWrite()
	if c.dirty {
		c.persistLocked()
		c.dirty = false
	}
	c.saveScatterLocked()
	c.mu.Lock()
	c.closed = true
	c.idx.close()
	c.idx = nil
	c.protos.close()
	c.protos = nil
	c.aprotos.close()
	c.aprotos = nil
	c.owner, c.products = nil, nil
	c.mu.Unlock()
	c.pendingWrites.Add(-1)
	c.writeMu.Unlock()

	if c.record != nil {
		c.record.close()
	}
	err := c.db.Close()
	unlockDir(c.lockFile)
	return err
}

// lockWrite takes writeMu for a change.
func (c *Catalog) lockWrite() {
	c.pendingWrites.Add(1)
	c.writeMu.Lock()
}

// unlockWrite saves the index if the change made it dirty, then releases writeMu. When
// another change is already waiting for writeMu, the save is left to it: a burst of
// concurrent changes writes the file once, not once per change (at 1280 dimensions the file
// is 5 KB per vector). Every holder passes here, so the last change of a burst always saves.
func (c *Catalog) unlockWrite() {
	if c.dirty && c.pendingWrites.Load() == 1 {
		c.persistLocked()
		c.dirty = false
	}
	c.pendingWrites.Add(-1)
	c.writeMu.Unlock()
}

// persistLocked writes the index and its sidecar. The caller holds writeMu (so nothing
// changes the index meanwhile); searches go on under the read lock taken here. A failure is
// logged, not returned: the database is the truth and is already committed, and the stale
// file will be noticed and rebuilt at the next Open.
func (c *Catalog) persistLocked() {
	if c.readOnly {
		return // the index lives in memory only; nothing can be written
	}
	c.mu.RLock()
	if c.closed || c.idx == nil {
		c.mu.RUnlock()
		return
	}
	sc := sidecar{
		CatalogID:    c.catalogID,
		Fingerprint:  c.fp,
		Dim:          c.dim,
		Vectors:      c.idx.ntotal(),
		Tombstones:   c.idx.ntotal() - len(c.owner),
		DBGeneration: c.generation,
		Kind:         c.idx.kind,
		HNSWM:        c.idx.m,
	}
	suspect := c.suspect
	var err error
	if !suspect {
		start := time.Now()
		if err = saveIndex(c.dir, c.idx, sc); err == nil {
			c.log.Debug("index saved", "vectors", sc.Vectors, "generation", sc.DBGeneration, "took", time.Since(start).Round(time.Millisecond))
		}
	}
	c.mu.RUnlock()
	if suspect {
		// Never certify an index we know may be wrong; drop the sidecar instead.
		err = os.Remove(sidecarPath(c.dir))
		if errors.Is(err, os.ErrNotExist) {
			err = nil
		}
	}
	if err != nil {
		c.mu.Lock()
		c.stats.PersistErrors++
		c.mu.Unlock()
		c.log.Error("could not save the index file; the next Open will rebuild it", "err", err)
	}
}
