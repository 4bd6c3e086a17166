package pipelines

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/ebrcs/ebrcs/internal/gsignal"
)

// A camera snapshot is one decoded frame of an IP camera, taken with the same rtspsrc (address,
// credentials, transport) as a station's pipeline: the back office's station form shows it so
// that the counting area can be drawn on the camera's own picture before the station exists.

// DefaultSnapshotTimeout bounds a snapshot when SnapshotRequest.Timeout is 0: connecting,
// authenticating and decoding the first frame.
const DefaultSnapshotTimeout = 8 * time.Second

// maxSnapshots is how many snapshots may be taken at once (each is an RTSP connection and a
// decoder); one more is refused with ErrSnapshotBusy.
const maxSnapshots = 2

var snapshotSlots = make(chan struct{}, maxSnapshots)

// Snapshot errors. Each is wrapped with the reason, credentials removed.
var (
	// ErrCameraURL: the address is not an rtsp:// or rtsps:// URL with a host.
	ErrCameraURL = errors.New("the camera address")
	// ErrCameraTransport: the transport is not tcp, udp or auto.
	ErrCameraTransport = errors.New("transport")
	// ErrCameraAuth: the camera refused the credentials, or asked for some (RTSP 401).
	ErrCameraAuth = errors.New("the camera refused the credentials")
	// ErrCameraUnreachable: nothing answers at the address (refused, unknown host, network).
	ErrCameraUnreachable = errors.New("the camera cannot be reached")
	// ErrCameraNoStream: the camera answered but has no stream at this path (RTSP 404, ...).
	ErrCameraNoStream = errors.New("the camera has no stream at this address")
	// ErrCameraTimeout: the camera did not answer within the timeout.
	ErrCameraTimeout = errors.New("the camera did not answer in time")
	// ErrCameraNoVideo: the camera answered but no video frame could be decoded in time.
	ErrCameraNoVideo = errors.New("the camera sent no video")
	// ErrSnapshotBusy: too many snapshots are being taken at once.
	ErrSnapshotBusy = errors.New("too many camera snapshots at once")
)

// SnapshotRequest names the camera to take a frame from.
type SnapshotRequest struct {
	// URL is rtsp://host[:port]/path (credentials may be in it, as in a pipeline file).
	URL string
	// User and Password, when set, are sent as rtspsrc's user-id and user-pw.
	User, Password string
	// Transport is tcp, udp or auto; "" is tcp (one connection, through NAT and firewalls).
	Transport string
	// Timeout bounds the whole snapshot (0: DefaultSnapshotTimeout).
	Timeout time.Duration
}

// Snapshot is a camera's frame as a JPEG, at the camera's size.
type Snapshot struct {
	JPEG          []byte
	Width, Height int
}

// TakeSnapshot connects to the camera, decodes its first frame and encodes it as a JPEG. Errors
// wrap one of the Err* above and never hold the password (of the request or the URL).
func TakeSnapshot(ctx context.Context, req SnapshotRequest) (*Snapshot, error) {
	if strings.TrimSpace(req.URL) == "" {
		return nil, fmt.Errorf("%w: it is empty; an rtsp:// URL is needed", ErrCameraURL)
	}
	if err := checkRTSPURL(req.URL); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCameraURL, err)
	}
	transport := req.Transport
	if transport == "" {
		transport = "tcp"
	}
	if err := oneOf("tcp", "udp", "auto")(transport); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCameraTransport, err)
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = DefaultSnapshotTimeout
	}
	select {
	case snapshotSlots <- struct{}{}:
		defer func() { <-snapshotSlots }()
	default:
		return nil, ErrSnapshotBusy
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	secrets := append(TextSecrets(req.URL), req.Password)
	host := "the address"
	if u, err := url.Parse(req.URL); err == nil {
		host = u.Host
		if i := strings.LastIndexByte(host, '@'); i >= 0 {
			host = host[i+1:]
		}
	}
	redact := func(s string) string { return RedactSecrets(s, secrets) }

	// The station's own source (rtspsrc, decodebin for the video stream), then I420 into a
	// fakesink whose pad hands the first good frame over.
	bctx := &BuildContext{}
	params := Params{"url": req.URL, "user": req.User, "password": req.Password, "transport": transport, "latency_ms": 0}
	rtsp, err := newRTSPSrc(params, timeout)
	if err != nil {
		return nil, err
	}
	// Whether the camera described a stream (rtspsrc added a pad), and a video one; once every
	// stream is there (no-more-pads) without video, waiting longer is pointless.
	var answered, video atomic.Bool
	noVideo := make(chan struct{}, 1)
	if _, err := connectPadAdded(bctx, rtsp, func(pad *gst.Pad) {
		answered.Store(true)
		if caps := pad.QueryCaps(nil); caps != nil && strings.Contains(capsString(caps), "media=(string)video") {
			video.Store(true)
		}
	}); err != nil {
		return nil, err
	}
	if id, err := gsignal.Connect(rtsp.Object.Object, "no-more-pads", func() {
		if !video.Load() {
			select {
			case noVideo <- struct{}{}:
			default:
			}
		}
	}); err == nil {
		bctx.onRelease(func() { gsignal.Disconnect(rtsp.Object.Object, id) })
	}
	src, err := rtspBin(bctx, rtsp)
	if err != nil {
		bctx.releaseAll()
		return nil, err
	}
	convert, err := gst.NewElement("videoconvert")
	if err != nil {
		bctx.releaseAll()
		return nil, err
	}
	sink, err := gst.NewElementWithProperties("fakesink", map[string]interface{}{"sync": false, "async": false})
	if err != nil {
		bctx.releaseAll()
		return nil, err
	}
	pipeline, err := gst.NewPipeline("snapshot")
	if err != nil {
		bctx.releaseAll()
		return nil, err
	}
	defer func() {
		pipeline.SetState(gst.StateNull)
		bctx.releaseAll()
	}()
	chain := []*gst.Element{src, convert, capsFilter("video/x-raw,format=I420"), sink}
	if err := pipeline.AddMany(chain...); err != nil {
		return nil, err
	}
	if err := gst.ElementLinkMany(chain...); err != nil {
		return nil, err
	}

	frames, removeProbe := frameProbe(sink.GetStaticPad("sink"))
	bctx.onRelease(removeProbe)

	bus := pipeline.GetPipelineBus()
	if err := pipeline.SetState(gst.StatePlaying); err != nil {
		if msg := bus.TimedPopFiltered(gst.ClockTime(time.Second), gst.MessageError); msg != nil {
			return nil, snapshotError(msg, redact, host)
		}
		return nil, fmt.Errorf("%w: cannot start: %v", ErrCameraUnreachable, err)
	}
	for {
		select {
		case f := <-frames:
			return encodeI420(f.data, f.width, f.height)
		case <-noVideo:
			return nil, fmt.Errorf("%w: the stream at this address has no video track", ErrCameraNoVideo)
		case <-ctx.Done():
			switch {
			case !errors.Is(ctx.Err(), context.DeadlineExceeded):
				return nil, ctx.Err()
			case answered.Load():
				return nil, fmt.Errorf("%w: no video frame could be decoded within %v", ErrCameraNoVideo, timeout)
			default:
				return nil, fmt.Errorf("%w: no answer within %v", ErrCameraTimeout, timeout)
			}
		default:
		}
		msg := bus.TimedPopFiltered(gst.ClockTime(50*time.Millisecond), gst.MessageError|gst.MessageEOS)
		switch {
		case msg == nil:
		case msg.Type() == gst.MessageEOS:
			return nil, fmt.Errorf("%w: the stream ended before its first frame", ErrCameraNoVideo)
		default:
			return nil, snapshotError(msg, redact, host)
		}
	}
}

// connectPadAdded calls fn with each pad el adds, until the build context is released.
func connectPadAdded(ctx *BuildContext, el *gst.Element, fn func(*gst.Pad)) (gsignal.HandlerID, error) {
	id, err := gsignal.ConnectPadAdded(el, fn)
	if err == nil {
		ctx.onRelease(func() { gsignal.Disconnect(el.Object.Object, id) })
	}
	return id, err
}

// releaseAll undoes what was tied to Go closures while building (Built.Release does it for
// a pipeline made by Build).
func (ctx *BuildContext) releaseAll() {
	for i := len(ctx.release) - 1; i >= 0; i-- {
		ctx.release[i]()
	}
	ctx.release = nil
}

// rawFrame is one I420 frame taken from a pad.
type rawFrame struct {
	data          []byte
	width, height int
}

// frameProbe delivers the next good I420 frames that pass pad (the channel holds one; later
// ones are dropped until it is read) until remove is called.
func frameProbe(pad *gst.Pad) (<-chan rawFrame, func()) {
	frames := make(chan rawFrame, 1)
	id := pad.AddProbe(gst.PadProbeTypeBuffer, func(p *gst.Pad, info *gst.PadProbeInfo) gst.PadProbeReturn {
		buf := info.GetBuffer()
		if buf == nil || buf.HasFlags(gst.BufferFlagCorrupted) {
			return gst.PadProbeOK // a decoder's guess from a stream joined between key frames
		}
		w, h := capsSize(p.GetCurrentCaps())
		if w == 0 || h == 0 {
			return gst.PadProbeOK
		}
		select {
		case frames <- rawFrame{data: buf.Bytes(), width: w, height: h}:
		default:
		}
		return gst.PadProbeOK
	})
	return frames, func() { pad.RemoveProbe(id) }
}

// Errors of Supervisor.Snapshot.
var (
	// ErrNotRunning: the pipeline does not run now (starting, backing off, stopped).
	ErrNotRunning = errors.New("the pipeline is not running")
	// ErrNoRawVideo: the running pipeline carries no raw I420 video to take a frame from.
	ErrNoRawVideo = errors.New("the pipeline carries no raw I420 video")
)

// Snapshot takes the next frame of the running pipeline as a JPEG, where its chain first
// carries raw I420 video (a station's `caps: video/x-raw,format=I420` after its camera): the
// camera's picture, before any element draws on it. It fails with ErrNotRunning while the
// pipeline does not run, ErrNoRawVideo when no link carries I420, and ErrCameraNoVideo when no
// frame passes within timeout (0: DefaultSnapshotTimeout).
func (s *Supervisor) Snapshot(ctx context.Context, timeout time.Duration) (*Snapshot, error) {
	if timeout <= 0 {
		timeout = DefaultSnapshotTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Every link has its format once a frame has reached the sink: until then (a pipeline
	// that has just started) the I420 link may not be known yet.
	var pad *gst.Pad
	for {
		s.mu.Lock()
		built := s.built
		s.mu.Unlock()
		if built == nil {
			return nil, ErrNotRunning
		}
		if pad = built.rawVideoPad(); pad != nil {
			break
		}
		if built.Frames() > 0 {
			return nil, ErrNoRawVideo
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: no frame within %v", ErrCameraNoVideo, timeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
	frames, remove := frameProbe(pad)
	defer remove()
	select {
	case f := <-frames:
		return encodeI420(f.data, f.width, f.height)
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("%w: no frame within %v", ErrCameraNoVideo, timeout)
		}
		return nil, ctx.Err()
	}
}

// rawVideoPad is the first source pad of the chain (the source, then the elements) whose
// negotiated caps are I420 video; nil if none.
func (b *Built) rawVideoPad() *gst.Pad {
	for _, el := range b.chain[:len(b.chain)-1] {
		pad := el.GetStaticPad("src")
		if pad == nil {
			continue
		}
		caps := pad.GetCurrentCaps()
		if caps != nil && capsName(caps) == "video/x-raw" && strings.Contains(capsString(caps), "format=(string)I420") {
			return pad
		}
	}
	return nil
}

// snapshotError sorts a bus error of the snapshot pipeline into one of the Err* kinds.
func snapshotError(msg *gst.Message, redact func(string) string, host string) error {
	gerr := msg.ParseError()
	text := gerr.Error()
	if d := lastLine(gerr.DebugString()); d != "" {
		text += " (" + d + ")"
	}
	text = redact(text)
	lower := strings.ToLower(text)
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(lower, w) {
				return true
			}
		}
		return false
	}
	switch {
	case gerr.Code() == gst.ResourceErrorNotAuthorized && msg.Source() == "camera", has("unauthorized"):
		return fmt.Errorf("%w (RTSP 401 Unauthorized)", ErrCameraAuth)
	case has("timeout", "timed out"):
		return fmt.Errorf("%w (%s): %s", ErrCameraTimeout, host, text)
	case gerr.Code() == gst.ResourceErrorNotFound && msg.Source() == "camera", has("not found"):
		return fmt.Errorf("%w: %s", ErrCameraNoStream, text)
	case has("not-negotiated", "no suitable plugins", "missing", "decoder", "codec", "no video"):
		return fmt.Errorf("%w: %s", ErrCameraNoVideo, text)
	default:
		return fmt.Errorf("%w: nothing answers at %s: %s", ErrCameraUnreachable, host, text)
	}
}

// capsSize reads width and height from video caps (0, 0 when unknown).
func capsSize(caps *gst.Caps) (int, int) {
	if caps == nil || caps.GetSize() == 0 {
		return 0, 0
	}
	st := caps.GetStructureAt(0)
	var w, h int
	if v, err := st.GetValue("width"); err == nil {
		w, _ = v.(int)
	}
	if v, err := st.GetValue("height"); err == nil {
		h, _ = v.(int)
	}
	runtime.KeepAlive(caps)
	return w, h
}

// encodeI420 encodes a frame in GStreamer's default I420 layout (rows padded to 4 bytes,
// planes one after the other) as a JPEG.
func encodeI420(data []byte, w, h int) (*Snapshot, error) {
	ys := (w + 3) &^ 3
	cw, ch := (w+1)/2, (h+1)/2
	cs := (cw + 3) &^ 3
	if len(data) < ys*h+2*cs*ch {
		return nil, fmt.Errorf("%w: a %dx%d frame of %d bytes is too short", ErrCameraNoVideo, w, h, len(data))
	}
	img := &image.YCbCr{
		Y: data[:ys*h], Cb: data[ys*h : ys*h+cs*ch], Cr: data[ys*h+cs*ch : ys*h+2*cs*ch],
		YStride: ys, CStride: cs, SubsampleRatio: image.YCbCrSubsampleRatio420,
		Rect: image.Rect(0, 0, w, h),
	}
	var out bytes.Buffer
	if err := jpeg.Encode(&out, img, &jpeg.Options{Quality: 85}); err != nil {
		return nil, err
	}
	return &Snapshot{JPEG: out.Bytes(), Width: w, Height: h}, nil
}

// Snapshot takes the next frame of the named running pipeline (Supervisor.Snapshot);
// ErrNoPipeline when there is none by that name.
func (m *Manager) Snapshot(ctx context.Context, name string, timeout time.Duration) (*Snapshot, error) {
	sup := m.Supervisor(name)
	if sup == nil {
		return nil, ErrNoPipeline
	}
	return sup.Snapshot(ctx, timeout)
}
