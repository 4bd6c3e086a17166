package signaling

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/ebrcs/ebrcs/elements/goelement"
	"github.com/ebrcs/ebrcs/internal/gsignal"
	"github.com/ebrcs/ebrcs/pipelines"
)

// bridge is one live session's media path between pion and its GStreamer pipeline. It
// implements pipelines.MediaLink: every (re)build of the pipeline attaches a new appsrc and
// appsink, and the bridge keeps feeding whichever is current.
//
// The camera's RTP packets are put back together into whole frames here (frameAssembler),
// which waits a little for retransmissions (NACK) and otherwise gives a frame up; from then on
// every frame is dropped until the next keyframe, which is asked for at once (PLI): a frame
// decoded without its reference is block garbage, and must never reach the analysis or the
// shopper. Frames that arrive before the pipeline runs wait here (from the last keyframe on,
// bounded), so that decoding starts with the first keyframe the camera sent; each carries the
// time its first packet arrived, and frames too old by the time the analysis could take them
// are dropped there (pipelines: the webrtc source's max_delay).
//
// A decoder that falls behind the camera (a host too slow for its sessions) catches up at the
// next keyframe: see catchUp.
type bridge struct {
	codec    string // what the camera sends
	outCodec string // what goes back
	out      *webrtc.TrackLocalStaticSample
	maxDelay time.Duration

	// Frame assembly and what waits for the pipeline; mu orders the packet reader, the
	// timer that gives up on missing packets, and attach/detach.
	mu       sync.Mutex
	asm      *frameAssembler
	broken   bool           // a frame was lost: drop until a keyframe
	camera   cameraClock    // the camera's timing of the frames, from their RTP timestamps
	pending  []encodedFrame // from the last keyframe, until a pipeline takes them
	pendSize int
	src      *app.Source
	srcMax   uint64
	clockAt  time.Time     // wall time of clockRun, for mapping arrivals to running time
	clockRun gst.ClockTime // the pipeline's running time at clockAt
	haveClk  bool

	decoder atomic.Pointer[catchUp] // the attached appsrc's decoder
	encoder atomic.Pointer[gst.Element]
	sinkEl  atomic.Pointer[gst.Element]
	// The returned video's size (on: compact) and frame rate (on: half), as the service
	// decides them for sinks whose size or rate is auto.
	size, rate returnSwitch

	// onSource is called when a new pipeline instance starts taking frames, and
	// requestPLI when a frame was lost: both ask the camera for a keyframe.
	onSource   func()
	requestPLI func()
	lastPLI    time.Time

	// The camera's time of the last frame sent back (frameDuration; the streaming thread's).
	sentCamAt time.Duration
	sentCam   bool

	stats       Stats
	latency     latencyRing
	annotations annotations
}

// Stats count what went through a bridge; all counters only grow.
type Stats struct {
	PacketsIn      atomic.Int64 // RTP packets from the peer
	PacketsDropped atomic.Int64 // not used: late, duplicates, parts of lost frames
	FramesIn       atomic.Int64 // whole frames assembled
	FramesLost     atomic.Int64 // frames lost (missing packets, a full queue) or dropped waiting for a keyframe after a loss
	FramesSkipped  atomic.Int64 // frames the analysis skipped (too late, or a newer one came first), not decoded (the decoder caught up at a newer keyframe), or, at half rate, too late to be sent back
	FramesOut      atomic.Int64 // encoded frames sent back
	FramesDropped  atomic.Int64 // frames the encoder could not keep up with (station outputs; latest frame won)
	FramesThinned  atomic.Int64 // annotated frames not sent back: the video went back at half rate
	KeyframesAsked atomic.Int64 // keyframe requests from our peers (PLI/FIR) passed to the encoder
	PLIsSent       atomic.Int64 // keyframe requests we sent to the publisher
}

// Bounds of the frames kept for a pipeline that is not running yet: from the last keyframe,
// at most this many frames and bytes (a few seconds of camera video).
const (
	maxPendingFrames = 120
	maxPendingBytes  = 4 << 20
)

// newBridge makes the media path of one session: wait is how long a frame waits for missing
// packets, maxDelay how old a frame may be when it is handed to the pipeline and still be
// analysed (0: any).
func newBridge(codec, outCodec string, out *webrtc.TrackLocalStaticSample, wait, maxDelay time.Duration) *bridge {
	// Broken until the first keyframe: nothing before it can be decoded.
	return &bridge{codec: codec, outCodec: outCodec, out: out, asm: newFrameAssembler(codec, wait), broken: true, maxDelay: maxDelay}
}

func (b *bridge) InputCodec() string  { return b.codec }
func (b *bridge) OutputCodec() string { return b.outCodec }

// AttachSource implements pipelines.MediaLink: the frames waiting since the last keyframe go
// in first.
func (b *bridge) AttachSource(src *app.Source) {
	b.mu.Lock()
	b.src, b.srcMax, b.haveClk = src, src.GetMaxBytes(), false
	b.decoder.Store(newCatchUp())
	b.mu.Unlock()
	if b.onSource != nil {
		b.onSource()
	}
}

// FrameSkipped implements pipelines.MediaLink.
func (b *bridge) FrameSkipped() { b.stats.FramesSkipped.Add(1) }

// FrameThinned implements pipelines.MediaLink.
func (b *bridge) FrameThinned() { b.stats.FramesThinned.Add(1) }

// AttachSink implements pipelines.MediaLink: every encoded frame goes to the outgoing track.
func (b *bridge) AttachSink(sink *app.Sink, encoder, frameQueue *gst.Element) {
	b.encoder.Store(encoder)
	b.sinkEl.Store(sink.Element)
	if frameQueue != nil {
		gsignal.Connect(frameQueue.Object.Object, "overrun", func() { b.stats.FramesDropped.Add(1) })
	}
	sink.SetCallbacks(&app.SinkCallbacks{NewSampleFunc: func(s *app.Sink) gst.FlowReturn {
		return withNextBuffer(s, func(buf *gst.Buffer) { b.send(s, buf) })
	}})
}

// AttachScaler implements pipelines.MediaLink: the sink's size switch (on: compact).
func (b *bridge) AttachScaler(s *pipelines.ReturnScaler) {
	b.size.attach(s.Auto(), s.SetCompact, s.Compact)
}

// AttachThinner implements pipelines.MediaLink: the sink's rate switch (on: half).
func (b *bridge) AttachThinner(t *pipelines.ReturnThinner) {
	b.rate.attach(t.Auto(), t.SetHalf, t.Half)
}

// returnSwitch is one switch of a session's returned video, its size or its rate: the
// service's decision (set), applied to the pipeline's switch when the sink's setting is auto,
// now and on every rebuild (attach); a fixed setting is only reported (on).
type returnSwitch struct {
	mu       sync.Mutex
	decision bool
	auto     bool
	apply    func(on bool) // nil until a pipeline attaches its switch
	state    func() bool
}

func (r *returnSwitch) attach(auto bool, apply func(bool), state func() bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.auto, r.apply, r.state = auto, apply, state
	if auto {
		apply(r.decision)
	}
}

// set takes the service's decision; it is remembered for a pipeline built later.
func (r *returnSwitch) set(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.decision = on
	if r.apply != nil && r.auto {
		r.apply(on)
	}
}

// on says whether the pipeline's switch is on now.
func (r *returnSwitch) on() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.state != nil && r.state()
}

// send writes one encoded frame to the outgoing track and records its server-added latency.
func (b *bridge) send(s *app.Sink, buf *gst.Buffer) {
	dur := b.frameDuration(buf)
	// Server-added latency: the buffer's timestamp is when its first RTP packet arrived (in
	// the pipeline's running time), now is the running time.
	if pts := buf.PresentationTimestamp(); pts != gst.ClockTimeNone {
		if clock := s.GetClock(); clock != nil {
			now := clock.GetTime() - s.GetBaseTime()
			if now > pts {
				b.latency.add(time.Duration(now - pts))
			}
		}
	}
	if err := b.out.WriteSample(media.Sample{Data: buf.Bytes(), Duration: dur}); err == nil {
		b.stats.FramesOut.Add(1)
	}
}

// frameDuration is how far the returned video's RTP clock moves on after buf: the camera's
// time since the frame sent before it, frames skipped or thinned in between included, so that
// the returned video keeps the camera's pace and a browser plays it at that pace (pion moves
// the clock on by each sample's duration after sending it: the step lags one frame, which
// matters only where the camera's intervals change). Without the camera's timing (or across a
// camera clock that went back): the buffer's duration, else a 30 fps frame. Called on the
// streaming thread alone.
func (b *bridge) frameDuration(buf *gst.Buffer) time.Duration {
	if at, _, ok := goelement.CameraTimeOf(buf); ok && at >= 0 {
		prev, had := b.sentCamAt, b.sentCam
		b.sentCamAt, b.sentCam = at, true
		if had && at > prev {
			return at - prev
		}
	}
	if d := time.Duration(buf.Duration()); buf.Duration() != gst.ClockTimeNone && d > 0 {
		return d
	}
	return time.Second / 30
}

// withNextBuffer pulls the appsink's next sample, calls f with its buffer, and gives back
// go-gst's references to both at once instead of leaving them to finalizers. With
// finalizers, about 35 encoded frames per live session were never released, with their
// memory (found with GStreamer's leaks tracer; the Go wrappers stayed reachable for no
// reason we could find); the soak's RSS grew by 0.3 MB a session.
func withNextBuffer(s *app.Sink, f func(*gst.Buffer)) gst.FlowReturn {
	sample := s.PullSample()
	if sample == nil {
		return gst.FlowEOS
	}
	defer func() {
		runtime.SetFinalizer(sample, nil)
		sample.Unref()
	}()
	buf := sample.GetBuffer()
	if buf == nil {
		return gst.FlowOK
	}
	defer func() {
		runtime.SetFinalizer(buf, nil)
		buf.Unref()
	}()
	f(buf)
	return gst.FlowOK
}

// push takes one RTP packet from the peer.
func (b *bridge) push(pkt *rtp.Packet) {
	b.stats.PacketsIn.Add(1)
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	res := b.asm.push(pkt, now)
	if res.late {
		b.stats.PacketsDropped.Add(1)
	}
	b.take(res, now)
}

// tick gives up on missing packets that did not come in time (no packet arrived since),
// and hands kept frames to a pipeline that has started meanwhile.
func (b *bridge) tick() {
	now := time.Now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.take(b.asm.tick(now), now)
	b.flush()
}

// take handles what the assembler produced (b.mu held).
func (b *bridge) take(res assembleResult, now time.Time) {
	if res.lost > 0 {
		b.stats.FramesLost.Add(int64(res.lost))
		b.lose(now)
	}
	for _, f := range res.frames {
		b.stats.FramesIn.Add(1)
		b.camera.stamp(&f)
		if b.broken && !f.key {
			b.stats.FramesLost.Add(1) // its reference is gone
			b.askKeyframe(now)
			continue
		}
		if f.key {
			b.broken = false
		}
		b.deliver(f)
	}
}

// lose marks the stream broken until the next keyframe, and asks for one (b.mu held).
func (b *bridge) lose(now time.Time) {
	b.broken = true
	b.pending, b.pendSize = b.pending[:0], 0
	b.askKeyframe(now)
}

// askKeyframe sends a PLI, at most every 300 ms while frames keep coming without one
// (b.mu held). The request goes out on its own goroutine: RTCP writes must not hold mu.
func (b *bridge) askKeyframe(now time.Time) {
	if b.requestPLI == nil || now.Sub(b.lastPLI) < 300*time.Millisecond {
		return
	}
	b.lastPLI = now
	go b.requestPLI()
}

// deliver hands a frame to the running pipeline, or keeps it for the next one (b.mu held).
func (b *bridge) deliver(f encodedFrame) {
	if len(b.pending) == 0 && b.ready() {
		b.pushFrame(f)
		return
	}
	switch {
	case f.key:
		b.pending, b.pendSize = b.pending[:0], 0
	case len(b.pending) == 0:
		b.stats.FramesLost.Add(1) // nothing to decode it from
		b.askKeyframe(time.Now())
		return
	}
	if len(b.pending) >= maxPendingFrames || b.pendSize+len(f.data) > maxPendingBytes {
		b.stats.FramesLost.Add(1)
		b.lose(time.Now())
		return
	}
	b.pending = append(b.pending, f)
	b.pendSize += len(f.data)
	b.flush()
}

// flush pushes the frames kept for the pipeline, once it runs (b.mu held).
func (b *bridge) flush() {
	if len(b.pending) == 0 || !b.ready() {
		return
	}
	for i, p := range b.pending {
		if !b.pushFrame(p) {
			b.pending = b.pending[i+1:]
			return
		}
	}
	b.pending, b.pendSize = b.pending[:0], 0
}

// ready reports whether the pipeline takes frames: attached and playing (its appsrc has the
// pipeline's clock; before, pushed frames would be flushed away). The first time, it maps
// wall-clock arrivals to the pipeline's running time (b.mu held).
func (b *bridge) ready() bool {
	if b.src == nil {
		return false
	}
	if b.haveClk {
		return true
	}
	clock := b.src.GetClock()
	if clock == nil {
		return false
	}
	b.clockRun = clock.GetTime() - b.src.GetBaseTime()
	b.clockAt = time.Now()
	b.haveClk = true
	return true
}

// pushFrame pushes one frame into the appsrc; a full queue loses it (b.mu held).
func (b *bridge) pushFrame(f encodedFrame) bool {
	src := b.src
	if max := b.srcMax; max > 0 && src.GetCurrentLevelBytes()+uint64(len(f.data)) > max {
		// The decoder is far behind: dropping this frame breaks the references of the
		// next ones, so drop until a keyframe.
		b.stats.FramesLost.Add(1)
		b.lose(time.Now())
		return false
	}
	buf := gst.NewBufferFromBytes(f.data)
	buf.SetPresentationTimestamp(b.runningTime(f.at))
	// The camera's timing too: what the analysis sizes the stream's time by (the ROI gate),
	// exact where arrivals are not.
	goelement.StampCameraTime(buf, f.camAt, f.camInterval)
	if !f.key {
		buf.SetFlags(gst.BufferFlagDeltaUnit)
	} else if cu := b.decoder.Load(); cu != nil {
		cu.keyframeQueued(buf.PresentationTimestamp(), b.maxDelay)
	}
	if b.maxDelay > 0 && time.Since(f.at) > b.maxDelay {
		// Too old to be analysed and returned (it waited for the pipeline to start): the
		// decoder decodes it, for the frames after it, and never outputs it.
		buf.SetFlags(gst.BufferFlagDecodeOnly)
		b.stats.FramesSkipped.Add(1)
	}
	src.PushBuffer(buf)
	// detach or a rebuild may drop b.src meanwhile, and the stopped pipeline its own
	// reference: ours must outlive the push, or the appsrc could be finalized under it.
	runtime.KeepAlive(src)
	return true
}

// catchUp lets the decoder of one appsrc catch up with the camera. On a host too slow for its
// sessions a decoder can fall seconds behind, and every frame it then decodes is too late for
// the analysis (the webrtc source's max_delay drops it), yet each must be decoded, as the next
// one's reference, at the full cost: the backlog only grows, and the frames that go in after
// max_gap are seconds old. But a keyframe needs no reference: when one is queued while the
// decoder is more than max_delay behind it, the frames before it are not decoded at all
// (counted as skipped), and the decoder goes on from the keyframe, at the camera's present.
// A decoder that falls twice max_delay behind asks the camera for a keyframe (at most once a
// second): a browser sends one only when asked.
type catchUp struct {
	taking atomic.Int64 // timestamp of the frame the decoder took last; -1: none yet
	skipTo atomic.Int64 // timestamp of a keyframe queued behind a backlog; -1: none
	asked  atomic.Int64 // wall time (UnixNano) of the last keyframe asked for
}

// catchUpAskEvery is how often a decoder still behind asks the camera for a keyframe.
const catchUpAskEvery = time.Second

func newCatchUp() *catchUp {
	cu := &catchUp{}
	cu.taking.Store(-1)
	cu.skipTo.Store(-1)
	return cu
}

// DecoderTakes implements pipelines.MediaLink: see catchUp.
func (b *bridge) DecoderTakes(pts, behind time.Duration, key bool) bool {
	cu := b.decoder.Load()
	if cu == nil {
		return true
	}
	if to := cu.skipTo.Load(); to >= 0 {
		if int64(pts) < to {
			b.stats.FramesSkipped.Add(1)
			return false
		}
		cu.skipTo.CompareAndSwap(to, -1)
	}
	cu.taking.Store(int64(pts))
	if !key && b.maxDelay > 0 && behind > 2*b.maxDelay && b.requestPLI != nil {
		now := time.Now().UnixNano()
		if last := cu.asked.Load(); now-last >= int64(catchUpAskEvery) && cu.asked.CompareAndSwap(last, now) {
			go b.requestPLI()
		}
	}
	return true
}

// keyframeQueued is told of each keyframe pushed, with its timestamp: when the decoder is more
// than maxDelay behind it, it skips to it (maxDelay 0: never).
func (cu *catchUp) keyframeQueued(pts gst.ClockTime, maxDelay time.Duration) {
	if maxDelay <= 0 || pts == gst.ClockTimeNone {
		return
	}
	if taking := cu.taking.Load(); taking >= 0 && int64(pts)-taking > int64(maxDelay) {
		cu.skipTo.Store(int64(pts))
	}
}

// runningTime maps an arrival (wall clock) to the pipeline's running time (b.mu held, ready).
// An arrival from before the pipeline started is 0: the oldest a frame can be.
func (b *bridge) runningTime(at time.Time) gst.ClockTime {
	if d := at.Sub(b.clockAt); d >= 0 {
		return b.clockRun + gst.ClockTime(d)
	} else if gst.ClockTime(-d) < b.clockRun {
		return b.clockRun - gst.ClockTime(-d)
	}
	return 0
}

// requestKeyframe asks the encoder for a keyframe (a viewer joined, or one lost packets).
func (b *bridge) requestKeyframe() {
	sink := b.sinkEl.Load()
	if sink == nil {
		return
	}
	b.stats.KeyframesAsked.Add(1)
	st := gst.NewStructureFromString("GstForceKeyUnit, all-headers=(boolean)true")
	sink.SendEvent(gst.NewCustomEvent(gst.EventTypeCustomUpstream, st))
	runtime.KeepAlive(sink) // as in push: detach may drop the bridge's reference meanwhile
}

// detach forgets the pipeline (it is stopping): frames wait for the next one.
func (b *bridge) detach() {
	b.mu.Lock()
	b.src = nil
	b.broken = true // the next pipeline starts at a keyframe
	b.pending, b.pendSize = nil, 0
	b.mu.Unlock()
	b.encoder.Store(nil)
	b.sinkEl.Store(nil)
}

// latencyRing keeps the last latencies for percentiles.
type latencyRing struct {
	mu   sync.Mutex
	vals [1024]time.Duration
	n    int
}

func (r *latencyRing) add(d time.Duration) {
	r.mu.Lock()
	r.vals[r.n%len(r.vals)] = d
	r.n++
	r.mu.Unlock()
}

// snapshot returns the kept latencies (at most the last 1024).
func (r *latencyRing) snapshot() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := min(r.n, len(r.vals))
	return append([]time.Duration(nil), r.vals[:n]...)
}
