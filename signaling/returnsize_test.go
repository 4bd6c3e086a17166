package signaling

import "testing"

// The video goes back compact past the threshold, and at the camera's size again only
// compactHysteresis sessions below it: one camera coming and going at the threshold does not
// switch every session back and forth. Negative: never compact.
func TestReturnSizeFollowsSessionsWithHysteresis(t *testing.T) {
	r := newReturnSize(12)
	steps := []struct {
		sessions      int
		busy, changed bool
	}{
		{1, false, false}, {12, false, false}, {13, true, true}, {12, true, false}, {13, true, false},
		{11, true, false}, {10, false, true}, {12, false, false}, {20, true, true}, {0, false, true},
	}
	for i, s := range steps {
		busy, changed := r.update(s.sessions)
		if busy != s.busy || changed != s.changed {
			t.Errorf("step %d, %d sessions: busy %v changed %v, want %v %v", i, s.sessions, busy, changed, s.busy, s.changed)
		}
	}
	never := newReturnSize(-1)
	if busy, _ := never.update(1000); busy {
		t.Error("CompactAbove < 0 sent the video back compact")
	}
	if d := newReturnSize(0).above; d != defaultCompactAbove() || d < 1 {
		t.Errorf("default threshold %d, want defaultCompactAbove() = %d", d, defaultCompactAbove())
	}
}
