package pipelines

import (
	"testing"

	"github.com/go-gst/go-gst/gst"

	"github.com/ebrcs/ebrcs/testkit/gsttest"
)

// At half rate the thinner drops every other frame, and a VP8 encoder's keyframe interval,
// which counts the frames it encodes, halves with it: a keyframe still comes as often in time
// (a viewer that joins or lost a packet waits no longer for one). Back at full rate both are
// as they were. H.264's encoder cannot change it while playing: left alone.
func TestHalfRateDropsEveryOtherFrameAndKeepsTheKeyframesApartInTime(t *testing.T) {
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
	r := newReturnThinner(true, enc, 60)
	kept := 0
	for range 10 {
		if !r.thin() {
			kept++
		}
	}
	if kept != 10 || r.Half() || interval() != 60 {
		t.Fatalf("full rate: %d of 10 frames kept, half %v, keyframe interval %d; want 10, false, 60", kept, r.Half(), interval())
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
	r.SetHalf(true) // again: no change
	if interval() != 30 {
		t.Fatalf("half rate set twice: keyframe interval %d, want 30", interval())
	}
	r.SetHalf(false)
	if r.Half() || interval() != 60 {
		t.Fatalf("back at full rate: half %v, keyframe interval %d; want false, 60", r.Half(), interval())
	}

	h := newReturnThinner(true, nil, 60) // H.264: no encoder to tell
	h.SetHalf(true)
	if !h.Half() {
		t.Fatal("H.264: not at half rate")
	}
}
