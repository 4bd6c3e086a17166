package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func mustOpen(t *testing.T, dir string, max int64) *Queue {
	t.Helper()
	q, err := Open(dir, max)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func readAll(t *testing.T, q *Queue) []Record {
	t.Helper()
	recs, err := q.Read(1<<30, 1<<40)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// Records come out in order across segments; what is committed is gone, also after a
// reopen; what is not stays.
func TestOrderCommitReopen(t *testing.T) {
	dir := t.TempDir()
	q := mustOpen(t, dir, 2<<20) // segments of 128 KiB
	const n = 5000
	for i := range n {
		if err := q.Append(fmt.Appendf(nil, "record %05d %0100d", i, i)); err != nil {
			t.Fatal(err)
		}
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "*.seg")); len(segs) < 3 {
		t.Fatalf("%d segments, want several", len(segs))
	}
	recs, err := q.Read(1000, 1<<30)
	if err != nil || len(recs) != 1000 {
		t.Fatalf("read %d, %v", len(recs), err)
	}
	for i, r := range recs {
		if want := fmt.Sprintf("record %05d ", i); string(r.Data[:len(want)]) != want {
			t.Fatalf("record %d is %q", i, r.Data[:20])
		}
	}
	// Reading again without a commit gives the same records.
	again, _ := q.Read(1, 1<<30)
	if string(again[0].Data) != string(recs[0].Data) {
		t.Fatal("a second read without commit does not start at the head")
	}
	if err := q.Commit(recs[999].Next); err != nil {
		t.Fatal(err)
	}
	if c, _ := q.Len(); c != n-1000 {
		t.Fatalf("Len %d after committing 1000 of %d", c, n)
	}
	q.Close()

	q = mustOpen(t, dir, 2<<20)
	if c, _ := q.Len(); c != n-1000 {
		t.Fatalf("Len %d after reopening, want %d", c, n-1000)
	}
	rest := readAll(t, q)
	if len(rest) != n-1000 || string(rest[0].Data[:12]) != "record 01000" {
		t.Fatalf("after reopening: %d records from %q", len(rest), rest[0].Data[:12])
	}
	if err := q.Commit(rest[len(rest)-1].Next); err != nil {
		t.Fatal(err)
	}
	if c, b := q.Len(); c != 0 || b != 0 {
		t.Fatalf("Len %d, %d bytes after committing everything", c, b)
	}
	if segs, _ := filepath.Glob(filepath.Join(dir, "*.seg")); len(segs) != 1 {
		t.Fatalf("%d segments left, want the one written to", len(segs))
	}
	// Appends go on after everything was committed.
	q.Append([]byte("after"))
	if recs := readAll(t, q); len(recs) != 1 || string(recs[0].Data) != "after" {
		t.Fatalf("after a full commit: %v", recs)
	}
	q.Close()
}

// The bound is in bytes; beyond it Append refuses, and a commit makes room again.
func TestBound(t *testing.T) {
	q := mustOpen(t, t.TempDir(), 4096)
	defer q.Close()
	rec := make([]byte, 100) // 108 bytes with its header
	accepted := 0
	for {
		err := q.Append(rec)
		if errors.Is(err, ErrFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		accepted++
	}
	if accepted != 4096/108 {
		t.Fatalf("%d records accepted, want %d", accepted, 4096/108)
	}
	recs, _ := q.Read(1, 1<<20)
	q.Commit(recs[0].Next)
	if err := q.Append(rec); err != nil {
		t.Fatalf("after a commit: %v", err)
	}
}

// A record torn by a crash (half written) is cut off at the next Open; the records before it
// stay, and appends go on after them.
func TestTornRecord(t *testing.T) {
	dir := t.TempDir()
	q := mustOpen(t, dir, 1<<20)
	q.Append([]byte("one"))
	q.Append([]byte("two"))
	q.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	f, _ := os.OpenFile(segs[0], os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte{50, 0, 0, 0, 1, 2, 3, 4, 'x'}) // a header announcing 50 bytes, then 1
	f.Close()
	q = mustOpen(t, dir, 1<<20)
	defer q.Close()
	q.Append([]byte("three"))
	var got []string
	for _, r := range readAll(t, q) {
		got = append(got, string(r.Data))
	}
	if fmt.Sprint(got) != "[one two three]" {
		t.Fatalf("got %v", got)
	}
}

// One process at a time.
func TestLocked(t *testing.T) {
	dir := t.TempDir()
	q := mustOpen(t, dir, 1<<20)
	if _, err := Open(dir, 1<<20); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	q.Close()
	q = mustOpen(t, dir, 1<<20)
	q.Close()
}

// Ready gets a token when something is appended.
func TestReady(t *testing.T) {
	q := mustOpen(t, t.TempDir(), 1<<20)
	defer q.Close()
	select {
	case <-q.Ready():
		t.Fatal("ready while empty")
	default:
	}
	q.Append([]byte("x"))
	select {
	case <-q.Ready():
	default:
		t.Fatal("not ready after an append")
	}
}

func BenchmarkAppend(b *testing.B) {
	q, err := Open(b.TempDir(), 1<<30)
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	rec := make([]byte, 300)
	b.SetBytes(int64(len(rec)))
	b.ResetTimer()
	for range b.N {
		if err := q.Append(rec); err != nil {
			b.Fatal(err)
		}
	}
}
