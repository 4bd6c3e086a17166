// Package malloctune keeps the native (C) heap of a long-running server flat: it limits
// glibc's malloc arenas (imported for that side effect by the server binary and the soak
// test), and TrimEvery hands freed memory back to the system.
//
// GStreamer, libvpx and ONNX Runtime allocate from many threads; glibc gives each thread
// group its own arena (up to 8 per core) and returns little of their freed memory to the
// system, so the resident size of a server that churns sessions creeps up although nothing
// leaks. Measured with 100 WHIP sessions churned one after another (Read's numbers): memory in
// use stays at 50–51 MB while malloc's free-but-kept memory grows from 100 to 128 MB and the
// RSS from 285 to 318 MB; trimming every 10 sessions keeps the RSS at 220 MB. Two arenas
// instead of sixteen: RSS 684 MB and rising after 48 soak sessions with the default, 540 MB
// with two, at no measurable cost in throughput.
package malloctune

/*
#include <malloc.h>
*/
import "C"

import (
	"context"
	"time"
)

func init() {
	C.mallopt(C.M_ARENA_MAX, 2)
}

// Stats is what glibc's malloc holds, in bytes over all arenas: InUse is allocated and not
// freed (mmapped chunks included), Free is freed but kept by malloc (for reuse, or stranded
// between live chunks).
type Stats struct{ InUse, Free uint64 }

// Read returns malloc's current statistics (mallinfo2; it walks the arenas, so call it at
// scrape time, not per frame).
func Read() Stats {
	mi := C.mallinfo2()
	return Stats{InUse: uint64(mi.uordblks) + uint64(mi.hblkhd), Free: uint64(mi.fordblks)}
}

// Trim returns malloc's free pages to the system (malloc_trim), in every arena.
func Trim() { C.malloc_trim(0) }

// TrimEvery calls Trim every interval until ctx ends. A trim takes about a millisecond
// with this server's heap.
func TrimEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			Trim()
		}
	}
}
