package pipelines

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"

	"github.com/ebrcs/ebrcs/elements/framemeta"
	"github.com/ebrcs/ebrcs/internal/gsignal"
	"github.com/ebrcs/ebrcs/internal/metrics"
	"github.com/ebrcs/ebrcs/pipelines/gstprops"
)

// MediaLink connects a pipeline's webrtc source and sink to a WebRTC peer (package
// signaling). A pipeline file says what happens between them; the peer decides the codecs.
type MediaLink interface {
	// InputCodec and OutputCodec are the negotiated video codecs: "VP8" or "H264".
	InputCodec() string
	OutputCodec() string
	// AttachSource hands over the appsrc that the peer's whole encoded frames are pushed
	// into (each stamped with the running time its first packet arrived), and AttachSink the
	// appsink the encoded annotated frames come out of (with the encoder, to ask it for
	// keyframes, and the one-frame queue before it, whose overruns are dropped frames; nil
	// when the encoder runs on the analysis thread and nothing is dropped there). Both are
	// called on every (re)build of the pipeline.
	AttachSource(src *app.Source)
	AttachSink(sink *app.Sink, encoder, frameQueue *gst.Element)
	// AttachScaler hands over the switch between the camera's size and the compact one of a
	// webrtc sink whose size is compact or auto (see ReturnScaler; the link may switch it when
	// it is Auto), on every (re)build.
	AttachScaler(s *ReturnScaler)
	// AttachThinner hands over the switch between the full frame rate and half of it of a
	// webrtc sink whose rate is half or auto (see ReturnThinner; the link may switch it when
	// it is Auto), on every (re)build.
	AttachThinner(t *ReturnThinner)
	// FrameThinned is called for every annotated frame not sent back because the video goes
	// back at half rate.
	FrameThinned()
	// FrameSkipped is called for every decoded frame the analysis did not take (too late, or
	// a newer frame came first), and, at half rate, for every analysed frame too late to be
	// sent back.
	FrameSkipped()
	// DecoderTakes is called for every encoded frame the decoder is about to take (on its
	// streaming thread): its timestamp (the running time its first packet arrived), how long
	// ago that was (negative: not known), and whether it is a keyframe; false: it is not
	// decoded (the decoder is catching up with the camera at a newer keyframe).
	DecoderTakes(pts, behind time.Duration, key bool) bool
	// Annotate is called with the analysis results of every analysed frame that reaches the
	// webrtc sink, thinned ones included (on the streaming thread; f is valid during the call
	// only), so that they can also be sent as data.
	Annotate(f *framemeta.Frame, pts time.Duration)
}

// rtpMTU bounds one RTP packet's size, for the source queue's limit in bytes.
const rtpMTU = 1500

// Codecs the webrtc endpoints can decode and encode.
const (
	CodecVP8  = "VP8"
	CodecH264 = "H264"
)

var webrtcSource = &EndpointType{
	Name: "webrtc",
	Doc: "Video from a WebRTC peer (a browser or any WHIP client, POST /whip/{pipeline}): whole frames, put together from the RTP packets as they arrive (retransmissions asked for, a lost frame skipped to the next keyframe), decoded (VP8 or H.264); " +
		"a frame the analysis cannot take in time is skipped (latest frame wins).",
	Fields: []Field{
		{Name: "jitter_latency", Kind: FieldDuration, Default: 50 * time.Millisecond,
			Doc: "how long a frame waits for its missing packets (retransmissions) before it is given up, and every frame until the next keyframe with it"},
		{Name: "max_queue", Kind: FieldInt, Default: 256, Min: 8, Max: 100000,
			Doc: "encoded video waiting for the decoder, in packets (an MTU each); beyond, frames are dropped until the next keyframe (counted)"},
		{Name: "max_frames", Kind: FieldInt, Default: 2, Min: 1, Max: 100,
			Doc: "decoded frames waiting for the analysis before the oldest is dropped (counted); 2 lets a frame held up briefly not cost the one behind it (max_delay still drops what is late)"},
		{Name: "max_delay", Kind: FieldDuration, Default: 150 * time.Millisecond,
			Doc: "a decoded frame that reaches the analysis this long after its first packet arrived is dropped (counted), never analysed and returned late (two thirds of it while a webrtc sink sends every other frame back, past the server's capacity); 0: none"},
		{Name: "max_gap", Kind: FieldDuration, Default: 200 * time.Millisecond,
			Doc: "the longest max_delay keeps the analysis without a frame: once this long has passed since the last frame went in, a late one goes in all the same (counted), so that on a saturated machine a session never goes blind for seconds and the ROI gate sees each product come and go; 0: no limit"},
	},
	Endless: func(Params) bool { return true },
	Build: func(ctx *BuildContext, p Params) (*gst.Element, error) {
		if ctx.Media == nil {
			return nil, fmt.Errorf("a webrtc source runs per WebRTC session: publish to it with WHIP (POST /whip/%s)", ctx.Spec.Name)
		}
		codec := ctx.Media.InputCodec()
		var caps string
		var decoder []*gst.Element
		switch codec {
		case CodecVP8:
			caps = "video/x-vp8"
			// One thread: libvpx's threads would spin on the cores other sessions need. A
			// frame libvpx marks corrupted is never passed on.
			dec, err := gst.NewElementWithProperties("vp8dec", map[string]interface{}{"threads": uint(1), "discard-corrupted-frames": true})
			if err != nil {
				return nil, fmt.Errorf("webrtc source: vp8dec: %v", err)
			}
			decoder = []*gst.Element{dec}
		case CodecH264:
			caps = "video/x-h264,stream-format=byte-stream,alignment=au"
			parse, err := gst.NewElement("h264parse")
			if err != nil {
				return nil, fmt.Errorf("webrtc source: h264parse: %v", err)
			}
			// One thread: frame threads would hold back a frame each; never output a
			// frame the decoder knows is corrupted.
			dec, err := gst.NewElementWithProperties("avdec_h264", map[string]interface{}{"max-threads": 1, "output-corrupt": false,
				"discard-corrupted-frames": true})
			if err != nil {
				return nil, fmt.Errorf("webrtc source: avdec_h264: %v", err)
			}
			decoder = []*gst.Element{parse, dec}
		default:
			return nil, fmt.Errorf("webrtc source: codec %q is not supported (VP8, H264)", codec)
		}
		src, err := gst.NewElementWithProperties("appsrc", map[string]interface{}{
			"is-live": true, "do-timestamp": false, "format": int(gst.FormatTime),
			// Bounded in bytes: the bridge checks the level with a direct call before every
			// frame, and drops frames until the next keyframe when it is full.
			"max-buffers": uint64(0), "max-bytes": uint64(p.Int("max_queue") * rtpMTU), "max-time": uint64(0),
		})
		if err != nil {
			return nil, err
		}
		srcCaps := gst.NewCapsFromString(caps)
		app.SrcFromElement(src).SetCaps(srcCaps)
		runtime.KeepAlive(srcCaps) // ours alone until gst_app_src_set_caps has taken its own reference
		chain := append([]*gst.Element{src}, decoder...)
		// Latest frame wins: when the analysis falls behind the camera, the older of the
		// waiting frames is dropped (and counted) instead of delaying everything after it.
		frames, err := gst.NewElementWithProperties("queue", map[string]interface{}{
			"max-size-buffers": uint(p.Int("max_frames")), "max-size-bytes": uint(0), "max-size-time": uint64(0),
		})
		if err != nil {
			return nil, err
		}
		if err := gstSetString(frames, "leaky", "downstream"); err != nil {
			return nil, err
		}
		chain = append(chain, frames)
		ctx.countDrops(frames)
		media := ctx.Media
		handler, err := gsignal.Connect(frames.Object.Object, "overrun", media.FrameSkipped)
		if err != nil {
			return nil, err
		}
		ctx.onRelease(func() { gsignal.Disconnect(frames.Object.Object, handler) })
		if d := p.Duration("max_delay"); d > 0 {
			dropLate(ctx, frames, d, p.Duration("max_gap"), ctx.returnHalf(), media.FrameSkipped)
		}
		bin, err := chainBin("source", chain)
		if err != nil {
			return nil, err
		}
		ctx.onRelease(WatchDecoder(src, media))
		media.AttachSource(app.SrcFromElement(src))
		return bin, nil
	},
}

// WatchDecoder asks media about every encoded frame that src's decoder is about to take, and
// drops those it says to skip (MediaLink.DecoderTakes). The probe holds media, and media src:
// call remove when the pipeline is released.
func WatchDecoder(src *gst.Element, media MediaLink) (remove func()) {
	pad := src.GetStaticPad("src")
	running := runningClock{element: src}
	id := pad.AddProbe(gst.PadProbeTypeBuffer, func(_ *gst.Pad, info *gst.PadProbeInfo) gst.PadProbeReturn {
		buf := info.GetBuffer()
		pts := buf.PresentationTimestamp()
		if pts == gst.ClockTimeNone {
			return gst.PadProbeOK
		}
		behind := time.Duration(-1)
		if now, ok := running.now(); ok {
			behind = now - time.Duration(pts)
		}
		if !media.DecoderTakes(time.Duration(pts), behind, !buf.HasFlags(gst.BufferFlagDeltaUnit)) {
			return gst.PadProbeDrop
		}
		return gst.PadProbeOK
	})
	return func() { pad.RemoveProbe(id) }
}

// dropLate drops, as the analysis takes them from queue, the frames that arrived more than
// maxDelay ago (their timestamp is the running time their first packet arrived): a frame
// decoded after a backlog (a pipeline that started late, a decoder catching up, a busy
// machine) would be analysed and returned late. Each drop is counted.
//
// But not for longer than maxGap (0: no limit) once a frame has gone in: then a late frame
// goes in all the same (counted as such). On a saturated machine a session's decoder can
// stay 150–300 ms behind for seconds; every frame it decoded was then dropped, and the
// session went blind: the ROI gate saw neither a product leave nor the next one come (two
// products one visit, one never counted), or a product swiped through missed altogether.
// The start-up backlog is still dropped whole: nothing has gone in before it.
//
// While the video goes back at half rate (half on) frames are given up sooner: see
// analysisDelay.
func dropLate(ctx *BuildContext, queue *gst.Element, maxDelay, maxGap time.Duration, half *atomic.Bool, skipped func()) {
	pad := queue.GetStaticPad("src")
	name := metrics.PipelineNames.Value(ctx.Spec.Name)
	dropped := metrics.PipelineDropped.WithLabelValues(name)
	lateIn := metrics.PipelineLateAnalysed.WithLabelValues(name)
	running := runningClock{element: queue}
	filter := lateFilter{maxDelay: maxDelay, maxGap: maxGap} // the probe runs on the queue's one streaming thread
	id := pad.AddProbe(gst.PadProbeTypeBuffer, func(_ *gst.Pad, info *gst.PadProbeInfo) gst.PadProbeReturn {
		pts := info.GetBuffer().PresentationTimestamp()
		if pts == gst.ClockTimeNone {
			return gst.PadProbeOK
		}
		now, ok := running.now()
		if !ok {
			return gst.PadProbeOK
		}
		filter.maxDelay = analysisDelay(maxDelay, half.Load())
		switch filter.admit(now, time.Duration(pts)) {
		case frameLate:
			dropped.Inc()
			skipped()
			return gst.PadProbeDrop
		case frameLateIn:
			lateIn.Inc()
		}
		return gst.PadProbeOK
	})
	ctx.onRelease(func() { pad.RemoveProbe(id) })
}

// analysisDelay is how late a frame may reach the analysis: maxDelay, and two thirds of it
// while the video goes back at half rate. The server is then past its capacity, and a frame
// that waited for the CPU waits again at every step after; giving it up sooner keeps the
// frames sent prompt (32 sessions on 2 cores in a slow spell, 4 pairs: p95 at the clients
// 277, 191, 245 and 199 ms at 100 ms against 331, 295, 289 and 293 at 150; carts exact in all
// 4 against one visit lost in one).
// max_gap still lets a frame in whenever the analysis had none for that long.
func analysisDelay(maxDelay time.Duration, half bool) time.Duration {
	if half {
		return maxDelay * 2 / 3
	}
	return maxDelay
}

// runningClock reads the running time of a playing pipeline from one of its elements, for a
// probe on one streaming thread. The pipeline's clock and base time do not change while it
// plays, so they are looked up once, as soon as the element has them.
type runningClock struct {
	element *gst.Element
	clock   *gst.Clock
	base    gst.ClockTime
}

// now is the running time; false before the pipeline has a clock.
func (r *runningClock) now() (time.Duration, bool) {
	if r.clock == nil {
		if r.clock = r.element.GetClock(); r.clock == nil {
			return 0, false
		}
		r.base = r.element.GetBaseTime()
	}
	return time.Duration(r.clock.GetTime() - r.base), true
}

// lateFilter is dropLate's rule, frame by frame.
type lateFilter struct {
	maxDelay, maxGap time.Duration
	lastIn           time.Duration // running time the last frame went in
	anyIn            bool
}

// frameVerdict is what lateFilter says of a frame.
type frameVerdict int

const (
	frameOnTime frameVerdict = iota // goes in
	frameLate                       // dropped
	frameLateIn                     // late, but goes in: the analysis had none for maxGap
)

// admit judges a frame at running time now whose first packet arrived at pts, and records it
// as gone in unless it is dropped.
func (f *lateFilter) admit(now, pts time.Duration) frameVerdict {
	verdict := f.judge(now, pts)
	if verdict != frameLate {
		f.wentIn(now)
	}
	return verdict
}

// judge is admit's verdict alone, for a caller that may still drop the frame for another
// reason (which then must not count as one gone in).
func (f *lateFilter) judge(now, pts time.Duration) frameVerdict {
	if now-pts <= f.maxDelay {
		return frameOnTime
	}
	if f.maxGap <= 0 || !f.anyIn || now-f.lastIn < f.maxGap {
		return frameLate
	}
	return frameLateIn
}

// wentIn records that a frame went in at running time now.
func (f *lateFilter) wentIn(now time.Duration) { f.lastIn, f.anyIn = now, true }

var encoderFields = []Field{
	{Name: "bitrate", Kind: FieldInt, Default: 1500, Min: 100, Max: 50000, Doc: "target bitrate in kbit/s"},
	{Name: "keyframe_interval", Kind: FieldInt, Default: 60, Min: 1, Max: 3000, Doc: "frames between keyframes (viewers can also ask for one)"},
	// The camera's sensor noise changes every block a little in every frame. Re-encoding it
	// costs the encoder (and every viewer's decoder) the most and shows nothing; blocks the
	// overlay or a moving object changed differ by far more. Measured on the bench's camera
	// clip as the server gets it (decoded from VP8 at 1.5 Mbit/s; 640×480, cpu-used 16):
	// encoding 1.39 ms a frame at 1000, 1.02 at 3000, a viewer's decoding about 0.72 → 0.5 ms;
	// the picture sent stays within 3.2 levels of the camera's in every 16×16 block mean.
	{Name: "static_threshold", Kind: FieldInt, Default: 3000, Min: 0, Max: 100000,
		Doc: "VP8: a 16×16 block that differs from the picture already sent by less than this (sum of squared differences) is sent as unchanged, so the camera's sensor noise is not re-encoded (less CPU, fewer bits); 0: every block encoded"},
	// The finest quantizer the VP8 encoder may use. A camera at 640×480 needs far less than
	// the bitrate allows once its noise is left out (static_threshold), so the rate control
	// sits at its floor, and libvpx's own floor (4) spends bits, the encoder's time and every
	// viewer's on precision below the camera's noise. Measured on the same decoded clip:
	// 4 → 10 sends 37% fewer bits (0.51 → 0.32 Mbit/s), encodes 10–30% faster (medians of
	// alternating runs 0.82–1.06 → 0.73 ms a frame), decodes in 0.33 ms instead of 0.40; the
	// luma PSNR against the camera's frames stays (worst frame 39.5 → 40.2 dB, mean 42.6 →
	// 42.5).
	{Name: "min_quantizer", Kind: FieldInt, Default: 10, Min: 0, Max: 50,
		Doc: "VP8: the finest quantizer the encoder may use (0 best … 50, the coarsest it ever uses); higher costs the encoder and each viewer less when the picture needs fewer bits than the bitrate allows"},
}

var webrtcSink = &EndpointType{
	Name: "webrtc",
	Doc:  "Encodes the annotated video (VP8 or H.264, real-time settings) on the analysis thread, right after it, and sends it back to the WebRTC peer and to WHEP viewers.",
	Fields: append(append([]Field(nil), encoderFields...),
		Field{Name: "codec", Kind: FieldString, Default: "same", Check: checkReturnCodec,
			Doc: "codec of the video sent back: same (the camera's), vp8 or h264 (when the peer offered it; else the camera's)"},
		Field{Name: "size", Kind: FieldString, Default: ReturnAuto, Check: checkReturnSize,
			Doc: "size of the video sent back: camera (the camera's), compact (compact_width wide, the height in proportion: encoding it, and every viewer's decoding, cost a quarter at 320 from 640), or auto (the camera's, and compact while the server runs more live sessions than it serves well at the camera's size)"},
		Field{Name: "compact_width", Kind: FieldInt, Default: 320, Min: 64, Max: 3840,
			Doc: "width of the compact video sent back (size compact, or auto when busy); a camera narrower than this is sent at its own size"},
		Field{Name: "late_after", Kind: FieldDuration, Default: 150 * time.Millisecond,
			Doc: "while the video goes back at half rate (rate, below: past the server's capacity), a frame that reaches the sink (its closing overlay, else its converter) this long after its first packet arrived is not sent back, nor drawn on or encoded (counted as skipped): it would reach the viewer late; but once late_gap has passed since the last frame went back, one goes all the same; 0: all are sent"},
		Field{Name: "late_gap", Kind: FieldDuration, Default: 500 * time.Millisecond,
			Doc: "the longest late_after keeps the video sent back without a frame; 0: no limit"},
		Field{Name: "rate", Kind: FieldString, Default: ReturnAuto, Check: checkReturnRate,
			Doc: "frame rate of the video sent back: full (every analysed frame), half (every other one, analysed and counted but neither drawn on by the closing overlay nor encoded: the overlay's, the encoder's and every viewer's work halves, and so does the delay queued behind it), or auto (full, and half while the server runs far more live sessions than it serves well, so that past its capacity every session stays prompt and none starves)"}),
	Build: func(ctx *BuildContext, p Params) (*gst.Element, error) {
		if ctx.Media == nil {
			return nil, fmt.Errorf("a webrtc sink runs per WebRTC session: publish with WHIP (POST /whip/%s)", ctx.Spec.Name)
		}
		// No queue: the webrtc source drops what the analysis cannot take, so every frame
		// that was analysed is also encoded, never dropped after the work was done.
		return encoderSink(ctx, p, false)
	},
}

// The webrtc sink's sizes (its size field).
const (
	ReturnCamera  = "camera"
	ReturnCompact = "compact"
	ReturnAuto    = "auto"
)

// The webrtc sink's frame rates (its rate field; auto is ReturnAuto).
const (
	ReturnFull = "full"
	ReturnHalf = "half"
)

func checkReturnRate(v any) error {
	switch fmt.Sprint(v) {
	case ReturnFull, ReturnHalf, ReturnAuto:
		return nil
	}
	return fmt.Errorf("%q: want full, half or auto", v)
}

func checkReturnSize(v any) error {
	switch fmt.Sprint(v) {
	case ReturnCamera, ReturnCompact, ReturnAuto:
		return nil
	}
	return fmt.Errorf("%q: want camera, compact or auto", v)
}

// ReturnScaler switches the video a webrtc sink sends back between the camera's size and
// the compact one, while it plays: its capsfilter after a videoscale gets the compact width
// or any size (the scaler then passes frames through untouched). The encoder starts anew at
// the new size with a keyframe, which browsers and the clients decode without a gap. The
// overlay has drawn at the camera's size before, so the annotations are scaled with the
// picture; the overlays upstream (any element with a return-width property) are told the
// width, and draw lines and text larger so that they stay legible once shrunk. Safe for
// concurrent use.
type ReturnScaler struct {
	filter     *gst.Element
	width      int
	annotators []*gst.Element // upstream elements with a return-width property
	auto       bool           // the sink's size is auto: the server switches it
	mu         sync.Mutex
	compact    bool
}

// returnWidthProperty is the property of an annotating element (ebrcs_overlay) that says the
// width its picture is sent at.
const returnWidthProperty = "return-width"

// newReturnScaler makes the scaler and its capsfilter, at the camera's size, for the
// pipeline's elements upstream.
func newReturnScaler(width int, auto bool, upstream []*gst.Element) (*ReturnScaler, *gst.Element, error) {
	scale, err := gst.NewElement("videoscale")
	if err != nil {
		return nil, nil, err
	}
	r := &ReturnScaler{filter: capsFilter(returnCaps(false, width)), width: width, auto: auto}
	for _, el := range upstream {
		if _, err := el.GetPropertyType(returnWidthProperty); err == nil {
			r.annotators = append(r.annotators, el)
		}
	}
	return r, scale, nil
}

// returnCaps are the capsfilter's caps: at most the compact width, with square pixels
// (without them videoscale keeps the height and stretches the pixels instead), or any size.
func returnCaps(compact bool, width int) string {
	if compact {
		// A range: a camera narrower than width is sent at its own size.
		return fmt.Sprintf("video/x-raw,width=[1,%d],pixel-aspect-ratio=1/1", width)
	}
	return "video/x-raw"
}

// SetCompact sends the video back at the compact width (true) or the camera's size.
func (r *ReturnScaler) SetCompact(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.compact == on {
		return
	}
	r.compact = on
	// The annotators first: a frame drawn for the camera's size and then shrunk would show
	// thin lines for a frame, one drawn larger and not shrunk only thick ones.
	width := 0
	if on {
		width = r.width
	}
	for _, el := range r.annotators {
		el.SetProperty(returnWidthProperty, width)
	}
	caps := gst.NewCapsFromString(returnCaps(on, r.width))
	r.filter.SetProperty("caps", caps)
	runtime.KeepAlive(caps)
}

// Auto says whether the sink's size is auto (else it is fixed at compact).
func (r *ReturnScaler) Auto() bool { return r.auto }

// Compact says whether the video goes back at the compact width.
func (r *ReturnScaler) Compact() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.compact
}

// ReturnThinner halves the frame rate of the video a webrtc sink sends back, while it plays:
// at half rate every other analysed frame is dropped where the annotations are taken (see
// returnTap: before the pipeline's closing overlay, or the sink's converter), so that neither
// the overlay, nor the scaler, nor the encoder works on a frame nobody will see. The analysis,
// and the annotations sent as data, still see every frame. Past a server's capacity this is
// the cheapest way to keep every session prompt: the overlay's, the encoder's and every
// viewer's work halve, and no frame waits behind another. The encoder's keyframe interval,
// counted in frames it encodes, halves with it, so that a keyframe still comes as often in
// time; and the pipeline's webrtc source gives late frames up sooner (analysisDelay). Safe
// for concurrent use.
type ReturnThinner struct {
	auto     bool         // the sink's rate is auto: the server switches it
	encoder  *gst.Element // a VP8 encoder, or nil
	keyframe int          // its keyframe interval at full rate, in frames; 0: left alone
	mu       sync.Mutex
	half     *atomic.Bool // shared with the pipeline's webrtc source (BuildContext.returnHalf)
	// Touched by the streaming thread alone:
	count uint64     // frames on time at half rate
	late  lateFilter // the sink's late_after and late_gap
}

// newReturnThinner makes the switch half of a sink whose VP8 encoder (nil: another codec) has
// a keyframe interval of keyframe frames at full rate.
func newReturnThinner(half *atomic.Bool, auto bool, vp8 *gst.Element, keyframe int) *ReturnThinner {
	r := &ReturnThinner{half: half, auto: auto, encoder: vp8}
	if vp8 != nil {
		r.keyframe = keyframe
	}
	return r
}

// vp8KeyframeProperty is vp8enc's keyframe interval, which libvpx takes while encoding.
// (x264enc's key-int-max cannot change while playing: its keyframes stay apart by frames.)
const vp8KeyframeProperty = "keyframe-max-dist"

// returnVerdict is what the thinner says of a frame.
type returnVerdict int

const (
	returnSent    returnVerdict = iota
	returnLate                  // at half rate, too late to be worth sending
	returnThinned               // at half rate, every other frame
)

// judge says whether a frame that reached the tap at running time now, its first packet
// having arrived at pts (either negative: not known), goes back. At full rate all do. At half
// rate the late ones do not (see late), and every other one of the rest: a late frame left out
// does not count for the rate, so that half of those on time go back. Streaming thread only.
func (r *ReturnThinner) judge(now, pts time.Duration) returnVerdict {
	if !r.half.Load() {
		return returnSent
	}
	timed := now >= 0 && pts >= 0 && r.late.maxDelay > 0
	if timed && !r.late.anyIn {
		r.late.wentIn(now) // late_gap counts from the first frame at half rate
	}
	if timed && r.late.judge(now, pts) == frameLate {
		return returnLate
	}
	r.count++
	if r.count%2 == 0 {
		return returnThinned
	}
	if timed {
		r.late.wentIn(now)
	}
	return returnSent
}

// Auto says whether the sink's rate is auto (else it is fixed at half).
func (r *ReturnThinner) Auto() bool { return r.auto }

// SetHalf sends every other frame back (true) or every one.
func (r *ReturnThinner) SetHalf(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.half.Swap(on) == on {
		return
	}
	if r.keyframe > 0 {
		interval := r.keyframe
		if on {
			interval = max(1, interval/2)
		}
		r.encoder.SetProperty(vp8KeyframeProperty, interval)
	}
}

// Half says whether the video goes back at half rate.
func (r *ReturnThinner) Half() bool { return r.half.Load() }

func checkReturnCodec(v any) error {
	switch strings.ToLower(fmt.Sprint(v)) {
	case "same", "vp8", "h264":
		return nil
	}
	return fmt.Errorf("%q: want same, vp8 or h264", v)
}

// whepSink is the annotated video of a standing pipeline (a camera's checkout station) for
// WHEP viewers: POST /whep/{station session}.
var whepSink = &EndpointType{
	Name:   "whep",
	Doc:    "Encodes the annotated video (VP8, real-time settings) of a standing pipeline, such as a camera's checkout station, for WHEP viewers (POST /whep/st_<name>). Latest frame wins.",
	Fields: encoderFields,
	Build: func(ctx *BuildContext, p Params) (*gst.Element, error) {
		if ctx.Media == nil {
			return nil, fmt.Errorf("a whep sink needs the server's WebRTC service (ebrcs serve)")
		}
		return encoderSink(ctx, p, true)
	},
}

// encoderSink is the bin of the webrtc and whep sinks: optionally a one-frame leaky queue
// (the encoder on a thread of its own, latest frame wins), a converter (a no-op when the
// analysis already works in I420), the encoder and an appsink handed to the MediaLink.
func encoderSink(ctx *BuildContext, p Params, withQueue bool) (*gst.Element, error) {
	var chain []*gst.Element
	var queue *gst.Element
	if withQueue {
		var err error
		queue, err = gst.NewElementWithProperties("queue", map[string]interface{}{
			"max-size-buffers": uint(1), "max-size-bytes": uint(0), "max-size-time": uint64(0),
		})
		if err != nil {
			return nil, err
		}
		if err := gstSetString(queue, "leaky", "downstream"); err != nil {
			return nil, err
		}
		ctx.countDrops(queue)
		chain = append(chain, queue)
	}
	convert, err := gst.NewElement("videoconvert")
	if err != nil {
		return nil, err
	}
	var encoder *gst.Element
	tail := []*gst.Element{}
	switch codec := ctx.Media.OutputCodec(); codec {
	case CodecVP8:
		encoder, err = gst.NewElementWithProperties("vp8enc", map[string]interface{}{
			"deadline": int64(1), "cpu-used": 16, "lag-in-frames": 0, "error-resilient": 1,
			// Keep detail (text, outlines) when the machine is busy: a bounded quantizer
			// overshoots the bitrate a little rather than blurring the annotations away.
			"max-quantizer":  50,
			"target-bitrate": p.Int("bitrate") * 1000, "keyframe-max-dist": p.Int("keyframe_interval"),
			// One thread: libvpx's VP8 threads spin-wait on each other, which burns
			// the cores that other sessions need (measured: 80% of all CPU at 4 sessions).
			"threads": 1,
			// See static_threshold.
			"static-threshold": p.Int("static_threshold"),
			"min-quantizer":    p.Int("min_quantizer"),
		})
		if err == nil {
			err = gstSetString(encoder, "end-usage", "cbr")
		}
	case CodecH264:
		encoder, err = gst.NewElementWithProperties("x264enc", map[string]interface{}{
			"bitrate": uint(p.Int("bitrate")), "key-int-max": uint(p.Int("keyframe_interval")),
			"bframes": uint(0), "threads": uint(1),
		})
		if err == nil {
			err = gstSetString(encoder, "tune", "zerolatency")
		}
		if err == nil {
			err = gstSetString(encoder, "speed-preset", "ultrafast")
		}
		if err == nil {
			var parse *gst.Element
			parse, err = gst.NewElementWithProperties("h264parse", map[string]interface{}{"config-interval": -1})
			tail = append(tail, parse, capsFilter("video/x-h264,stream-format=byte-stream,alignment=au,profile=constrained-baseline"))
		}
	default:
		return nil, fmt.Errorf("webrtc sink: codec %q is not supported (VP8, H264)", codec)
	}
	if err != nil {
		return nil, fmt.Errorf("webrtc sink: encoder: %v", err)
	}
	sink, err := gst.NewElementWithProperties("appsink", map[string]interface{}{
		"sync": false, "async": false, "max-buffers": uint(4), "drop": true,
	})
	if err != nil {
		return nil, err
	}
	chain = append(chain, convert, capsFilter("video/x-raw,format=I420"))
	// The webrtc sink's rate: where the annotations are taken (returnTap), before the
	// closing overlay, the scaler and the encoder, whose work it halves.
	var thinner *ReturnThinner
	if rate := p.String("rate"); rate == ReturnHalf || rate == ReturnAuto {
		var vp8 *gst.Element
		if ctx.Media.OutputCodec() == CodecVP8 {
			vp8 = encoder
		}
		thinner = newReturnThinner(ctx.returnHalf(), rate == ReturnAuto, vp8, p.Int("keyframe_interval"))
		thinner.late = lateFilter{maxDelay: p.Duration("late_after"), maxGap: p.Duration("late_gap")}
		thinner.SetHalf(rate == ReturnHalf)
	}
	// The webrtc sink's size: after the overlay, so the annotations are drawn at the camera's
	// size and scaled with the picture; before the encoder, whose work it cuts.
	var scaler *ReturnScaler
	if size := p.String("size"); size == ReturnCompact || size == ReturnAuto {
		var scale *gst.Element
		if scaler, scale, err = newReturnScaler(p.Int("compact_width"), size == ReturnAuto, ctx.elements); err != nil {
			return nil, fmt.Errorf("webrtc sink: %v", err)
		}
		scaler.SetCompact(size == ReturnCompact)
		chain = append(chain, scale, scaler.filter)
	}
	chain = append(chain, encoder)
	chain = append(chain, tail...)
	chain = append(chain, sink)
	bin := gst.NewBin("sink")
	if err := bin.AddMany(chain...); err != nil {
		return nil, err
	}
	if err := gst.ElementLinkMany(chain...); err != nil {
		return nil, err
	}
	ghost := gst.NewGhostPad("sink", chain[0].GetStaticPad("sink"))
	ok := bin.AddPad(ghost.Pad)
	runtime.KeepAlive(ghost) // its only reference until gst_element_add_pad has parented it
	if !ok {
		return nil, fmt.Errorf("webrtc sink: cannot expose sink pad")
	}
	if !withQueue {
		returnTap(ctx, returnTapPad(ctx.elements, convert), thinner)
	}
	ctx.Media.AttachSink(app.SinkFromElement(sink), encoder, queue)
	if scaler != nil {
		ctx.Media.AttachScaler(scaler)
	}
	if thinner != nil {
		ctx.Media.AttachThinner(thinner)
	}
	return bin.Element, nil
}

// returnTapPad is where a webrtc sink takes every frame's annotations and thins its video:
// the sink pad of the annotating elements (those with a return-width property, the overlay)
// that close the pipeline, else the sink's first element's. Never before an element that
// analyses: a thinned frame must have been analysed and counted.
func returnTapPad(elements []*gst.Element, first *gst.Element) *gst.Pad {
	at := first
	for i := len(elements) - 1; i >= 0; i-- {
		if _, err := elements[i].GetPropertyType(returnWidthProperty); err != nil {
			break
		}
		at = elements[i]
	}
	return at.GetStaticPad("sink")
}

// returnTap hands the analysis results of every frame that reaches pad to the MediaLink (they
// are also sent as data), then drops the frames the thinner does not send back (thinner nil:
// none).
func returnTap(ctx *BuildContext, pad *gst.Pad, thinner *ReturnThinner) {
	media := ctx.Media
	running := runningClock{element: pad.GetParentElement()}
	id := pad.AddProbe(gst.PadProbeTypeBuffer, func(_ *gst.Pad, info *gst.PadProbeInfo) gst.PadProbeReturn {
		buf := info.GetBuffer()
		pts := time.Duration(-1)
		if t := buf.PresentationTimestamp(); t != gst.ClockTimeNone {
			pts = time.Duration(t)
		}
		if f := framemeta.Get(buf); f != nil {
			media.Annotate(f, max(0, pts))
		}
		if thinner == nil || !thinner.Half() {
			return gst.PadProbeOK
		}
		now, ok := running.now()
		if !ok {
			now = -1
		}
		switch thinner.judge(now, pts) {
		case returnLate:
			media.FrameSkipped()
			return gst.PadProbeDrop
		case returnThinned:
			media.FrameThinned()
			return gst.PadProbeDrop
		}
		return gst.PadProbeOK
	})
	ctx.onRelease(func() { pad.RemoveProbe(id) })
}

// gstSetString sets a property from its string form (enums by nick), as a pipeline file would.
func gstSetString(el *gst.Element, prop, value string) error {
	return gstprops.Set(el, prop, value)
}
