package pipelines

/*
#cgo pkg-config: gstreamer-1.0 gstreamer-pbutils-1.0
#include <stdlib.h>
#include "probe.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"time"
	"unsafe"
)

// MediaInfo describes a video file's first video stream.
type MediaInfo struct {
	Duration      time.Duration `json:"duration"`
	Width, Height int
	FPS           float64 `json:"fps"`
	// Frames is the frame count: the video track's samples in an MP4/MOV index, else the
	// expected count (duration × frame rate), 0 when unknown.
	Frames    int64  `json:"frames"`
	Container string `json:"container,omitempty"`
	Codec     string `json:"codec,omitempty"`
}

// ErrNotVideo is wrapped by Probe's errors for files that are not a playable video.
var ErrNotVideo = errors.New("not a playable video")

// Probe inspects a file with GStreamer's discoverer: it must be a container or stream
// GStreamer can demux and decode, with a video stream. A file that is not a video, a
// truncated or damaged MP4/MOV/3GP (checkISOBMFF: every box, and every sample of its index,
// within the file) or an unsupported codec is refused with ErrNotVideo and the reason.
//
// The discoverer runs entirely in C (probe.c). go-gst's pbutils wrappers are not safe here:
// nothing keeps the Go wrapper of the GstDiscoverer alive during the blocking
// gst_discoverer_discover_uri call, so a garbage collection in the middle of it finalized the
// discoverer under its own bus (an abort, "bus->priv->poll"); and GetVideoStreams wraps the
// stream infos as owned after the list free has already dropped that reference (a double
// unref). In C, every reference taken is released exactly once, after the last use.
func Probe(path string, timeout time.Duration) (MediaInfo, error) {
	return ProbeWithin(path, timeout, nil)
}

// ProbeWithin is Probe with the caller's limits: check refuses a video (its error is
// returned as is) from what its file declares. The discoverer decodes the first frame, and
// decoding a frame of a huge declared size costs gigabytes, so for an MP4/MOV/3GP file the
// frame size, frame count and duration its index declares are checked before the discoverer
// runs; every file's are checked again after it.
func ProbeWithin(path string, timeout time.Duration, check func(MediaInfo) error) (MediaInfo, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return MediaInfo{}, err
	}
	// The structure first: it reads only the index, and the discoverer would not notice a
	// file cut after its first frames.
	layout, err := checkISOBMFF(abs)
	switch {
	case errors.Is(err, errNotISOBMFF):
	case err != nil:
		return MediaInfo{}, fmt.Errorf("%w: %v", ErrNotVideo, err)
	case check != nil && layout.VideoWidth > 0 && layout.VideoHeight > 0:
		declared := MediaInfo{Width: layout.VideoWidth, Height: layout.VideoHeight, Duration: layout.VideoDuration, Frames: layout.VideoSamples}
		if err := check(declared); err != nil {
			return MediaInfo{}, err
		}
	}
	uri := C.CString((&url.URL{Scheme: "file", Path: abs}).String())
	defer C.free(unsafe.Pointer(uri))
	var r C.ebrcs_probe_result
	C.ebrcs_probe(uri, C.guint64(timeout), &r)
	defer C.ebrcs_probe_result_clear(&r)

	switch r.outcome {
	case C.EBRCS_PROBE_OK:
	case C.EBRCS_PROBE_TIMEOUT:
		return MediaInfo{}, fmt.Errorf("%w: inspecting the file timed out", ErrNotVideo)
	case C.EBRCS_PROBE_MISSING_PLUGINS:
		return MediaInfo{}, fmt.Errorf("%w: no decoder is installed for its format", ErrNotVideo)
	case C.EBRCS_PROBE_UNREADABLE:
		return MediaInfo{}, fmt.Errorf("%w: %s", ErrNotVideo, cStringOr(r.error, "the file could not be read as media"))
	default: // EBRCS_PROBE_FAILED
		return MediaInfo{}, fmt.Errorf("%w: the file could not be demuxed (not a video, or truncated)", ErrNotVideo)
	}
	if r.video_streams == 0 {
		return MediaInfo{}, fmt.Errorf("%w: the file has no video stream", ErrNotVideo)
	}
	if r.is_image != 0 {
		return MediaInfo{}, fmt.Errorf("%w: the file is a still image", ErrNotVideo)
	}
	mi := MediaInfo{Width: int(r.width), Height: int(r.height), Codec: cStringOr(r.codec, ""), Container: cStringOr(r.container, "")}
	if r.has_duration != 0 {
		mi.Duration = time.Duration(r.duration)
	}
	if r.fps_d > 0 {
		mi.FPS = float64(r.fps_n) / float64(r.fps_d)
	}
	if mi.FPS > 0 && mi.Duration > 0 {
		mi.Frames = int64(mi.Duration.Seconds()*mi.FPS + 0.5)
	}
	if layout.VideoSamples > 0 {
		mi.Frames = layout.VideoSamples
	}
	if mi.Width <= 0 || mi.Height <= 0 {
		return MediaInfo{}, fmt.Errorf("%w: the video stream has no frame size", ErrNotVideo)
	}
	if check != nil {
		if err := check(mi); err != nil {
			return MediaInfo{}, err
		}
	}
	return mi, nil
}

func cStringOr(s *C.char, fallback string) string {
	if s == nil {
		return fallback
	}
	return C.GoString(s)
}
