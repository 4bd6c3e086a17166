package camclip

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"
)

// EncoderConfig is a camera's encoder: libvpx VP8 in real-time mode, as browsers and
// WebRTC cameras run it.
type EncoderConfig struct {
	Width, Height int
	FPS           int
	Kbps          int // target bitrate
	Keyint        int // at most this many frames between keyframes
	CPUUsed       int // libvpx speed (8: the default here, a phone's setting)
}

// Encoder turns I420 frames into VP8 frames, one out for every frame in, in order. A live
// client uses it to answer keyframe requests (ForceKeyframe); Generate uses it for the clip.
type Encoder struct {
	pipeline *gst.Pipeline
	src      *app.Source
	sink     *app.Sink
	out      chan Frame
	fps      int

	mu     sync.Mutex
	closed bool
}

// Frame is one encoded frame.
type Frame struct {
	Data []byte
	Key  bool
}

// IsVP8Keyframe reports whether an encoded VP8 frame is a keyframe (RFC 6386 9.1: the
// frame tag's bit 0 is 0).
func IsVP8Keyframe(frame []byte) bool { return len(frame) > 0 && frame[0]&1 == 0 }

// NewEncoder starts an encoder. gst.Init must have run.
func NewEncoder(c EncoderConfig) (*Encoder, error) {
	if c.CPUUsed == 0 {
		c.CPUUsed = 8
	}
	launch := fmt.Sprintf("appsrc name=src format=time is-live=false block=true max-bytes=%d "+
		"caps=video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1 ! "+
		"vp8enc deadline=1 cpu-used=%d lag-in-frames=0 end-usage=cbr threads=1 keyframe-max-dist=%d target-bitrate=%d ! "+
		"appsink name=sink sync=false max-buffers=0",
		4*c.Width*c.Height*3/2, c.Width, c.Height, c.FPS, c.CPUUsed, c.Keyint, c.Kbps*1000)
	pipeline, err := gst.NewPipelineFromString(launch)
	if err != nil {
		return nil, fmt.Errorf("vp8 encoder: %w", err)
	}
	srcEl, _ := pipeline.GetElementByName("src")
	sinkEl, _ := pipeline.GetElementByName("sink")
	e := &Encoder{pipeline: pipeline, src: app.SrcFromElement(srcEl), sink: app.SinkFromElement(sinkEl),
		out: make(chan Frame, 1024), fps: c.FPS}
	e.sink.SetCallbacks(&app.SinkCallbacks{
		NewSampleFunc: func(s *app.Sink) gst.FlowReturn {
			data := pullBytes(s)
			if data == nil {
				return gst.FlowEOS
			}
			select {
			case e.out <- Frame{Data: data, Key: IsVP8Keyframe(data)}:
			default: // nobody reads: the frame is lost, as a full network buffer loses it
			}
			return gst.FlowOK
		},
		EOSFunc: func(*app.Sink) { close(e.out) },
	})
	if err := pipeline.SetState(gst.StatePlaying); err != nil {
		pipeline.SetState(gst.StateNull)
		return nil, fmt.Errorf("vp8 encoder: %w", err)
	}
	return e, nil
}

// pullBytes copies out the appsink's next buffer and releases it at once.
func pullBytes(s *app.Sink) []byte {
	sample := s.PullSample()
	if sample == nil {
		return nil
	}
	defer func() {
		runtime.SetFinalizer(sample, nil)
		sample.Unref()
	}()
	buf := sample.GetBuffer()
	if buf == nil {
		return []byte{}
	}
	return buf.Bytes()
}

// Encode queues frame i (I420, the configured size) for encoding.
func (e *Encoder) Encode(i420 []byte, i int) error {
	buf := gst.NewBufferFromBytes(i420)
	pts := gst.ClockTime(uint64(i) * uint64(time.Second) / uint64(e.fps))
	buf.SetPresentationTimestamp(pts)
	buf.SetDuration(gst.ClockTime(uint64(time.Second) / uint64(e.fps)))
	if ret := e.src.PushBuffer(buf); ret != gst.FlowOK {
		return fmt.Errorf("vp8 encoder: push: %v", ret)
	}
	return nil
}

// Out delivers the encoded frames; it is closed after End.
func (e *Encoder) Out() <-chan Frame { return e.out }

// ForceKeyframe makes the next frame out a keyframe (a peer lost its reference).
func (e *Encoder) ForceKeyframe() {
	st := gst.NewStructureFromString("GstForceKeyUnit, all-headers=(boolean)true")
	e.sink.Element.SendEvent(gst.NewCustomEvent(gst.EventTypeCustomUpstream, st))
}

// End signals the end of the frames: Out is closed once the last one is out.
func (e *Encoder) End() { e.src.EndStream() }

// Close stops the encoder.
func (e *Encoder) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	e.closed = true
	e.pipeline.SetState(gst.StateNull)
	runtime.KeepAlive(e.pipeline)
}

// encodeAll encodes frames (I420) in order and returns them encoded, one for one.
func encodeAll(c EncoderConfig, frames [][]byte) ([]Frame, error) {
	enc, err := NewEncoder(c)
	if err != nil {
		return nil, err
	}
	defer enc.Close()
	var out []Frame
	done := make(chan struct{})
	go func() {
		defer close(done)
		for f := range enc.Out() {
			out = append(out, f)
		}
	}()
	for i, f := range frames {
		if err := enc.Encode(f, i); err != nil {
			return nil, err
		}
	}
	enc.End()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		return nil, errors.New("vp8 encoder: no end of stream")
	}
	if len(out) != len(frames) {
		return nil, fmt.Errorf("vp8 encoder: %d frames in, %d out", len(frames), len(out))
	}
	return out, nil
}
