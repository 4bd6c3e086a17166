package goelement_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/ebrcs/ebrcs/elements/framemeta"
	"github.com/ebrcs/ebrcs/elements/goelement"
	"github.com/ebrcs/ebrcs/testkit/gsttest"
	"github.com/ebrcs/ebrcs/testkit/testelements"
)

// The element writes into the frame; a tee's other branch keeps the original pixels, because
// mapping for write copies memory that is shared.
func TestWritePixelsReallyWrites(t *testing.T) {
	testelements.Register(t)
	got, err := gsttest.RunSinks(
		"videotestsrc num-buffers=4 pattern=black ! video/x-raw,format=GRAY8,width=16,height=8 ! tee name=t "+
			"t. ! queue ! ebrcs_test_paint value=77 ! appsink name=painted sync=false "+
			"t. ! queue ! appsink name=original sync=false",
		10*time.Second, "painted", "original")
	if err != nil {
		t.Fatal(err)
	}
	if len(got["painted"]) != 4 || len(got["original"]) != 4 {
		t.Fatalf("frames: painted %d, original %d; want 4 each", len(got["painted"]), len(got["original"]))
	}
	for i, f := range got["painted"] {
		for j, b := range f.Pixels {
			if b != 77 {
				t.Fatalf("painted frame %d byte %d = %d, want 77", i, j, b)
			}
		}
	}
	for i, f := range got["original"] {
		for j, b := range f.Pixels {
			if b == 77 {
				t.Fatalf("original frame %d byte %d was painted: writes leaked through the tee", i, j)
			}
		}
	}
}

// Properties declared in Go are real GObject properties: set by name, range-checked by GLib,
// readable back, and their defaults visible through the factory.
func TestPropertiesAreGObjectProperties(t *testing.T) {
	testelements.Register(t)
	el, err := gst.NewElement("ebrcs_test_paint")
	if err != nil {
		t.Fatal(err)
	}
	v, err := el.GetProperty("value")
	if err != nil || v.(int) != 200 {
		t.Fatalf("default value = %v (%v), want 200", v, err)
	}
	if err := el.SetProperty("value", 12); err != nil {
		t.Fatal(err)
	}
	v, _ = el.GetProperty("value")
	if v.(int) != 12 {
		t.Fatalf("value after set = %v, want 12", v)
	}
	pt, err := gst.NewElement("ebrcs_passthrough")
	if err != nil {
		t.Fatal(err)
	}
	frames, err := pt.GetProperty("frames")
	if err != nil || frames.(int64) != 0 {
		t.Fatalf("frames = %v (%v), want 0", frames, err)
	}
}

// An error returned by Process becomes a bus error message naming the element and the cause.
func TestProcessErrorReachesTheBus(t *testing.T) {
	testelements.Register(t)
	_, err := gsttest.Run("videotestsrc num-buffers=10 ! ebrcs_test_failing name=boom at=3 ! appsink name=out sync=false", 10*time.Second)
	if err == nil {
		t.Fatal("pipeline with a failing element ran to EOS")
	}
	for _, want := range []string{"boom", "ebrcs_test_failing", "injected failure"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestDefinitionChecksDefaults(t *testing.T) {
	bad := &goelement.Definition[*noop]{
		Info: goelement.Info{Name: "ebrcs_test_bad", Caps: "video/x-raw", Properties: []goelement.Property{
			{Name: "n", Kind: goelement.Int, Default: "three"},
		}},
		New: func(*goelement.Props) *noop { return nil },
	}
	if err := bad.Register(nil); err == nil || !strings.Contains(err.Error(), `"n"`) {
		t.Fatalf("Register accepted a property whose default does not match its kind: %v", err)
	}
}

type noop struct{}

func (noop) Process(*goelement.Buffer) error { return nil }

// A panic in an element's code fails its pipeline with the panic and its stack, instead of
// taking the whole process (and every other pipeline) down.
func TestPanicBecomesPipelineError(t *testing.T) {
	testelements.Register(t)
	_, err := gsttest.Run("videotestsrc num-buffers=10 ! ebrcs_test_failing name=buggy at=2 panic=true ! appsink name=out sync=false", 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "internal error") || !strings.Contains(err.Error(), "nil map") {
		t.Fatalf("got %v", err)
	}
}

// Metadata sent without a frame, from another goroutine, reaches the MetaProcessor
// downstream in order with the frames, through a queue and a native element; its Frame is
// released with the event.
func TestMetaWithoutAFrameArrivesInOrder(t *testing.T) {
	testelements.Register(t)
	before := framemeta.LiveEvents()
	out := gsttest.Collect(t, "videotestsrc num-buffers=5 ! video/x-raw,format=GRAY8,width=16,height=8 ! "+
		"ebrcs_test_metasender ! queue ! videoconvert ! ebrcs_test_metarecorder ! appsink name=out sync=false", 10*time.Second)
	if len(out) != 5 {
		t.Fatalf("%d frames, want 5", len(out))
	}
	for i, f := range out {
		want := fmt.Sprintf("[meta %d]", i+1)
		if f.Meta == nil || fmt.Sprint(f.Meta.Trail) != want {
			t.Errorf("frame %d recorded %v, want %s: the metadata sent while it was processed, before it", i+1, f.Meta, want)
		}
	}
	if n := framemeta.LiveEvents() - before; n > 0 {
		t.Errorf("%d Frames sent without a buffer are still held after the pipeline ended", n)
	}
}

// A MetaProcessor's error stops the pipeline with a message naming the element.
func TestMetaErrorReachesTheBus(t *testing.T) {
	testelements.Register(t)
	_, err := gsttest.Run("videotestsrc num-buffers=5 ! ebrcs_test_metasender ! ebrcs_test_metarecorder name=rec fail=true ! appsink name=out sync=false", 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "rec") || !strings.Contains(err.Error(), "injected metadata failure") {
		t.Fatalf("got %v", err)
	}
}
