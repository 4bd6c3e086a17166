package roigate_test

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/elements/framemeta"
	"github.com/ebrcs/ebrcs/elements/roigate"
)

// period is a 15 fps camera's frame interval.
const period = time.Second / 15

// timedFrame is one analysed frame: its index in the camera's stream (frames between two
// indices were skipped before the analysis) and its blobs.
type timedFrame struct {
	index int
	blobs []framemeta.Blob
}

// timing is what a test gives the machine of each frame's time.
type timing int

const (
	byFrames  timing = iota // no time (Step): the count of empty frames alone
	byArrival               // the arrival time (StepAt without an interval), as a PTS
	byCamera                // the camera's own time and interval (a live WebRTC source)
)

// runTimed steps a machine with the square ROI through frames at their stream times (each
// moved by up to ±jitter, as arrival times on a network are, or a camera's capture times,
// drawn from seed) and returns the entries seen.
func runTimed(t *testing.T, frames []timedFrame, how timing, jitter time.Duration, seed ...uint64) (entries []int) {
	t.Helper()
	m := roigate.NewMachine()
	m.SetROI(square)
	rng := rand.New(rand.NewPCG(append(seed, 1)[0], 2))
	for _, f := range frames {
		pts := time.Duration(f.index) * period
		if jitter > 0 {
			pts += time.Duration(rng.Int64N(int64(2*jitter+1))) - jitter
		}
		var g framemeta.Gate
		switch how {
		case byFrames:
			g = m.Step(f.blobs, W, H)
		case byArrival:
			g = m.StepAt(f.blobs, W, H, pts, -1)
		case byCamera:
			// The camera's interval is to its frame before, whether analysed or not.
			g = m.StepAt(f.blobs, W, H, pts, period)
		}
		if g.Entry {
			entries = append(entries, f.index)
		}
	}
	return entries
}

// frames lists frames lo..hi-1 of the stream with the same blobs, every step-th analysed.
func frames(lo, hi, step int, blobs []framemeta.Blob) []timedFrame {
	var out []timedFrame
	for i := lo; i < hi; i += step {
		out = append(out, timedFrame{i, blobs})
	}
	return out
}

func concat(parts ...[]timedFrame) []timedFrame {
	var out []timedFrame
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// Two products shown one after the other, 0.6 s (9 frames) apart, while the machine analysed
// only every third frame: counted by frames the ROI never cleared (3 empty frames seen), so
// the second product was part of the first one's visit and never counted. By the stream's
// time it was empty for 9 frames: two visits, as when every frame is analysed.
func TestROIClearsByTimeWhenFramesWereSkipped(t *testing.T) {
	all := concat(frames(0, 30, 1, nil), frames(30, 45, 1, in), frames(45, 54, 1, nil), frames(54, 70, 1, in), frames(70, 90, 1, nil))
	if got := runTimed(t, all, byArrival, 0); len(got) != 2 {
		t.Fatalf("every frame analysed: entries at %v, want 2", got)
	}
	// The warm-up (the period is taken from the last 15 intervals) at full rate, then every third.
	skipped := concat(frames(0, 30, 1, nil), frames(30, 45, 3, in), frames(45, 54, 3, nil), frames(54, 70, 3, in), frames(70, 90, 3, nil))
	if got := runTimed(t, skipped, byFrames, 0); len(got) != 1 {
		t.Fatalf("by frames alone: entries at %v, want 1 (the case the time fixes)", got)
	}
	if got := runTimed(t, skipped, byArrival, 0); len(got) != 2 || got[0] != 30 || got[1] != 54 {
		t.Fatalf("by arrival time: entries at %v, want [30 54]", got)
	}
	if got := runTimed(t, skipped, byCamera, 0); len(got) != 2 || got[0] != 30 || got[1] != 54 {
		t.Fatalf("by the camera's time: entries at %v, want [30 54]", got)
	}
}

// With every frame analysed the ROI clears on the roi-clear-frames-th empty frame, as the
// original: a gap of 7 empty frames is one visit, 8 are two, with timestamps or without, and
// with up to a sixth of a frame (11 ms at 15 fps) of jitter on each timestamp.
func TestROIClearTimeMatchesFramesAtFullRate(t *testing.T) {
	for _, gap := range []int{7, 8} {
		all := concat(frames(0, 30, 1, nil), frames(30, 40, 1, in), frames(40, 40+gap, 1, nil), frames(40+gap, 50+gap, 1, in), frames(50+gap, 70+gap, 1, nil))
		want := 1
		if gap >= roigate.DefaultClearFrames {
			want = 2
		}
		if got := runTimed(t, all, byFrames, 0); len(got) != want {
			t.Errorf("gap %d, by frames: entries at %v, want %d", gap, got, want)
		}
		if got := runTimed(t, all, byArrival, 0); len(got) != want {
			t.Errorf("gap %d, steady timestamps: entries at %v, want %d", gap, got, want)
		}
		if got := runTimed(t, all, byCamera, 0); len(got) != want {
			t.Errorf("gap %d, the camera's time: entries at %v, want %d", gap, got, want)
		}
		for seed := range uint64(50) {
			if got := runTimed(t, all, byArrival, period/6, seed); len(got) != want {
				t.Errorf("gap %d, jitter (seed %d): entries at %v, want %d", gap, seed, got, want)
			}
			if got := runTimed(t, all, byCamera, period/6, seed); len(got) != want {
				t.Errorf("gap %d, the camera's time with capture jitter (seed %d): entries at %v, want %d", gap, seed, got, want)
			}
		}
	}
}

// Half the frames skipped in bursts, as a busy machine skips them (the frames that waited
// too long go together, then it catches up), for the whole stream and with jitter: products
// shown 0.8 s apart are two visits, a product whose mask is lost for 0.27 s is one.
func TestROIClearsByTimeWithBurstsSkipped(t *testing.T) {
	for phase := range 6 {
		var stream []timedFrame
		add := func(lo, hi int, blobs []framemeta.Blob) {
			for i := lo; i < hi; i++ {
				if (i+phase)%6 < 3 { // three analysed, three skipped
					stream = append(stream, timedFrame{i, blobs})
				}
			}
		}
		add(0, 40, nil)
		add(40, 55, in)
		add(55, 67, nil) // 12 frames: the next product is a new visit
		add(67, 80, in)
		add(80, 84, nil) // 4 frames: the same visit
		add(84, 100, in)
		add(100, 130, nil)
		for seed := range uint64(10) {
			for _, how := range []timing{byArrival, byCamera} {
				got := runTimed(t, stream, how, period/6, seed)
				if len(got) != 2 || got[0] < 40 || got[0] > 45 || got[1] < 67 || got[1] > 72 {
					t.Errorf("phase %d, seed %d, timing %d: entries at %v, want one at 40–45 and one at 67–72", phase, seed, how, got)
				}
			}
		}
		if got := runTimed(t, stream, byFrames, 0); len(got) != 1 {
			t.Errorf("phase %d, by frames alone: entries at %v, want 1 (the case the time fixes)", phase, got)
		}
	}
}

// One empty frame after a long gap is not enough to free the region (a product flickering
// out of the mask on the one frame analysed), nor is the time before the period is known.
func TestROIClearByTimeNeedsTwoEmptyFramesAndAPeriod(t *testing.T) {
	// Inside, 10 frames skipped, one empty frame, inside again: one visit.
	one := concat(frames(0, 30, 1, nil), frames(30, 40, 1, in), []timedFrame{{50, nil}}, frames(51, 60, 1, in), frames(60, 80, 1, nil))
	if got := runTimed(t, one, byArrival, 0); len(got) != 1 {
		t.Errorf("one empty frame after a gap: entries at %v, want 1", got)
	}
	// From the stream's first frame, too few intervals for a period: frames alone decide.
	early := concat(frames(0, 3, 1, in), frames(3, 12, 3, nil), frames(12, 15, 1, in))
	if got := runTimed(t, early, byArrival, 0); len(got) != 1 {
		t.Errorf("before the period is known: entries at %v, want 1", got)
	}
}

// Every other frame skipped, none back to back (a machine just past capacity): the arrivals
// are all two frames apart, so they cannot tell the camera's period, and the ROI cleared only
// after twice roi-clear-frames. Products shown 9 frames (0.6 s) apart were one visit, where
// the original, seeing every frame, saw two. The camera's own intervals give the period, and
// its times are exact: two visits, the second entering on the first frame analysed after
// roi-clear-frames, and a mask lost for 4 frames is still one visit.
func TestROIClearsByTheCamerasTimeWithStrictAlternation(t *testing.T) {
	stream := concat(frames(0, 40, 2, nil), frames(40, 56, 2, in), frames(56, 64, 2, nil), frames(64, 80, 2, in),
		frames(80, 84, 2, nil), frames(84, 100, 2, in), frames(100, 130, 2, nil))
	if got := runTimed(t, stream, byArrival, 0); len(got) != 1 {
		t.Errorf("by arrival: entries at %v, want 1 (the limit the camera's time lifts)", got)
	}
	for seed := range uint64(20) {
		if got := runTimed(t, stream, byCamera, period/6, seed); len(got) != 2 || got[0] != 40 || got[1] != 64 {
			t.Errorf("the camera's time (seed %d): entries at %v, want [40 64]", seed, got)
		}
	}
}

// A gap in the camera's frames (lost packets) makes one interval of several periods: the
// period stays the camera's.
func TestROICameraPeriodIgnoresLostFrames(t *testing.T) {
	m := roigate.NewMachine()
	m.SetROI(square)
	step := func(i int, blobs []framemeta.Blob, interval time.Duration) framemeta.Gate {
		return m.StepAt(blobs, W, H, time.Duration(i)*period, interval)
	}
	interval := func(i int) time.Duration {
		if i%5 == 4 {
			return 3 * period // two frames lost before this one
		}
		return period
	}
	i := 0
	for ; i < 30; i++ {
		step(i, nil, interval(i))
	}
	for ; i < 40; i++ {
		step(i, in, interval(i))
	}
	// Every third frame analysed, empty: the ROI is free 8 frames after the last inside one
	// (frame 39), on frame 48, not later.
	for i = 42; i <= 48; i += 3 {
		if g := step(i, nil, period); !g.Occupied != (i >= 47) {
			t.Fatalf("frame %d: occupied %v, want free from frame 47 on", i, g.Occupied)
		}
	}
}
