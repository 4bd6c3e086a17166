// Package spool is a bounded first-in, first-out queue of records on disk: what a node's
// events wait in until the broker has them. Records are appended to segment files and read
// from the head; the head advances (Commit) only once the reader is done with them, so a
// record is never lost between reading and delivering it, even if the process dies: a new Open
// of the directory carries on from the last commit. The queue holds at most its bound in bytes;
// Append refuses beyond it (ErrFull) and the caller counts the drop.
//
// Appends are written to the operating system at once (one write per record), not synced to
// the disk: the queue survives the process being killed, not the machine losing power.
package spool

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Errors of the queue.
var (
	// ErrFull: the record does not fit within the queue's bound; it was not queued.
	ErrFull = errors.New("spool: the queue is full")
	// ErrTooLarge: the record is larger than MaxRecord.
	ErrTooLarge = errors.New("spool: record too large")
	// ErrClosed: the queue was closed.
	ErrClosed = errors.New("spool: closed")
	// ErrLocked: another process (or another Queue) has the directory open.
	ErrLocked = errors.New("spool: the directory is in use by another process")
)

// MaxRecord is the largest record accepted.
const MaxRecord = 4 << 20

const (
	headerSize = 8 // length (uint32 LE), CRC-32C of the payload (uint32 LE)
	segSuffix  = ".seg"
	headFile   = "head"
	lockFile   = "lock"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Position is a place in the queue: a segment and a byte offset in it.
type Position struct {
	Seg uint64
	Off int64
	n   int64 // records before it, counted from the head at Open
}

// Record is one queued record and the position just after it (what Commit takes to remove
// it and every record before it).
type Record struct {
	Data []byte
	Next Position
}

// Queue is a spool directory opened by one process.
type Queue struct {
	dir      string
	maxBytes int64
	segSize  int64
	lock     *os.File
	ready    chan struct{} // gets a token after every Append

	mu       sync.Mutex
	closed   bool
	segs     []uint64 // existing segments, oldest first; the last is written to
	sizes    map[uint64]int64
	w        *os.File // the last segment, for appends
	head     Position // the oldest record not yet committed
	pending  int64    // records from head to the end
	bytes    int64    // bytes from head to the end (headers included)
	readFile *os.File // the segment being read (head.Seg), opened lazily
	readSeg  uint64
}

// Open opens (creating it if needed) the queue in dir, holding at most maxBytes of records
// (headers included). A record torn by a crash while it was written is cut off. The directory is
// locked until Close: a second Open of it, by this process or another, fails with ErrLocked.
func Open(dir string, maxBytes int64) (*Queue, error) {
	if maxBytes < 1024 {
		return nil, fmt.Errorf("spool: bound %d bytes, want at least 1 KiB", maxBytes)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, dir)
		}
		return nil, err
	}
	q := &Queue{dir: dir, maxBytes: maxBytes, segSize: min(max(maxBytes/16, 64<<10), 16<<20), lock: lock,
		ready: make(chan struct{}, 1), sizes: map[uint64]int64{}}
	if err := q.recover(); err != nil {
		q.closeFiles()
		return nil, err
	}
	return q, nil
}

// recover finds the segments and the head, cuts off torn records, counts what is pending and
// opens the last segment for appends.
func (q *Queue) recover() error {
	entries, err := os.ReadDir(q.dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, segSuffix) {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSuffix(name, segSuffix), 10, 64)
		if err != nil {
			continue
		}
		q.segs = append(q.segs, n)
	}
	sort.Slice(q.segs, func(i, j int) bool { return q.segs[i] < q.segs[j] })
	q.head = q.readHead()
	// Segments wholly before the head were delivered; a crash can leave them behind.
	for len(q.segs) > 0 && q.segs[0] < q.head.Seg {
		os.Remove(q.segPath(q.segs[0]))
		q.segs = q.segs[1:]
	}
	if len(q.segs) == 0 || q.segs[0] != q.head.Seg {
		q.head = Position{Seg: q.head.Seg}
		if len(q.segs) > 0 {
			q.head.Seg = q.segs[0]
		}
	}
	for _, n := range q.segs {
		from := int64(0)
		if n == q.head.Seg {
			from = q.head.Off
		}
		size, records, err := scanSegment(q.segPath(n), from)
		if err != nil {
			return err
		}
		q.sizes[n] = size
		q.pending += records
		q.bytes += size - from
	}
	next := q.head.Seg
	if len(q.segs) > 0 {
		next = q.segs[len(q.segs)-1]
	}
	if len(q.segs) == 0 || q.sizes[next] >= q.segSize {
		if len(q.segs) > 0 {
			next++
		}
		q.segs = append(q.segs, next)
		q.sizes[next] = 0
	}
	q.w, err = os.OpenFile(q.segPath(next), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	return err
}

// scanSegment counts the valid records of a segment from offset from, and cuts the file after
// the last valid one (a record torn by a crash). It returns the valid size.
func scanSegment(path string, from int64) (size, records int64, err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	if from > st.Size() {
		from = st.Size()
	}
	off := from
	for {
		_, next, err := readRecord(f, off, st.Size())
		if err != nil {
			break // the end, or a torn record
		}
		off = next
		records++
	}
	if off < st.Size() {
		if err := f.Truncate(off); err != nil {
			return 0, 0, err
		}
	}
	return off, records, nil
}

// readRecord reads the record at off of a file whose valid bytes end at limit.
func readRecord(f *os.File, off, limit int64) ([]byte, int64, error) {
	if limit-off < headerSize {
		return nil, off, io.EOF
	}
	var h [headerSize]byte
	if _, err := f.ReadAt(h[:], off); err != nil {
		return nil, off, err
	}
	n := int64(binary.LittleEndian.Uint32(h[0:4]))
	if n > MaxRecord || off+headerSize+n > limit {
		return nil, off, io.ErrUnexpectedEOF
	}
	data := make([]byte, n)
	if _, err := f.ReadAt(data, off+headerSize); err != nil {
		return nil, off, err
	}
	if crc32.Checksum(data, castagnoli) != binary.LittleEndian.Uint32(h[4:8]) {
		return nil, off, io.ErrUnexpectedEOF
	}
	return data, off + headerSize + n, nil
}

func (q *Queue) segPath(n uint64) string {
	return filepath.Join(q.dir, fmt.Sprintf("%016d%s", n, segSuffix))
}

// readHead reads the committed head; none: the start.
func (q *Queue) readHead() Position {
	raw, err := os.ReadFile(filepath.Join(q.dir, headFile))
	if err != nil {
		return Position{}
	}
	var p Position
	if _, err := fmt.Sscanf(string(raw), "%d %d", &p.Seg, &p.Off); err != nil {
		return Position{}
	}
	return p
}

// Append queues one record. Beyond the bound it returns ErrFull and queues nothing.
func (q *Queue) Append(data []byte) error {
	if len(data) > MaxRecord {
		return ErrTooLarge
	}
	rec := make([]byte, headerSize+len(data))
	binary.LittleEndian.PutUint32(rec[0:4], uint32(len(data)))
	binary.LittleEndian.PutUint32(rec[4:8], crc32.Checksum(data, castagnoli))
	copy(rec[headerSize:], data)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	if q.bytes+int64(len(rec)) > q.maxBytes {
		return ErrFull
	}
	last := q.segs[len(q.segs)-1]
	if q.sizes[last] > 0 && q.sizes[last]+int64(len(rec)) > q.segSize {
		if err := q.rotate(); err != nil {
			return err
		}
		last = q.segs[len(q.segs)-1]
	}
	n, err := q.w.Write(rec)
	if err != nil {
		if n > 0 { // a partial record (a full disk): cut it off again
			q.w.Truncate(q.sizes[last])
		}
		return err
	}
	q.sizes[last] += int64(n)
	q.pending++
	q.bytes += int64(n)
	select {
	case q.ready <- struct{}{}:
	default:
	}
	return nil
}

// rotate starts a new segment; q.mu is held.
func (q *Queue) rotate() error {
	next := q.segs[len(q.segs)-1] + 1
	w, err := os.OpenFile(q.segPath(next), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	q.w.Close()
	q.w = w
	q.segs = append(q.segs, next)
	q.sizes[next] = 0
	return nil
}

// Ready gets a token after records are appended: a reader that found the queue empty waits
// on it.
func (q *Queue) Ready() <-chan struct{} { return q.ready }

// Read returns up to max records from the head (fewer, or none, when fewer are queued), and
// at most maxBytes of them (at least one record). They stay queued until Commit. Read and
// Commit are for one reader at a time; appends go on while it reads (the files are read
// without holding the queue's lock).
func (q *Queue) Read(max int, maxBytes int64) ([]Record, error) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil, ErrClosed
	}
	// What is there now: the segments from the head and their sizes (appends only add).
	pos := q.head
	var segs []uint64
	sizes := map[uint64]int64{}
	for _, n := range q.segs {
		if n >= pos.Seg {
			segs = append(segs, n)
			sizes[n] = q.sizes[n]
		}
	}
	q.mu.Unlock()

	var out []Record
	var total int64
	for len(out) < max && (len(out) == 0 || total < maxBytes) {
		limit := sizes[pos.Seg]
		if pos.Off >= limit {
			// The end of this segment: the next one, if this one is sealed.
			i := sort.Search(len(segs), func(i int) bool { return segs[i] > pos.Seg })
			if i == len(segs) {
				break
			}
			pos = Position{Seg: segs[i], n: pos.n}
			continue
		}
		f, err := q.reader(pos.Seg)
		if err != nil {
			return out, err
		}
		data, next, err := readRecord(f, pos.Off, limit)
		if err != nil {
			return out, fmt.Errorf("spool: segment %d at %d: %w", pos.Seg, pos.Off, err)
		}
		pos.Off = next
		pos.n++
		out = append(out, Record{Data: data, Next: pos})
		total += int64(len(data))
	}
	return out, nil
}

// reader returns a file open for reading segment n (the reader's own; Commit and Close close
// it with q.mu held).
func (q *Queue) reader(n uint64) (*os.File, error) {
	if q.readFile != nil && q.readSeg == n {
		return q.readFile, nil
	}
	if q.readFile != nil {
		q.readFile.Close()
		q.readFile = nil
	}
	f, err := os.Open(q.segPath(n))
	if err != nil {
		return nil, err
	}
	q.readFile, q.readSeg = f, n
	return f, nil
}

// Commit removes every record before p (a Record's Next) from the queue, for good: the head
// is written to disk, and segments wholly behind it are deleted.
func (q *Queue) Commit(p Position) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	if p.Seg < q.head.Seg || (p.Seg == q.head.Seg && p.Off <= q.head.Off) {
		return nil
	}
	// Count what leaves the queue, segment by segment.
	for _, n := range q.segs {
		if n < q.head.Seg || n > p.Seg {
			continue
		}
		from, to := int64(0), q.sizes[n]
		if n == q.head.Seg {
			from = q.head.Off
		}
		if n == p.Seg {
			to = p.Off
		}
		q.bytes -= to - from
	}
	q.pending -= p.n - q.head.n
	q.head = p
	// Segments wholly behind the head go, unless written to.
	last := q.segs[len(q.segs)-1]
	for len(q.segs) > 1 && (q.segs[0] < p.Seg || (q.segs[0] == p.Seg && p.Off >= q.sizes[p.Seg] && p.Seg != last)) {
		n := q.segs[0]
		if q.readFile != nil && q.readSeg == n {
			q.readFile.Close()
			q.readFile = nil
		}
		os.Remove(q.segPath(n))
		delete(q.sizes, n)
		q.segs = q.segs[1:]
		if n == q.head.Seg {
			q.head = Position{Seg: q.segs[0], n: p.n}
		}
	}
	return q.writeHead()
}

// writeHead saves the head atomically (a new file renamed over the old); q.mu is held.
func (q *Queue) writeHead() error {
	tmp := filepath.Join(q.dir, headFile+".tmp")
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%d %d\n", q.head.Seg, q.head.Off)), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(q.dir, headFile))
}

// Len returns how many records are queued, and their size in bytes (headers included).
func (q *Queue) Len() (records, bytes int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pending, q.bytes
}

// Close closes the files and releases the directory; what is queued stays for the next Open.
func (q *Queue) Close() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return nil
	}
	q.closed = true
	q.closeFiles()
	return nil
}

func (q *Queue) closeFiles() {
	if q.w != nil {
		q.w.Close()
	}
	if q.readFile != nil {
		q.readFile.Close()
	}
	q.lock.Close() // releases the flock
}
