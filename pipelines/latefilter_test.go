package pipelines

import (
	"testing"
	"time"
)

// A live source's analysis takes frames on time and drops late ones (max_delay), but never
// goes longer than max_gap without one once frames have gone in: on a saturated machine
// whose decoder stays behind, a late frame goes in every max_gap, so that the session does not
// go blind for seconds. The start-up backlog, before any frame went in, is dropped whole.
func TestLateFramesAreDroppedButNeverForLongerThanMaxGap(t *testing.T) {
	const ms = time.Millisecond
	f := lateFilter{maxDelay: 150 * ms, maxGap: 200 * ms}
	period := time.Second / 15

	// Start-up: a backlog of 10 frames decoded at once, 1 s after they arrived: all dropped.
	for i := range 10 {
		if v := f.admit(time.Second+time.Duration(i)*ms, time.Duration(i)*period); v != frameLate {
			t.Fatalf("backlog frame %d: verdict %d, want dropped", i, v)
		}
	}
	// On time from then on: every frame goes in.
	now := 2 * time.Second
	for i := range 15 {
		now += period
		if v := f.admit(now, now-40*ms); v != frameOnTime {
			t.Fatalf("frame %d on time: verdict %d", i, v)
		}
	}
	// The decoder falls 250 ms behind for 3 s: a late frame goes in every max_gap (the first
	// 200 ms after the last one), never two in a row, and the rest are dropped.
	lastIn, in := now, 0
	for i := range 45 {
		now += period
		switch v := f.admit(now, now-250*ms); v {
		case frameLateIn:
			if gap := now - lastIn; gap < 200*ms || gap > 200*ms+period {
				t.Fatalf("late frame %d went in %v after the last", i, gap)
			}
			lastIn, in = now, in+1
		case frameLate:
			if now-lastIn >= 200*ms {
				t.Fatalf("late frame %d dropped %v after the last frame went in", i, now-lastIn)
			}
		default:
			t.Fatalf("late frame %d: verdict %d", i, v)
		}
	}
	if in < 10 || in > 12 {
		t.Errorf("%d late frames went in over 3 s, want one every 267 ms (11)", in)
	}

	// max_gap 0: late frames are all dropped, as before it existed.
	strict := lateFilter{maxDelay: 150 * ms}
	strict.admit(0, 0)
	for i := range 30 {
		if v := strict.admit(time.Duration(i+1)*period, time.Duration(i+1)*period-time.Second); v != frameLate {
			t.Fatalf("max_gap 0, frame %d: verdict %d, want dropped", i, v)
		}
	}
}
