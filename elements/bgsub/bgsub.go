// Package bgsub is ebrcs_bgsub: it finds what moves in front of the camera.
//
// Each frame is downscaled to process-width (320 px by default: the model costs 91 bytes and a
// few nanoseconds per pixel, and a product held up to a camera is large), classified by a KNN
// background model faithful to OpenCV's BackgroundSubtractorKNN (knn.c), cleaned the way the
// original system did (erode 2, dilate 4, threshold 200) and cut into external regions with
// their bounding boxes and contour areas (contours.go). Regions larger than min-area (given,
// as in the original, in pixels of a 960 px wide frame, and scaled to the real frame size so
// that behaviour does not depend on the camera's resolution) become the frame's Blobs, in
// full-frame pixels, largest first. During the first warmup-frames after a (re)start the model
// is learning and no blobs are reported. The model's parameters are OpenCV's (history,
// dist2-threshold, knn-samples, detect-shadows, shadow-threshold), plus foreground-slowdown
// (1: as OpenCV), which makes foreground pixels learn more slowly so that an object held
// still stays an object. When most of the frame suddenly differs from the model for a few frames
// (the lights, the exposure, a moved camera), the model starts learning anew instead
// (relearn-fraction). The video passes through untouched.
package bgsub

import (
	"fmt"
	"math"
	"sync/atomic"

	"github.com/ebrcs/ebrcs/elements/framemeta"
	"github.com/ebrcs/ebrcs/elements/goelement"
)

// originalWidth is the frame width the original system's pixel constants refer to.
const originalWidth = 960

// The element's factory name and its properties.
const (
	Name = "ebrcs_bgsub"

	PropHistory            = "history"
	PropDist2Threshold     = "dist2-threshold"
	PropKNNSamples         = "knn-samples"
	PropDetectShadows      = "detect-shadows"
	PropShadowThreshold    = "shadow-threshold"
	PropForegroundSlowdown = "foreground-slowdown"
	PropErode              = "erode"
	PropDilate             = "dilate"
	PropThreshold          = "threshold"
	PropProcessWidth       = "process-width"
	PropMinArea            = "min-area"
	PropWarmupFrames       = "warmup-frames"
	PropRelearnFraction    = "relearn-fraction"
	PropRelearnFrames      = "relearn-frames"
	PropFrames             = "frames"
	PropForegroundFrames   = "foreground-frames"
	PropRelearns           = "relearns"
)

// The optional interfaces of goelement that this element implements: a renamed method
// fails to compile here instead of being silently skipped by the framework.
var (
	_ goelement.PropertyReader = (*Bgsub)(nil)
	_ goelement.Stopper        = (*Bgsub)(nil)
)

// Element is the ebrcs_bgsub definition.
var Element = &goelement.Definition[*Bgsub]{
	Info: goelement.Info{
		Name:           Name,
		LongName:       "EBRCS background subtraction",
		Classification: "Filter/Analyzer/Video",
		Description:    "Finds foreground blobs with a KNN background model (as OpenCV's) and attaches them to each frame",
		Caps:           "video/x-raw,format=" + goelement.AnalysisFormats,
		Access:         goelement.ReadPixels,
		Properties: []goelement.Property{
			{Name: PropHistory, Kind: goelement.Int, Default: 300, Min: 1, Max: 100000, Mutable: true,
				Doc: "Frames of history: the learning rate is 1/min(2×frames seen, history) (OpenCV history)"},
			{Name: PropDist2Threshold, Kind: goelement.Double, Default: 500.0, Min: 1, Max: 65536, Mutable: true,
				Doc: "Squared colour distance under which a pixel matches a background sample (OpenCV dist2Threshold)"},
			{Name: PropKNNSamples, Kind: goelement.Int, Default: 2, Min: 1, Max: 21, Mutable: true,
				Doc: "Matching background samples needed to call a pixel background (OpenCV kNNSamples)"},
			{Name: PropDetectShadows, Kind: goelement.Bool, Default: false, Mutable: true,
				Doc: "Mark shadows (darker versions of the background) and leave them out of the blobs"},
			{Name: PropShadowThreshold, Kind: goelement.Double, Default: 0.5, Min: 0, Max: 1, Mutable: true,
				Doc: "How much darker than the background a shadow may be (OpenCV shadowThreshold)"},
			{Name: PropForegroundSlowdown, Kind: goelement.Int, Default: 1, Min: 1, Max: 1000, Mutable: true,
				Doc: "Foreground pixels learn this many times slower than the background, so that an object held still stays an object (1: as OpenCV, absorbed in about 2 s at history 300; checkout pipelines use 10)"},
			{Name: PropErode, Kind: goelement.Int, Default: 2, Min: 0, Max: 20, Mutable: true,
				Doc: "Erosion iterations (3×3) on the foreground mask, against noise"},
			{Name: PropDilate, Kind: goelement.Int, Default: 4, Min: 0, Max: 20, Mutable: true,
				Doc: "Dilation iterations (3×3) after erosion, to join the parts of one object"},
			{Name: PropThreshold, Kind: goelement.Int, Default: 200, Min: 0, Max: 254, Mutable: true,
				Doc: "Mask values above this are foreground (drops shadows, 127)"},
			{Name: PropProcessWidth, Kind: goelement.Int, Default: 320, Min: 0, Max: 7680, Mutable: true,
				Doc: "Width the frames are downscaled to for the model; 0 or more than the frame: full size. A change restarts learning"},
			{Name: PropMinArea, Kind: goelement.Double, Default: 2500.0, Min: 0, Max: 1e9, Mutable: true,
				Doc: "Smallest blob, in pixels of a 960 px wide frame (the original's MIN_AREA), scaled to the frame size"},
			{Name: PropWarmupFrames, Kind: goelement.Int, Default: 10, Min: 0, Max: 100000, Mutable: true,
				Doc: "Frames after a (re)start during which the model learns the background and no blobs are reported (the first frame is all foreground to an empty model)"},
			{Name: PropRelearnFraction, Kind: goelement.Double, Default: 0.6, Min: 0, Max: 1, Mutable: true,
				Doc: "When more than this share of the frame is foreground for relearn-frames frames in a row (a sudden global change: the lights, the exposure, a moved camera, a broken picture), the model starts learning anew (with its warm-up) instead of taking the whole frame for an object for as long as it takes to absorb it; 0: never"},
			{Name: PropRelearnFrames, Kind: goelement.Int, Default: 5, Min: 1, Max: 100000, Mutable: true,
				Doc: "Consecutive frames over relearn-fraction that make the model start anew"},
			{Name: PropFrames, Kind: goelement.Int64, Default: int64(0), ReadOnly: true,
				Doc: "Frames processed since the element started"},
			{Name: PropForegroundFrames, Kind: goelement.Int64, Default: int64(0), ReadOnly: true,
				Doc: "Frames that had at least one blob"},
			{Name: PropRelearns, Kind: goelement.Int64, Default: int64(0), ReadOnly: true,
				Doc: "Times the model started anew after a global change (relearn-fraction)"},
		},
	},
	New: func(props *goelement.Props) *Bgsub { return &Bgsub{props: props} },
}

// Bgsub is one ebrcs_bgsub instance: the background model of one stream.
type Bgsub struct {
	props *goelement.Props

	sub            *Subtractor
	pw, ph         int // processing size of sub
	sinceReset     int // frames since the model was (re)created
	c0, c1, c2     []byte
	mask, tmp      []byte
	finder         RegionFinder
	bigRun         int // consecutive frames mostly foreground
	frames, fgSeen atomic.Int64
	relearns       atomic.Int64
}

func (g *Bgsub) params() Params {
	p := DefaultParams
	p.History = g.props.Int(PropHistory)
	p.Dist2Threshold = g.props.Double(PropDist2Threshold)
	p.KNN = g.props.Int(PropKNNSamples)
	p.DetectShadows = g.props.Bool(PropDetectShadows)
	p.ShadowTau = g.props.Double(PropShadowThreshold)
	p.ForegroundSlowdown = g.props.Int(PropForegroundSlowdown)
	// The scene is learnt at full speed first: the warm-up, and at least a second more.
	p.ForegroundSlowdownAfter = max(3*g.props.Int(PropWarmupFrames), 30)
	return p
}

// processSize is the size frames are modelled at.
func processSize(w, h, processWidth int) (int, int) {
	if processWidth <= 0 || processWidth >= w {
		return w, h
	}
	ph := int(math.Round(float64(h) * float64(processWidth) / float64(w)))
	return processWidth, max(ph, 3)
}

// Process implements goelement.Processor.
func (g *Bgsub) Process(b *goelement.Buffer) error {
	info := b.Info
	w, h := info.Width, info.Height
	pw, ph := processSize(w, h, g.props.Int(PropProcessWidth))
	if g.sub == nil || pw != g.pw || ph != g.ph {
		if err := g.reset(pw, ph); err != nil {
			return err
		}
	}
	g.sub.SetParams(g.params())

	if err := g.planes(b, pw, ph); err != nil {
		return err
	}
	g.sub.Apply(g.c0, g.c1, g.c2, g.mask)
	if g.globalChange(pw * ph) {
		// The model describes a scene that is gone: learn the new one from scratch (the
		// warm-up reports no blobs) rather than call it all an object for seconds.
		if err := g.reset(pw, ph); err != nil {
			return err
		}
		g.relearns.Add(1)
		return g.noBlobs(b)
	}
	if g.sinceReset++; g.sinceReset <= g.props.Int(PropWarmupFrames) {
		// An empty model calls everything foreground: reporting it would make the whole
		// frame "enter" the ROI at every start. The model learns; nobody is told yet, and the
		// mask, mostly foreground, is neither cleaned nor searched for blobs that would be
		// thrown away (at a start every session pays for its warm-up at once).
		return g.noBlobs(b)
	}
	m := b.Meta()
	CleanMask(g.mask, g.tmp, pw, ph, g.props.Int(PropErode), g.props.Int(PropDilate), g.props.Int(PropThreshold))
	regions := g.finder.Find(g.mask, pw, ph)

	// Blobs go in the metadata's pixel space (the frame's own, unless an element upstream
	// set the metadata up on a frame of another size).
	sx, sy := float64(m.Width)/float64(pw), float64(m.Height)/float64(ph)
	scale := float64(m.Width) / originalWidth
	minArea := g.props.Double(PropMinArea) * scale * scale
	blobs := m.Blobs[:0]
	for _, r := range regions {
		area := r.Area * sx * sy
		if area <= minArea {
			break // regions come largest first
		}
		box := r.Box
		box.Min.X, box.Min.Y = int(math.Floor(float64(box.Min.X)*sx)), int(math.Floor(float64(box.Min.Y)*sy))
		box.Max.X, box.Max.Y = int(math.Ceil(float64(box.Max.X)*sx)), int(math.Ceil(float64(box.Max.Y)*sy))
		box.Max.X, box.Max.Y = min(box.Max.X, m.Width), min(box.Max.Y, m.Height)
		blobs = append(blobs, framemeta.Blob{Box: box, Area: area})
	}
	m.Detected = true
	m.Blobs = blobs
	g.frames.Add(1)
	if len(m.Blobs) > 0 {
		g.fgSeen.Add(1)
	}
	return nil
}

// noBlobs reports a frame on which the model tells nothing (warming up, or starting anew).
func (g *Bgsub) noBlobs(b *goelement.Buffer) error {
	m := b.Meta()
	m.Detected, m.Blobs = true, m.Blobs[:0]
	g.frames.Add(1)
	return nil
}

// planes downscales the frame into the model's three colour planes: from packed RGB, or from
// 4:2:0 (converted to RGB at the processing size, so that distances mean the same).
func (g *Bgsub) planes(b *goelement.Buffer, pw, ph int) error {
	info := b.Info
	w, h := info.Width, info.Height
	switch info.Format {
	case "I420":
		l := Planar420{YOffset: info.Offset[0], YStride: info.Stride[0], UOffset: info.Offset[1], VOffset: info.Offset[2],
			CStride: info.Stride[1], CStep: 1}
		if info.Stride[2] != info.Stride[1] {
			return fmt.Errorf("I420 chroma planes with different strides (%d, %d)", info.Stride[1], info.Stride[2])
		}
		return Downscale420(b.Pixels, w, h, l, g.c0, g.c1, g.c2, pw, ph)
	case "NV12":
		l := Planar420{YOffset: info.Offset[0], YStride: info.Stride[0], UOffset: info.Offset[1], VOffset: info.Offset[1] + 1,
			CStride: info.Stride[1], CStep: 2}
		return Downscale420(b.Pixels, w, h, l, g.c0, g.c1, g.c2, pw, ph)
	}
	l, ok := goelement.PackedRGBLayout(info.Format)
	if !ok {
		return fmt.Errorf("unsupported format %q", info.Format)
	}
	// The model does not care which channel is which (distances are symmetric), only that
	// the order stays fixed.
	layout := Packed{BytesPerPixel: l.BytesPerPixel, Offsets: [3]int{l.R, l.G, l.B}}
	if info.Offset[0] > len(b.Pixels) {
		return fmt.Errorf("frame buffer of %d bytes, plane offset %d", len(b.Pixels), info.Offset[0])
	}
	return Downscale(b.Pixels[info.Offset[0]:], w, h, info.Stride[0], layout, g.c0, g.c1, g.c2, pw, ph)
}

// globalChange reports whether the raw mask has been mostly foreground for relearn-frames
// frames in a row.
func (g *Bgsub) globalChange(n int) bool {
	limit := g.props.Double(PropRelearnFraction)
	if limit <= 0 {
		g.bigRun = 0
		return false
	}
	if g.sinceReset < g.props.Int(PropWarmupFrames) {
		g.bigRun = 0
		return false
	}
	fg := 0
	for _, v := range g.mask[:n] {
		if v == 255 {
			fg++
		}
	}
	if float64(fg) <= limit*float64(n) {
		g.bigRun = 0
		return false
	}
	g.bigRun++
	return g.bigRun >= g.props.Int(PropRelearnFrames)
}

func (g *Bgsub) reset(pw, ph int) error {
	if g.sub != nil {
		g.sub.Close()
		g.sub = nil
	}
	sub, err := NewSubtractor(pw, ph, g.params())
	if err != nil {
		return err
	}
	n := pw * ph
	g.sub, g.pw, g.ph, g.sinceReset, g.bigRun = sub, pw, ph, 0, 0
	g.c0, g.c1, g.c2 = make([]byte, n), make([]byte, n), make([]byte, n)
	g.mask, g.tmp = make([]byte, n), make([]byte, n)
	return nil
}

// Stop frees the model: a new stream learns its background anew.
func (g *Bgsub) Stop() {
	if g.sub != nil {
		g.sub.Close()
		g.sub = nil
	}
	g.frames.Store(0)
	g.fgSeen.Store(0)
	g.relearns.Store(0)
}

// ReadProperty implements goelement.PropertyReader.
func (g *Bgsub) ReadProperty(name string) any {
	switch name {
	case PropFrames:
		return g.frames.Load()
	case PropForegroundFrames:
		return g.fgSeen.Load()
	case PropRelearns:
		return g.relearns.Load()
	}
	return nil
}
