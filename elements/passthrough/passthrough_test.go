package passthrough_test

import (
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/testkit/gsttest"
)

// Two elements in a row: the first writes its label into the frame metadata, the second reads
// the first one's metadata and appends its own; the appsink sees both, in order, on every frame.
func TestMetadataTravelsDownstream(t *testing.T) {
	gsttest.Init(t)
	frames := gsttest.Collect(t,
		"videotestsrc num-buffers=20 ! video/x-raw,width=64,height=48,format=RGBA ! "+
			"ebrcs_passthrough name=first label=writer ! ebrcs_passthrough name=second label=reader ! "+
			"appsink name=out sync=false", 10*time.Second)
	if len(frames) != 20 {
		t.Fatalf("got %d frames, want 20", len(frames))
	}
	for i, f := range frames {
		if f.Meta == nil {
			t.Fatalf("frame %d: no metadata", i)
		}
		if len(f.Meta.Trail) != 2 || f.Meta.Trail[0] != "writer" || f.Meta.Trail[1] != "reader" {
			t.Fatalf("frame %d: trail %v, want [writer reader]", i, f.Meta.Trail)
		}
		if f.Meta.Width != 64 || f.Meta.Height != 48 {
			t.Fatalf("frame %d: meta size %dx%d, want 64x48", i, f.Meta.Width, f.Meta.Height)
		}
	}
}

// Without a label the element attaches nothing, and the frames are byte-identical to the
// same pipeline without it.
func TestPassesPixelsUnchanged(t *testing.T) {
	gsttest.Init(t)
	src := "videotestsrc num-buffers=5 pattern=smpte ! video/x-raw,width=32,height=24,format=RGBA ! "
	want := gsttest.Collect(t, src+"appsink name=out sync=false", 10*time.Second)
	got := gsttest.Collect(t, src+"ebrcs_passthrough ! appsink name=out sync=false", 10*time.Second)
	if len(got) != len(want) {
		t.Fatalf("got %d frames, want %d", len(got), len(want))
	}
	for i := range got {
		if string(got[i].Pixels) != string(want[i].Pixels) {
			t.Fatalf("frame %d differs", i)
		}
		if got[i].Meta != nil {
			t.Fatalf("frame %d: unexpected metadata %+v", i, got[i].Meta)
		}
	}
}
