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
		if r.judge(-1, -1) == returnSent {
			kept++
		}
	}
	if kept != 10 || r.Half() || interval() != 60 || source() != 150*time.Millisecond {
		t.Fatalf("full rate: %d of 10 frames kept, half %v, keyframe interval %d, max_delay %v; want 10, false, 60, 150ms", kept, r.Half(), interval(), source())
	}
	r.SetHalf(true)
	kept = 0
	for range 10 {
		if r.judge(-1, -1) == returnSent {
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

// Past capacity (half rate) a frame that reaches the sink more than late_after after it
// arrived is not sent back: it would reach the viewer late. A late frame left out does not
// count for the rate (half of the frames on time go back), and once late_gap has passed
// since the last frame went back, one goes all the same: the video slows, it never freezes.
// At full rate every frame goes back, late or not.
func TestHalfRateLeavesOutLateFramesButNeverFreezes(t *testing.T) {
	const ms = time.Millisecond
	r := newReturnThinner(new(atomic.Bool), true, nil, 60)
	r.late = lateFilter{maxDelay: 150 * ms, maxGap: 500 * ms}
	period := 1000 * ms / 15
	now := time.Second
	frame := func(age time.Duration) returnVerdict {
		now += period
		return r.judge(now, now-age)
	}
	for i := range 6 {
		if v := frame(400 * ms); v != returnSent {
			t.Fatalf("full rate, late frame %d: %v, want sent (%v)", i, v, returnSent)
		}
	}
	r.SetHalf(true)
	count := func(n int, age time.Duration) (sent, late, thinned int) {
		for range n {
			switch frame(age) {
			case returnSent:
				sent++
			case returnLate:
				late++
			case returnThinned:
				thinned++
			}
		}
		return
	}
	if sent, late, thinned := count(10, 40*ms); sent != 5 || late != 0 || thinned != 5 {
		t.Fatalf("half rate, on time: %d sent, %d late, %d thinned; want 5, 0, 5", sent, late, thinned)
	}
	// 3 s of late frames: about one every 500 ms goes (the first one thinned, the next sent).
	sent, late, thinned := count(45, 200*ms)
	if sent < 5 || sent > 6 || late < 30 || thinned > sent {
		t.Fatalf("half rate, 3 s late: %d sent, %d left out late, %d thinned; want 5-6 sent (one each 500 ms), the rest left out", sent, late, thinned)
	}
	// On time again: half of them, whatever the late ones did to the count.
	if sent, late, _ := count(10, 40*ms); sent != 5 || late != 0 {
		t.Fatalf("half rate, on time again: %d sent, %d late; want 5, 0", sent, late)
	}
	// No time known (no clock yet, or an untimed buffer): only thinned.
	if v1, v2 := r.judge(-1, -1), r.judge(-1, -1); (v1 == returnSent) == (v2 == returnSent) || v1 == returnLate || v2 == returnLate {
		t.Fatalf("untimed frames: %v, %v; want one sent, one thinned", v1, v2)
	}
	// No gap limit: late frames never go.
	strict := newReturnThinner(new(atomic.Bool), true, nil, 60)
	strict.late = lateFilter{maxDelay: 150 * ms}
	strict.SetHalf(true)
	for i := range 30 {
		now += period
		if v := strict.judge(now, now-time.Second); v != returnLate {
			t.Fatalf("late_gap 0, late frame %d: %v, want left out", i, v)
		}
	}
}
