package signaling

import "github.com/ebrcs/ebrcs/internal/cores"

// returnStep decides when the live sessions send their annotated video back in a cheaper
// form: the pipelines whose webrtc sink size or rate is auto. There are two steps, each a
// returnStep of its own, taken by the number of live sessions:
//
//   - compact (pipelines.ReturnScaler): the video goes back 320 wide. Encoding the video back
//     is a fifth of a session's CPU at the camera's size (640×480), and every viewer decodes
//     it; at 320×240 both cost a quarter. Measured on 2 cores with the clients on the machine
//     (web: BenchmarkLiveSessions, in step, a slow host): 16 sessions got 100% of their
//     frames back, p95 41–74 ms, against 92–98% and 191–315 ms at the camera's size; 24 got
//     75–100% in the worst session (8 runs) against 50–74%.
//   - half rate (pipelines.ReturnThinner): past the machine's capacity every other frame goes
//     back. At 32 sessions on 2 cores, compact, the sessions got 67–88% of their frames back
//     at p95 307–339 ms; at half rate 46–49% (of the 50% sent) at p95 174–200 ms, the counts
//     exact, and the recognition backlog half as long.
//
// A step is taken while more sessions run than its threshold, and undone once
// stepHysteresis sessions fewer run, so that one camera coming and going does not switch
// every session back and forth (each switch of size costs every session a keyframe). Used
// by Service.shapeReturns alone, under Service.shaping.
type returnStep struct {
	above int  // -1: never
	on    bool // the last decision
}

// stepHysteresis is how many sessions below its threshold a step is undone.
const stepHysteresis = 2

// cameraSizeSessions is how many live sessions the admission limit starts from at the
// camera's size (16 on 2 cores): the measure of the two steps' default thresholds.
func cameraSizeSessions() float64 {
	return float64(cores.N()) * targetUtilisation / DefaultSessionCost
}

// defaultCompactAbove is CompactAbove's default: three quarters of cameraSizeSessions (12 on
// 2 cores). Below the admission limit, not at it: at the limit itself no session beyond it is
// admitted, so the sessions would never be compact. (The admission then measures the compact
// sessions' cost and may admit more; in a slow spell of the host it measured them at its
// start value and stayed at 16.)
func defaultCompactAbove() int {
	return max(1, int(0.75*cameraSizeSessions()))
}

// defaultHalfRateAbove is HalfRateAbove's default: one and a half times cameraSizeSessions
// (24 on 2 cores, where compact sessions still get their every frame back in most runs).
// Beyond it the machine is past its capacity, reached only when the admission limit is
// raised or off.
func defaultHalfRateAbove() int {
	return max(1, int(1.5*cameraSizeSessions()))
}

// newReturnStep makes a step taken above the threshold above (0: def; negative: never).
func newReturnStep(above, def int) *returnStep {
	if above == 0 {
		above = def
	}
	return &returnStep{above: above}
}

// update takes the number of live sessions and says whether the step is taken; changed is
// true when that changed.
func (r *returnStep) update(sessions int) (on, changed bool) {
	was := r.on
	on = was
	switch {
	case r.above < 0:
		on = false
	case sessions > r.above:
		on = true
	case sessions <= r.above-stepHysteresis:
		on = false
	}
	r.on = on
	return on, on != was
}
