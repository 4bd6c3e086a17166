package pipelines

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/ebrcs/ebrcs/internal/gsignal"
	"github.com/ebrcs/ebrcs/pipelines/gstprops"
)

// FieldKind is the type of an endpoint parameter.
type FieldKind int

// Parameter types.
const (
	FieldString FieldKind = iota
	FieldInt
	FieldBool
	FieldDuration // a Go duration string: 500ms, 5s, 1m
)

func (k FieldKind) String() string {
	return [...]string{"string", "integer", "bool", "duration"}[k]
}

// Field declares one parameter of a source or sink type.
type Field struct {
	Name     string
	Kind     FieldKind
	Doc      string
	Default  any // nil: unset unless the file sets it
	Required bool
	Min, Max int // inclusive range for FieldInt, when Max > Min
	// Check validates a value beyond its kind (nil: no extra check).
	Check func(v any) error
}

// EndpointType is a kind of source or sink: what a file may say about it and how to build it.
// Sources produce raw video on a pad named "src"; sinks take it on a pad named "sink".
type EndpointType struct {
	Name   string
	Doc    string
	Fields []Field
	// Endless (sources only) reports whether the source never ends by itself.
	Endless func(p Params) bool
	// Silence (sources only), when set, is how long the pipeline may go without a frame
	// before that counts as a failure (a stalled camera); 0: never.
	Silence func(p Params) time.Duration
	// Build creates the element (often a bin) for these parameters.
	Build func(ctx *BuildContext, p Params) (*gst.Element, error)
}

// The endpoint registry: every source and sink type a pipeline file can name. Later source
// kinds (WebRTC, RTSP) are added here and nowhere else.
var (
	sourceTypes = map[string]*EndpointType{
		testSource.Name:   testSource,
		fileSource.Name:   fileSource,
		webrtcSource.Name: webrtcSource,
		rtspSource.Name:   rtspSource,
	}
	sinkTypes = map[string]*EndpointType{
		fakeSink.Name:   fakeSink,
		webrtcSink.Name: webrtcSink,
		whepSink.Name:   whepSink,
	}
)

// SourceTypes and SinkTypes list the registered endpoint types, for docs and suggestions.
func SourceTypes() map[string]*EndpointType { return sourceTypes }
func SinkTypes() map[string]*EndpointType   { return sinkTypes }

// checkProperty validates a parameter that is passed on to an element property, with that
// property's own spec.
func checkProperty(factory, prop string) func(v any) error {
	return func(v any) error { return gstprops.Check(factory, prop, fmt.Sprint(v)) }
}

var testSource = &EndpointType{
	Name: "test",
	Doc:  "A generated test pattern (videotestsrc): for trying pipelines and for tests.",
	Fields: []Field{
		{Name: "pattern", Kind: FieldString, Default: "smpte", Doc: "videotestsrc pattern: smpte, ball, snow, black, ...", Check: checkProperty("videotestsrc", "pattern")},
		{Name: "width", Kind: FieldInt, Default: 640, Min: 16, Max: 7680, Doc: "frame width in pixels"},
		{Name: "height", Kind: FieldInt, Default: 480, Min: 16, Max: 4320, Doc: "frame height in pixels"},
		{Name: "framerate", Kind: FieldInt, Default: 30, Min: 1, Max: 240, Doc: "frames per second"},
		{Name: "format", Kind: FieldString, Doc: "raw video format (I420, RGBA, ...); unset lets the elements choose", Check: checkVideoFormat},
		{Name: "num_buffers", Kind: FieldInt, Default: 0, Min: 0, Max: 1 << 30, Doc: "frames to produce before ending; 0 runs forever"},
		{Name: "live", Kind: FieldBool, Default: true, Doc: "produce frames at the frame rate, like a camera, instead of as fast as possible"},
	},
	Endless: func(p Params) bool { return p.Int("num_buffers") == 0 },
	Build: func(ctx *BuildContext, p Params) (*gst.Element, error) {
		src, err := gst.NewElementWithProperties("videotestsrc", map[string]interface{}{
			"is-live": p.Bool("live"),
		})
		if err != nil {
			return nil, err
		}
		if err := gstprops.Set(src, "pattern", p.String("pattern")); err != nil {
			return nil, err
		}
		if n := p.Int("num_buffers"); n > 0 {
			src.SetProperty("num-buffers", n)
		}
		caps := fmt.Sprintf("video/x-raw,width=%d,height=%d,framerate=%d/1", p.Int("width"), p.Int("height"), p.Int("framerate"))
		if f := p.String("format"); f != "" {
			caps += ",format=" + f
		}
		return chainBin("source", []*gst.Element{src, capsFilter(caps)})
	},
}

var fileSource = &EndpointType{
	Name: "file",
	Doc:  "A video file, decoded by whatever decoder GStreamer has for it (MP4/H.264, Y4M, WebM, ...).",
	Fields: []Field{
		{Name: "path", Kind: FieldString, Doc: "the video file; `ebrcs run --input` overrides it"},
		{Name: "realtime", Kind: FieldBool, Default: false, Doc: "play at the file's frame rate instead of as fast as the machine allows"},
		{Name: "loop", Kind: FieldBool, Default: false, Doc: "start over at the end (the pipeline then never finishes)"},
	},
	Endless: func(p Params) bool { return p.Bool("loop") },
	Build: func(ctx *BuildContext, p Params) (*gst.Element, error) {
		path := p.String("path")
		if ctx.Input != "" {
			path = ctx.Input
		}
		if path == "" {
			return nil, fmt.Errorf("file source: no path (set source.path or give --input)")
		}
		if st, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("file source: %w", err)
		} else if st.IsDir() {
			return nil, fmt.Errorf("file source: %s is a directory", path)
		}
		return decodeBin(ctx, path, p.Bool("realtime"))
	},
}

var fakeSink = &EndpointType{
	Name: "fake",
	Doc:  "Discards frames after the last element (analysis-only pipelines, benchmarks).",
	Fields: []Field{
		{Name: "sync", Kind: FieldBool, Doc: "hold frames to their timestamps; unset: yes for live sources and realtime files"},
	},
	Build: func(ctx *BuildContext, p Params) (*gst.Element, error) {
		sync := ctx.Spec.Source.Params.Bool("live") || ctx.Spec.Source.Params.Bool("realtime")
		if p.Has("sync") {
			sync = p.Bool("sync")
		}
		return gst.NewElementWithProperties("fakesink", map[string]interface{}{
			"name": "sink", "sync": sync, "async": false,
		})
	},
}

func checkVideoFormat(v any) error {
	f := fmt.Sprint(v)
	caps := gst.NewCapsFromString("video/x-raw,format=" + f)
	if caps == nil || strings.ContainsAny(f, ",;= ") {
		return fmt.Errorf("%q is not a video format name", f)
	}
	// Only formats GStreamer knows parse to a fixed known format name.
	if !gstprops.IsVideoFormat(f) {
		return fmt.Errorf("unknown video format %q", f)
	}
	return nil
}

func capsFilter(caps string) *gst.Element {
	el, _ := gst.NewElementWithProperties("capsfilter", map[string]interface{}{
		"caps": gst.NewCapsFromString(caps),
	})
	return el
}

// capsName returns the name of caps' first structure ("" for nil or empty caps), and
// capsString caps as text. Both read caps in C after their last Go use, and caps from a query
// are often held by their Go wrapper alone, whose finalizer could then free them mid-read:
// the caps are kept alive until the reading is done.
func capsName(caps *gst.Caps) string {
	if caps == nil || caps.GetSize() == 0 {
		return ""
	}
	defer runtime.KeepAlive(caps)
	return caps.GetStructureAt(0).Name()
}

func capsString(caps *gst.Caps) string {
	defer runtime.KeepAlive(caps)
	return caps.String()
}

// chainBin puts elements in a bin, links them in order and exposes the last one's src pad.
func chainBin(name string, elements []*gst.Element) (*gst.Element, error) {
	bin := gst.NewBin(name)
	if err := bin.AddMany(elements...); err != nil {
		return nil, err
	}
	if err := gst.ElementLinkMany(elements...); err != nil {
		return nil, err
	}
	last := elements[len(elements)-1]
	ghost := gst.NewGhostPad("src", last.GetStaticPad("src"))
	ok := bin.AddPad(ghost.Pad)
	// Until gst_element_add_pad has parented it, the wrapper holds the ghost pad's only
	// reference: its finalizer must not run during the call.
	runtime.KeepAlive(ghost)
	if !ok {
		return nil, fmt.Errorf("%s: cannot expose src pad", name)
	}
	return bin.Element, nil
}

// decodeBin is filesrc ! decodebin, exposing the first raw video stream as "src". Other
// streams (audio) are decoded into a fakesink so that they never block the demuxer. With
// realtime, frames leave the bin at their timestamps, as from a camera: paced here, at the
// source, and not at the sink, so that they do not queue up inside the pipeline.
func decodeBin(ctx *BuildContext, path string, realtime bool) (*gst.Element, error) {
	bin := gst.NewBin("source")
	src, err := gst.NewElementWithProperties("filesrc", map[string]interface{}{"location": path})
	if err != nil {
		return nil, err
	}
	dec, err := gst.NewElement("decodebin")
	if err != nil {
		return nil, err
	}
	if err := bin.AddMany(src, dec); err != nil {
		return nil, err
	}
	if err := src.Link(dec); err != nil {
		return nil, err
	}
	ghost := gst.NewGhostPadNoTarget("src", gst.PadDirectionSource)
	bin.AddPad(ghost.Pad)
	var pace *gst.Element
	if realtime {
		if pace, err = gst.NewElementWithProperties("identity", map[string]interface{}{"sync": true, "silent": true}); err != nil {
			return nil, err
		}
		bin.Add(pace)
		ghost.SetTarget(pace.GetStaticPad("src"))
	}
	var videoLinked bool
	handler, _ := gsignal.ConnectPadAdded(dec, func(pad *gst.Pad) {
		caps := pad.GetCurrentCaps()
		if caps == nil {
			caps = pad.QueryCaps(nil)
		}
		isVideo := strings.HasPrefix(capsName(caps), "video/x-raw")
		if isVideo && !videoLinked {
			videoLinked = true
			if pace != nil {
				pad.Link(pace.GetStaticPad("sink"))
			} else {
				ghost.SetTarget(pad)
			}
			return
		}
		drain, err := gst.NewElementWithProperties("fakesink", map[string]interface{}{"sync": false, "async": false})
		if err != nil {
			return
		}
		bin.Add(drain)
		drain.SyncStateWithParent()
		pad.Link(drain.GetStaticPad("sink"))
	})
	// The handler's closure holds the bin, which holds the decoder, which holds the handler:
	// disconnect it when the pipeline is released to break the cycle.
	ctx.onRelease(func() { gsignal.Disconnect(dec.Object.Object, handler) })
	return bin.Element, nil
}

// parseDuration parses a duration parameter value.
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (write e.g. 500ms, 5s, 1m)", s)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative", s)
	}
	return d, nil
}
