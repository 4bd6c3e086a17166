package web

import (
	"fmt"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/ebrcs/ebrcs/internal/metrics"
	"github.com/ebrcs/ebrcs/testkit/liveload"
)

// The live pipeline's compact return (its webrtc sink's size: compact) sends the annotated
// video back at 320×240 from a 640×480 camera, and nothing else changes: every frame comes
// back, none damaged (its blocks compared with the camera's at that scale), each stamp
// readable, and the carts exact, recognition still cropping the camera's full picture; the
// server's peer statistics say compact.
func TestLiveCompactReturn(t *testing.T) {
	if testing.Short() {
		t.Skip("streams a camera clip from two clients")
	}
	t.Setenv("EBRCS_BENCH_RETURN_SIZE", "compact")
	env := newLiveEnv(t, 8)
	clip := savedClip(t, env, shortClip(env.products))
	r := runLiveLoad(t, env, clip, liveload.Options{Sessions: 2}, "compact")
	checkReturnSizes(t, r, []string{"320x240", "320x240"})
	for _, s := range r.rep.Sessions { // the server's statistics say so too
		if p := r.peers[s.ID]; !p.Compact {
			t.Errorf("session %s: the server's peer statistics say compact %v", s.ID, p.Compact)
		}
	}
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

// With the shipped rate, auto, every frame goes back while the server is within its
// capacity and every other one past it: here past it from 2 sessions
// (EBRCS_BENCH_HALF_RATE_ABOVE=1; the size stays the camera's, so the rate alone changes).
// The first camera gets every frame back while alone, then every other one, as the second
// does from its start; each picture that comes back is undamaged and readable, the carts
// exact (the analysis still sees every frame), and the server counts the frames it left out.
func TestLiveHalfRateFollowsLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("streams a camera clip from two clients")
	}
	t.Setenv("EBRCS_BENCH_COMPACT_ABOVE", "-1")
	t.Setenv("EBRCS_BENCH_HALF_RATE_ABOVE", "1")
	const join = 3 * time.Second
	env := newLiveEnv(t, 8)
	clip := savedClip(t, env, shortClip(env.products))
	analysed, drawn := elementFrames(t, "ebrcs_counter"), elementFrames(t, "ebrcs_overlay")
	r := runLiveLoad(t, env, clip, liveload.Options{Sessions: 2, Join: join}, "half rate")
	if len(r.rep.Sessions) != 2 {
		t.Fatalf("%d sessions, want 2", len(r.rep.Sessions))
	}
	// A thinned frame is analysed and counted, but not drawn on: nobody would see it.
	analysed, drawn = elementFrames(t, "ebrcs_counter")-analysed, elementFrames(t, "ebrcs_overlay")-drawn
	thinned := 0
	for _, p := range r.peers {
		thinned += int(p.FramesThinned)
	}
	t.Logf("frames analysed %d, drawn on %d, thinned %d", analysed, drawn, thinned)
	if thinned == 0 || drawn > analysed-thinned+4 {
		t.Errorf("the overlay drew on %d of %d frames analysed, %d of them thinned: want only the frames sent drawn on", drawn, analysed, thinned)
	}
	joinMs := float64(join / time.Millisecond)
	for i, s := range r.rep.Sessions {
		// The first session's frames sent alone (until shortly before the second joins),
		// and every session's frames sent together (from shortly after).
		alone := backShare(s, 0, joinMs-300)
		bothFrom := joinMs + 700 // the first session's time
		if i == 1 {
			bothFrom = 700
		}
		together := backShare(s, bothFrom, 1e9)
		p := r.peers[s.ID]
		t.Logf("session %d: %d/%d frames back, alone %.2f, together %.2f, longest gap %d frames, %d damaged, %d unreadable, cart %v; server: %d thinned",
			i, s.Back, s.Expected, alone, together, longestStampGap(s), s.Damaged, s.Unreadable, s.Cart, p.FramesThinned)
		if i == 0 && alone < 0.97 {
			t.Errorf("session 0 got %.2f of its frames back while alone, want every one", alone)
		}
		if together < 0.4 || together > 0.6 {
			t.Errorf("session %d got %.2f of its frames back with two running, want half", i, together)
		}
		if g := longestStampGap(s); g > 4 {
			t.Errorf("session %d: %d frames in a row missing, want every other one back", i, g-1)
		}
		if s.Damaged > 0 || s.Unreadable > 0 {
			t.Errorf("session %d: %d damaged and %d unreadable pictures", i, s.Damaged, s.Unreadable)
		}
		if fmt.Sprint(s.Cart) != fmt.Sprint(r.clip.Truth.Items) {
			t.Errorf("session %d: cart %v, ground truth %v", i, s.Cart, r.clip.Truth.Items)
		}
		if p.FramesThinned == 0 || !p.HalfRate {
			t.Errorf("session %d: the server says half rate %v, %d frames thinned", i, p.HalfRate, p.FramesThinned)
		}
		// At either rate the returned video's clock keeps the camera's pace: a browser plays
		// the frames as far apart as the camera took them.
		if pace, n := rtpPace(s, 0, joinMs-300); i == 0 && (n < 10 || pace < 0.9 || pace > 1.1) {
			t.Errorf("session %d at full rate: the returned video's RTP clock moved %.2f× the camera's (%d pictures)", i, pace, n)
		}
		if pace, n := rtpPace(s, bothFrom, 1e9); n < 10 || pace < 0.9 || pace > 1.1 {
			t.Errorf("session %d at half rate: the returned video's RTP clock moved %.2f× the camera's (%d pictures)", i, pace, n)
		}
	}
}

// elementFrames is how many frames the Go element named has processed in this process so far.
func elementFrames(t *testing.T, element string) int {
	var m dto.Metric
	if err := metrics.ElementFrames.WithLabelValues(element).Write(&m); err != nil {
		t.Fatal(err)
	}
	return int(m.GetCounter().GetValue())
}

// rtpPace compares the returned video's RTP clock with the camera's between the first and
// the last readable picture of a session sent between from and to (ms, as backShare): the RTP
// time between them over the time the client sent them apart; n is how many pictures count.
func rtpPace(s liveload.Session, from, to float64) (pace float64, n int) {
	var first, last *liveload.Picture
	for i := range s.Pictures {
		p := &s.Pictures[i]
		if p.Stamp <= s.FirstStamp || p.Stamp >= len(s.SentAt) || s.SentAt[p.Stamp] < from || s.SentAt[p.Stamp] > to {
			continue
		}
		if first == nil {
			first = p
		}
		last, n = p, n+1
	}
	if n < 2 || s.SentAt[last.Stamp] <= s.SentAt[first.Stamp] {
		return 0, n
	}
	return (last.RTPMs - first.RTPMs) / (s.SentAt[last.Stamp] - s.SentAt[first.Stamp]), n
}

// backShare is the share of a session's frames sent between from and to (ms after its first
// packet, after its first picture's frame) whose pictures came back.
func backShare(s liveload.Session, from, to float64) float64 {
	back := map[int]bool{}
	for _, p := range s.Pictures {
		back[p.Stamp] = true
	}
	sent, got := 0, 0
	for i, at := range s.SentAt {
		if i <= s.FirstStamp || at < from || at > to {
			continue
		}
		sent++
		if back[i] {
			got++
		}
	}
	if sent == 0 {
		return 0
	}
	return float64(got) / float64(sent)
}

// longestStampGap is the largest step between the stamps of consecutive readable pictures.
func longestStampGap(s liveload.Session) int {
	gap, last := 0, -1
	for _, p := range s.Pictures {
		if p.Stamp < 0 {
			continue
		}
		if last >= 0 && p.Stamp-last > gap {
			gap = p.Stamp - last
		}
		last = p.Stamp
	}
	return gap
}
