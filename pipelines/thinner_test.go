package pipelines

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/ebrcs/ebrcs/testkit/gsttest"
)

// At half rate the thinner drops every other frame, and a VP8 encoder's keyframe interval,
// which counts the frames it encodes, halves with it: a keyframe still comes as often in time
// (a viewer that joins or lost a packet waits no longer for one); the pipeline's webrtc
// source gives late frames up at two thirds of its max_delay. Back at full rate all are as
// they were. H.264's encoder cannot change its interval while playing: left alone.
func TestHalfRateThinsKeepsKeyframesApartInTimeAndDropsLateFramesSooner(t *testing.T) {
	gsttest.Init(t)
	enc, err := gst.NewElementWithProperties("vp8enc", map[string]interface{}{vp8KeyframeProperty: 60})
	if err != nil {
		t.Fatal(err)
	}
	interval := func() int {
		v, err := enc.GetProperty(vp8KeyframeProperty)
		if err != nil {
			t.Fatal(err)
		}
		return v.(int)
	}
	var ctx BuildContext
	r := newReturnThinner(ctx.returnHalf(), true, enc, 60)
	source := func() time.Duration { return analysisDelay(150*time.Millisecond, ctx.returnHalf().Load()) }
	kept := 0
	for range 10 {
		if !r.thin() {
			kept++
		}
	}
	if kept != 10 || r.Half() || interval() != 60 || source() != 150*time.Millisecond {
		t.Fatalf("full rate: %d of 10 frames kept, half %v, keyframe interval %d, max_delay %v; want 10, false, 60, 150ms", kept, r.Half(), interval(), source())
	}
	r.SetHalf(true)
	kept = 0
	for range 10 {
		if !r.thin() {
			kept++
		}
	}
	if kept != 5 || !r.Half() || interval() != 30 {
		t.Fatalf("half rate: %d of 10 frames kept, half %v, keyframe interval %d; want 5, true, 30", kept, r.Half(), interval())
	}
	// The pipeline's webrtc source sees the same switch: it gives late frames up sooner.
	if d := source(); d != 100*time.Millisecond {
		t.Fatalf("half rate: the source's max_delay is %v, want 100ms (two thirds of 150ms)", d)
	}
	r.SetHalf(true) // again: no change
	if interval() != 30 {
		t.Fatalf("half rate set twice: keyframe interval %d, want 30", interval())
	}
	r.SetHalf(false)
	if r.Half() || interval() != 60 || source() != 150*time.Millisecond {
		t.Fatalf("back at full rate: half %v, keyframe interval %d, max_delay %v; want false, 60, 150ms", r.Half(), interval(), source())
	}

	h := newReturnThinner(new(atomic.Bool), true, nil, 60) // H.264: no encoder to tell
	h.SetHalf(true)
	if !h.Half() {
		t.Fatal("H.264: not at half rate")
	}
}
