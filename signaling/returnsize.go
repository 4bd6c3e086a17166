package signaling

import "github.com/ebrcs/ebrcs/internal/cores"

// returnSize decides when the live sessions send their annotated video back compact: the
// pipelines whose webrtc sink size is auto (pipelines.ReturnScaler). Encoding the video back
// is a fifth of a session's CPU at the camera's size (640×480), and every viewer decodes it;
// at 320×240 both cost a quarter. Measured on 2 cores with the clients on the machine
// (web: BenchmarkLiveSessions, in step, a slow host): 16 sessions got 100% of their frames
// back, p95 41–74 ms, against 92–98% and 191–315 ms at the camera's size; 24 got 75–100% in
// the worst session (8 runs) against 50–74%.
//
// The server is busy, and the video goes back compact, while more sessions run than
// Config.CompactAbove; it goes back to the camera's size once compactHysteresis sessions
// fewer run, so that one camera coming and going does not switch every session back and
// forth (each switch costs every session a keyframe). Used by Service.sizeReturns alone,
// under Service.sizing.
type returnSize struct {
	above int  // -1: never compact
	busy  bool // the last decision
}

// compactHysteresis is how many sessions below the threshold the video goes back to the
// camera's size.
const compactHysteresis = 2

// defaultCompactAbove is CompactAbove's default: three quarters of the sessions the admission
// limit starts from at the camera's size (12 on 2 cores). Below that limit, not at it: at the
// limit itself no session beyond it is admitted, so the sessions would never be compact. (The
// admission then measures the compact sessions' cost and may admit more; in a slow spell of
// the host it measured them at its start value and stayed at 16.)
func defaultCompactAbove() int {
	return max(1, int(0.75*float64(cores.N())*targetUtilisation/DefaultSessionCost))
}

func newReturnSize(compactAbove int) *returnSize {
	if compactAbove == 0 {
		compactAbove = defaultCompactAbove()
	}
	return &returnSize{above: compactAbove}
}

// update takes the number of live sessions and says whether the video goes back compact;
// changed is true when that changed.
func (r *returnSize) update(sessions int) (busy, changed bool) {
	was := r.busy
	busy = was
	switch {
	case r.above < 0:
		busy = false
	case sessions > r.above:
		busy = true
	case sessions <= r.above-compactHysteresis:
		busy = false
	}
	r.busy = busy
	return busy, busy != was
}
