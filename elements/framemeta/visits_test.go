package framemeta_test

import (
	"testing"

	"github.com/ebrcs/ebrcs/elements/framemeta"
	"github.com/ebrcs/ebrcs/roi"
)

func TestVisitsFollowTheGate(t *testing.T) {
	area := []roi.Point{{}, {X: 1}, {Y: 1}}
	var v framemeta.Visits
	steps := []struct {
		g              *framemeta.Gate
		ended, started bool
	}{
		{&framemeta.Gate{ROI: area, Status: framemeta.ROIEmpty}, false, false},
		{nil, false, false},
		{&framemeta.Gate{ROI: area, Entry: true, Occupied: true, HasMain: true}, false, true},
		{&framemeta.Gate{ROI: area, Occupied: true}, false, false}, // empty, still occupied
		{&framemeta.Gate{ROI: area, Occupied: false}, true, false}, // the ROI clears
		{&framemeta.Gate{ROI: area}, false, false},
		// Without an ROI: the first recognised object starts one; 8 frames without one end it.
		{&framemeta.Gate{HasMain: true}, false, false},
		{&framemeta.Gate{HasMain: true, Recognize: true}, false, true},
	}
	for i, s := range steps {
		ended, started := v.Step(s.g)
		if ended != s.ended || started != s.started {
			t.Fatalf("step %d: ended %v started %v, want %v %v", i, ended, started, s.ended, s.started)
		}
	}
	for i := 1; i <= framemeta.VisitClearFrames; i++ {
		if i == 4 { // the object flickers back: the count restarts
			v.Step(&framemeta.Gate{HasMain: true})
		}
		ended, _ := v.Step(&framemeta.Gate{})
		if ended {
			t.Fatalf("ended after %d empty frames", i)
		}
	}
	for i := 0; i < 3; i++ {
		if ended, _ := v.Step(&framemeta.Gate{}); ended != (i == 2) || v.Active() != (i < 2) {
			t.Fatalf("frame %d past the flicker: ended %v active %v", i, ended, v.Active())
		}
	}
}
