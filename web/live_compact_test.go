package web

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/testkit/liveload"
)

// The live pipeline's compact return (its webrtc sink's size: compact) sends the annotated
// video back at 320×240 from a 640×480 camera, and nothing else changes: every frame comes
// back, none damaged (its blocks compared with the camera's at that scale), each stamp
// readable, and the carts exact, recognition still cropping the camera's full picture.
func TestLiveCompactReturn(t *testing.T) {
	if testing.Short() {
		t.Skip("streams a camera clip from two clients")
	}
	t.Setenv("EBRCS_BENCH_RETURN_SIZE", "compact")
	env := newLiveEnv(t, 8)
	clip := savedClip(t, env, shortClip(env.products))
	r := runLiveLoad(t, env, clip, liveload.Options{Sessions: 2}, "compact")
	checkReturnSizes(t, r, []string{"320x240", "320x240"})
}

// With the shipped size, auto, the video goes back at the camera's size while the server has
// room and compact once it is busy: here busy from 2 sessions (EBRCS_BENCH_COMPACT_ABOVE=1).
// The first camera streams alone at 640×480; when the second joins, both go on at 320×240,
// the first switching in the middle of its stream without a frame lost or damaged.
func TestLiveReturnSizeFollowsLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("streams a camera clip from two clients")
	}
	t.Setenv("EBRCS_BENCH_COMPACT_ABOVE", "1")
	env := newLiveEnv(t, 8)
	clip := savedClip(t, env, shortClip(env.products))
	r := runLiveLoad(t, env, clip, liveload.Options{Sessions: 2, Join: 3 * time.Second}, "auto")
	checkReturnSizes(t, r, []string{"640x480 320x240", "320x240"})
}

// checkReturnSizes checks each session's returned sizes (in order of appearance), and that
// every frame came back, undamaged and readable, with an exact cart.
func checkReturnSizes(t *testing.T, r liveResult, want []string) {
	t.Helper()
	if len(r.rep.Sessions) != len(want) {
		t.Fatalf("%d sessions, want %d", len(r.rep.Sessions), len(want))
	}
	for i, s := range r.rep.Sessions {
		t.Logf("session %d: %s, %d/%d frames back, p95 %.0f ms, %d damaged, %d unreadable, cart %v",
			i, s.Sizes, s.Back, s.Expected, r.sum.P95Ms, s.Damaged, s.Unreadable, s.Cart)
		if !strings.HasSuffix(s.Sizes, want[i]) || !strings.HasPrefix(s.Sizes, strings.Fields(want[i])[0]) {
			t.Errorf("session %d: pictures of %q came back, want %q", i, s.Sizes, want[i])
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
