package goelement

import (
	"sync"
	"time"

	"github.com/go-gst/go-gst/gst"
)

// CameraTimeReference names the camera's own timing on a frame: a GstReferenceTimestampMeta
// with this reference holds when the camera took the frame, on the camera's clock from its
// first frame (a live source reads it from the RTP timestamps), and as its duration the
// camera's time since the frame before it, skipped or lost ones included.
//
// A frame's PTS on a live source is when it arrived, which is what latency is measured
// against; but arrivals bunch up and spread out with the network and a busy machine, and
// frames skipped before the analysis leave gaps nothing downstream can size. The camera's
// timing says exactly how much of the stream passed between two frames analysed.
// GStreamer's decoders copy the meta from each encoded frame to its picture.
const CameraTimeReference = "timestamp/x-ebrcs-camera"

// cameraCaps is the meta's reference, made once (after gst.Init): it lives as long as the
// process.
var cameraCaps = sync.OnceValue(func() *gst.Caps { return gst.NewCapsFromString(CameraTimeReference) })

// StampCameraTime puts the camera's timing on an encoded frame before it is decoded: at is
// when the camera took it, interval the camera's time since the frame before it (≤ 0:
// unknown, the first frame).
func StampCameraTime(buf *gst.Buffer, at, interval time.Duration) {
	d := gst.ClockTimeNone
	if interval > 0 {
		d = gst.ClockTime(interval)
	}
	buf.AddReferenceTimestampMeta(cameraCaps(), gst.ClockTime(at), d)
}

// CameraTime returns the camera's timing of the frame (see CameraTimeReference): when the
// camera took it, and the camera's time since the frame before (-1: unknown). ok is false
// when the source put none on it (files and RTSP cameras, whose PTS is already their
// stream's time).
func (b *Buffer) CameraTime() (at, interval time.Duration, ok bool) { return CameraTimeOf(b.buf) }

// CameraTimeOf is Buffer.CameraTime for any buffer.
func CameraTimeOf(buf *gst.Buffer) (at, interval time.Duration, ok bool) {
	meta := buf.GetReferenceTimestampMeta(cameraCaps())
	if meta == nil {
		return -1, -1, false
	}
	return clockToDuration(meta.Timestamp), clockToDuration(meta.Duration), true
}
