package framemeta

/*
#include <stdint.h>
*/
import "C"

import "runtime/cgo"

// ebrcsFrameRelease is called by the meta's free function when its buffer goes away.
//
//export ebrcsFrameRelease
func ebrcsFrameRelease(handle C.uintptr_t) {
	releaseHandle(cgo.Handle(handle))
}

// ebrcsFrameClone is called by the meta's transform function when a buffer is copied.
//
//export ebrcsFrameClone
func ebrcsFrameClone(handle C.uintptr_t) C.uintptr_t {
	f := cgo.Handle(handle).Value().(*Frame)
	return C.uintptr_t(newHandle(f.Clone()))
}

// ebrcsEventFrameRelease frees the Frame of an event (NewEvent) when the event goes away.
//
//export ebrcsEventFrameRelease
func ebrcsEventFrameRelease(handle C.uintptr_t) {
	liveEvents.Add(-1)
	releaseHandle(cgo.Handle(handle))
}

// ebrcsEventFrameClone gives a copy of an event its own clone of the Frame.
//
//export ebrcsEventFrameClone
func ebrcsEventFrameClone(handle C.uintptr_t) C.uintptr_t {
	liveEvents.Add(1)
	f := cgo.Handle(handle).Value().(*Frame)
	return C.uintptr_t(newHandle(f.Clone()))
}
