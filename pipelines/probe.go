package pipelines

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/pbutils"
)

// MediaInfo describes a video file's first video stream.
type MediaInfo struct {
	Duration      time.Duration `json:"duration"`
	Width, Height int
	FPS           float64 `json:"fps"`
	// Frames is the expected frame count (duration × frame rate), 0 when either is unknown.
	Frames    int64  `json:"frames"`
	Container string `json:"container,omitempty"`
	Codec     string `json:"codec,omitempty"`
}

// ErrNotVideo is wrapped by Probe's errors for files that are not a playable video.
var ErrNotVideo = errors.New("not a playable video")

// Probe inspects a file with GStreamer's discoverer: it must be a container or stream
// GStreamer can demux and decode, with a video stream. A file that is not a video, a
// truncated MP4 (no index) or an unsupported codec is refused with ErrNotVideo and the reason.
func Probe(path string, timeout time.Duration) (MediaInfo, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return MediaInfo{}, err
	}
	d, err := pbutils.NewDiscoverer(gst.ClockTime(timeout))
	if err != nil {
		return MediaInfo{}, fmt.Errorf("probe: %w", err)
	}
	info, err := d.DiscoverURI((&url.URL{Scheme: "file", Path: abs}).String())
	if err != nil || info == nil {
		return MediaInfo{}, fmt.Errorf("%w: %v", ErrNotVideo, errOr(err, "the file could not be read as media"))
	}
	switch info.GetResult() {
	case pbutils.DiscovererResultOK:
	case pbutils.DiscovererResultTimeout:
		return MediaInfo{}, fmt.Errorf("%w: inspecting the file timed out", ErrNotVideo)
	case pbutils.DiscovererResultMissingPlugins:
		return MediaInfo{}, fmt.Errorf("%w: no decoder is installed for its format", ErrNotVideo)
	default:
		return MediaInfo{}, fmt.Errorf("%w: the file could not be demuxed (not a video, or truncated)", ErrNotVideo)
	}
	videos := info.GetVideoStreams()
	if len(videos) == 0 {
		return MediaInfo{}, fmt.Errorf("%w: the file has no video stream", ErrNotVideo)
	}
	v := videos[0]
	if v.IsImage() {
		return MediaInfo{}, fmt.Errorf("%w: the file is a still image", ErrNotVideo)
	}
	mi := MediaInfo{Width: int(v.GetWidth()), Height: int(v.GetHeight())}
	if dur := info.GetDuration(); dur != gst.ClockTimeNone {
		mi.Duration = time.Duration(dur)
	}
	if den := v.GetFramerateDenom(); den > 0 {
		mi.FPS = float64(v.GetFramerateNum()) / float64(den)
	}
	if mi.FPS > 0 && mi.Duration > 0 {
		mi.Frames = int64(mi.Duration.Seconds()*mi.FPS + 0.5)
	}
	if caps := v.GetCaps(); caps != nil && caps.GetSize() > 0 {
		mi.Codec = caps.GetStructureAt(0).Name()
	}
	if top := info.GetStreamInfo(); top != nil {
		if caps := top.GetCaps(); caps != nil && caps.GetSize() > 0 {
			mi.Container = caps.GetStructureAt(0).Name()
		}
	}
	if mi.Width <= 0 || mi.Height <= 0 {
		return MediaInfo{}, fmt.Errorf("%w: the video stream has no frame size", ErrNotVideo)
	}
	return mi, nil
}

func errOr(err error, fallback string) string {
	if err != nil {
		return err.Error()
	}
	return fallback
}
