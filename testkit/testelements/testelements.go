// Package testelements holds Go elements that exist only for tests: one that writes pixels,
// one that fails on demand, and a pair that send and record metadata without frames. They
// are real GStreamer elements built with the same framework as the product's, registered
// only by test binaries (Register).
package testelements

import (
	"errors"
	"fmt"
	"testing"

	"github.com/go-gst/go-gst/gst"

	"github.com/ebrcs/ebrcs/elements/framemeta"
	"github.com/ebrcs/ebrcs/elements/goelement"
	"github.com/ebrcs/ebrcs/testkit/gsttest"
)

// Paint fills every byte of a GRAY8 frame with its "value" property: the simplest element
// that must really write into the frame memory.
var Paint = &goelement.Definition[*paint]{
	Info: goelement.Info{
		Name: "ebrcs_test_paint", LongName: "test paint", Classification: "Filter/Video",
		Description: "fills frames with one value", Caps: "video/x-raw,format=GRAY8", Access: goelement.WritePixels,
		Properties: []goelement.Property{
			{Name: "value", Kind: goelement.Int, Default: 200, Min: 0, Max: 255, Mutable: true, Doc: "fill value"},
		},
	},
	New: func(props *goelement.Props) *paint { return &paint{props: props} },
}

type paint struct{ props *goelement.Props }

func (p *paint) Process(b *goelement.Buffer) error {
	v := byte(p.props.Int("value"))
	for i := range b.Pixels {
		b.Pixels[i] = v
	}
	return nil
}

// Failing returns an error on its "at"-th frame of each run.
var Failing = &goelement.Definition[*failing]{
	Info: goelement.Info{
		Name: "ebrcs_test_failing", LongName: "test failing", Classification: "Filter/Video",
		Description: "fails on a chosen frame", Caps: "video/x-raw",
		Properties: []goelement.Property{
			{Name: "at", Kind: goelement.Int, Default: 3, Min: 1, Max: 1 << 30, Doc: "frame number that fails"},
			{Name: "panic", Kind: goelement.Bool, Default: false, Doc: "panic instead of returning an error"},
		},
	},
	New: func(props *goelement.Props) *failing { return &failing{props: props} },
}

type failing struct {
	props *goelement.Props
	n     int
}

func (f *failing) Process(b *goelement.Buffer) error {
	f.n++
	if f.n == f.props.Int("at") {
		if f.props.Bool("panic") {
			var m map[string]int
			m["boom"]++ // a real bug: a write to a nil map
		}
		return errors.New("injected failure")
	}
	return nil
}

func (f *failing) Stop() { f.n = 0 }

// MetaSender sends, while each frame is processed, a Frame without a buffer whose Trail is
// "meta N" (N counts frames from 1), from another goroutine, as ebrcs_embed's background
// recognition does.
var MetaSender = &goelement.Definition[*metaSender]{
	Info: goelement.Info{
		Name: "ebrcs_test_metasender", LongName: "test meta sender", Classification: "Filter/Video",
		Description: "sends metadata without a frame", Caps: "video/x-raw",
	},
	New: func(*goelement.Props) *metaSender { return &metaSender{} },
}

type metaSender struct {
	send func(*framemeta.Frame) bool
	n    int
}

func (m *metaSender) SetMetaSender(send func(*framemeta.Frame) bool) { m.send = send }

func (m *metaSender) Process(*goelement.Buffer) error {
	m.n++
	sent := make(chan bool)
	go func() { sent <- m.send(&framemeta.Frame{Trail: []string{fmt.Sprintf("meta %d", m.n)}}) }()
	if !<-sent {
		return errors.New("the element downstream refused the metadata")
	}
	return nil
}

func (m *metaSender) Stop() { m.n = 0 }

// MetaRecorder puts the Trail of every Frame it got without a buffer on the next frame's
// Trail, so a test sees what arrived, and in which order; with "fail", ProcessMeta fails.
var MetaRecorder = &goelement.Definition[*metaRecorder]{
	Info: goelement.Info{
		Name: "ebrcs_test_metarecorder", LongName: "test meta recorder", Classification: "Filter/Video",
		Description: "records metadata sent without a frame", Caps: "video/x-raw",
		Properties: []goelement.Property{
			{Name: "fail", Kind: goelement.Bool, Default: false, Doc: "fail on metadata"},
		},
	},
	New: func(props *goelement.Props) *metaRecorder { return &metaRecorder{props: props} },
}

type metaRecorder struct {
	props *goelement.Props
	got   []string
}

func (m *metaRecorder) ProcessMeta(f *framemeta.Frame) error {
	if m.props.Bool("fail") {
		return errors.New("injected metadata failure")
	}
	m.got = append(m.got, f.Trail...)
	return nil
}

func (m *metaRecorder) Process(b *goelement.Buffer) error {
	b.Meta().Trail = append(b.Meta().Trail, m.got...)
	m.got = nil
	return nil
}

// Register initialises GStreamer with the product elements (gsttest.Init) and adds these.
func Register(tb testing.TB) {
	tb.Helper()
	gsttest.Init(tb)
	for _, d := range []goelement.Registrant{Paint, Failing, MetaSender, MetaRecorder} {
		if gst.Find(d.Describe().Name) == nil {
			if err := d.Register(nil); err != nil {
				tb.Fatal(err)
			}
		}
	}
}
