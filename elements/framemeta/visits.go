package framemeta

// VisitClearFrames is how many frames in a row without a main object end a visit when there
// is no ROI (with one, the gate's occupancy says it: roi-clear-frames).
const VisitClearFrames = 8

// Visits follows the visits of the object the gate sees, so that every element after the
// gate (ebrcs_match fusing a visit's crops, ebrcs_counter deciding once per visit) agrees on
// where one ends and the next begins.
//
// With an ROI, a visit starts on the gate's entry and ends on the frame the ROI is free again
// (Gate.Occupied false: roi-clear-frames empty frames after the object left). Without one, a
// visit starts on the first frame recognised with a main object and ends after
// VisitClearFrames frames in a row without one.
//
// The zero value is ready; it belongs to one stream.
type Visits struct {
	active bool
	absent int // frames without a main object, without an ROI
}

// Step reads one frame's gate and reports whether the visit in progress ended on this frame
// and whether a new one started on it. A frame without a gate changes nothing.
func (v *Visits) Step(g *Gate) (ended, started bool) {
	if g == nil {
		return false, false
	}
	if len(g.ROI) > 0 {
		switch {
		case g.Entry:
			ended, started = v.active, true
			v.active, v.absent = true, 0
		case v.active && !g.Occupied:
			ended, v.active = true, false
		}
		return ended, started
	}
	switch {
	case !v.active && g.HasMain && g.Recognize:
		started = true
		v.active, v.absent = true, 0
	case v.active && g.HasMain:
		v.absent = 0
	case v.active:
		v.absent++
		if v.absent >= VisitClearFrames {
			ended, v.active = true, false
		}
	}
	return ended, started
}

// Active reports whether a visit is in progress.
func (v *Visits) Active() bool { return v.active }
