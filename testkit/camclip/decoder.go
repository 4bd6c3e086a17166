package camclip

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"
)

// Decoded is a decoded frame: its I420 planes (packed, no padding) and when it came out.
type Decoded struct {
	Y, U, V       []byte
	Width, Height int
	At            time.Time
	// Tag is what was given to Decode with the encoded frame.
	Tag int64
}

// Decoder decodes VP8 or H.264 frames (one complete frame per call) on its own thread, as
// a browser does with the video it receives.
type Decoder struct {
	pipeline *gst.Pipeline
	src      *app.Source
	out      chan Decoded

	mu     sync.Mutex
	closed bool
}

// NewDecoder starts a decoder for "VP8" or "H264" frames. gst.Init must have run.
func NewDecoder(codec string) (*Decoder, error) {
	caps, dec := "video/x-vp8", "vp8dec threads=1"
	if codec == "H264" {
		caps, dec = "video/x-h264,stream-format=byte-stream,alignment=au", "h264parse ! avdec_h264 max-threads=1"
	}
	launch := fmt.Sprintf("appsrc name=src format=time is-live=true max-bytes=%d caps=%s ! %s ! "+
		"video/x-raw,format=I420 ! appsink name=sink sync=false max-buffers=0", 8<<20, caps, dec)
	pipeline, err := gst.NewPipelineFromString(launch)
	if err != nil {
		return nil, fmt.Errorf("decoder: %w", err)
	}
	srcEl, _ := pipeline.GetElementByName("src")
	sinkEl, _ := pipeline.GetElementByName("sink")
	d := &Decoder{pipeline: pipeline, src: app.SrcFromElement(srcEl), out: make(chan Decoded, 64)}
	app.SinkFromElement(sinkEl).SetCallbacks(&app.SinkCallbacks{NewSampleFunc: func(s *app.Sink) gst.FlowReturn {
		return d.pull(s)
	}})
	if err := pipeline.SetState(gst.StatePlaying); err != nil {
		pipeline.SetState(gst.StateNull)
		return nil, fmt.Errorf("decoder: %w", err)
	}
	return d, nil
}

func (d *Decoder) pull(s *app.Sink) gst.FlowReturn {
	sample := s.PullSample()
	if sample == nil {
		return gst.FlowEOS
	}
	at := time.Now()
	defer func() {
		runtime.SetFinalizer(sample, nil)
		sample.Unref()
	}()
	var w, h int
	if caps := sample.GetCaps(); caps != nil && caps.GetSize() > 0 {
		st := caps.GetStructureAt(0)
		if v, err := st.GetValue("width"); err == nil {
			w, _ = v.(int)
		}
		if v, err := st.GetValue("height"); err == nil {
			h, _ = v.(int)
		}
		runtime.KeepAlive(caps)
	}
	buf := sample.GetBuffer()
	if buf == nil || w == 0 || h == 0 {
		return gst.FlowOK
	}
	data := buf.Bytes()
	tag := int64(buf.PresentationTimestamp()) // the decoder keeps each frame's timestamp
	// GStreamer's I420 layout for even sizes with 4-aligned strides (640x480: none).
	ys := (w + 3) &^ 3
	cs := ((w+1)/2 + 3) &^ 3
	ch := (h + 1) / 2
	if len(data) < ys*h+2*cs*ch {
		return gst.FlowOK
	}
	dec := Decoded{Width: w, Height: h, At: at, Tag: tag}
	dec.Y = compact(data[:ys*h], ys, w, h)
	dec.U = compact(data[ys*h:ys*h+cs*ch], cs, (w+1)/2, ch)
	dec.V = compact(data[ys*h+cs*ch:ys*h+2*cs*ch], cs, (w+1)/2, ch)
	select {
	case d.out <- dec:
	default: // the reader is gone or far behind: the frame is not shown
	}
	return gst.FlowOK
}

func compact(p []byte, stride, w, h int) []byte {
	out := make([]byte, w*h)
	for r := 0; r < h; r++ {
		copy(out[r*w:(r+1)*w], p[r*stride:r*stride+w])
	}
	return out
}

// Decode queues one encoded frame; tag (>= 0, increasing) comes back with its picture.
func (d *Decoder) Decode(frame []byte, tag int64) error {
	buf := gst.NewBufferFromBytes(frame)
	buf.SetPresentationTimestamp(gst.ClockTime(tag))
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return fmt.Errorf("decoder closed")
	}
	if ret := d.src.PushBuffer(buf); ret != gst.FlowOK {
		return fmt.Errorf("decoder: push: %v", ret)
	}
	return nil
}

// Out delivers the decoded pictures.
func (d *Decoder) Out() <-chan Decoded { return d.out }

// Close stops the decoder.
func (d *Decoder) Close() {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	d.closed = true
	d.mu.Unlock()
	d.pipeline.SetState(gst.StateNull)
	runtime.KeepAlive(d.pipeline)
}
