// Package framemeta carries per-frame analysis results downstream with the video buffer.
//
// Every element of an EBRCS pipeline works on one frame at a time and hands what it found
// (foreground blobs, the ROI gate's decision, crops, embeddings, matches) to the elements after
// it. Those results must travel with the buffer they describe, never through state shared
// between elements: buffers can be queued, dropped, copied by a tee or processed by several
// pipelines at once, and only the buffer itself knows which frame it is.
//
// The carrier is a small registered GstMeta (EbrcsFrameMeta, see meta.c) that holds a single
// runtime/cgo handle to a Go *Frame. GStreamer owns the lifetime: when the buffer is freed the
// meta's free function releases the handle, and when a buffer is copied (tee, make-writable,
// videoscale, videoconvert) the meta's transform function gives the copy its own deep clone.
// The Go value itself is never touched by C, so it can hold ordinary Go types.
//
// Usage, inside an element's per-buffer callback:
//
//	f := framemeta.Ensure(buf) // adds the meta if absent; the buffer must be writable
//	f.Trail = append(f.Trail, "label")
//
// and downstream (another element, an appsink callback):
//
//	if f := framemeta.Get(buf); f != nil { ... }
//
// A Frame is owned by the one streaming thread that holds its buffer, like the buffer's pixels,
// so it needs no lock.
package framemeta

/*
#cgo pkg-config: gstreamer-1.0
#include "meta.h"
*/
import "C"

import (
	"runtime/cgo"
	"sync/atomic"
	"unsafe"

	"github.com/go-gst/go-gst/gst"
)

// Frame is the analysis state of one video frame. Coordinates in it are pixels of a frame of
// Width×Height (the size where they were computed); an element after a scaler maps them by the
// ratio of the sizes.
//
// Each analysis element owns one field and documents it; fields are added here as elements
// are, so that the whole per-frame contract can be read in one place.
type Frame struct {
	// Width and Height are the frame size that coordinates in this Frame refer to.
	Width, Height int

	// Trail lists the labels of the ebrcs_passthrough elements this frame went through, in
	// order. It exists to prove and debug the carrier: written upstream, read downstream.
	Trail []string
}

// Clone returns a deep copy: a buffer copy must never share mutable state with its original.
func (f *Frame) Clone() *Frame {
	c := *f
	c.Trail = append([]string(nil), f.Trail...)
	return &c
}

// live counts the Frames currently attached to buffers, to prove none leak.
var live atomic.Int64

// Live returns how many Frames are attached to buffers that still exist.
func Live() int64 { return live.Load() }

func newHandle(f *Frame) cgo.Handle {
	live.Add(1)
	return cgo.NewHandle(f)
}

func releaseHandle(h cgo.Handle) {
	h.Delete()
	live.Add(-1)
}

// Get returns the Frame attached to buf, or nil when no element has attached one.
func Get(buf *gst.Buffer) *Frame {
	m := C.ebrcs_buffer_get_frame_meta(cBuffer(buf))
	if m == nil || m.handle == 0 {
		return nil
	}
	return cgo.Handle(m.handle).Value().(*Frame)
}

// Ensure returns the Frame attached to buf, attaching a new empty one first when there is none.
// Adding a meta modifies the buffer, so buf must be writable (it is inside a non-passthrough
// transform's callback).
func Ensure(buf *gst.Buffer) *Frame {
	if f := Get(buf); f != nil {
		return f
	}
	f := &Frame{}
	Attach(buf, f)
	return f
}

// Attach attaches f to buf, replacing any Frame already there.
func Attach(buf *gst.Buffer, f *Frame) {
	h := newHandle(f)
	if m := C.ebrcs_buffer_get_frame_meta(cBuffer(buf)); m != nil {
		old := m.handle
		m.handle = C.guintptr(h)
		if old != 0 {
			releaseHandle(cgo.Handle(old))
		}
		return
	}
	if C.ebrcs_buffer_add_frame_meta(cBuffer(buf), C.guintptr(h)) == nil {
		releaseHandle(h)
	}
}

func cBuffer(buf *gst.Buffer) *C.GstBuffer {
	return (*C.GstBuffer)(unsafe.Pointer(buf.Instance()))
}
