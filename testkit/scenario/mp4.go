package scenario

import (
	"errors"
	"fmt"
	"image"
	"runtime"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"
)

// mp4Launch encodes I420 frames pushed into "src" to H.264 in MP4. The frames are converted
// from RGB here (ToI420, exact BT.601) rather than by videoconvert, which is off by a few
// levels. Constant quality 18 keeps the counter texture and most of the camera noise;
// zerolatency means no B-frames, so every decoder gives frames back in order, one per input.
const mp4Launch = "appsrc name=src format=time is-live=false block=true max-bytes=%d ! " +
	"x264enc speed-preset=superfast tune=zerolatency pass=qual quantizer=18 key-int-max=%d ! " +
	"mp4mux ! filesink name=sink"

// WriteMP4 renders the scenario to an H.264 MP4 file at path, through GStreamer
// (appsrc ! x264enc ! mp4mux ! filesink). The caller must have called gst.Init.
func WriteMP4(path string, s *Scenario, products []Product) error {
	p, err := compile(s, products)
	if err != nil {
		return err
	}
	if _, err := p.truth(); err != nil {
		return err
	}
	cfg := p.cfg
	frameBytes := cfg.Width * cfg.Height * 3 / 2
	pipeline, err := gst.NewPipelineFromString(fmt.Sprintf(mp4Launch, 4*frameBytes, 2*cfg.FPS))
	if err != nil {
		return fmt.Errorf("mp4 encoder: %w", err)
	}
	// The wrapper is the pipeline's only owner, and this defer is not open-coded (too many
	// returns): the deferred call alone would not keep the wrapper alive while set_state runs,
	// and its finalizer could dispose of the pipeline mid-call.
	defer func() {
		pipeline.SetState(gst.StateNull)
		runtime.KeepAlive(pipeline)
	}()
	sink, err := pipeline.GetElementByName("sink")
	if err != nil {
		return err
	}
	if err := sink.SetProperty("location", path); err != nil {
		return err
	}
	el, err := pipeline.GetElementByName("src")
	if err != nil {
		return err
	}
	src := app.SrcFromElement(el)
	caps := gst.NewCapsFromString(fmt.Sprintf(
		"video/x-raw,format=I420,width=%d,height=%d,framerate=%d/1,pixel-aspect-ratio=1/1,"+
			"colorimetry=bt601,chroma-site=jpeg,interlace-mode=progressive",
		cfg.Width, cfg.Height, cfg.FPS))
	src.SetCaps(caps)
	runtime.KeepAlive(caps) // ours alone until gst_app_src_set_caps has taken its own reference

	// The bus is watched while frames are pushed: on an error the pipeline is stopped, which
	// wakes a push blocked on a full appsrc queue.
	result := make(chan error, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		bus := pipeline.GetPipelineBus()
		for {
			select {
			case <-stop:
				return
			default:
			}
			msg := bus.TimedPopFiltered(gst.ClockTime(100*time.Millisecond), gst.MessageEOS|gst.MessageError)
			switch {
			case msg == nil:
				continue
			case msg.Type() == gst.MessageError:
				gerr := msg.ParseError()
				result <- fmt.Errorf("mp4 encoder: %s: %s (%s)", msg.Source(), gerr.Error(), gerr.DebugString())
				pipeline.SetState(gst.StateNull)
			default:
				result <- nil
			}
			return
		}
	}()
	if err := pipeline.SetState(gst.StatePlaying); err != nil {
		return fmt.Errorf("mp4 encoder: %w", err)
	}

	frameTime := func(i int) gst.ClockTime {
		return gst.ClockTime(uint64(i) * uint64(time.Second) / uint64(cfg.FPS))
	}
	errEarly := errors.New("mp4 encoder stopped early")
	yuv := make([]byte, frameBytes)
	err = p.render(func(i int, frame *image.RGBA) error {
		ToI420(frame, yuv)
		buf := gst.NewBufferFromBytes(yuv)
		buf.SetPresentationTimestamp(frameTime(i))
		buf.SetDuration(frameTime(i+1) - frameTime(i))
		if ret := src.PushBuffer(buf); ret != gst.FlowOK {
			return errEarly
		}
		return nil
	})
	if err == nil {
		if ret := src.EndStream(); ret != gst.FlowOK {
			err = errEarly
		}
	}
	if err != nil && !errors.Is(err, errEarly) {
		return err
	}
	select {
	case busErr := <-result:
		if busErr != nil {
			return busErr
		}
		return err
	case <-time.After(time.Minute):
		return errors.New("mp4 encoder: no end of stream within a minute")
	}
}
