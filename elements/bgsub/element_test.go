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
