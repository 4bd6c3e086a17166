// Package gsttest runs real GStreamer pipelines in tests and collects what reaches an appsink.
package gsttest

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"

	"github.com/ebrcs/ebrcs/elements"
	"github.com/ebrcs/ebrcs/elements/framemeta"
)

var initOnce sync.Once

// Init initialises GStreamer and registers every EBRCS element, once per test binary.
func Init(tb testing.TB) {
	tb.Helper()
	var err error
	initOnce.Do(func() {
		gst.Init(nil)
		err = elements.RegisterAll()
	})
	if err != nil {
		tb.Fatal(err)
	}
}

// Frame is one buffer that reached the appsink, copied out of GStreamer.
type Frame struct {
	Pixels []byte
	Meta   *framemeta.Frame // a clone; nil when the buffer carried none
	PTS    time.Duration
	Caps   string
}

// Collect runs a gst-launch description that ends in `appsink name=out` until EOS and returns
// every frame the appsink received. Any error on the bus fails the test.
func Collect(tb testing.TB, launch string, timeout time.Duration) []Frame {
	tb.Helper()
	frames, err := Run(launch, timeout)
	if err != nil {
		tb.Fatal(err)
	}
	return frames
}

// Run is Collect returning the error instead of failing the test.
func Run(launch string, timeout time.Duration) ([]Frame, error) {
	all, err := RunSinks(launch, timeout, "out")
	return all["out"], err
}

// RunSinks runs launch to EOS and returns what each named appsink received.
func RunSinks(launch string, timeout time.Duration, sinks ...string) (map[string][]Frame, error) {
	pipeline, err := gst.NewPipelineFromString(launch)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", launch, err)
	}
	// The wrapper is the pipeline's only owner, and this defer is not open-coded (there is a
	// defer in a loop below): the deferred call alone would not keep the wrapper alive while
	// set_state runs, and its finalizer could dispose of the pipeline mid-call.
	defer func() {
		pipeline.SetState(gst.StateNull)
		runtime.KeepAlive(pipeline)
	}()

	var mu sync.Mutex
	frames := map[string][]Frame{}
	for _, name := range sinks {
		el, err := pipeline.GetElementByName(name)
		if err != nil {
			return nil, fmt.Errorf("pipeline has no appsink named %s: %w", name, err)
		}
		name := name
		app.SinkFromElement(el).SetCallbacks(&app.SinkCallbacks{
			NewSampleFunc: func(s *app.Sink) gst.FlowReturn {
				sample := s.PullSample()
				if sample == nil {
					return gst.FlowEOS
				}
				buf := sample.GetBuffer()
				f := Frame{PTS: time.Duration(buf.PresentationTimestamp()), Caps: sample.GetCaps().String()}
				f.Pixels = buf.Bytes() // a copy, deliberately: the buffer goes back to its pool
				if m := framemeta.Get(buf); m != nil {
					f.Meta = m.Clone()
				}
				// The caps were read in C after the sample's last use; the sample holds them.
				runtime.KeepAlive(sample)
				mu.Lock()
				frames[name] = append(frames[name], f)
				mu.Unlock()
				return gst.FlowOK
			},
		})
	}
	if err := pipeline.SetState(gst.StatePlaying); err != nil {
		return nil, fmt.Errorf("set playing: %w", err)
	}
	bus := pipeline.GetPipelineBus()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		msg := bus.TimedPopFiltered(gst.ClockTime(50*time.Millisecond), gst.MessageEOS|gst.MessageError)
		if msg == nil {
			continue
		}
		switch msg.Type() {
		case gst.MessageEOS:
			mu.Lock()
			defer mu.Unlock()
			return frames, nil
		case gst.MessageError:
			gerr := msg.ParseError()
			return nil, fmt.Errorf("pipeline error from %s: %s (%s)", msg.Source(), gerr.Error(), gerr.DebugString())
		}
	}
	return nil, fmt.Errorf("no EOS within %v", timeout)
}

// RunToEOS runs a gst-launch description (no appsink needed) until EOS, for benchmarks.
func RunToEOS(launch string, timeout time.Duration) error {
	pipeline, err := gst.NewPipelineFromString(launch)
	if err != nil {
		return fmt.Errorf("parse %q: %w", launch, err)
	}
	defer func() { // as in RunSinks
		pipeline.SetState(gst.StateNull)
		runtime.KeepAlive(pipeline)
	}()
	if err := pipeline.SetState(gst.StatePlaying); err != nil {
		return err
	}
	msg := pipeline.GetPipelineBus().TimedPopFiltered(gst.ClockTime(timeout), gst.MessageEOS|gst.MessageError)
	switch {
	case msg == nil:
		return fmt.Errorf("no EOS within %v", timeout)
	case msg.Type() == gst.MessageError:
		return msg.ParseError()
	}
	return nil
}
