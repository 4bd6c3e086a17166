package pipelines

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/ebrcs/ebrcs/internal/gsignal"
	"github.com/ebrcs/ebrcs/pipelines/gstprops"
)

// rtspSource is an IP camera. A camera pipeline runs unattended: every failure (an error, the
// end of the stream, or silence: no frame for silence_timeout) tears it down, and the
// supervisor rebuilds it with exponential backoff, forever.
var rtspSource = &EndpointType{
	Name: "rtsp",
	Doc:  "An IP camera over RTSP (H.264, H.265 or MJPEG). Errors, end of stream and silence restart it with backoff, forever; credentials are never logged or shown.",
	Fields: []Field{
		{Name: "url", Kind: FieldString, Required: true, Check: checkRTSPURL,
			Doc: "rtsp://host[:port]/path (credentials may be in the URL as rtsp://user:password@host/...)"},
		{Name: "user", Kind: FieldString, Doc: "user name, instead of in the URL"},
		{Name: "password", Kind: FieldString, Doc: "password, instead of in the URL"},
		{Name: "transport", Kind: FieldString, Default: "auto", Check: oneOf("tcp", "udp", "auto"),
			Doc: "tcp (through firewalls and NAT), udp (lowest latency on a LAN) or auto (UDP, then TCP)"},
		{Name: "latency_ms", Kind: FieldInt, Default: 200, Min: 0, Max: 10000,
			Doc: "jitter buffer in milliseconds"},
		{Name: "silence_timeout", Kind: FieldDuration, Default: 5 * time.Second,
			Doc: "no frame for this long (a stalled camera or network) counts as a failure"},
	},
	Endless: func(Params) bool { return true },
	Silence: func(p Params) time.Duration { return p.Duration("silence_timeout") },
	Build: func(ctx *BuildContext, p Params) (*gst.Element, error) {
		// Give up on a dead server quickly: the supervisor's backoff does the retrying.
		src, err := newRTSPSrc(p, 5*time.Second)
		if err != nil {
			return nil, err
		}
		return rtspBin(ctx, src)
	},
}

// newRTSPSrc is the rtspsrc of a camera (named "camera": errors read "camera: ...", the same
// on every attempt) with its address, credentials and transport from p; connecting and
// waiting for the first packets each give up after timeout.
func newRTSPSrc(p Params, timeout time.Duration) (*gst.Element, error) {
	src, err := gst.NewElementWithProperties("rtspsrc", map[string]interface{}{
		"name":     "camera",
		"location": p.String("url"), "latency": uint(p.Int("latency_ms")),
		"tcp-timeout": uint64(timeout / time.Microsecond),
		"timeout":     uint64(timeout / time.Microsecond),
	})
	if err != nil {
		return nil, err
	}
	if u := p.String("user"); u != "" {
		src.SetProperty("user-id", u)
	}
	if pw := p.String("password"); pw != "" {
		src.SetProperty("user-pw", pw)
	}
	protocols := map[string]string{"tcp": "tcp", "udp": "udp", "auto": "udp+udp-mcast+tcp"}[p.String("transport")]
	if err := gstprops.Set(src, "protocols", protocols); err != nil {
		return nil, err
	}
	return src, nil
}

// rtspBin puts rtspsrc and a decodebin for its video stream in a bin exposing decoded video on
// "src". Other streams (audio, metadata) go to a fakesink.
func rtspBin(ctx *BuildContext, src *gst.Element) (*gst.Element, error) {
	bin := gst.NewBin("source")
	dec, err := gst.NewElement("decodebin")
	if err != nil {
		return nil, err
	}
	if err := bin.AddMany(src, dec); err != nil {
		return nil, err
	}
	ghost := gst.NewGhostPadNoTarget("src", gst.PadDirectionSource)
	bin.AddPad(ghost.Pad)
	var videoIn, videoOut bool
	srcHandler, _ := gsignal.ConnectPadAdded(src, func(pad *gst.Pad) {
		caps := pad.QueryCaps(nil)
		isVideo := caps != nil && caps.GetSize() > 0 && strings.Contains(capsString(caps), "media=(string)video")
		if isVideo && !videoIn {
			videoIn = true
			pad.Link(dec.GetStaticPad("sink"))
			return
		}
		drain(bin, pad)
	})
	decHandler, _ := gsignal.ConnectPadAdded(dec, func(pad *gst.Pad) {
		if strings.HasPrefix(capsName(pad.QueryCaps(nil)), "video/x-raw") && !videoOut {
			videoOut = true
			ghost.SetTarget(pad)
			return
		}
		drain(bin, pad)
	})
	// The handlers' closures hold the bin, which holds the elements, which hold the handlers:
	// disconnect them when the pipeline is released to break the cycle.
	ctx.onRelease(func() {
		gsignal.Disconnect(src.Object.Object, srcHandler)
		gsignal.Disconnect(dec.Object.Object, decHandler)
	})
	return bin.Element, nil
}

// drain links an unused dynamic pad to a fakesink so that it never blocks its element.
func drain(bin *gst.Bin, pad *gst.Pad) {
	sink, err := gst.NewElementWithProperties("fakesink", map[string]interface{}{"sync": false, "async": false})
	if err != nil {
		return
	}
	bin.Add(sink)
	sink.SyncStateWithParent()
	pad.Link(sink.GetStaticPad("sink"))
}

func checkRTSPURL(v any) error {
	u, err := url.Parse(fmt.Sprint(v))
	if err != nil {
		return fmt.Errorf("not a URL: %v", Redact(err.Error()))
	}
	if u.Scheme != "rtsp" && u.Scheme != "rtsps" {
		return fmt.Errorf("want an rtsp:// or rtsps:// URL, not %s://", u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("the URL has no host")
	}
	return nil
}

func oneOf(values ...string) func(v any) error {
	return func(v any) error {
		s := fmt.Sprint(v)
		for _, want := range values {
			if s == want {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", s, strings.Join(values, ", "))
	}
}
