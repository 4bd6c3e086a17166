package roigate_test

import (
	"fmt"
	"image"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"

	"github.com/ebrcs/ebrcs/elements/framemeta"
	"github.com/ebrcs/ebrcs/elements/goelement"
	"github.com/ebrcs/ebrcs/elements/roigate"
	"github.com/ebrcs/ebrcs/pipelines"
	"github.com/ebrcs/ebrcs/roi"
	"github.com/ebrcs/ebrcs/testkit/gsttest"
)

// blobSource stands in for ebrcs_bgsub: on its n-th frame it writes the n-th entry of its
// script, entries separated by '/':
//
//   - attach no metadata at all
//     (empty)                Detected, no blobs
//     x0,y0,x1,y1+x0,y0,...  Detected, these blobs (first = main)
//     !x0,y0,x1,y1           not Detected, yet blobs: the gate must ignore them
//
// Frames past the script get no metadata. meta-width/-height, when set, declare the frame
// size the blobs refer to (bgsub ran on a differently sized frame).
var blobSource = &goelement.Definition[*scriptedBlobs]{
	Info: goelement.Info{
		Name: "ebrcs_test_blobs", LongName: "test blobs", Classification: "Filter/Video",
		Description: "writes scripted blobs", Caps: "video/x-raw", Access: goelement.NoPixels,
		Properties: []goelement.Property{
			{Name: "script", Kind: goelement.String, Default: "", Doc: "per-frame blobs"},
			{Name: "meta-width", Kind: goelement.Int, Default: 0, Min: 0, Max: 1 << 16, Doc: "Frame.Width to declare"},
			{Name: "meta-height", Kind: goelement.Int, Default: 0, Min: 0, Max: 1 << 16, Doc: "Frame.Height to declare"},
		},
	},
	New: func(props *goelement.Props) *scriptedBlobs { return &scriptedBlobs{props: props} },
}

type scriptedBlobs struct {
	props *goelement.Props
	n     int
}

func (s *scriptedBlobs) Process(b *goelement.Buffer) error {
	s.n++
	script := strings.Split(s.props.String("script"), "/")
	if s.n > len(script) || script[s.n-1] == "-" {
		return nil
	}
	tok := script[s.n-1]
	m := b.Meta()
	if w := s.props.Int("meta-width"); w > 0 {
		m.Width, m.Height = w, s.props.Int("meta-height")
	}
	m.Detected = !strings.HasPrefix(tok, "!")
	blobs, err := parseBlobs(strings.TrimPrefix(tok, "!"))
	m.Blobs = blobs
	return err
}

func (s *scriptedBlobs) Stop() { s.n = 0 }

func parseBlobs(tok string) ([]framemeta.Blob, error) {
	var blobs []framemeta.Blob
	for _, bs := range strings.Split(tok, "+") {
		if bs == "" {
			continue
		}
		var c [4]int
		parts := strings.Split(bs, ",")
		if len(parts) != 4 {
			return nil, fmt.Errorf("bad blob %q", bs)
		}
		for i, p := range parts {
			v, err := strconv.Atoi(p)
			if err != nil {
				return nil, fmt.Errorf("bad blob %q: %v", bs, err)
			}
			c[i] = v
		}
		blobs = append(blobs, blob(c[0], c[1], c[2], c[3]))
	}
	return blobs, nil
}

var registerOnce sync.Once

// register initialises GStreamer with our elements (ebrcs_roigate among them, through the
// registry) and adds the test-only blob source.
func register(t *testing.T) {
	t.Helper()
	gsttest.Init(t)
	var err error
	registerOnce.Do(func() { err = blobSource.Register(nil) })
	if err != nil {
		t.Fatal(err)
	}
}

// result is what one pipeline run produced.
type result struct {
	gates    []*framemeta.Gate // per frame that reached the appsink; nil: no gate on it
	sizes    []image.Point     // the metadata's frame size per frame
	warnings []string
	stats    map[string]int64 // the gate's statistics at EOS
}

// runGate plays `videotestsrc ! caps ! ebrcs_test_blobs name=blobs ! ebrcs_roigate name=gate
// ! appsink` to EOS. props are set on the named elements before it plays; probe, if set, runs
// on the streaming thread just before the gate processes its n-th frame (from 1), so property
// changes it makes apply exactly from that frame.
func runGate(t *testing.T, frames int, caps string, props map[string]map[string]any, probe func(n int, gate *gst.Element)) result {
	return runGateTimes(t, 1, frames, caps, props, probe)
}

// runGateTimes is runGate playing the same pipeline runs times, stopping it (to READY) after
// each EOS; gates accumulate over the runs, stats are the last run's.
func runGateTimes(t *testing.T, runs, frames int, caps string, props map[string]map[string]any, probe func(n int, gate *gst.Element)) result {
	t.Helper()
	register(t)
	launch := fmt.Sprintf("videotestsrc num-buffers=%d pattern=black ! %s ! ebrcs_test_blobs name=blobs ! "+
		"ebrcs_roigate name=gate ! appsink name=out sync=false", frames, caps)
	pipeline, err := gst.NewPipelineFromString(launch)
	if err != nil {
		t.Fatal(err)
	}
	defer pipeline.SetState(gst.StateNull)
	element := func(name string) *gst.Element {
		el, err := pipeline.GetElementByName(name)
		if err != nil {
			t.Fatal(err)
		}
		return el
	}
	for name, ps := range props {
		for k, v := range ps {
			if err := element(name).SetProperty(k, v); err != nil {
				t.Fatalf("%s.%s = %v: %v", name, k, v, err)
			}
		}
	}
	gate := element("gate")
	if probe != nil {
		n := 0
		gate.GetStaticPad("sink").AddProbe(gst.PadProbeTypeBuffer, func(*gst.Pad, *gst.PadProbeInfo) gst.PadProbeReturn {
			n++
			probe(n, gate)
			return gst.PadProbeOK
		})
	}
	var (
		mu  sync.Mutex
		res = result{stats: map[string]int64{}}
	)
	app.SinkFromElement(element("out")).SetCallbacks(&app.SinkCallbacks{
		NewSampleFunc: func(s *app.Sink) gst.FlowReturn {
			sample := s.PullSample()
			if sample == nil {
				return gst.FlowEOS
			}
			var g *framemeta.Gate
			var size image.Point
			if m := framemeta.Get(sample.GetBuffer()); m != nil {
				m = m.Clone()
				g, size = m.Gate, image.Pt(m.Width, m.Height)
			}
			mu.Lock()
			res.gates = append(res.gates, g)
			res.sizes = append(res.sizes, size)
			mu.Unlock()
			return gst.FlowOK
		},
	})
	for r := 0; r < runs; r++ {
		playToEOS(t, pipeline, &res)
		for _, name := range []string{roigate.PropFrames, roigate.PropEntries, roigate.PropRecognitions} {
			v, err := gate.GetProperty(name)
			if err != nil {
				t.Fatal(err)
			}
			res.stats[name] = v.(int64)
		}
		// Stopping the element resets its statistics (and its frame numbering) for the next run.
		if err := pipeline.SetState(gst.StateReady); err != nil {
			t.Fatal(err)
		}
		if v, _ := gate.GetProperty(roigate.PropFrames); v.(int64) != 0 {
			t.Errorf("frames after stop = %v, want 0", v)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	return res
}

func playToEOS(t *testing.T, pipeline *gst.Pipeline, res *result) {
	t.Helper()
	if err := pipeline.SetState(gst.StatePlaying); err != nil {
		t.Fatal(err)
	}
	bus := pipeline.GetPipelineBus()
	for deadline := time.Now().Add(20 * time.Second); ; {
		if time.Now().After(deadline) {
			t.Fatal("no EOS within 20s")
		}
		msg := bus.TimedPopFiltered(gst.ClockTime(50*time.Millisecond), gst.MessageEOS|gst.MessageError|gst.MessageWarning)
		if msg == nil {
			continue
		}
		if msg.Type() == gst.MessageError {
			t.Fatalf("pipeline error from %s: %v", msg.Source(), msg.ParseError())
		}
		if msg.Type() == gst.MessageWarning {
			res.warnings = append(res.warnings, msg.Source()+": "+msg.ParseWarning().Error())
			continue
		}
		return // EOS
	}
}

// Boxes of the 960×540 timeline, with their padded main boxes (pad 10). The ROI square spans
// x 240..720, y 135..405.
var timelineBoxes = map[string]image.Rectangle{
	"40,220,140,320":  image.Rect(30, 210, 150, 330),  // centre x 90: left of the square
	"120,220,220,320": image.Rect(110, 210, 230, 330), // centre x 170: still left
	"200,220,300,320": image.Rect(190, 210, 310, 330), // centre x 250: just inside
	"280,220,380,320": image.Rect(270, 210, 390, 330),
	"430,220,530,320": image.Rect(420, 210, 540, 330), // the frame's centre
	"800,220,900,320": image.Rect(790, 210, 910, 330), // centre x 850: right of the square
	"480,220,480,320": {},                             // zero width: 20 px padded, too small
}

// expectedMain is the padded box of a script entry's first blob.
func expectedMain(t *testing.T, tok string) image.Rectangle {
	first, _, _ := strings.Cut(strings.TrimPrefix(tok, "!"), "+")
	if first == "" || first == "-" || strings.HasPrefix(tok, "!") {
		return image.Rectangle{}
	}
	r, ok := timelineBoxes[first]
	if !ok {
		t.Fatalf("no expected main box for %q", first)
	}
	return r
}

func ptr(s string) *string { return &s }

// An object moves into the ROI, stays, flickers out of the mask, leaves and comes back before
// and after roi-clear-frames; then the ROI is changed while playing (from a pad probe, so the
// frame it applies to is known exactly), an invalid ROI is refused with a warning, and the ROI
// is removed. The gate on every frame is checked against the timeline.
func TestPipelineTimeline(t *testing.T) {
	const (
		sq    = "0.25,0.25;0.75,0.25;0.75,0.75;0.25,0.75"
		right = "0.6,0;1,0;1,1;0.6,1"
		bad   = "0.1,0.1;0.2,0.2"
		out1  = "40,220,140,320"
		out2  = "120,220,220,320"
		enter = "200,220,300,320"
		in1   = "280,220,380,320"
		in    = "430,220,530,320"
		far   = "800,220,900,320"
		small = "480,220,480,320"
	)
	timeline := []struct {
		set    *string // set the roi property just before this frame
		script string
		status framemeta.ROIStatus
		flags  string
		roi    string // the polygon in force
	}{
		{nil, "-", empty, "", sq}, // 1: no metadata from upstream at all
		{nil, "", empty, "", sq},  // 2: detected, nothing moved
		{nil, out1, outside, "", sq},
		{nil, out2, outside, "", sq},
		{nil, out2 + "+" + in, outside, "", sq}, // 5: the main blob is outside; N-th frame, nothing to do
		{nil, enter, entered, "OER", sq},        // 6: entry, recognised at once
		{nil, in1, inside, "O", sq},
		{nil, in, inside, "O", sq},
		{nil, in, inside, "O", sq},
		{nil, in, inside, "OR", sq},                // 10: N-th frame
		{nil, "!" + in, empty, "O", sq},            // 11: not Detected: its blobs do not count
		{nil, "", empty, "O", sq},                  // 12
		{nil, "-", empty, "O", sq},                 // 13
		{nil, out1, outside, "O", sq},              // 14: 4th empty frame
		{nil, in, inside, "OR", sq},                // 15: back before roi-clear-frames: no new entry
		{nil, "", empty, "O", sq},                  // 16
		{nil, "", empty, "O", sq},                  // 17
		{nil, "", empty, "O", sq},                  // 18
		{nil, "", empty, "O", sq},                  // 19
		{nil, "", empty, "O", sq},                  // 20
		{nil, "", empty, "O", sq},                  // 21
		{nil, "", empty, "O", sq},                  // 22: 7th empty frame
		{nil, "", empty, "", sq},                   // 23: 8th: the ROI is free
		{nil, small, empty, "", sq},                // 24: too small to be a candidate
		{nil, in + "+" + out1, entered, "OER", sq}, // 25: a new entry
		{nil, in, inside, "O", sq},
		{ptr(right), in, outside, "", right}, // 27: a new ROI, free, and the object is not in it
		{nil, far, entered, "OER", right},    // 28
		{ptr(bad), far, inside, "O", right},  // 29: refused, the previous ROI stays
		{nil, far, inside, "OR", right},      // 30
		{ptr(""), far, inside, "", ""},       // 31: no ROI
		{nil, out1, inside, "", ""},          // 32: nothing to be outside of
		{nil, "", empty, "", ""},             // 33
		{nil, small, empty, "", ""},          // 34
		{nil, in, inside, "R", ""},           // 35: N-th frame
	}
	script := make([]string, len(timeline))
	for i, f := range timeline {
		script[i] = f.script
	}
	var roiAfterBad any
	res := runGate(t, len(timeline), "video/x-raw,format=GRAY8,width=960,height=540,framerate=30/1",
		map[string]map[string]any{"blobs": {"script": strings.Join(script, "/")}, "gate": {"roi": sq}},
		func(n int, gate *gst.Element) {
			if n > len(timeline) || timeline[n-1].set == nil {
				return
			}
			if err := gate.SetProperty("roi", *timeline[n-1].set); err != nil {
				t.Errorf("frame %d: set roi: %v", n, err)
			}
			if *timeline[n-1].set == bad {
				roiAfterBad, _ = gate.GetProperty("roi")
			}
		})

	if len(res.gates) != len(timeline) {
		t.Fatalf("%d frames reached the sink, want %d", len(res.gates), len(timeline))
	}
	for i, f := range timeline {
		g := res.gates[i]
		if g == nil {
			t.Errorf("frame %d: no gate", i+1)
			continue
		}
		got := want{g.Status, flags(*g)}
		if got != (want{f.status, f.flags}) {
			t.Errorf("frame %d (%q): got %v, want %v", i+1, f.script, got, want{f.status, f.flags})
		}
		if g.FrameNumber != int64(i+1) {
			t.Errorf("frame %d: FrameNumber %d", i+1, g.FrameNumber)
		}
		if wantMain := expectedMain(t, f.script); g.Main != wantMain || g.HasMain != (wantMain != image.Rectangle{}) {
			t.Errorf("frame %d (%q): Main %v HasMain %v, want %v", i+1, f.script, g.Main, g.HasMain, wantMain)
		}
		if (g.Recognize && g.Crop != g.Main) || (!g.Recognize && g.Crop != image.Rectangle{}) {
			t.Errorf("frame %d: Crop %v with Recognize %v, Main %v", i+1, g.Crop, g.Recognize, g.Main)
		}
		if roi := roi.Format(g.ROI); roi != f.roi || (f.roi == "") != (g.ROI == nil) {
			t.Errorf("frame %d: ROI %q, want %q", i+1, roi, f.roi)
		}
		if res.sizes[i] != image.Pt(960, 540) {
			t.Errorf("frame %d: metadata size %v, want the video's 960x540", i+1, res.sizes[i])
		}
	}
	if roiAfterBad != right {
		t.Errorf("roi property after an invalid value = %q, want the previous %q", roiAfterBad, right)
	}
	if len(res.warnings) != 1 || !strings.Contains(res.warnings[0], `property "roi"`) ||
		!strings.Contains(res.warnings[0], "at least 3 points") || !strings.Contains(res.warnings[0], "keeping the previous value") {
		t.Errorf("warnings %q, want one refusing the invalid roi", res.warnings)
	}
	wantStats := map[string]int64{roigate.PropFrames: 35, roigate.PropEntries: 3, roigate.PropRecognitions: 7}
	for k, v := range wantStats {
		if res.stats[k] != v {
			t.Errorf("%s = %d, want %d", k, res.stats[k], v)
		}
	}
}

// The tunables reach the machine as properties, and the frame size is the metadata's when
// upstream set it, else the video's.
func TestPipelineProperties(t *testing.T) {
	const sq = "0.25,0.25;0.75,0.25;0.75,0.75;0.25,0.75"
	type frameWant struct {
		script string
		status framemeta.ROIStatus
		flags  string
		main   image.Rectangle
	}
	tests := []struct {
		name     string
		caps     string
		blobs    map[string]any
		gate     map[string]any
		frames   []frameWant
		wantSize image.Point
	}{
		{"480 px wide: pad 5 and min-size 10",
			"video/x-raw,format=GRAY8,width=480,height=270", nil,
			map[string]any{roigate.PropEveryN: 1},
			[]frameWant{
				{"100,100,150,150", inside, "R", image.Rect(95, 95, 155, 155)},
				{"100,100,100,150", empty, "", image.Rectangle{}}, // 10 px padded
				{"100,100,101,150", inside, "R", image.Rect(95, 95, 106, 155)},
			}, image.Pt(480, 270)},
		{"blobs in the metadata's 960x540 on a 320x180 video",
			"video/x-raw,format=GRAY8,width=320,height=180", map[string]any{"meta-width": 960, "meta-height": 540},
			map[string]any{roigate.PropROI: sq},
			[]frameWant{
				{"430,220,530,320", entered, "OER", image.Rect(420, 210, 540, 330)},
				{"800,220,900,320", outside, "O", image.Rect(790, 210, 910, 330)},
			}, image.Pt(960, 540)},
		{"entry-mode off, N = 2, roi-clear-frames = 1, pad 0, min-size 40",
			"video/x-raw,format=GRAY8,width=960,height=540", nil,
			map[string]any{roigate.PropROI: sq, roigate.PropEntryMode: false, roigate.PropEveryN: 2,
				roigate.PropClearFrames: 1, roigate.PropPad: 0, roigate.PropMinSize: 40},
			[]frameWant{
				{"430,220,530,320", entered, "OE", image.Rect(430, 220, 530, 320)},
				{"430,220,530,320", inside, "OR", image.Rect(430, 220, 530, 320)},
				{"", empty, "", image.Rectangle{}},                // one empty frame frees the ROI
				{"430,220,470,320", empty, "", image.Rectangle{}}, // 40 wide: not more than min-size
				{"430,220,471,320", entered, "OE", image.Rect(430, 220, 471, 320)},
			}, image.Pt(960, 540)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			script := make([]string, len(tc.frames))
			for i, f := range tc.frames {
				script[i] = f.script
			}
			blobs := map[string]any{"script": strings.Join(script, "/")}
			for k, v := range tc.blobs {
				blobs[k] = v
			}
			res := runGate(t, len(tc.frames), tc.caps, map[string]map[string]any{"blobs": blobs, "gate": tc.gate}, nil)
			if len(res.gates) != len(tc.frames) {
				t.Fatalf("%d frames, want %d", len(res.gates), len(tc.frames))
			}
			for i, f := range tc.frames {
				g := res.gates[i]
				if g == nil {
					t.Fatalf("frame %d: no gate", i+1)
				}
				if got := (want{g.Status, flags(*g)}); got != (want{f.status, f.flags}) || g.Main != f.main {
					t.Errorf("frame %d: got %v main %v, want %v main %v", i+1, got, g.Main, want{f.status, f.flags}, f.main)
				}
				if res.sizes[i] != tc.wantSize {
					t.Errorf("frame %d: metadata size %v, want %v", i+1, res.sizes[i], tc.wantSize)
				}
			}
		})
	}
}

// A stopped and restarted element starts the stream over: frame numbers from 1, the ROI free
// (the same object is a new entry), statistics from 0; its properties, the ROI included, stay.
func TestPipelineRestartResets(t *testing.T) {
	const in = "430,220,530,320"
	res := runGateTimes(t, 2, 3, "video/x-raw,format=GRAY8,width=960,height=540",
		map[string]map[string]any{"blobs": {"script": in + "/" + in + "/" + in},
			"gate": {roigate.PropROI: "0.25,0.25;0.75,0.25;0.75,0.75;0.25,0.75"}}, nil)
	wantRun := []want{{entered, "OER"}, {inside, "O"}, {inside, "O"}}
	if len(res.gates) != 2*len(wantRun) {
		t.Fatalf("%d frames, want %d", len(res.gates), 2*len(wantRun))
	}
	for i, g := range res.gates {
		w, n := wantRun[i%len(wantRun)], int64(i%len(wantRun)+1)
		if g == nil || (want{g.Status, flags(*g)}) != w || g.FrameNumber != n {
			t.Errorf("frame %d: gate %+v, want %v numbered %d", i+1, g, w, n)
		}
	}
	if res.stats[roigate.PropFrames] != 3 || res.stats[roigate.PropEntries] != 1 || res.stats[roigate.PropRecognitions] != 1 {
		t.Errorf("second run's stats %v, want 3 frames, 1 entry, 1 recognition", res.stats)
	}
}

// The YAML validator refuses an invalid roi at its line and column, with the parser's reason,
// and accepts a valid one.
func TestYAMLValidation(t *testing.T) {
	register(t)
	const head = "source: {type: test}\nelements:\n  - element: ebrcs_roigate\n    properties:\n"
	tests := []struct {
		props string
		want  string // "" : valid; else "line:col: substring"
	}{
		{`      roi: "0.1,0.1;0.9,0.1;0.9,0.9;0.1,0.9"` + "\n", ""},
		{`      roi: ""` + "\n", ""},
		{`      roi: "0.1,0.1;0.9,0.9"` + "\n", `5:12: property "roi" of ebrcs_roigate: invalid ROI polygon: a polygon needs at least 3 points, got 2`},
		{`      roi: "0.1,0.1;0.9,0.1;0.9,1.5"` + "\n", `5:12: invalid ROI polygon: point 3 "0.9,1.5": y 1.5 is outside [0, 1]`},
		{"      entry-mode: false\n      roi: 0.1,0.1;x,0.1;0.9,0.9\n", `6:12: point 2 "x,0.1": x "x" is not a number`},
		{"      detect_every_n_frames: 0\n", `5:30: 0 is out of range [1, 1000]`},
		{"      frames: 3\n", `5:7: property "frames" of ebrcs_roigate is read-only`},
	}
	for _, tc := range tests {
		yaml := head + tc.props + "sink: {type: fake}\n"
		_, err := pipelines.Load("p.yaml", []byte(yaml))
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.props, err)
			}
			continue
		}
		loc, msg, _ := strings.Cut(tc.want, ": ")
		errs := pipelines.Errors(err)
		if len(errs) != 1 || !strings.HasPrefix(errs[0].Error(), "p.yaml:"+loc+": ") || !strings.Contains(errs[0].Error(), msg) {
			t.Errorf("%s: got %v, want one error at %s containing %q", tc.props, err, loc, msg)
		}
	}
}
