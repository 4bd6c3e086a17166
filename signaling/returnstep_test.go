package signaling

import "testing"

// A step (compact, half rate) is taken past its threshold, and undone only stepHysteresis
// sessions below it: one camera coming and going at the threshold does not switch every
// session back and forth. Negative: never.
func TestReturnStepFollowsSessionsWithHysteresis(t *testing.T) {
	r := newReturnStep(12, 99)
	steps := []struct {
		sessions    int
		on, changed bool
	}{
		{1, false, false}, {12, false, false}, {13, true, true}, {12, true, false}, {13, true, false},
		{11, true, false}, {10, false, true}, {12, false, false}, {20, true, true}, {0, false, true},
	}
	for i, s := range steps {
		on, changed := r.update(s.sessions)
		if on != s.on || changed != s.changed {
			t.Errorf("step %d, %d sessions: on %v changed %v, want %v %v", i, s.sessions, on, changed, s.on, s.changed)
		}
	}
	never := newReturnStep(-1, 12)
	if on, _ := never.update(1000); on {
		t.Error("a threshold < 0 took the step")
	}
	if d := newReturnStep(0, 7).above; d != 7 {
		t.Errorf("threshold 0 gave %d, want the default 7", d)
	}
}

// The default thresholds: compact well before the admission limit (which starts from
// cameraSizeSessions), half rate only past it, so that a machine within its capacity never
// halves anyone's video.
func TestDefaultReturnStepsBracketTheAdmissionLimit(t *testing.T) {
	compact, half, limit := defaultCompactAbove(), defaultHalfRateAbove(), newAdmission(0).limit()
	if compact < 1 || compact >= limit {
		t.Errorf("compact above %d sessions, want 1 ≤ it < the admission limit %d", compact, limit)
	}
	if half <= limit {
		t.Errorf("half rate above %d sessions, want more than the admission limit %d", half, limit)
	}
}
