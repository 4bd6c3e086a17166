// Package passthrough is ebrcs_passthrough, the smallest EBRCS element: it leaves the pixels
// alone and appends its label to the frame's metadata trail.
//
// It exists to prove, and to measure, the machinery every other element relies on: a Go type
// registered as a real GStreamer element, properties declared once, and per-frame results
// written upstream and read downstream on the buffer. Two of them in a row show both halves:
// the second one counts the frames that reached it with the first one's metadata.
package passthrough

import (
	"sync/atomic"

	"github.com/ebrcs/ebrcs/elements/goelement"
)

// The element's factory name and its properties.
const (
	Name = "ebrcs_passthrough"

	PropLabel          = "label"
	PropFrames         = "frames"
	PropFramesWithMeta = "frames-with-upstream-meta"
)

// The optional interfaces of goelement that Passthrough implements: a renamed method fails
// to compile here instead of being silently skipped by the framework.
var (
	_ goelement.PropertyReader = (*Passthrough)(nil)
	_ goelement.Stopper        = (*Passthrough)(nil)
)

// Element is the ebrcs_passthrough definition.
var Element = &goelement.Definition[*Passthrough]{
	Info: goelement.Info{
		Name:           Name,
		LongName:       "EBRCS pass-through",
		Classification: "Filter/Video",
		Description:    "Passes video through unchanged and appends its label to the frame's metadata trail",
		Caps:           "video/x-raw",
		Access:         goelement.NoPixels,
		Properties: []goelement.Property{
			{Name: PropLabel, Kind: goelement.String, Default: "", Mutable: true,
				Doc: "Appended to each frame's metadata trail when not empty"},
			{Name: PropFrames, Kind: goelement.Int64, Default: int64(0), ReadOnly: true,
				Doc: "Frames processed since the element started"},
			{Name: PropFramesWithMeta, Kind: goelement.Int64, Default: int64(0), ReadOnly: true,
				Doc: "Frames that arrived already carrying EBRCS metadata from an element upstream"},
		},
	},
	New: func(props *goelement.Props) *Passthrough { return &Passthrough{props: props} },
}

// Passthrough is one ebrcs_passthrough instance.
type Passthrough struct {
	props        *goelement.Props
	frames       atomic.Int64
	framesWithUp atomic.Int64
}

// Process implements goelement.Processor.
func (p *Passthrough) Process(b *goelement.Buffer) error {
	p.frames.Add(1)
	if b.UpstreamMeta() != nil {
		p.framesWithUp.Add(1)
	}
	if label := p.props.String(PropLabel); label != "" {
		m := b.Meta()
		m.Trail = append(m.Trail, label)
	}
	return nil
}

// ReadProperty implements goelement.PropertyReader.
func (p *Passthrough) ReadProperty(name string) any {
	switch name {
	case PropFrames:
		return p.frames.Load()
	case PropFramesWithMeta:
		return p.framesWithUp.Load()
	}
	return nil
}

// Stop resets the counters for the next run of the element.
func (p *Passthrough) Stop() {
	p.frames.Store(0)
	p.framesWithUp.Store(0)
}
