package data

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

const dbFile = "catalog.db"

// openDB opens (creating if needed) the catalog database with the settings every
// connection of the pool must have: the DSN parameters are applied by the driver on each new
// connection, which matters for foreign_keys (a per-connection setting that SQLite leaves off).
//
//   - WAL: searches' lookups and admin writes do not block each other.
//   - synchronous=FULL: a commit is on disk before we write the index sidecar that records
//     its generation, so a power cut cannot roll the database back behind the index's back.
//   - busy_timeout: another process (a migration, a backup) holding the write lock briefly
//     makes us wait instead of failing.
func openDB(ctx context.Context, dir string) (*sql.DB, error) {
	path, err := dbPath(dir)
	if err != nil {
		return nil, err
	}
	dsn := path + "?_busy_timeout=10000&_foreign_keys=1&_journal_mode=WAL&_synchronous=FULL"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("data: open %s: %w", path, err)
	}
	// A few connections: concurrent reads (admin lists, image fetches) alongside one writer.
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	var fk int
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		db.Close()
		return nil, fmt.Errorf("data: open %s: %w", path, err)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		db.Close()
		return nil, fmt.Errorf("data: open %s: %w", path, err)
	}
	if fk != 1 || !strings.EqualFold(mode, "wal") {
		db.Close()
		return nil, fmt.Errorf("data: open %s: foreign_keys=%d journal_mode=%s, want 1 and wal", path, fk, mode)
	}
	return db, nil
}

// openDBReadOnly opens the database of a read-only directory. SQLite cannot create the
// WAL's shared-memory file there, so a cleanly closed database (no WAL left) is opened
// immutable; one with a WAL left by a crash is opened read-only, which works only when its
// -shm file survived too, and otherwise fails with a message saying what to do.
func openDBReadOnly(ctx context.Context, dir string) (*sql.DB, error) {
	path, err := dbPath(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%w (%s): there is no catalog to serve: %v", ErrReadOnly, dir, err)
	}
	params := "mode=ro&immutable=1"
	if st, err := os.Stat(path + "-wal"); err == nil && st.Size() > 0 {
		params = "mode=ro"
	}
	db, err := sql.Open("sqlite", "file:"+path+"?"+params+"&_foreign_keys=1")
	if err != nil {
		return nil, fmt.Errorf("data: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	db.SetMaxIdleConns(4)
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_master").Scan(&n); err != nil {
		db.Close()
		return nil, fmt.Errorf("%w (%s): the database cannot be read without writing (a crash left its write-ahead log): make the directory writable once: %v",
			ErrReadOnly, dir, err)
	}
	return db, nil
}

// dbPath is the database's path in dir; the driver reads '?' and '#' in it as URI syntax.
func dbPath(dir string) (string, error) {
	path := filepath.Join(dir, dbFile)
	if strings.ContainsAny(path, "?#") {
		return "", fmt.Errorf("data: data directory %q: '?' and '#' are not allowed in the path", dir)
	}
	return path, nil
}

// lockDir takes an exclusive advisory lock on the data directory for the life of the Catalog.
// A read-only directory is locked through its existing lock file, if it has one (flock needs
// no write access); nothing can be written there anyway.
func lockDir(dir string, readOnly bool) (*os.File, error) {
	flags := os.O_RDWR | os.O_CREATE
	if readOnly {
		flags = os.O_RDONLY
	}
	f, err := os.OpenFile(filepath.Join(dir, "catalog.lock"), flags, 0o644)
	if readOnly && errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("data: lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, fmt.Errorf("data: lock %s: %w", dir, err)
	}
	return f, nil
}

func unlockDir(f *os.File) {
	if f != nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
}

// bumpGeneration increments the generation inside tx and returns the new value. It is the
// first statement of every write transaction: being a write, it takes SQLite's write lock at
// once, so the transaction can never fail later on a read-to-write lock upgrade.
func bumpGeneration(ctx context.Context, tx *sql.Tx) (int64, error) {
	var gen int64
	err := tx.QueryRowContext(ctx, "UPDATE catalog_state SET generation = generation + 1 RETURNING generation").Scan(&gen)
	if err != nil {
		return 0, fmt.Errorf("data: bump generation: %w", err)
	}
	return gen, nil
}

// isDuplicateName reports whether err is the UNIQUE violation on products.name_key.
func isDuplicateName(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE &&
		strings.Contains(se.Error(), "products.name_key")
}

// encodeVector stores a vector as little-endian float32, the layout FAISS and numpy read.
func encodeVector(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// decodeVectorInto appends the vector in b to dst.
func decodeVectorInto(dst []float32, b []byte, dim int) ([]float32, error) {
	if len(b) != 4*dim {
		return dst, fmt.Errorf("%w: stored vector has %d bytes, want %d", ErrDimension, len(b), 4*dim)
	}
	for i := 0; i < dim; i++ {
		dst = append(dst, math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
	}
	return dst, nil
}
