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
#cgo CFLAGS: -I${SRCDIR}
#include "meta.h"
*/
import "C"

import (
	"image"
	"runtime"
	"runtime/cgo"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/go-gst/go-gst/gst"

	"github.com/ebrcs/ebrcs/roi"
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

	// Detected is set by ebrcs_bgsub on every frame it processed; Blobs are the foreground
	// regions it found there, largest area first (empty: nothing moved).
	Detected bool
	Blobs    []Blob

	// Gate is ebrcs_roigate's decision for this frame; nil when no gate ran.
	Gate *Gate

	// Embedding is ebrcs_embed's L2-normalised query vector of the gate's crop, on the frames
	// the gate chose (nil on the others); EmbeddingModel is the embedder's fingerprint, so
	// that a matcher never compares vectors of different models.
	Embedding      []float32
	EmbeddingModel string
	// CropImage is the crop ebrcs_embed embedded, cut out of this frame (nil when it embedded
	// nothing). It is never modified: copies of the frame share it.
	CropImage *image.RGBA

	// Match is ebrcs_match's verdict on the visit so far, on the frames it recognised (nil
	// on the others).
	Match *Match
	// Verdict is the visit's latest verdict on every frame of the visit from its first
	// recognition on (Match's frames included): what the overlay shows between
	// recognitions, and after the visit was decided and is no longer recognised.
	Verdict *Match

	// Late is the vector of an earlier visit, embedded in the background (ebrcs_embed, async)
	// while that visit ended and another began; nil on most frames. ebrcs_match recognises it
	// alone and ebrcs_counter decides that visit with it, unless it was decided meanwhile: on
	// a busy machine, a product swiped past just before the next one is still counted.
	Late *LateRecognition

	// Recognising is how many visits ebrcs_embed (async) still has recognition under way for
	// after this frame: a crop in flight or waiting, or a vector not yet delivered. It is
	// what the shopper must wait for before the cart is complete; ebrcs_counter puts it on
	// the cart (cart.Cart.SetRecognising). 0 without an async ebrcs_embed.
	Recognising int

	// Cart is the checkout's cart after this frame (ebrcs_counter), for the overlay.
	Cart []CartLine
}

// LateRecognition is a recognition that came after its visit had given way to another.
type LateRecognition struct {
	// Visit is the visit the crop was cut from, and Seen the stream time of its frame (-1:
	// unknown): the cooldown compares products by when they were shown, not recognised.
	Visit *VisitState
	Seen  time.Duration
	// Embedding, EmbeddingModel and CropImage are as Frame's, for that visit's crop.
	Embedding      []float32
	EmbeddingModel string
	CropImage      *image.RGBA
	// Match is ebrcs_match's verdict on the crop alone (nil until it ran).
	Match *Match
}

// Blob is one foreground region found by background subtraction.
type Blob struct {
	Box image.Rectangle // bounding box, in this Frame's pixels
	// Area of the region's outer contour in this Frame's pixels (OpenCV's contourArea of the
	// external contour: holes count, the boundary counts half).
	Area float64
}

// ROIStatus says where the main object is relative to the region of interest.
type ROIStatus string

// ROI statuses.
const (
	ROIEmpty   ROIStatus = "empty"   // no candidate object this frame
	ROIOutside ROIStatus = "outside" // the main object is outside the ROI
	ROIEntered ROIStatus = "entered" // the main object has just entered the ROI (entry event)
	ROIInside  ROIStatus = "inside"  // the main object is inside the ROI, already occupied
)

// Gate is the ROI gate's view of one frame.
type Gate struct {
	// ROI is the polygon in force (normalised); nil when no ROI is set.
	ROI []roi.Point
	// Status of the main object relative to the ROI.
	Status ROIStatus
	// Occupied: an object entered the ROI and it has not been empty for roi-clear-frames yet.
	Occupied bool
	// HasMain says Main is set: the largest blob, padded and big enough to recognise.
	HasMain bool
	Main    image.Rectangle
	// Entry is true on the frame the main object entered the ROI.
	Entry bool
	// Recognize asks the recogniser to run on Crop in this frame.
	Recognize bool
	Crop      image.Rectangle
	// FrameNumber counts the frames the gate has seen, from 1.
	FrameNumber int64
	// Visit is the visit in progress (with an ROI: from the entry until the ROI is free
	// again; nil otherwise), the same object on every frame of the visit, so that an element
	// downstream can tell the ones upstream about it (see VisitState).
	Visit *VisitState
}

// VisitState is what the elements of one pipeline share about a visit while its frames go
// by. Metadata flows downstream only; this is the way back: ebrcs_counter marks the visit
// decided (counted, asked about, or reported unknown, once per visit), and ebrcs_embed stops
// recognising it, since no further recognition can change what was decided. With many
// sessions that is most of the embedder's work saved: a product held in the ROI after its
// count used to be recognised every few frames until it left.
type VisitState struct {
	decided atomic.Bool
}

// MarkDecided records that the visit was decided. Safe on a nil VisitState (no visit).
func (v *VisitState) MarkDecided() {
	if v != nil {
		v.decided.Store(true)
	}
}

// Decided reports whether the visit was decided. False on a nil VisitState.
func (v *VisitState) Decided() bool { return v != nil && v.decided.Load() }

// Decision is what the recogniser decided about the object of a visit, from every crop of
// it seen so far.
type Decision string

// Decisions.
const (
	DecisionCount   Decision = "count"   // surely Product: count it
	DecisionAsk     Decision = "ask"     // one of the candidates, not surely which: ask
	DecisionUnknown Decision = "unknown" // no product of the catalog
)

// Match is what the recogniser made of the object of a visit: the evidence of all the crops
// of the visit recognised so far, fused, and the decision taken on it.
type Match struct {
	ProductID int64   // best catalog product; 0 when the catalog is empty
	Product   string  // its name
	Score     float32 // its score, in the catalog's score space (see data.Evidence)
	Second    float32 // the second best product's score (-1: none)
	None      float32 // the best score of a "none of these" answer (-2: none stored)
	Decision  Decision
	Known     bool // Decision is DecisionCount: Product is the answer
	// Frames is how many recognised crops of the visit the evidence fuses.
	Frames int
	// Candidates are the best products, best first (top-k), Product included.
	Candidates []Candidate
	// Crop is the visit's most representative crop so far (of the crops fused, the one
	// closest to the visit as a whole), as ebrcs_embed cut it; nil when none. Never modified.
	Crop *image.RGBA
}

// Candidate is one product a crop resembles.
type Candidate struct {
	ProductID int64
	Product   string
	Score     float32
}

// CartLine is one product in a cart.
type CartLine struct {
	Product  string
	Quantity int
}

// Clone returns a deep copy: a buffer copy must never share mutable state with its original.
func (f *Frame) Clone() *Frame {
	c := *f
	c.Trail = append([]string(nil), f.Trail...)
	c.Blobs = append([]Blob(nil), f.Blobs...)
	if f.Gate != nil {
		g := *f.Gate
		g.ROI = append([]roi.Point(nil), f.Gate.ROI...)
		c.Gate = &g
	}
	c.Embedding = append([]float32(nil), f.Embedding...)
	if f.Match != nil {
		m := *f.Match
		m.Candidates = append([]Candidate(nil), f.Match.Candidates...)
		c.Match = &m
	}
	if f.Late != nil {
		l := *f.Late
		l.Embedding = append([]float32(nil), f.Late.Embedding...)
		if f.Late.Match != nil {
			m := *f.Late.Match
			m.Candidates = append([]Candidate(nil), f.Late.Match.Candidates...)
			l.Match = &m
		}
		c.Late = &l
	}
	c.Cart = append([]CartLine(nil), f.Cart...)
	return &c
}

// live counts the Frames currently attached to buffers, to prove none leak.
var live atomic.Int64

// Live returns how many Frames are attached to buffers or events that still exist.
func Live() int64 { return live.Load() }

// liveEvents counts the Frames of events (NewEvent) that still exist.
var liveEvents atomic.Int64

// LiveEvents returns how many Frames sent without a buffer are held by events that still
// exist (part of Live).
func LiveEvents() int64 { return liveEvents.Load() }

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
	// The meta lives in the buffer's memory: a caller's wrapper may own the buffer (a pulled
	// sample's), so keep it until the handle has been read, or the wrapper's finalizer could
	// free the buffer, its meta and the handle under us.
	defer runtime.KeepAlive(buf)
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
	defer runtime.KeepAlive(buf) // the meta is written after buf's last Go use: see Get
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

// NewEvent wraps f in a serialized custom downstream event, for metadata that must reach the
// elements downstream when no frame comes to carry it (a recognition that finished after the
// camera stopped). The event owns the Frame as a buffer's meta does: freeing the event
// releases it. The result is a GstEvent* holding the only reference, which the caller passes
// on (gst_pad_push_event takes it).
func NewEvent(f *Frame) unsafe.Pointer {
	liveEvents.Add(1)
	return unsafe.Pointer(C.ebrcs_frame_event_new(C.guintptr(newHandle(f))))
}

// FromEvent returns the Frame carried by an event from NewEvent (a GstEvent*), or nil for any
// other event. It belongs to the event: valid while the caller holds the event.
func FromEvent(event unsafe.Pointer) *Frame {
	h := C.ebrcs_frame_event_handle((*C.GstEvent)(event))
	if h == 0 {
		return nil
	}
	return cgo.Handle(h).Value().(*Frame)
}
