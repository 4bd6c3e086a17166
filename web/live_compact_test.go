package web

import (
	"fmt"
	"testing"

	"github.com/ebrcs/ebrcs/testkit/liveload"
)

// The live pipeline's compact return (its two commented-out lines, uncommented) sends the
// annotated video back at 320×240 from a 640×480 camera, and nothing else changes: every
// frame comes back, none damaged (its blocks compared with the camera's at that scale), each
// stamp readable, and the carts exact, recognition still cropping the camera's full picture.
func TestLiveCompactReturn(t *testing.T) {
	if testing.Short() {
		t.Skip("streams a camera clip from two clients")
	}
	t.Setenv("EBRCS_BENCH_COMPACT_RETURN", "1")
	env := newLiveEnv(t, 8)
	clip := savedClip(t, env, shortClip(env.products))
	r := runLiveLoad(t, env, clip, liveload.Options{Sessions: 2}, "compact")
	for i, s := range r.rep.Sessions {
		t.Logf("session %d: %s, %d/%d frames back, p95 %.0f ms, %d damaged, %d unreadable, cart %v",
			i, s.Size, s.Back, s.Expected, r.sum.P95Ms, s.Damaged, s.Unreadable, s.Cart)
		if s.Size != "320x240" {
			t.Errorf("session %d: pictures of %q came back, want 320x240", i, s.Size)
		}
		if s.Expected == 0 || float64(s.Back) < 0.97*float64(s.Expected) {
			t.Errorf("session %d: %d of %d frames came back", i, s.Back, s.Expected)
		}
		if s.Damaged > 0 || s.Unreadable > 0 {
			t.Errorf("session %d: %d damaged and %d unreadable pictures", i, s.Damaged, s.Unreadable)
		}
		if fmt.Sprint(s.Cart) != fmt.Sprint(r.clip.Truth.Items) {
			t.Errorf("session %d: cart %v, ground truth %v", i, s.Cart, r.clip.Truth.Items)
		}
	}
}
