// Package malloctune limits glibc's malloc arenas, imported for its side effect by the
// server binary (and the soak test).
//
// GStreamer, libvpx and ONNX Runtime allocate from many threads; glibc gives each thread
// group its own arena (up to 8 per core) and returns little of their freed memory to the
// system, so the resident size of a server that churns sessions creeps up. Two arenas keep
// it flat (measured in the soak test: RSS 684 MB and rising after 48 sessions with the
// default, 540 MB and flattening with two) at no measurable cost in throughput.
package malloctune

/*
#include <malloc.h>
*/
import "C"

func init() {
	C.mallopt(C.M_ARENA_MAX, 2)
}
