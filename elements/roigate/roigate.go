// Package roigate is ebrcs_roigate, the region-of-interest gate: from the foreground blobs
// ebrcs_bgsub found on a frame, it decides whether an object is in the ROI, whether it has just
// entered it, and whether the recogniser should run on it in this frame. It is the original
// Python system's state machine, unchanged but for entry-burst (off by default); this comment
// is its specification.
//
// # Input
//
// The frame's framemeta.Frame, as ebrcs_bgsub leaves it: Detected, and Blobs, the foreground
// regions (already filtered by area, largest first) in pixels of a Frame.Width×Frame.Height
// frame. A frame without metadata, or not Detected, has no blobs. The frame size is the
// metadata's when set, else the negotiated video size.
//
// # Parameters
//
//   - roi: a polygon in normalised coordinates ((0,0) top left, (1,1) bottom right), at
//     least 3 points, e.g. "0.1,0.1;0.9,0.1;0.9,0.9;0.1,0.9" (see roi.Parse); "" is no
//     ROI. It can change while playing and applies from the next frame; a new polygon frees
//     the region (occupancy was about the old one). An invalid string is refused, by the YAML
//     validator and at run time (the previous value is kept, a warning is posted).
//   - pad (10) and min-size (20) are pixels of a 960 px wide frame, the size the original
//     ran at; on a frame W pixels wide they become round(value × W / 960).
//   - roi-clear-frames (8), detect-every-n-frames (N, 5), entry-mode (true), entry-burst
//     (B, 0). All of them can change while playing.
//
// # Per frame
//
//  1. FrameNumber = frames seen by this element, from 1 (restarting when it stops).
//  2. Main candidate: the first (largest) blob. Its box is padded by pad on every side and
//     clamped to the frame. It counts only if the padded box is wider AND taller than
//     min-size; otherwise the frame has no candidate at all (HasMain = false), because a
//     sliver is noise or an object mostly outside the frame. The other blobs are not
//     considered: the largest moving thing is what is being shown.
//  3. Inside: the exact centre of the padded box (not rounded to a pixel), divided by the
//     frame size, is in the polygon by the even-odd rule; a centre exactly on the outline (an
//     edge or a vertex) is inside (see roi.Contains).
//  4. With an ROI, main inside: if the ROI was not occupied this is an ENTRY (Entry = true,
//     status "entered") and it becomes occupied; otherwise status "inside". The empty-frame
//     count goes back to 0.
//  5. With an ROI, main outside (status "outside") or no candidate (status "empty"): an
//     empty frame. While occupied, empty frames are counted, and at the roi-clear-frames-th
//     consecutive one the ROI is free again (Occupied = false already on that frame); the
//     next inside frame is a new entry. This hysteresis keeps an object that flickers out of
//     the foreground mask for a frame or two from being entered, and counted, twice. (The
//     original counts empty frames while free too; nothing reads them then, and the next
//     inside frame resets them, so counting only while occupied is the same machine.)
//     Frames a busy machine skipped before the analysis (a live source's max_delay) were
//     never seen, yet the ROI was empty while they passed: so it is also free again at an
//     empty frame (the second at least) whose time is roi-clear-frames frames from the last
//     inside frame's. The time is the camera's own where the source put it on the frame
//     (goelement.CameraTimeReference: the WebRTC source, from the RTP timestamps), with a
//     half frame of tolerance (at least roi-clear-frames less a half), and the frame's
//     interval in the camera's stream, skipped frames included; else the PTS, with a half
//     frame more (at least roi-clear-frames and a half), because a frame that arrived late
//     must not free the region early, and the interval since the last frame analysed. A
//     frame lasts the stream's period: the mean of those of the last 15 intervals that are
//     single ones (shorter than 1.5 times the fourth shortest; from arrivals it needs 4
//     frames of the 15 analysed right after the one before). With no frame skipped the
//     count frees it first (or on the same frame), as in the original; without timestamps
//     only the count applies.
//  6. With an ROI, the decision: Recognize = inside && ((entry-mode && entry) ||
//     FrameNumber % N == 0 || burst), where burst holds on the B frames that follow an
//     entry, counted while the ROI stays occupied (frames outside it included), not on the
//     entry frame itself. With entry-mode on, a product is recognised the moment it enters,
//     on each of the next B frames it is inside, then every N-th frame while it stays; the
//     burst gives the recogniser more looks at a product whose entry frame, often still
//     moving, scores low. With entry-mode off the entry frame itself is not recognised
//     (unless it is an N-th frame); entries are still reported and counted, and the burst
//     still follows them.
//  7. Without an ROI: status "inside" when there is a main candidate (there is no region to
//     be outside of), else "empty"; never an entry, never occupied; Recognize = HasMain &&
//     FrameNumber % N == 0.
//  8. The gate (framemeta.Gate, on every frame): ROI (the polygon in force, nil if none),
//     Status, Occupied (after this frame), HasMain and Main (the padded box), Entry,
//     Recognize, Crop (= Main when Recognize, else empty), FrameNumber.
//
// The element only reads and writes metadata: pixels are never mapped. Its statistics
// (frames, entries, recognitions) are read-only properties, reset when it stops.
package roigate

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/ebrcs/ebrcs/elements/framemeta"
	"github.com/ebrcs/ebrcs/elements/goelement"
	"github.com/ebrcs/ebrcs/roi"
)

// The element's factory name and its properties.
const (
	// Name is the element factory's name.
	Name = "ebrcs_roigate"

	PropROI          = "roi"
	PropEntryMode    = "entry-mode"
	PropEveryN       = "detect-every-n-frames"
	PropEntryBurst   = "entry-burst"
	PropClearFrames  = "roi-clear-frames"
	PropPad          = "pad"
	PropMinSize      = "min-size"
	PropFrames       = "frames"
	PropEntries      = "entries"
	PropRecognitions = "recognitions"
)

// checkROI is the roi property's Check: the YAML validator and the element both refuse what
// roi.Parse refuses.
func checkROI(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("want a string, got %T", v)
	}
	_, err := roi.Parse(s)
	return err
}

// Element is the ebrcs_roigate definition.
var Element = &goelement.Definition[*ROIGate]{
	Info: goelement.Info{
		Name:           Name,
		LongName:       "EBRCS ROI gate",
		Classification: "Filter/Analyzer/Video",
		Description:    "Decides from the foreground blobs whether an object entered the region of interest and when to recognise it (Frame.Gate)",
		Caps:           "video/x-raw",
		Access:         goelement.NoPixels,
		Properties: []goelement.Property{
			{Name: PropROI, Kind: goelement.String, Default: "", Mutable: true, Check: checkROI,
				Doc: `Region of interest: normalised x,y points separated by ';', at least 3, e.g. "0.1,0.1;0.9,0.1;0.9,0.9;0.1,0.9"; empty: no ROI (any large enough object counts as inside)`},
			{Name: PropEntryMode, Kind: goelement.Bool, Default: true, Mutable: true,
				Doc: "Also recognise on the frame an object enters the ROI, not only every N-th frame"},
			{Name: PropEveryN, Kind: goelement.Int, Default: DefaultEveryN, Min: 1, Max: 1000, Mutable: true,
				Doc: "Recognise the object in the ROI on frames whose number is a multiple of this"},
			{Name: PropEntryBurst, Kind: goelement.Int, Default: 0, Min: 0, Max: 1000, Mutable: true,
				Doc: "Also recognise on each of this many frames after an entry (while the object stays inside): a product is counted sooner when the entry frame, often still moving, scores low"},
			{Name: PropClearFrames, Kind: goelement.Int, Default: DefaultClearFrames, Min: 1, Max: 100000, Mutable: true,
				Doc: "Consecutive frames without an object in the ROI after which it is free again (the next object is a new entry)"},
			{Name: PropPad, Kind: goelement.Int, Default: DefaultPad, Min: 0, Max: 10000, Mutable: true,
				Doc: "Padding added around the main object's box, in pixels of a 960 px wide frame (scaled to the actual width)"},
			{Name: PropMinSize, Kind: goelement.Int, Default: DefaultMinSize, Min: 0, Max: 10000, Mutable: true,
				Doc: "The padded box must be wider and taller than this to count, in pixels of a 960 px wide frame (scaled to the actual width)"},
			{Name: PropFrames, Kind: goelement.Int64, Default: int64(0), ReadOnly: true,
				Doc: "Frames processed since the element started"},
			{Name: PropEntries, Kind: goelement.Int64, Default: int64(0), ReadOnly: true,
				Doc: "Entry events since the element started"},
			{Name: PropRecognitions, Kind: goelement.Int64, Default: int64(0), ReadOnly: true,
				Doc: "Frames on which recognition was requested since the element started"},
		},
	},
	New: func(props *goelement.Props) *ROIGate {
		return &ROIGate{props: props, machine: NewMachine()}
	},
}

// The optional interfaces of goelement that ROIGate implements: a renamed method fails to
// compile here instead of being silently skipped by the framework.
var (
	_ goelement.PropertyReader = (*ROIGate)(nil)
	_ goelement.Stopper        = (*ROIGate)(nil)
)

// ROIGate is one ebrcs_roigate instance.
type ROIGate struct {
	props *goelement.Props

	// mu guards the machine and roiText: Process runs on the streaming thread and Stop on the
	// application thread. GStreamer orders them, but through C locks the race detector cannot
	// see, and an uncontended lock per frame costs nothing.
	mu      sync.Mutex
	machine *Machine
	roiText string // the roi property value the machine's polygon was parsed from

	frames, entries, recognitions atomic.Int64
}

// Process implements goelement.Processor.
func (g *ROIGate) Process(b *goelement.Buffer) error {
	var blobs []framemeta.Blob
	if up := b.UpstreamMeta(); up != nil && up.Detected {
		blobs = up.Blobs
	}
	meta := b.Meta()
	// Blob coordinates are in the metadata's frame size; fall back to the video's.
	width, height := meta.Width, meta.Height
	if width <= 0 {
		width = b.Info.Width
	}
	if height <= 0 {
		height = b.Info.Height
	}

	// The stream's time: the camera's own where the source put it on the frame (arrivals
	// bunch up and spread out on a busy machine), else the PTS.
	at, interval, ok := b.CameraTime()
	if !ok {
		at, interval = b.PTS, -1
	}
	g.mu.Lock()
	g.configure()
	gate := g.machine.StepAt(blobs, width, height, at, interval)
	g.mu.Unlock()

	meta.Gate = &gate
	g.frames.Add(1)
	if gate.Entry {
		g.entries.Add(1)
	}
	if gate.Recognize {
		g.recognitions.Add(1)
	}
	return nil
}

// configure copies the current property values into the machine (g.mu held). Properties may
// change between any two frames; the new values apply from this one.
func (g *ROIGate) configure() {
	m := g.machine
	m.Pad = g.props.Int(PropPad)
	m.MinSize = g.props.Int(PropMinSize)
	m.ClearFrames = g.props.Int(PropClearFrames)
	m.EveryN = g.props.Int(PropEveryN)
	m.EntryBurst = g.props.Int(PropEntryBurst)
	m.EntryMode = g.props.Bool(PropEntryMode)
	if text := g.props.String(PropROI); text != g.roiText {
		// Parsed once per change, not per frame. The property's Check refused any value
		// that does not parse, so err is nil here; keep the old polygon if it ever is not.
		if poly, err := roi.Parse(text); err == nil {
			m.SetROI(poly)
			g.roiText = text
		}
	}
}

// ReadProperty implements goelement.PropertyReader.
func (g *ROIGate) ReadProperty(name string) any {
	switch name {
	case PropFrames:
		return g.frames.Load()
	case PropEntries:
		return g.entries.Load()
	case PropRecognitions:
		return g.recognitions.Load()
	}
	return nil
}

// Stop resets the stream state (frame numbering, occupancy) and the statistics for the next
// run of the element; the properties, the ROI included, are kept.
func (g *ROIGate) Stop() {
	g.mu.Lock()
	g.machine.Reset()
	g.mu.Unlock()
	g.frames.Store(0)
	g.entries.Store(0)
	g.recognitions.Store(0)
}
