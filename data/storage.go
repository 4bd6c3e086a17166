package data

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// storageError turns a failed write into ErrReadOnly or ErrDiskFull (naming the directory)
// when the storage is the cause, so that an operator reads "the disk is full" instead of an
// SQLite code, and counts it. Other errors are returned as they are.
func (c *Catalog) storageError(err error) error {
	if err == nil || errors.Is(err, ErrReadOnly) || errors.Is(err, ErrDiskFull) {
		return err
	}
	cause := storageCause(err)
	if cause == nil && isIOFailure(err) {
		// SQLite reports a journal it could not create or write as a generic I/O error;
		// try the directory ourselves to learn why.
		cause = probeWritable(c.dir)
	}
	if cause == nil {
		return err
	}
	c.mu.Lock()
	c.stats.StorageErrors++
	c.mu.Unlock()
	c.log.Error("a write was refused by the storage; nothing was stored", "dir", c.dir, "cause", cause, "err", err)
	return fmt.Errorf("%w (%s): nothing was stored: %v", cause, c.dir, err)
}

// storageCause recognises a read-only file system or a full disk in err, from the system
// call's errno or SQLite's primary result code.
func storageCause(err error) error {
	switch {
	case errors.Is(err, syscall.EROFS):
		return ErrReadOnly
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return ErrDiskFull
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_READONLY:
			return ErrReadOnly
		case sqlite3.SQLITE_FULL:
			return ErrDiskFull
		}
	}
	return nil
}

// isIOFailure: SQLite failed to open or write a file, without saying why.
func isIOFailure(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
		return true
	}
	return false
}

// probeWritable writes, syncs and removes a small file in dir and returns ErrReadOnly or
// ErrDiskFull when that fails for one of those reasons (nil otherwise).
func probeWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".write-probe-*")
	if err != nil {
		return storageCause(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err := f.Write(make([]byte, 4096)); err != nil {
		return storageCause(err)
	}
	return storageCause(f.Sync())
}
