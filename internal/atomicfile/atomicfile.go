// Package atomicfile replaces a file so that a crash leaves either the old file or the new
// one, never a part of either.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data: a temporary file in the same directory (named by pattern, as
// os.CreateTemp takes it, so that a directory scan can recognise a leftover one), mode 0600,
// written and fsynced, renamed over path, and the directory fsynced so that the rename itself
// survives a power cut. The temporary file is removed on any failure.
func Write(path, pattern string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after the rename: nothing to remove
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
