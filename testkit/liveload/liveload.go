// Package liveload measures the live checkout as its users see it: independent WHIP clients
// (pion, on loopback) each send a camera clip (testkit/camclip) and decode the annotated
// video that comes back, reading the frame number stamped into every picture. Per session it
// reports how many of its frames came back, how long after sending (decoding included), when
// the first one came, whether pictures were damaged, when count events arrived, and the cart.
//
// Clients either replay the clip's pre-encoded frames (almost free, so that many fit on the
// server's machine) or encode the clip's raw frames live, answering keyframe requests as a
// browser does. Run them in a process of their own (the benchmarks do), so that the server's
// CPU and runtime are its own.
package liveload

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"github.com/ebrcs/ebrcs/cart"
	"github.com/ebrcs/ebrcs/elements/framemeta"
	"github.com/ebrcs/ebrcs/testkit/camclip"
)

// Options say what the clients do.
type Options struct {
	URL      string `json:"url"`      // the server, e.g. http://127.0.0.1:8080
	Pipeline string `json:"pipeline"` // WHIP target (live)
	Sessions int    `json:"sessions"`
	// Live: encode the clip's raw frames as they are sent (and answer keyframe requests)
	// instead of replaying its encoded frames.
	Live bool `json:"live,omitempty"`
	// Stagger spaces the sessions' starts (0: all start together once all are connected).
	Stagger time.Duration `json:"stagger,omitempty"`
	// Join, instead, spaces the sessions' arrivals: each connects (its WHIP offer) this long
	// after the one before and sends at once, as cameras joining a running server do.
	Join time.Duration `json:"join,omitempty"`
	// Loss applies to every session's outgoing packets.
	Loss *Loss `json:"loss,omitempty"`
	// Hog keeps this many threads busy in the client process while sending (a saturated
	// machine).
	Hog int `json:"hog,omitempty"`
	// Tail is how long clients keep receiving after their last frame is sent (1s). Then,
	// as a shopper would before paying, each waits (at most Settle, 30s) until its cart no
	// longer shows products being recognised, and reads it.
	Tail   time.Duration `json:"tail,omitempty"`
	Settle time.Duration `json:"settle,omitempty"`
	// Token is sent as Authorization: Bearer (staff, to read the peers' statistics).
	Token string `json:"token,omitempty"`
}

// Report is the outcome of one run.
type Report struct {
	Sessions []Session `json:"sessions"`
	Refused  []Refusal `json:"refused,omitempty"`
}

// Refusal is a WHIP offer the server turned down.
type Refusal struct {
	Status     int    `json:"status"`
	RetryAfter string `json:"retry_after,omitempty"`
	Body       string `json:"body,omitempty"`
}

// Session is what one client saw. Times are milliseconds.
type Session struct {
	ID   string `json:"id"`
	Sent int    `json:"sent"` // frames sent
	// FirstMs: from the first packet sent to the first annotated picture decoded (-1: none).
	FirstMs float64 `json:"first_ms"`
	// FirstInMs: from the first packet sent to the first packet of the returned video
	// (before this client's decoder starts; -1: none).
	FirstInMs  float64 `json:"first_in_ms"`
	FirstStamp int     `json:"first_stamp"`
	// Back counts distinct stamped pictures after the first one; Expected the frames sent
	// after the first one's frame.
	Back     int `json:"back"`
	Expected int `json:"expected"`
	// Pictures: per picture decoded, its stamp (-1 unreadable), its latency (decoded − its
	// frame sent) and how many of its blocks differ from what was sent by more than 40.
	Pictures []Picture `json:"pictures"`
	// Damaged counts pictures whose blocks differ beyond what the overlay and the codecs
	// explain (decoded from a broken reference).
	Damaged    int `json:"damaged"`
	Unreadable int `json:"unreadable"`
	Duplicates int `json:"duplicates"`
	// Counts are the arrival times of count events, ms after the first packet; Entries the
	// sending times of the counted visits' entry frames, in the same order.
	Counts  []float64 `json:"counts"`
	Entries []float64 `json:"entries"`
	// Decisions are the counter's decisions on the session's event stream, in arrival order
	// (count, cooldown, review, unknown): where a visit that was not counted went.
	Decisions []Decision `json:"decisions,omitempty"`
	// GateEntries are the stream times (s) at which the server's ROI gate saw an object enter
	// (its "roi" events with status "entered"): fewer than the clip's visits means two were
	// taken for one, more that one was split.
	GateEntries []float64      `json:"gate_entries,omitempty"`
	Cart        map[string]int `json:"cart"`
	// SettledMs: from the last frame sent until the cart showed no product being recognised
	// (-1: not within Options.Settle); the cart is read then.
	SettledMs float64   `json:"settled_ms"`
	PLIs      int64     `json:"plis"`            // keyframe requests the client sent
	PLIsIn    int64     `json:"plis_in"`         // keyframe requests the server sent to the client
	Dropped   int64     `json:"dropped"`         // packets the loss dropped
	Lost      int       `json:"lost"`            // returned frames lost (incomplete)
	Skipped   int       `json:"skipped"`         // returned frames not decoded, waiting for a keyframe
	Codec     string    `json:"codec"`           // of the returned video
	Sizes     string    `json:"sizes,omitempty"` // of the returned pictures, WxH, each change in order
	SentAt    []float64 `json:"sent_at"`         // ms after the first packet, per frame index
	EndedMs   float64   `json:"ended_ms"`        // when the last frame was sent
	Error     string    `json:"error,omitempty"`
}

// Decision is one decision event the session's stream brought.
type Decision struct {
	Type    string  `json:"type"`
	Product string  `json:"product,omitempty"`
	Score   float64 `json:"score,omitempty"`
	Seen    float64 `json:"seen"` // the stream time (s) of the sight it decided
	AtMs    float64 `json:"t"`    // arrival, ms after the first packet
}

// Picture is one decoded returned picture.
type Picture struct {
	Stamp int     `json:"s"`
	AtMs  float64 `json:"t"` // decoded, ms after the first packet
	LatMs float64 `json:"l"`
	Bad   int     `json:"b"` // blocks off by more than badBlock
	// RTPMs is the picture's RTP timestamp in ms after the first picture's: when the server
	// says it is to be shown, which a browser's playout follows.
	RTPMs float64 `json:"r"`
}

// badBlock: a 16×16 block whose luma mean moved more than this is not the picture sent.
const badBlock = 40

// Run connects opts.Sessions clients, sends the clip on each and collects the report.
func Run(ctx context.Context, clip *camclip.Clip, opts Options) (*Report, error) {
	if opts.Pipeline == "" {
		opts.Pipeline = "live"
	}
	if opts.Tail == 0 {
		opts.Tail = time.Second
	}
	if opts.Settle == 0 {
		opts.Settle = 30 * time.Second
	}
	if opts.Live && len(clip.Raw) == 0 {
		return nil, errors.New("liveload: a live client needs the clip's raw frames")
	}
	rep := &Report{}
	var clients []*client
	defer func() {
		for _, c := range clients {
			c.close()
		}
	}()
	var mu sync.Mutex // clients and rep.Refused, while sessions join
	var joinErr error
	// join connects session i; nil when it was refused or failed.
	join := func(i int) *client {
		c, ref, err := connect(ctx, clip, opts, i)
		mu.Lock()
		defer mu.Unlock()
		switch {
		case ref != nil:
			rep.Refused = append(rep.Refused, *ref)
		case err != nil:
			joinErr = cmp.Or(joinErr, err)
		default:
			clients = append(clients, c)
			return c
		}
		return nil
	}
	if opts.Join <= 0 { // everyone connects first
		for i := 0; i < opts.Sessions; i++ {
			if join(i); joinErr != nil {
				return nil, joinErr
			}
		}
	}
	stopHog := hog(opts.Hog)
	defer stopHog()
	var wg sync.WaitGroup
	if opts.Join > 0 {
		for i := range opts.Sessions {
			wg.Go(func() {
				time.Sleep(time.Duration(i) * opts.Join)
				if c := join(i); c != nil {
					c.run(ctx, opts)
				}
			})
		}
	} else {
		for i, c := range clients {
			wg.Go(func() {
				time.Sleep(time.Duration(i) * opts.Stagger)
				c.run(ctx, opts)
			})
		}
	}
	wg.Wait()
	if joinErr != nil {
		return nil, joinErr
	}
	for _, c := range clients {
		rep.Sessions = append(rep.Sessions, c.report())
	}
	return rep, nil
}

// hog keeps n threads busy until stopped.
func hog(n int) func() {
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
			x := uint64(1)
			for !stop.Load() {
				for k := 0; k < 100000; k++ {
					x = x*6364136223846793005 + 1442695040888963407
				}
			}
			_ = x
		}()
	}
	return func() { stop.Store(true); wg.Wait() }
}

type client struct {
	clip    *camclip.Clip
	url     string
	pc      *webrtc.PeerConnection
	track   *webrtc.TrackLocalStaticSample
	sender  *webrtc.RTPSender
	loss    *lossInterceptor
	loc     string
	session string
	key     string
	dec     *camclip.Decoder
	enc     *camclip.Encoder // live clients

	mu       sync.Mutex
	start    time.Time // first packet
	firstIn  time.Time // the first packet of the returned video
	sentAt   []time.Time
	sent     int
	ended    time.Time
	pictures []Picture
	counts   []time.Time
	decided  []decisionAt
	// gateEntries are the stream times of the gate's entries.
	gateEntries []float64
	settled     time.Time // the cart showed nothing being recognised (waitSettled)
	lost        int
	skipped     int
	codec       string
	sizes       string // the returned pictures' sizes, each change in order
	cart        map[string]int
	err         string

	plis, plisIn atomic.Int64
	keyWanted    atomic.Bool
	recvSSRC     atomic.Uint32
	done         chan struct{}
	decDone      chan struct{}
	closeOnce    sync.Once
}

// api builds the pion API of one client (a loss interceptor nearest the network).
func api(loss *lossInterceptor) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	if loss != nil {
		reg.Add(lossFactory{loss})
	}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		return nil, err
	}
	s := webrtc.SettingEngine{}
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	s.SetIncludeLoopbackCandidate(true)
	s.SetInterfaceFilter(func(n string) bool { return n == "lo" })
	s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(s)), nil
}

// connect publishes one client; a refusal is returned as such, not as an error.
func connect(ctx context.Context, clip *camclip.Clip, opts Options, i int) (*client, *Refusal, error) {
	c := &client{clip: clip, url: opts.URL, sentAt: make([]time.Time, len(clip.Frames)),
		done: make(chan struct{}), decDone: make(chan struct{})}
	if opts.Loss != nil {
		l := *opts.Loss
		l.Seed += uint64(i)
		c.loss = newLossInterceptor(l)
	}
	a, err := api(c.loss)
	if err != nil {
		return nil, nil, err
	}
	if c.pc, err = a.NewPeerConnection(webrtc.Configuration{}); err != nil {
		return nil, nil, err
	}
	c.track, _ = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "camera")
	tr, err := c.pc.AddTransceiverFromTrack(c.track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
	if err != nil {
		c.pc.Close()
		return nil, nil, err
	}
	c.sender = tr.Sender()
	c.pc.OnTrack(func(t *webrtc.TrackRemote, _ *webrtc.RTPReceiver) { c.receive(t) })
	connected := make(chan struct{})
	var once sync.Once
	c.pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	offer, err := c.pc.CreateOffer(nil)
	if err != nil {
		c.pc.Close()
		return nil, nil, err
	}
	gathered := webrtc.GatheringCompletePromise(c.pc)
	c.pc.SetLocalDescription(offer)
	<-gathered
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, opts.URL+"/whip/"+opts.Pipeline, strings.NewReader(c.pc.LocalDescription().SDP))
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.pc.Close()
		return nil, nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		c.pc.Close()
		return nil, &Refusal{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After"), Body: strings.TrimSpace(string(body))}, nil
	}
	loc, _ := resp.Request.URL.Parse(resp.Header.Get("Location"))
	c.loc, c.session, c.key = loc.String(), resp.Header.Get("X-Ebrcs-Session"), resp.Header.Get("X-Session-Key")
	if err := c.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		c.pc.Close()
		return nil, nil, err
	}
	// Media flows once ICE and DTLS are up, as in a browser: frames written before would be
	// dropped by pion (the camera's first keyframe with them).
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		c.pc.Close()
		return nil, nil, errors.New("liveload: the connection did not come up in 10 s")
	}
	if opts.Live {
		if c.enc, err = camclip.NewEncoder(camclip.EncoderConfig{Width: clip.Width, Height: clip.Height, FPS: clip.FPS, Kbps: 1500, Keyint: 3000}); err != nil {
			c.pc.Close()
			return nil, nil, err
		}
	}
	go c.readRTCP()
	return c, nil, nil
}

// readRTCP answers the server's keyframe requests (a live encoder makes one).
func (c *client) readRTCP() {
	for {
		pkts, _, err := c.sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				c.plisIn.Add(1)
				if c.enc != nil {
					c.enc.ForceKeyframe()
				}
			}
		}
	}
}

// run follows the session's events, sends the clip paced at its frame rate, waits for the
// tail, reads the cart and ends the session.
func (c *client) run(ctx context.Context, opts Options) {
	ectx, cancel := context.WithCancel(ctx)
	defer cancel()
	events := c.follow(ectx)
	fps := c.clip.FPS
	period := time.Second / time.Duration(fps)
	var encDone chan struct{}
	if c.enc != nil {
		encDone = make(chan struct{})
		go func() {
			defer close(encDone)
			for f := range c.enc.Out() {
				c.track.WriteSample(media.Sample{Data: f.Data, Duration: period})
			}
		}()
	}
	t0 := time.Now()
	for i := range c.clip.Frames {
		next := t0.Add(time.Duration(i) * period)
		if d := time.Until(next); d > 0 {
			select {
			case <-ctx.Done():
				c.setErr(ctx.Err())
				return
			case <-time.After(d):
			}
		}
		now := time.Now()
		c.mu.Lock()
		if i == 0 {
			c.start = now
		}
		c.sentAt[i], c.sent = now, i+1
		c.mu.Unlock()
		if c.enc != nil {
			if err := c.enc.Encode(c.clip.Raw[i], i); err != nil {
				c.setErr(err)
				return
			}
		} else if err := c.track.WriteSample(media.Sample{Data: c.clip.Frames[i].Data, Duration: period}); err != nil {
			c.setErr(err)
			return
		}
	}
	if c.enc != nil {
		c.enc.End() // the last frames out, then Out closes
		select {
		case <-encDone:
		case <-time.After(5 * time.Second):
			c.setErr(errors.New("liveload: the encoder did not finish"))
		}
	}
	c.mu.Lock()
	c.ended = time.Now()
	c.mu.Unlock()
	time.Sleep(opts.Tail)
	c.waitSettled(ctx, opts.Settle)
	cancel()
	c.mu.Lock()
	for d := range events {
		if d.typ == gateEntry {
			c.gateEntries = append(c.gateEntries, d.seen)
			continue
		}
		c.decided = append(c.decided, d)
		if d.typ == "count" {
			c.counts = append(c.counts, d.at)
		}
	}
	c.mu.Unlock()
	c.cart = c.readCart(ctx)
	c.close()
}

func (c *client) setErr(err error) {
	c.mu.Lock()
	if c.err == "" {
		c.err = err.Error()
	}
	c.mu.Unlock()
}

// decisionAt is a decision event and when it arrived.
type decisionAt struct {
	typ, product string
	score        float64
	seen         float64 // the stream time of the sight it decided, seconds
	at           time.Time
}

// decisionEvents are the event types by which the counter decides a visit.
var decisionEvents = map[string]bool{"count": true, "cooldown": true, "review": true, "unknown": true}

// gateEntry is the type follow gives the gate's entries ("roi" events with status
// "entered"), which are not decisions.
const gateEntry = string(framemeta.ROIEntered)

// follow reads the session's event stream; the channel gets every decision event and every
// gate entry (with its arrival time) and is closed when ctx ends.
func (c *client) follow(ctx context.Context) <-chan decisionAt {
	out := make(chan decisionAt, 256)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.url+"/api/sessions/"+c.session+"/events", nil)
	req.Header.Set("X-Session-Key", c.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		close(out)
		return out
	}
	go func() {
		defer close(out)
		defer resp.Body.Close()
		r := bufio.NewReader(resp.Body)
		var ev *decisionAt // the decision whose data line comes next
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimSpace(line)
			if typ, ok := strings.CutPrefix(line, "event: "); ok {
				ev = nil
				if decisionEvents[typ] || typ == string(cart.EventROI) {
					// Timed as the event line arrives: the data line follows in the same write.
					ev = &decisionAt{typ: typ, at: time.Now()}
				}
				continue
			}
			data, ok := strings.CutPrefix(line, "data: ")
			if !ok || ev == nil {
				continue
			}
			var body cart.Event
			json.Unmarshal([]byte(data), &body)
			ev.product, ev.score, ev.seen = body.Product, float64(body.Score), body.StreamTime
			if ev.typ == string(cart.EventROI) {
				if body.Status != gateEntry {
					ev = nil
					continue
				}
				ev.typ = gateEntry
			}
			if r := body.Review; r != nil && len(r.Candidates) > 0 { // a review names its best candidate
				ev.product, ev.score = r.Candidates[0].Product, float64(r.Candidates[0].Score)
			}
			select {
			case out <- *ev:
			default:
			}
			ev = nil
		}
	}()
	return out
}

// waitSettled waits, at most max, until the session's cart shows no product still being
// recognised, and notes when (a busy server recognises seconds behind the video). The count
// event of the last recognition is published before the cart's count drops; a short grace
// lets it arrive on the event stream too.
func (c *client) waitSettled(ctx context.Context, max time.Duration) {
	deadline := time.Now().Add(max)
	for {
		_, recognising, ok := c.getCart(ctx)
		if ok && recognising == 0 {
			c.mu.Lock()
			c.settled = time.Now()
			c.mu.Unlock()
			time.Sleep(200 * time.Millisecond)
			return
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// readCart reads the session's cart: product → quantity (nil when it could not).
func (c *client) readCart(ctx context.Context) map[string]int {
	items, _, _ := c.getCart(ctx)
	return items
}

// getCart reads the session's cart: product → quantity, and how many products are still
// being recognised.
func (c *client) getCart(ctx context.Context) (map[string]int, int, bool) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.url+"/api/sessions/"+c.session+"/cart", nil)
	req.Header.Set("X-Session-Key", c.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, false
	}
	defer resp.Body.Close()
	var v cart.CartView
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&v) != nil {
		return nil, 0, false
	}
	return v.Totals(), v.Recognising, true
}

// receive assembles, decodes and judges the returned video.
func (c *client) receive(t *webrtc.TrackRemote) {
	codec := "VP8"
	if strings.Contains(strings.ToLower(t.Codec().MimeType), "h264") {
		codec = "H264"
	}
	c.mu.Lock()
	c.codec = codec
	c.firstIn = time.Now() // OnTrack comes with the track's first packet
	c.mu.Unlock()
	c.recvSSRC.Store(uint32(t.SSRC()))
	dec, err := camclip.NewDecoder(codec)
	if err != nil {
		c.setErr(err)
		return
	}
	c.mu.Lock()
	c.dec = dec
	c.mu.Unlock()
	go c.judge(dec)
	asm := newAssembler(codec)
	// The decoder's tag is the frame's RTP time since the first frame's (in ns), unwrapped:
	// it comes back with the picture (Picture.RTPMs).
	var lastRTP uint32
	var rtpTicks, lastTag int64
	haveRTP := false
	lastPLI := time.Time{}
	for {
		pkt, _, err := t.ReadRTP()
		if err != nil {
			return
		}
		f := asm.push(pkt)
		if f == nil {
			continue
		}
		if f.afterLoss {
			c.mu.Lock()
			c.lost++
			c.mu.Unlock()
			c.keyWanted.Store(true)
		}
		if c.keyWanted.Load() {
			if !f.key {
				c.mu.Lock()
				c.skipped++
				c.mu.Unlock()
				if time.Since(lastPLI) > 300*time.Millisecond {
					lastPLI = time.Now()
					c.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(t.SSRC())}})
					c.plis.Add(1)
				}
				continue
			}
			c.keyWanted.Store(false)
		}
		if !haveRTP {
			lastRTP, haveRTP = f.rtpTime, true
		}
		rtpTicks += int64(int32(f.rtpTime - lastRTP))
		lastRTP = f.rtpTime
		tag := rtpTicks * int64(time.Second) / 90000
		if tag <= lastTag && lastTag > 0 { // a server clock that went back: keep the tags increasing
			tag = lastTag + 1
		}
		lastTag = tag
		dec.Decode(f.data, tag)
	}
}

// judge reads decoded pictures: stamp, latency, damage.
func (c *client) judge(dec *camclip.Decoder) {
	defer close(c.decDone)
	cols := c.clip.BlockCols()
	lastW, lastH := 0, 0
	for {
		select {
		case <-c.done:
			return
		case d := <-dec.Out():
			p := Picture{Stamp: -1, RTPMs: ms(time.Duration(d.Tag))}
			n, ok := camclip.ReadStamp(d.Y, d.Width, d.Width, d.Height)
			c.mu.Lock()
			if d.Width != lastW || d.Height != lastH {
				lastW, lastH = d.Width, d.Height
				c.sizes = strings.TrimSpace(fmt.Sprintf("%s %dx%d", c.sizes, d.Width, d.Height))
			}
			if !c.start.IsZero() {
				p.AtMs = ms(d.At.Sub(c.start))
			}
			if ok && int(n) < len(c.clip.Frames) && !c.sentAt[n].IsZero() {
				p.Stamp = int(n)
				p.LatMs = ms(d.At.Sub(c.sentAt[n]))
				// The same regions of the camera's picture, at whatever integer scale the
				// server sent it back.
				if got, ok := c.clip.ScaledBlockMeans(d.Y, d.Width, d.Width, d.Height); ok {
					ref := c.clip.Blocks[n]
					for b := range got {
						if absDiff(got[b], ref[b]) > badBlock && b/cols > 5 { // the top rows hold the status and cart panels
							p.Bad++
						}
					}
				}
			}
			c.pictures = append(c.pictures, p)
			c.mu.Unlock()
		}
	}
}

func absDiff(a, b byte) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func (c *client) close() {
	c.closeOnce.Do(func() {
		req, _ := http.NewRequest(http.MethodDelete, c.loc, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
		c.pc.Close()
		close(c.done)
		c.mu.Lock()
		dec := c.dec
		c.mu.Unlock()
		if dec != nil {
			<-c.decDone
			dec.Close()
		}
		if c.enc != nil {
			c.enc.Close()
		}
	})
}

// damagedBlocks: a picture with more bad blocks than this was decoded from a broken
// reference (the overlay's box, label and panels below the top rows stay well under it).
const damagedBlocks = 60

func (c *client) report() Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := Session{ID: c.session, Sent: c.sent, FirstMs: -1, FirstStamp: -1, Pictures: c.pictures, Cart: c.cart,
		PLIs: c.plis.Load(), PLIsIn: c.plisIn.Load(), Lost: c.lost, Skipped: c.skipped, Codec: c.codec, Sizes: c.sizes, Error: c.err}
	if c.loss != nil {
		s.Dropped = c.loss.dropped.Load()
	}
	seen := map[int]bool{}
	for _, p := range c.pictures {
		if p.Stamp < 0 {
			s.Unreadable++
			continue
		}
		if p.Bad > damagedBlocks {
			s.Damaged++
		}
		if seen[p.Stamp] {
			s.Duplicates++
			continue
		}
		seen[p.Stamp] = true
		if s.FirstStamp < 0 {
			s.FirstStamp, s.FirstMs = p.Stamp, p.AtMs
			continue
		}
		if p.Stamp > s.FirstStamp {
			s.Back++
		}
	}
	s.FirstInMs = -1
	if !c.firstIn.IsZero() && !c.start.IsZero() {
		s.FirstInMs = ms(c.firstIn.Sub(c.start))
	}
	if s.FirstStamp >= 0 {
		s.Expected = c.sent - 1 - s.FirstStamp
	}
	for _, t := range c.counts {
		s.Counts = append(s.Counts, ms(t.Sub(c.start)))
	}
	for _, d := range c.decided {
		s.Decisions = append(s.Decisions, Decision{Type: d.typ, Product: d.product, Score: d.score, Seen: d.seen, AtMs: ms(d.at.Sub(c.start))})
	}
	s.GateEntries = c.gateEntries
	for _, v := range c.clip.Truth.Visits {
		if v.Counted && v.EntryFrame < len(c.sentAt) && !c.sentAt[v.EntryFrame].IsZero() {
			s.Entries = append(s.Entries, ms(c.sentAt[v.EntryFrame].Sub(c.start)))
		}
	}
	for _, t := range c.sentAt[:c.sent] {
		s.SentAt = append(s.SentAt, ms(t.Sub(c.start)))
	}
	if !c.ended.IsZero() {
		s.EndedMs = ms(c.ended.Sub(c.start))
	}
	s.SettledMs = -1
	if !c.settled.IsZero() && !c.ended.IsZero() {
		s.SettledMs = ms(c.settled.Sub(c.ended))
	}
	return s
}

// Summary condenses a report for a table row.
type Summary struct {
	Sessions, Refused int
	WorstShare        float64 // the worst session's Back/Expected
	MeanShare         float64
	FirstMaxMs        float64 // the slowest session's first picture
	P95Ms             float64 // over every stamped picture of every session
	WorstP95Ms        float64 // the worst session's own p95
	Damaged           int
	CartsOK           int
	CountP95Ms        float64 // entry frame sent → count event, over every counted visit
	Counted, Visits   int
	// Reviews, Unknowns and Cooldowns count the other decisions: a visit that was not
	// counted was asked about, reported unknown, held by the cooldown, or lost (none).
	Reviews, Unknowns, Cooldowns int
	// SettledMaxMs: the longest a client waited after its last frame for its cart to show
	// nothing being recognised; Unsettled counts clients whose cart never did (Options.Settle).
	SettledMaxMs       float64
	Unsettled          int
	Unreadable, Errors int
	// GateEntries counts the server gate's entries over every session, to set against
	// Visits: fewer means visits taken for one, more a visit split.
	GateEntries int
}

// Summarize computes the table row of a report against the clip's truth.
func Summarize(rep *Report, clip *camclip.Clip) Summary {
	sum := Summary{Sessions: len(rep.Sessions), Refused: len(rep.Refused), WorstShare: 1}
	var all, counts []float64
	for _, s := range rep.Sessions {
		share := 0.0
		if s.Expected > 0 {
			share = float64(s.Back) / float64(s.Expected)
		}
		sum.WorstShare = min(sum.WorstShare, share)
		sum.MeanShare += share / float64(len(rep.Sessions))
		if s.FirstMs < 0 {
			sum.FirstMaxMs = 1e9
		} else {
			sum.FirstMaxMs = max(sum.FirstMaxMs, s.FirstMs)
		}
		var lat []float64
		for _, p := range s.Pictures {
			if p.Stamp >= 0 {
				lat = append(lat, p.LatMs)
			}
		}
		all = append(all, lat...)
		sum.WorstP95Ms = max(sum.WorstP95Ms, Percentile(lat, 0.95))
		sum.Damaged += s.Damaged
		sum.Unreadable += s.Unreadable
		if s.Error != "" {
			sum.Errors++
		}
		if fmt.Sprint(s.Cart) == fmt.Sprint(clip.Truth.Items) {
			sum.CartsOK++
		}
		sum.Visits += len(s.Entries)
		for k := 0; k < len(s.Counts) && k < len(s.Entries); k++ {
			counts = append(counts, s.Counts[k]-s.Entries[k])
		}
		sum.Counted += len(s.Counts)
		sum.GateEntries += len(s.GateEntries)
		if s.SettledMs < 0 {
			sum.Unsettled++
		}
		sum.SettledMaxMs = max(sum.SettledMaxMs, s.SettledMs)
		for _, d := range s.Decisions {
			switch d.Type {
			case "review":
				sum.Reviews++
			case "unknown":
				sum.Unknowns++
			case "cooldown":
				sum.Cooldowns++
			}
		}
	}
	if len(rep.Sessions) == 0 {
		sum.WorstShare = 0
	}
	sum.P95Ms = Percentile(all, 0.95)
	sum.CountP95Ms = Percentile(counts, 0.95)
	return sum
}

// Percentile of v (nearest rank); 0 for none.
func Percentile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[min(len(s)-1, int(q*float64(len(s)-1)+0.5))]
}
