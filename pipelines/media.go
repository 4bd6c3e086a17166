package pipelines

import (
	"fmt"
	"runtime"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"

	"github.com/ebrcs/ebrcs/pipelines/gstprops"
)

// MediaLink connects a pipeline's webrtc source and sink to a WebRTC peer (package
// signaling). A pipeline file says what happens between them; the peer decides the codecs.
type MediaLink interface {
	// InputCodec and OutputCodec are the negotiated video codecs: "VP8" or "H264".
	InputCodec() string
	OutputCodec() string
	// AttachSource hands over the appsrc that the peer's RTP packets are pushed into (with
	// the leaky queue after the decoder, whose overruns are frames the analysis skipped), and
	// AttachSink the appsink the encoded annotated frames come out of (with the encoder, to
	// ask it for keyframes, and the one-frame queue before it, whose overruns are dropped
	// frames). Both are called on every (re)build of the pipeline.
	AttachSource(src *app.Source, frameQueue *gst.Element)
	AttachSink(sink *app.Sink, encoder, frameQueue *gst.Element)
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
	Doc:  "Video from a WebRTC peer (a browser or any WHIP client, POST /whip/{pipeline}): RTP through a small jitter buffer, depayloaded and decoded (VP8 or H.264).",
	Fields: []Field{
		{Name: "jitter_latency", Kind: FieldDuration, Default: 30 * time.Millisecond,
			Doc: "how long the jitter buffer waits for late or retransmitted packets"},
		{Name: "max_queue", Kind: FieldInt, Default: 256, Min: 8, Max: 100000,
			Doc: "RTP packets waiting to enter the pipeline before the oldest are dropped (counted)"},
		{Name: "max_frames", Kind: FieldInt, Default: 2, Min: 1, Max: 100,
			Doc: "decoded frames waiting for the analysis before the oldest is dropped (counted)"},
	},
	Endless: func(Params) bool { return true },
	Build: func(ctx *BuildContext, p Params) (*gst.Element, error) {
		if ctx.Media == nil {
			return nil, fmt.Errorf("a webrtc source runs per WebRTC session: publish to it with WHIP (POST /whip/%s)", ctx.Spec.Name)
		}
		codec := ctx.Media.InputCodec()
		var depay, decoder []string
		switch codec {
		case CodecVP8:
			depay, decoder = []string{"rtpvp8depay"}, []string{"vp8dec"}
		case CodecH264:
			depay, decoder = []string{"rtph264depay"}, []string{"h264parse", "avdec_h264"}
		default:
			return nil, fmt.Errorf("webrtc source: codec %q is not supported (VP8, H264)", codec)
		}
		src, err := gst.NewElementWithProperties("appsrc", map[string]interface{}{
			"is-live": true, "do-timestamp": true, "format": int(gst.FormatTime),
			// Bounded in bytes (packets of at most an MTU): the bridge checks the level in
			// bytes on every packet with a direct call, to count what the leaky queue drops.
			"max-buffers": uint64(0), "max-bytes": uint64(p.Int("max_queue") * rtpMTU), "max-time": uint64(0),
		})
		if err != nil {
			return nil, err
		}
		// A slow pipeline drops the oldest packets rather than blocking the network reader.
		if err := gstSetString(src, "leaky-type", "downstream"); err != nil {
			return nil, err
		}
		rtpCaps := gst.NewCapsFromString(fmt.Sprintf("application/x-rtp,media=video,clock-rate=90000,encoding-name=%s", codec))
		app.SrcFromElement(src).SetCaps(rtpCaps)
		runtime.KeepAlive(rtpCaps) // ours alone until gst_app_src_set_caps has taken its own reference
		jitter, err := gst.NewElementWithProperties("rtpjitterbuffer", map[string]interface{}{
			"latency": uint(p.Duration("jitter_latency") / time.Millisecond), "drop-on-latency": true,
		})
		if err != nil {
			return nil, err
		}
		chain := []*gst.Element{src, jitter}
		for _, name := range append(depay, decoder...) {
			el, err := gst.NewElement(name)
			if err != nil {
				return nil, fmt.Errorf("webrtc source: %s: %v", name, err)
			}
			chain = append(chain, el)
		}
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
		bin, err := chainBin("source", chain)
		if err != nil {
			return nil, err
		}
		ctx.Media.AttachSource(app.SrcFromElement(src), frames)
		return bin, nil
	},
}

var encoderFields = []Field{
	{Name: "bitrate", Kind: FieldInt, Default: 1500, Min: 100, Max: 50000, Doc: "target bitrate in kbit/s"},
	{Name: "keyframe_interval", Kind: FieldInt, Default: 60, Min: 1, Max: 3000, Doc: "frames between keyframes (viewers can also ask for one)"},
}

var webrtcSink = &EndpointType{
	Name:   "webrtc",
	Doc:    "Encodes the annotated video (VP8 or H.264, real-time settings) and sends it back to the WebRTC peer and to WHEP viewers. Frames the encoder cannot keep up with are dropped (latest frame wins).",
	Fields: encoderFields,
	Build: func(ctx *BuildContext, p Params) (*gst.Element, error) {
		if ctx.Media == nil {
			return nil, fmt.Errorf("a webrtc sink runs per WebRTC session: publish with WHIP (POST /whip/%s)", ctx.Spec.Name)
		}
		return encoderSink(ctx, p)
	},
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
		return encoderSink(ctx, p)
	},
}

// encoderSink is the bin of the webrtc and whep sinks: a one-frame leaky queue, the
// encoder and an appsink handed to the MediaLink.
func encoderSink(ctx *BuildContext, p Params) (*gst.Element, error) {
	// Latest frame wins: a queue of one that drops the older frame when the encoder is busy.
	queue, err := gst.NewElementWithProperties("queue", map[string]interface{}{
		"max-size-buffers": uint(1), "max-size-bytes": uint(0), "max-size-time": uint64(0),
	})
	if err != nil {
		return nil, err
	}
	if err := gstSetString(queue, "leaky", "downstream"); err != nil {
		return nil, err
	}
	ctx.countDrops(queue)
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
	chain := append([]*gst.Element{queue, convert, capsFilter("video/x-raw,format=I420"), encoder}, tail...)
	chain = append(chain, sink)
	bin := gst.NewBin("sink")
	if err := bin.AddMany(chain...); err != nil {
		return nil, err
	}
	if err := gst.ElementLinkMany(chain...); err != nil {
		return nil, err
	}
	ghost := gst.NewGhostPad("sink", queue.GetStaticPad("sink"))
	ok := bin.AddPad(ghost.Pad)
	runtime.KeepAlive(ghost) // its only reference until gst_element_add_pad has parented it
	if !ok {
		return nil, fmt.Errorf("webrtc sink: cannot expose sink pad")
	}
	ctx.Media.AttachSink(app.SinkFromElement(sink), encoder, queue)
	return bin.Element, nil
}

// gstSetString sets a property from its string form (enums by nick), as a pipeline file would.
func gstSetString(el *gst.Element, prop, value string) error {
	return gstprops.Set(el, prop, value)
}
