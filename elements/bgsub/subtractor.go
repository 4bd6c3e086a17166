package bgsub

/*
#cgo CFLAGS: -O3 -std=gnu11 -I${SRCDIR}
#cgo LDFLAGS: -lm
#include <stdlib.h>
#include "knn.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"unsafe"
)

// Params are the KNN background model's parameters, named as OpenCV names them.
type Params struct {
	History        int     // frames of history (OpenCV history)
	Dist2Threshold float64 // squared colour distance threshold (OpenCV dist2Threshold)
	KNN            int     // close background samples needed (OpenCV kNNSamples, 2)
	DetectShadows  bool
	ShadowValue    uint8   // mask value of shadow pixels (127)
	ShadowTau      float64 // shadow threshold (0.5)
	Seed           uint64  // random update phases; 0: a fixed default
	// ForegroundSlowdown: pixels that are foreground learn only 1 in this many of their
	// short-term updates, so an object held still takes that many times longer to become
	// background. <= 1: as OpenCV (about 2 s at history 300). Not an OpenCV parameter.
	ForegroundSlowdown int
	// ForegroundSlowdownAfter is the frame from which the slowdown applies: before, the
	// model is learning the scene, all foreground to an empty model.
	ForegroundSlowdownAfter int
}

// DefaultParams are the original system's settings (history 300, dist2Threshold 500, no
// shadows) with OpenCV's defaults for the rest.
var DefaultParams = Params{History: 300, Dist2Threshold: 500, KNN: 2, ShadowValue: 127, ShadowTau: 0.5}

// samplesPerSet is OpenCV's nN: 7 samples in each of the short, mid and long sets.
const samplesPerSet = 7

// Subtractor is the KNN background model of one stream at one resolution. It is not safe for
// concurrent use (a stream's frames come one at a time).
type Subtractor struct {
	model         *C.knn_model
	width, height int
}

func (p Params) c() C.knn_params {
	var cp C.knn_params
	cp.history = C.int(p.History)
	cp.dist2_threshold = C.float(p.Dist2Threshold)
	cp.k = C.int(p.KNN)
	cp.samples = samplesPerSet
	if p.DetectShadows {
		cp.detect_shadows = 1
	}
	cp.shadow_value = C.uint8_t(p.ShadowValue)
	cp.shadow_tau = C.float(p.ShadowTau)
	cp.seed = C.uint64_t(p.Seed)
	cp.fg_slowdown = C.int(p.ForegroundSlowdown)
	cp.fg_slowdown_after = C.int(p.ForegroundSlowdownAfter)
	return cp
}

// NewSubtractor allocates a model for width×height frames (91 bytes per pixel), its memory
// already faulted in (see arena_new in knn.c).
func NewSubtractor(width, height int, p Params) (*Subtractor, error) {
	if width <= 0 || height <= 0 {
		return nil, errors.New("bgsub: frame size must be positive")
	}
	cp := p.c()
	m := C.knn_new(C.int(width), C.int(height), &cp)
	if m == nil {
		return nil, errors.New("bgsub: out of memory for the background model")
	}
	return &Subtractor{model: m, width: width, height: height}, nil
}

// perPixel makes the model skip its start-up fast path (tests check the two agree).
func (s *Subtractor) perPixel() { C.knn_per_pixel(s.model) }

// SetParams changes the parameters from the next frame on (the samples are kept).
func (s *Subtractor) SetParams(p Params) {
	cp := p.c()
	C.knn_set_params(s.model, &cp)
}

// Close frees the model.
func (s *Subtractor) Close() {
	if s.model != nil {
		C.knn_free(s.model)
		s.model = nil
	}
}

// Apply classifies one frame, given as three planes of width*height bytes (any fixed channel
// order), into mask (255 foreground, 0 background, ShadowValue shadow) and learns from it.
func (s *Subtractor) Apply(c0, c1, c2, mask []byte) {
	n := s.width * s.height
	if len(c0) < n || len(c1) < n || len(c2) < n || len(mask) < n {
		panic("bgsub: plane or mask smaller than the frame")
	}
	C.knn_apply(s.model, (*C.uint8_t)(&c0[0]), (*C.uint8_t)(&c1[0]), (*C.uint8_t)(&c2[0]), (*C.uint8_t)(&mask[0]))
}

// CleanMask applies the original's clean-up in place: erode (3×3) erode times, dilate (3×3)
// dilate times, then threshold. tmp needs width*height bytes.
func CleanMask(mask, tmp []byte, width, height, erode, dilate, threshold int) {
	n := width * height
	if len(mask) < n || len(tmp) < n {
		panic("bgsub: mask smaller than the frame")
	}
	C.knn_clean_mask((*C.uint8_t)(&mask[0]), (*C.uint8_t)(&tmp[0]), C.int(width), C.int(height),
		C.int(erode), C.int(dilate), C.int(threshold))
}

// Packed describes a packed RGB-family frame: bytes per pixel and the offsets of the three
// colour channels.
type Packed struct {
	BytesPerPixel int
	Offsets       [3]int
}

// Downscale converts a packed frame to three planes of dw×dh, averaging each destination
// pixel's footprint. A buffer too small for the frame it claims to be is an error (a
// malformed buffer must fail the pipeline, not crash the process).
func Downscale(src []byte, sw, sh, stride int, layout Packed, c0, c1, c2 []byte, dw, dh int) error {
	if sw <= 0 || sh <= 0 || stride < sw*layout.BytesPerPixel || len(src) < (sh-1)*stride+sw*layout.BytesPerPixel {
		return fmt.Errorf("bgsub: a %d×%d frame with stride %d needs %d bytes, the buffer has %d",
			sw, sh, stride, (sh-1)*stride+sw*layout.BytesPerPixel, len(src))
	}
	if len(c0) < dw*dh || len(c1) < dw*dh || len(c2) < dw*dh {
		panic("bgsub: planes smaller than the processing size")
	}
	C.knn_downscale_packed((*C.uint8_t)(unsafe.Pointer(&src[0])), C.int(sw), C.int(sh), C.int(stride),
		C.int(layout.BytesPerPixel), C.int(layout.Offsets[0]), C.int(layout.Offsets[1]), C.int(layout.Offsets[2]),
		(*C.uint8_t)(&c0[0]), (*C.uint8_t)(&c1[0]), (*C.uint8_t)(&c2[0]), C.int(dw), C.int(dh))
	return nil
}

// Planar420 is the layout of a 4:2:0 frame: I420 (three planes) or NV12 (chroma
// interleaved, Step 2).
type Planar420 struct {
	YOffset, YStride int
	UOffset, VOffset int // NV12: VOffset = UOffset + 1
	CStride, CStep   int
}

// Downscale420 converts a 4:2:0 frame to three RGB planes of dw×dh (c0 red, c1 green, c2
// blue, as Downscale gives them for RGB formats), averaging each destination pixel's
// footprint. A buffer too small for the frame it claims to be is an error.
func Downscale420(src []byte, sw, sh int, l Planar420, c0, c1, c2 []byte, dw, dh int) error {
	cw, ch := (sw+1)/2, (sh+1)/2
	need := func(off, stride, rowBytes, rows int) bool {
		return off >= 0 && stride >= rowBytes && off+(rows-1)*stride+rowBytes <= len(src)
	}
	if sw <= 0 || sh <= 0 || (l.CStep != 1 && l.CStep != 2) || !need(l.YOffset, l.YStride, sw, sh) ||
		!need(l.UOffset, l.CStride, (cw-1)*l.CStep+1, ch) || !need(l.VOffset, l.CStride, (cw-1)*l.CStep+1, ch) {
		return fmt.Errorf("bgsub: a %d×%d 4:2:0 frame with this layout (%+v) does not fit in %d bytes", sw, sh, l, len(src))
	}
	if len(c0) < dw*dh || len(c1) < dw*dh || len(c2) < dw*dh {
		panic("bgsub: planes smaller than the processing size")
	}
	C.knn_downscale_yuv420((*C.uint8_t)(unsafe.Pointer(&src[l.YOffset])), C.int(l.YStride),
		(*C.uint8_t)(unsafe.Pointer(&src[l.UOffset])), (*C.uint8_t)(unsafe.Pointer(&src[l.VOffset])),
		C.int(l.CStride), C.int(l.CStep), C.int(sw), C.int(sh),
		(*C.uint8_t)(&c0[0]), (*C.uint8_t)(&c1[0]), (*C.uint8_t)(&c2[0]), C.int(dw), C.int(dh))
	return nil
}
