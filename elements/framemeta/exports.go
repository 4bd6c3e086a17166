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
