package signaling

import (
	"bytes"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/ebrcs/ebrcs/elements/goelement"
	"github.com/ebrcs/ebrcs/pipelines"
	"github.com/ebrcs/ebrcs/testkit/gsttest"
)

// A decoder slower than the camera (here 120 ms a frame for a camera at 15 fps, as on a host
// too slow for its sessions) falls further behind with every frame. With the webrtc source's
// max_delay set, it catches up at each keyframe: the frames queued before it are not decoded,
// and the pictures are from the camera's present again; it asks the camera for a keyframe
// when twice max_delay behind. Without (max_delay 0), the same decoder ends seconds behind.
// Every picture that comes out is whole (no frame decoded without its reference).
func TestDecoderBehindCatchesUpAtTheNextKeyframe(t *testing.T) {
	gsttest.Init(t)
	const n, gop = 45, 10
	// The camera's frames, and each one's picture decoded in order: what a decoder that
	// had every reference gives, to the bit.
	sinks, err := gsttest.RunSinks("videotestsrc num-buffers=45 pattern=ball ! video/x-raw,width=160,height=120,framerate=15/1 ! "+
		"vp8enc deadline=1 keyframe-max-dist=10 ! tee name=t ! queue ! appsink name=out t. ! queue ! vp8dec ! appsink name=ref", 20*time.Second, "out", "ref")
	if err != nil {
		t.Fatal(err)
	}
	encoded, want := sinks["out"], sinks["ref"]
	if len(encoded) != n || len(want) != n {
		t.Fatalf("encoded %d frames, decoded %d, want %d", len(encoded), len(want), n)
	}
	run := func(maxDelay time.Duration) (out int, lastBehind time.Duration, skipped, plis int64) {
		pipeline, srcEl, sink := playDecoder(t, "identity sleep-time=120000 ! vp8dec discard-corrupted-frames=true")
		defer pipeline.SetState(gst.StateNull)
		b := newBridge("VP8", "VP8", nil, 50*time.Millisecond, maxDelay)
		var asked atomic.Int64
		b.requestPLI = func() { asked.Add(1) }
		defer pipelines.WatchDecoder(srcEl, b)() // as the webrtc source does
		b.AttachSource(app.SrcFromElement(srcEl))

		done := make(chan struct{})
		go func() { // the camera, at 15 fps
			defer close(done)
			pay := &codecs.VP8Payloader{EnablePictureID: true}
			seq := uint16(1)
			for i, f := range encoded {
				parts := pay.Payload(1200, f.Pixels)
				for k, p := range parts {
					b.push(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(i) * 6000,
						Marker: k == len(parts)-1, PayloadType: 96}, Payload: p})
					seq++
				}
				b.tick()
				time.Sleep(time.Second / 15)
			}
		}()
		var lastPTS gst.ClockTime
		for {
			sample := sink.TryPullSample(gst.ClockTime(3 * time.Second))
			if sample == nil {
				break
			}
			out++
			buf := sample.GetBuffer()
			lastPTS = buf.PresentationTimestamp()
			if at, _, ok := goelement.CameraTimeOf(buf); !ok {
				t.Errorf("picture %d: no camera time", out)
			} else if i := int((at*15 + time.Second/2) / time.Second); i < 0 || i >= n || !bytes.Equal(buf.Bytes(), want[i].Pixels) {
				t.Errorf("picture %d (the camera's frame %d) is not the picture decoded with every reference", out, i)
			}
			runtime.KeepAlive(sample)
			select {
			case <-done:
				// How far behind the camera the decoder is once the camera has sent its last
				// frame: the running time now against the picture's arrival time.
				clock := pipeline.GetClock()
				lastBehind = time.Duration(clock.GetTime() - pipeline.GetBaseTime() - lastPTS)
			default:
			}
			if lastBehind > 0 {
				break
			}
		}
		<-done
		return out, lastBehind, b.stats.FramesSkipped.Load(), asked.Load()
	}

	out, behind, skipped, plis := run(150 * time.Millisecond)
	t.Logf("max_delay 150 ms: %d pictures, %d frames skipped, %d keyframes asked for; %v behind when the camera stopped", out, skipped, plis, behind)
	if skipped < gop || int64(out)+skipped > n {
		t.Errorf("max_delay 150 ms: %d pictures and %d frames skipped of %d: want whole GOPs' backlogs skipped", out, skipped, n)
	}
	if behind > 700*time.Millisecond {
		t.Errorf("max_delay 150 ms: the decoder was %v behind the camera when it stopped, want it caught up at the last keyframe", behind)
	}
	if plis < 1 || plis > 4 {
		t.Errorf("max_delay 150 ms: %d keyframes asked for in 3 s, want 1 to 4 (at most one a second)", plis)
	}
	out0, behind0, skipped0, _ := run(0)
	t.Logf("max_delay 0: %d pictures, %d frames skipped; %v behind", out0, skipped0, behind0)
	if skipped0 != 0 || behind0 < time.Second {
		t.Errorf("max_delay 0: %d frames skipped, %v behind; want none skipped and the backlog grown past 1 s", skipped0, behind0)
	}
}
