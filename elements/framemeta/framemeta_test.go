package framemeta_test

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/elements/framemeta"
	"github.com/ebrcs/ebrcs/testkit/gsttest"
)

// After a tee each branch gets its own copy of the frame's metadata: what one branch writes
// the other never sees, and both keep what was written before the tee.
func TestBranchesGetIndependentCopies(t *testing.T) {
	gsttest.Init(t)
	got, err := gsttest.RunSinks(
		"videotestsrc num-buffers=10 ! video/x-raw,width=32,height=24 ! ebrcs_passthrough label=root ! tee name=t "+
			"t. ! queue ! ebrcs_passthrough label=a ! appsink name=a sync=false "+
			"t. ! queue ! ebrcs_passthrough label=b ! appsink name=b sync=false",
		10*time.Second, "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	for branch, want := range map[string]string{"a": "root,a", "b": "root,b"} {
		if len(got[branch]) != 10 {
			t.Fatalf("branch %s: %d frames", branch, len(got[branch]))
		}
		for i, f := range got[branch] {
			if f.Meta == nil || strings.Join(f.Meta.Trail, ",") != want {
				t.Fatalf("branch %s frame %d: %+v, want trail %s", branch, i, f.Meta, want)
			}
		}
	}
}

// Metadata survives elements that copy or convert buffers (videoconvert, videoscale, queue).
func TestMetaSurvivesConvertersAndScalers(t *testing.T) {
	gsttest.Init(t)
	frames := gsttest.Collect(t,
		"videotestsrc num-buffers=5 ! video/x-raw,format=I420,width=64,height=48 ! ebrcs_passthrough label=before ! "+
			"videoconvert ! video/x-raw,format=RGBA ! videoscale ! video/x-raw,width=32,height=24 ! queue ! "+
			"appsink name=out sync=false", 10*time.Second)
	for i, f := range frames {
		if f.Meta == nil || strings.Join(f.Meta.Trail, ",") != "before" || f.Meta.Width != 64 {
			t.Fatalf("frame %d: %+v", i, f.Meta)
		}
	}
}

// Every Frame is released with its buffer: none are left once the pipeline is gone.
func TestFramesAreReleasedWithTheirBuffers(t *testing.T) {
	gsttest.Init(t)
	before := framemeta.Live()
	if err := gsttest.RunToEOS("videotestsrc num-buffers=200 ! video/x-raw,width=32,height=24 ! ebrcs_passthrough label=x ! "+
		"tee name=t t. ! queue ! fakesink t. ! queue ! ebrcs_passthrough label=y ! fakesink", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for framemeta.Live() != before && time.Now().Before(deadline) {
		runtime.GC() // Go wrappers of the last buffers hold references until finalised
		time.Sleep(10 * time.Millisecond)
	}
	if n := framemeta.Live() - before; n != 0 {
		t.Fatalf("%d frames still attached after the pipeline ended", n)
	}
}
