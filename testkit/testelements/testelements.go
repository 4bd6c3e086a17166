// Package testelements holds Go elements that exist only for tests: one that writes pixels
// and one that fails on demand. They are real GStreamer elements built with the same
// framework as the product's, registered only by test binaries (Register).
package testelements

import (
	"errors"
	"testing"

	"github.com/go-gst/go-gst/gst"

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

// Register initialises GStreamer with the product elements (gsttest.Init) and adds these.
func Register(tb testing.TB) {
	tb.Helper()
	gsttest.Init(tb)
	for _, d := range []goelement.Registrant{Paint, Failing} {
		if gst.Find(d.Describe().Name) == nil {
			if err := d.Register(nil); err != nil {
				tb.Fatal(err)
			}
		}
	}
}
