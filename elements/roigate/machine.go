package roigate

import (
	"image"
	"math"
	"slices"
	"time"

	"github.com/ebrcs/ebrcs/elements/framemeta"
	"github.com/ebrcs/ebrcs/roi"
)

// Defaults of the tunables, as in the original system.
const (
	// ReferenceWidth is the frame width the original system ran at; Pad and MinSize are
	// pixels at this width and are scaled to the actual frame.
	ReferenceWidth = 960

	DefaultPad         = 10
	DefaultMinSize     = 20
	DefaultClearFrames = 8
	DefaultEveryN      = 5
)

// Machine is the gate's state machine, independent of GStreamer: one Step per frame. The
// package documentation is its specification.
//
// The exported fields are the tunables; they may change between steps and take effect on the
// next one. The ROI is set with SetROI because changing it also frees the region. A Machine is
// not safe for concurrent use.
type Machine struct {
	Pad         int  // padding around the main box, pixels at ReferenceWidth
	MinSize     int  // the padded box must be wider and taller than this, pixels at ReferenceWidth
	ClearFrames int  // empty frames after which an occupied ROI is free again (< 1: 1)
	EveryN      int  // recognise every N-th frame (< 1: 1)
	EntryMode   bool // also recognise on the entry frame, whatever its number
	EntryBurst  int  // also recognise on each of this many frames after the entry

	roi         []roi.Point
	occupied    bool
	emptyFrames int
	frame       int64
	sinceEntry  int // frames since the last entry (bursts)
	// The stream's time (StepAt), for a ROI left while frames were skipped: the last inside
	// frame's, the last frame's, and the last frame intervals (period). exact: this frame's
	// time is the camera's own, not its arrival.
	lastInside, lastPTS time.Duration
	intervals           [periodWindow]time.Duration
	nIntervals          int
	exact               bool
	// visit is the visit in progress while occupied, shared with the elements downstream
	// through Gate.Visit.
	visit *framemeta.VisitState
}

// NewMachine returns a machine with the default tunables and no ROI.
func NewMachine() *Machine {
	return &Machine{
		Pad:         DefaultPad,
		MinSize:     DefaultMinSize,
		ClearFrames: DefaultClearFrames,
		EveryN:      DefaultEveryN,
		EntryMode:   true,
		lastInside:  -1,
		lastPTS:     -1,
	}
}

// SetROI sets the polygon (normalised; nil or empty: no ROI) used from the next Step. A polygon
// different from the current one frees the region: occupancy was about the old region, and an
// object in the new one has not entered it yet. Setting the same polygon again changes nothing.
func (m *Machine) SetROI(poly []roi.Point) {
	if len(poly) == 0 {
		poly = nil
	}
	if slices.Equal(poly, m.roi) {
		return
	}
	m.roi = slices.Clone(poly)
	m.occupied, m.emptyFrames, m.visit = false, 0, nil
}

// ROI returns the polygon in force (nil: none). The caller must not modify it.
func (m *Machine) ROI() []roi.Point { return m.roi }

// Occupied reports whether an object entered the ROI and it has not been free since.
func (m *Machine) Occupied() bool { return m.occupied }

// Frames returns how many frames the machine has stepped since it was created or Reset.
func (m *Machine) Frames() int64 { return m.frame }

// Reset forgets the stream: frame numbering restarts at 1 and the ROI is free. The ROI and the
// tunables are kept.
func (m *Machine) Reset() {
	m.occupied, m.emptyFrames, m.frame, m.visit = false, 0, 0, nil
	m.lastInside, m.lastPTS, m.nIntervals, m.exact = -1, -1, 0, false
}

// Scale converts a length in pixels at ReferenceWidth to pixels of a frame width wide, rounded
// to the nearest integer (halves away from zero).
func Scale(px, width int) int {
	return int(math.Round(float64(px) * float64(width) / ReferenceWidth))
}

// noteTime records a frame's time and an interval of the stream: the camera's own since
// the frame before it in the stream, when known, else the time since the last frame
// analysed.
func (m *Machine) noteTime(at, interval time.Duration) {
	m.exact = at >= 0 && interval > 0
	if at < 0 {
		return
	}
	switch {
	case interval > 0:
		m.intervals[m.nIntervals%periodWindow] = interval
		m.nIntervals++
	case m.frame > 1 && m.lastPTS >= 0 && at > m.lastPTS:
		m.intervals[m.nIntervals%periodWindow] = at - m.lastPTS
		m.nIntervals++
	}
	m.lastPTS = at
}

// emptyLongEnough reports whether the ROI, empty on this frame at pts, has been empty since
// its last inside frame for as long as clearAfter frames last at the stream's period. It needs
// the period (a window of intervals) and two empty frames at least: one frame alone after a
// gap is not enough to free the region.
func (m *Machine) emptyLongEnough(pts time.Duration, clearAfter int) bool {
	if pts < 0 || m.lastInside < 0 || m.nIntervals < periodWindow || m.emptyFrames < min(2, clearAfter) {
		return false
	}
	period := m.period()
	if m.exact {
		// The camera's own times: roi-clear-frames frames have passed, as the count would
		// have seen them all (half a period less, for a camera's capture jitter).
		return pts-m.lastInside >= time.Duration(clearAfter)*period-period/2
	}
	// Arrival times: half a period more, as a frame arriving late (network jitter) must not
	// free the region before the count would have; without skipped frames the count frees it
	// on time.
	return pts-m.lastInside >= time.Duration(clearAfter)*period+period/2
}

// period estimates the stream's frame interval from the last ones: the mean of those shorter
// than 1.5 times the fourth shortest. Skipped frames make intervals of two periods or more,
// which that leaves out while 4 of the 15 are single ones (a median would be one of them
// once half the frames are skipped); network jitter spreads the single intervals around the
// period, which the mean evens out (the fourth shortest alone is too short).
func (m *Machine) period() time.Duration {
	sorted := m.intervals
	slices.Sort(sorted[:])
	limit := sorted[periodWindow/4] * 3 / 2
	var sum time.Duration
	n := 0
	for _, d := range sorted {
		if d < limit {
			sum += d
			n++
		}
	}
	return sum / time.Duration(n)
}

// MainBox returns the padded box of the main candidate (the first blob: bgsub sorts them
// largest first) in a width×height frame, and whether it is big enough to count. pad and
// minSize are already scaled to this frame.
func MainBox(blobs []framemeta.Blob, width, height, pad, minSize int) (image.Rectangle, bool) {
	if len(blobs) == 0 {
		return image.Rectangle{}, false
	}
	box := blobs[0].Box
	// The padding gives the recogniser some context around the object; it cannot reach
	// outside the frame.
	padded := image.Rect(box.Min.X-pad, box.Min.Y-pad, box.Max.X+pad, box.Max.Y+pad).
		Intersect(image.Rect(0, 0, width, height))
	// Too thin or too short (noise, or an object mostly out of the frame): not worth
	// recognising, and not an object in the ROI either.
	if padded.Dx() <= minSize || padded.Dy() <= minSize {
		return image.Rectangle{}, false
	}
	return padded, true
}

// periodWindow is how many of the last frame intervals the stream's period is taken from.
const periodWindow = 15

// Step advances the machine by one frame: blobs are that frame's foreground regions (largest
// first; nil: none) in a width×height frame. It returns the frame's gate. The frame's time is
// unknown: the ROI clears after roi-clear-frames empty frames, as in the original.
func (m *Machine) Step(blobs []framemeta.Blob, width, height int) framemeta.Gate {
	return m.StepAt(blobs, width, height, -1, -1)
}

// StepAt is Step for a frame at stream time pts (-1: unknown), and interval, when the source
// knows it (a live camera's RTP timing, goelement.CameraTimeReference; else -1), the stream's
// time since the frame before this one, skipped or not: pts is then the camera's time too.
// Frames a busy machine skipped before the analysis (a live source's max_delay) count as
// time: the ROI also clears once it has been empty, from its last inside frame, for as long
// as roi-clear-frames frames last at the stream's rate (period), on at least two empty
// frames. Counting only the frames analysed, two products shown one after the other while a
// third of the frames were skipped were one visit, and the second was never counted.
func (m *Machine) StepAt(blobs []framemeta.Blob, width, height int, pts, interval time.Duration) framemeta.Gate {
	m.frame++
	m.noteTime(pts, interval)
	everyN := max(m.EveryN, 1)
	clearAfter := max(m.ClearFrames, 1)
	nth := m.frame%int64(everyN) == 0

	main, hasMain := MainBox(blobs, width, height, Scale(m.Pad, width), Scale(m.MinSize, width))
	g := framemeta.Gate{HasMain: hasMain, Main: main, FrameNumber: m.frame, Status: framemeta.ROIEmpty}

	if m.roi == nil {
		// No region: every big enough object is "inside" and recognised every N-th frame.
		// There is nothing to enter, so no entry events and never occupied.
		m.occupied, m.emptyFrames = false, 0
		if hasMain {
			g.Status = framemeta.ROIInside
			g.Recognize = nth
		}
	} else {
		g.ROI = slices.Clone(m.roi) // the Gate travels on the buffer: it must own its polygon
		inside := false
		if hasMain {
			g.Status = framemeta.ROIOutside
			centre := roi.Point{
				X: float64(main.Min.X+main.Max.X) / 2 / float64(width),
				Y: float64(main.Min.Y+main.Max.Y) / 2 / float64(height),
			}
			inside = roi.Contains(m.roi, centre)
		}
		if inside {
			if !m.occupied {
				// The first inside frame since the region was free: the entry event, which
				// is when a product being shown is best recognised (entry mode).
				g.Entry, g.Status, m.occupied = true, framemeta.ROIEntered, true
				m.sinceEntry = 0
				m.visit = &framemeta.VisitState{}
			} else {
				g.Status = framemeta.ROIInside
			}
			m.emptyFrames = 0
			m.lastInside = pts
		} else if m.occupied {
			// Empty or outside. A few such frames (the object flickering out of the mask, or
			// briefly leaving) must not make its return a new entry, hence the hysteresis.
			m.emptyFrames++
			if m.emptyFrames >= clearAfter || m.emptyLongEnough(pts, clearAfter) {
				m.occupied, m.emptyFrames = false, 0
			}
		}
		if m.occupied && !g.Entry {
			m.sinceEntry++
		}
		burst := m.occupied && !g.Entry && m.sinceEntry <= m.EntryBurst
		g.Recognize = inside && ((m.EntryMode && g.Entry) || nth || burst)
	}
	g.Occupied = m.occupied
	if m.occupied {
		g.Visit = m.visit
	} else {
		m.visit = nil
	}
	if g.Recognize {
		g.Crop = main
	}
	return g
}
