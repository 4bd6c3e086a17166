// Package cores knows how many CPU cores this process may use, and gives the Go runtime more
// processors (P's) than that for the GStreamer threads that run our elements.
package cores

import (
	"os"
	"runtime"
)

// n is the Go runtime's own count at start, before ForCallbacks raises GOMAXPROCS: the
// machine's CPUs, its cgroup's CPU limit, or GOMAXPROCS when the operator set it.
var n = runtime.GOMAXPROCS(0)

// N is the number of cores the process may use, whatever GOMAXPROCS was raised to since.
// Work that keeps a core busy (preparing a batch of images, rebuilding an index) is spread
// over N helpers, and the admission of live sessions is sized by N.
func N() int { return n }

// perCore is how many Go processors ForCallbacks gives each core. Measured with 16 live
// sessions on 2 cores (web: BenchmarkLiveSessions): GOMAXPROCS 2 → client p95 174–180 ms,
// 4 → 127 ms, 8 → 101–112 ms, 16 → 96–110 ms, at the same CPU (1.21–1.23 cores).
const perCore = 4

// ForCallbacks sets GOMAXPROCS to 4 P's per core, unless the operator chose GOMAXPROCS.
//
// Benchmarks call it again at the start of every benchmark and sub-benchmark: the testing
// package sets GOMAXPROCS back to its -test.cpu value (one P per core) as it finishes each,
// so every benchmark after the first in a process would otherwise measure a server unlike
// the one that runs (at 16 live sessions on 2 cores, twice the p95 latency).
//
// Our elements are Go code that GStreamer's streaming threads call through cgo, a few threads
// per live session. A thread entering Go needs a P. With one P per core, a P stays held by
// whatever thread last ran Go code on it even while the kernel has put that thread aside —
// a low-priority recognition worker preparing a crop, a streaming thread whose time slice
// ended — and every other session's streaming thread then waits in its callback for that P:
// a priority inversion the kernel cannot see, which stalled the video exactly when sessions
// recognised products. With more P's than cores, the kernel alone decides which thread runs
// (and honours the priorities); the Go runtime's CPU use does not grow.
func ForCallbacks() {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	if runtime.GOMAXPROCS(0) < perCore*n {
		runtime.GOMAXPROCS(perCore * n)
	}
}
