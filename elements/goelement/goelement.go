// Package goelement turns a small Go type into a real GStreamer element.
//
// An EBRCS element is a Definition (name, documentation, pad caps, properties) plus a
// Processor that handles one frame at a time. Register makes it a GStreamer element factory,
// a subclass of GstBaseTransform working in place, so it can be named in our pipeline YAML, in
// a gst-launch-1.0 line, and inspected with gst-inspect-1.0 (through the plugin library built by
// `make plugin`).
//
// What the framework does so elements don't have to:
//   - properties are declared once (Property) and become GObject properties, typed values for
//     the Processor (Props), YAML validation (through GObject introspection) and docs (Docs);
//   - the negotiated video format is parsed once per caps change (VideoInfo);
//   - pixels are mapped without copying, only when the element asks for them (Access);
//   - per-frame results ride on the buffer (Buffer.Meta, see package framemeta), and results
//     that no frame comes to carry go downstream on their own, in order with the frames
//     (MetaSender, MetaProcessor);
//   - an error returned by Process becomes a GStreamer error message naming the element, which
//     the pipeline supervisor sees on the bus.
package goelement

import (
	"fmt"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/ebrcs/ebrcs/elements/framemeta"
)

// Processor is the per-instance behaviour of a Go element.
type Processor interface {
	// Process handles one frame in place. It runs on the pipeline's streaming thread; an
	// error stops the pipeline with a message naming this element.
	Process(b *Buffer) error
}

// Starter is implemented by processors that acquire resources when the element starts
// (READY→PAUSED).
type Starter interface{ Start() error }

// Stopper is implemented by processors that release resources when the element stops, and
// reset per-stream state.
type Stopper interface{ Stop() }

// MetaSender is implemented by processors that send metadata downstream when no frame comes
// to carry it (ebrcs_embed: a recognition that finished after the camera stopped sending).
// When the element is created it is given send, which passes f to the elements downstream
// as a serialized event, in order with the frames: each MetaProcessor there handles it, the
// others pass it on. send may be called from any goroutine while the element runs; it
// reports whether the element after this one took it (false while the pipeline is not
// running, or after the end of the stream).
type MetaSender interface {
	SetMetaSender(send func(f *framemeta.Frame) bool)
}

// MetaProcessor is implemented by processors that act on metadata sent without a frame by a
// MetaSender upstream. ProcessMeta runs on the sender's goroutine, but never at the same time
// as Process: GStreamer serializes both on the element's sink pad. An error stops the
// pipeline, as one from Process does.
type MetaProcessor interface {
	ProcessMeta(f *framemeta.Frame) error
}

// PropertyReader is implemented by processors with ReadOnly properties (statistics).
type PropertyReader interface {
	ReadProperty(name string) any
}

// Access says how a Processor touches pixels.
type Access int

const (
	// NoPixels: the element reads or writes only metadata; the frame memory is not mapped.
	NoPixels Access = iota
	// ReadPixels maps the frame read-only (no copy, even if the memory is shared).
	ReadPixels
	// WritePixels maps the frame for writing. If the memory is shared (a tee upstream),
	// GStreamer copies it first, so other branches never see our writes.
	WritePixels
)

// Info describes an element independently of its Processor type, for the registry and docs.
type Info struct {
	Name           string // factory name, e.g. "ebrcs_passthrough"
	LongName       string
	Classification string // GStreamer klass, e.g. "Filter/Video"
	Description    string
	// Caps accepted and produced (the same on both pads), e.g.
	// "video/x-raw,format={RGBA,BGRx}" or "video/x-raw" for any raw video.
	Caps       string
	Access     Access
	Properties []Property
}

// Definition is an element: its Info and how to create its Processor.
type Definition[T Processor] struct {
	Info
	// New creates the processor of one element instance. props holds its live property
	// values (defaults until GObject sets them).
	New func(props *Props) T
}

// Registrant is what the element registry holds: any Definition, whatever its Processor type.
type Registrant interface {
	Describe() *Info
	Register(plugin *gst.Plugin) error
}

// Describe returns the element's static description.
func (d *Definition[T]) Describe() *Info { return &d.Info }

// VideoInfo is the negotiated video format.
type VideoInfo struct {
	Width, Height int
	Format        string // GStreamer format name: RGBA, BGRx, I420, NV12, ...
	FPS           float64
	Planes        int
	Stride        [4]int
	Offset        [4]int
	Size          int // bytes of one frame
}

// Buffer is the frame a Processor is handed.
type Buffer struct {
	Info VideoInfo
	// Pixels is the frame memory itself (not a copy), laid out as Info says; nil when the
	// element's Access is NoPixels. Valid only during Process.
	Pixels []byte
	// PTS is the presentation timestamp, -1 when the buffer has none.
	PTS time.Duration
	// Duration of the frame, -1 when unknown.
	Duration time.Duration

	buf *gst.Buffer
}

// Meta returns the frame's analysis results carried on the buffer, attaching an empty set
// (sized to this frame) if no element upstream did.
func (b *Buffer) Meta() *framemeta.Frame {
	f := framemeta.Ensure(b.buf)
	if f.Width == 0 && f.Height == 0 {
		f.Width, f.Height = b.Info.Width, b.Info.Height
	}
	return f
}

// UpstreamMeta returns the results attached upstream, or nil when there are none. It never
// modifies the buffer.
func (b *Buffer) UpstreamMeta() *framemeta.Frame { return framemeta.Get(b.buf) }

// GstBuffer returns the underlying buffer for the rare element that needs more.
func (b *Buffer) GstBuffer() *gst.Buffer { return b.buf }

func clockToDuration(t gst.ClockTime) time.Duration {
	if t == gst.ClockTimeNone {
		return -1
	}
	return time.Duration(t)
}

func (d *Definition[T]) validate() error {
	if d.Name == "" || d.New == nil {
		return fmt.Errorf("goelement: definition needs a Name and New")
	}
	seen := map[string]bool{}
	for i := range d.Properties {
		p := &d.Properties[i]
		if seen[p.Name] {
			return fmt.Errorf("goelement: %s: duplicate property %q", d.Name, p.Name)
		}
		seen[p.Name] = true
		if err := p.check(); err != nil {
			return fmt.Errorf("goelement: %s: %w", d.Name, err)
		}
	}
	return nil
}
