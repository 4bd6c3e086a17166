package bgsub_test

import (
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/elements/framemeta"
	"github.com/ebrcs/ebrcs/testkit/gsttest"
)

// The element on a real pipeline at 640×480, modelling at process-width 160: the blob comes
// back in full-frame pixels, and min-area (pixels at 960 px wide) decides which blobs count.
func TestElementScalesToTheFrame(t *testing.T) {
	gsttest.Init(t)
	const w, h, n = 640, 480, 70
	path := filepath.Join(t.TempDir(), "clip.rgb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, w*h*3)
	obj := image.Rect(320, 160, 480, 320) // 160×160 at full size
	for i := 0; i < n; i++ {
		for p := 0; p < w*h; p++ {
			x, y := p%w, p/w
			v := byte(100 + 50*math.Sin(float64(x)/9) + 30*math.Cos(float64(y)/7))
			if i >= 60 && image.Pt(x, y).In(obj) { // after the model has learnt the counter
				v = 250
			}
			frame[p*3], frame[p*3+1], frame[p*3+2] = v, v/2, 255-v
		}
		f.Write(frame)
	}
	f.Close()
	run := func(minArea float64) []framemeta.Blob {
		frames := gsttest.Collect(t, fmt.Sprintf("filesrc location=%s ! rawvideoparse width=%d height=%d format=rgb framerate=30/1 ! "+
			"videoconvert ! video/x-raw,format=BGRx ! ebrcs_bgsub process-width=160 min-area=%g ! appsink name=out sync=false", path, w, h, minArea),
			30*time.Second)
		last := frames[len(frames)-1].Meta
		return last.Blobs
	}
	blobs := run(2500)
	if len(blobs) != 1 {
		t.Fatalf("blobs %+v, want the object", blobs)
	}
	// At 160 px the object is 40×40, grown by the clean-up's 2 px (8 px at full size).
	if d := blobs[0].Box.Sub(obj.Min); d.Min.X < -12 || d.Min.X > 0 || blobs[0].Box.Max.X < obj.Max.X || blobs[0].Box.Max.X > obj.Max.X+12 {
		t.Fatalf("blob box %v, want about %v in full-frame pixels", blobs[0].Box, obj)
	}
	if blobs[0].Area < 160*160 || blobs[0].Area > 180*180 {
		t.Fatalf("blob area %.0f, want about %d full-frame pixels", blobs[0].Area, 160*160)
	}
	// The object is ~28000 px at 640 wide, i.e. ~63000 at 960: a larger min-area drops it.
	if blobs := run(70000); len(blobs) != 0 {
		t.Fatalf("min-area 70000 (at 960 px) kept %+v", blobs)
	}
	if blobs := run(50000); len(blobs) != 1 {
		t.Fatalf("min-area 50000 (at 960 px) dropped the object")
	}
}

// A sudden global change (the lights go up by half, as a broken picture or a moved camera
// would change everything) is not an object "inside" for the seconds it would take the model
// to absorb it: the model starts anew and reports nothing within relearn-frames + its
// warm-up, then finds real objects again. With relearn-fraction 0 the whole frame stays an
// object.
func TestRelearnsAfterAGlobalChange(t *testing.T) {
	gsttest.Init(t)
	const w, h, n, change, object = 320, 240, 150, 40, 110
	path := filepath.Join(t.TempDir(), "clip.rgb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, w*h*3)
	obj := image.Rect(100, 60, 200, 160)
	for i := 0; i < n; i++ {
		for p := 0; p < w*h; p++ {
			x, y := p%w, p/w
			v := 90 + 40*math.Sin(float64(x)/9) + 20*math.Cos(float64(y)/7)
			if i >= change {
				v *= 1.6
			}
			if i >= object && image.Pt(x, y).In(obj) {
				v = 20
			}
			b := byte(min(v, 255))
			frame[p*3], frame[p*3+1], frame[p*3+2] = b, b/2, 255-b
		}
		f.Write(frame)
	}
	f.Close()
	run := func(props string) []gsttest.Frame {
		return gsttest.Collect(t, fmt.Sprintf("filesrc location=%s ! rawvideoparse width=%d height=%d format=rgb framerate=15/1 ! "+
			"videoconvert ! video/x-raw,format=I420 ! ebrcs_bgsub foreground-slowdown=10 %s ! appsink name=out sync=false", path, w, h, props),
			30*time.Second)
	}
	frames := run("")
	if len(frames) != n {
		t.Fatalf("%d frames", len(frames))
	}
	last := -1
	for i := change; i < object; i++ {
		if len(frames[i].Meta.Blobs) > 0 {
			last = i
		}
	}
	t.Logf("the global change is reported as foreground until frame %d (%d frames after it)", last, last-change)
	if last-change > 5+10+2 {
		t.Errorf("foreground for %d frames after the global change, want at most relearn-frames + warm-up", last-change)
	}
	if got := frames[n-1].Meta.Blobs; len(got) != 1 || got[0].Box.Dx() > 2*obj.Dx() {
		t.Errorf("the object after the change: blobs %+v", got)
	}
	stuck := run("relearn-fraction=0")
	if len(stuck[object-1].Meta.Blobs) == 0 {
		t.Errorf("without relearning the change should still be foreground %d frames later", object-1-change)
	}
}
