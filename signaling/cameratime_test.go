package signaling

import (
	"runtime"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"

	"github.com/ebrcs/ebrcs/elements/goelement"
	"github.com/ebrcs/ebrcs/testkit/gsttest"
)

// The camera's RTP timestamps reach the decoded pictures as the camera's time and interval
// (goelement.CameraTimeReference), through the bridge and a real VP8 decoder: from the
// camera's first frame, across the 32-bit wrap, with the frames the camera never sent (an
// interval of two periods) and whatever the arrival times. The ROI gate sizes the stream's
// time by them when frames are skipped.
func TestCameraTimeReachesTheDecodedPictures(t *testing.T) {
	gsttest.Init(t)
	const n = 20
	encoded := gsttest.Collect(t, "videotestsrc num-buffers=20 pattern=ball ! video/x-raw,width=160,height=120,framerate=15/1 ! "+
		"vp8enc deadline=1 keyframe-max-dist=1000 ! appsink name=out", 20*time.Second)
	if len(encoded) != n {
		t.Fatalf("encoded %d frames, want %d", len(encoded), n)
	}

	_, srcEl, sink := playDecoder(t, "vp8dec")
	b := newBridge("VP8", "VP8", nil, 50*time.Millisecond, 0)
	b.AttachSource(app.SrcFromElement(srcEl))

	// The camera's clock starts just before the wrap; frame 10 comes two periods after frame
	// 9 (the camera dropped one).
	const start = uint32(0xFFFFFFFF - 3*6000)
	ticks := func(i int) uint32 {
		if i >= 10 {
			return uint32(i+1) * 6000
		}
		return uint32(i) * 6000
	}
	pay := &codecs.VP8Payloader{EnablePictureID: true}
	seq := uint16(100)
	for i, f := range encoded {
		parts := pay.Payload(1200, f.Pixels)
		for k, p := range parts {
			b.push(&rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: start + ticks(i),
				Marker: k == len(parts)-1, PayloadType: 96}, Payload: p})
			seq++
		}
	}
	for i := range n {
		var sample *gst.Sample
		for try := 0; sample == nil && try < 50; try++ {
			b.tick() // the frames kept until the pipeline ran go in
			sample = sink.TryPullSample(gst.ClockTime(100 * time.Millisecond))
		}
		if sample == nil {
			t.Fatalf("picture %d did not come", i)
		}
		buf := sample.GetBuffer()
		at, interval, ok := goelement.CameraTimeOf(buf)
		runtime.KeepAlive(sample)
		if !ok {
			t.Fatalf("picture %d: no camera time", i)
		}
		wantAt := time.Duration(ticks(i)) * time.Second / 90000
		wantInterval := time.Duration(-1)
		if i > 0 {
			wantInterval = time.Duration(ticks(i)-ticks(i-1)) * time.Second / 90000
		}
		if at != wantAt || interval != wantInterval {
			t.Errorf("picture %d: camera time %v, interval %v; want %v, %v", i, at, interval, wantAt, wantInterval)
		}
	}
}

// The camera's clock runs on across the 32-bit wrap, and never goes back: a camera that
// restarts its RTP clock lower stands still for a frame, with no interval.
func TestCameraClockUnwrapsAndNeverGoesBack(t *testing.T) {
	var c cameraClock
	const p = 6000 // 15 fps at 90 kHz
	step := func(ts uint32) encodedFrame {
		f := encodedFrame{rtpTime: ts}
		c.stamp(&f)
		return f
	}
	d := func(ticks int64) time.Duration { return time.Duration(ticks) * time.Second / 90000 }
	if f := step(1<<32 - p); f.camAt != 0 || f.camInterval != 0 {
		t.Fatalf("first frame: %v, %v", f.camAt, f.camInterval)
	}
	if f := step(0); f.camAt != d(p) || f.camInterval != d(p) { // wrapped
		t.Fatalf("across the wrap: %v, %v; want %v, %v", f.camAt, f.camInterval, d(p), d(p))
	}
	if f := step(3 * p); f.camAt != d(4*p) || f.camInterval != d(3*p) { // two frames the camera skipped
		t.Fatalf("after a gap: %v, %v", f.camAt, f.camInterval)
	}
	if f := step(500); f.camAt != d(4*p) || f.camInterval != 0 { // the camera restarted its clock
		t.Fatalf("clock restarted lower: %v, %v; want %v and no interval", f.camAt, f.camInterval, d(4*p))
	}
	if f := step(500 + p); f.camAt != d(5*p) || f.camInterval != d(p) {
		t.Fatalf("after the restart: %v, %v", f.camAt, f.camInterval)
	}
}

// playDecoder plays appsrc name=src (VP8, live, in time) ! decoder ! appsink name=out until
// the test ends.
func playDecoder(t *testing.T, decoder string) (*gst.Pipeline, *gst.Element, *app.Sink) {
	t.Helper()
	pipeline, err := gst.NewPipelineFromString("appsrc name=src is-live=true format=time caps=video/x-vp8 ! " + decoder + " ! appsink name=out sync=false")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pipeline.SetState(gst.StateNull) })
	src, _ := pipeline.GetElementByName("src")
	sinkEl, _ := pipeline.GetElementByName("out")
	if err := pipeline.SetState(gst.StatePlaying); err != nil {
		t.Fatal(err)
	}
	return pipeline, src, app.SinkFromElement(sinkEl)
}
