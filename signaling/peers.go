package signaling

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/internal/metrics"
	"github.com/ebrcs/ebrcs/pipelines"
)

// publisher is one WHIP connection: a camera's video in, the annotated video back, and the
// session pipeline between them.
type publisher struct {
	svc     *Service
	id      string
	spec    *pipelines.Spec
	session *checkout.Session
	owned   bool // the session was created for this publisher and ends with it
	pc      *webrtc.PeerConnection
	bridge  *bridge
	started time.Time

	mu        sync.Mutex
	sup       *pipelines.Supervisor
	closeOnce sync.Once
	done      chan struct{}
}

func (s *Service) startPublisher(ctx context.Context, spec *pipelines.Spec, sess *checkout.Session, owned bool,
	info offerInfo, offer string) (*publisher, string, error) {
	pc, err := s.api.NewPeerConnection(s.cfg.rtcConfig())
	if err != nil {
		return nil, "", err
	}
	info.outCodec = info.returnCodec(spec.Sink.Params.String("codec"))
	out, err := webrtc.NewTrackLocalStaticSample(codecCapability(info.outCodec), "video", "ebrcs-"+sess.ID)
	if err != nil {
		pc.Close()
		return nil, "", err
	}
	p := &publisher{svc: s, id: newResourceID(), spec: spec, session: sess, owned: owned, pc: pc,
		bridge: newBridge(info.codec, info.outCodec, out, frameWait(spec), spec.Source.Params.Duration("max_delay")), started: time.Now().UTC(), done: make(chan struct{})}
	p.bridge.onSource = p.sendPLI
	p.bridge.requestPLI = p.sendPLI
	if testHookNewPublisher != nil {
		testHookNewPublisher(p)
	}

	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		pc.Close()
		return nil, "", refuse(http.StatusBadRequest, "sdp", "the offer was refused: %v", err)
	}
	// The annotated video goes back on the offer's own video transceiver (sendrecv), so a
	// browser needs a single connection; AddTrack reuses the transceiver the offer created.
	sender, err := pc.AddTrack(out)
	if err != nil {
		pc.Close()
		return nil, "", err
	}
	go readRTCP(sender, p.bridge)
	pc.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if track.Kind() != webrtc.RTPCodecTypeVideo {
			return
		}
		p.readTrack(track)
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			go p.close("connection " + st.String())
		}
	})
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	answer, err := s.answer(actx, pc)
	if err != nil {
		pc.Close()
		return nil, "", err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		pc.Close()
		return nil, "", refuse(http.StatusServiceUnavailable, "", "the server is shutting down")
	}
	s.publishers[p.id] = p
	s.wg.Add(1)
	s.mu.Unlock()
	// A camera that makes the server busy (or past its capacity) sends back compact (at
	// half rate) from its first frame, and so do the others from their next.
	s.shapeReturns()
	// The pipeline is built while ICE and DTLS connect: its first frame is then processed
	// as soon as it arrives.
	p.startPipeline()
	go p.watch()
	metrics.WebRTCConnections.WithLabelValues("whip", "opened").Inc()
	s.log.Info("publisher connected", "resource", p.id, "session", sess.ID, "pipeline", spec.Name, "codec", info.codec)
	return p, answer, nil
}

// watch closes the publisher when ICE never connects, or when its session ends.
func (p *publisher) watch() {
	defer p.svc.wg.Done()
	timer := time.NewTimer(p.svc.cfg.ConnectTimeout)
	defer timer.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-p.session.Done():
			p.close("session ended")
			return
		case <-timer.C:
			if p.pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
				p.close("ICE did not connect in time")
			}
		}
	}
}

// startPipeline builds and starts the session's pipeline; frames wait in the bridge until it
// runs.
func (p *publisher) startPipeline() {
	p.mu.Lock()
	if p.sup != nil || isClosed(p.done) {
		p.mu.Unlock()
		return
	}
	sup := pipelines.NewSupervisor(p.spec, pipelines.SupervisorOptions{
		MaxRestarts: -1, Binding: p.session.Binding(p.bridge),
		Logger: p.svc.log.With("session", p.session.ID, "resource", p.id),
	})
	p.sup = sup
	p.mu.Unlock()
	sup.Start()
	go p.keyframeWatchdog()
}

// readTrack pumps the camera's packets into the bridge. A read that waits longer than the
// tick lets the bridge give up on missing packets and start a pipeline that is ready.
func (p *publisher) readTrack(track *webrtc.TrackRemote) {
	go func() {
		for {
			track.SetReadDeadline(time.Now().Add(readTick))
			pkt, _, err := track.ReadRTP()
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					p.bridge.tick()
					continue
				}
				return // the connection closed
			}
			p.bridge.push(pkt)
		}
	}()
}

// readTick is how long the packet reader waits before the bridge checks the time.
const readTick = 20 * time.Millisecond

// frameWait is how long a frame waits for its missing packets: the webrtc source's
// jitter_latency.
func frameWait(spec *pipelines.Spec) time.Duration {
	if d := spec.Source.Params.Duration("jitter_latency"); d > 0 {
		return d
	}
	return 50 * time.Millisecond
}

// keyframeWatchdog asks the publisher for a keyframe whenever packets arrive but no frame
// comes out for a while: the first request was lost, or lost packets broke the decoding and
// retransmissions did not repair it. At most one request a second.
func (p *publisher) keyframeWatchdog() {
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var lastIn, lastOut int64
	var lastPLI time.Time
	for {
		select {
		case <-p.done:
			return
		case <-tick.C:
		}
		in, out := p.bridge.stats.PacketsIn.Load(), p.bridge.stats.FramesOut.Load()
		if in > lastIn && out == lastOut && time.Since(lastPLI) >= time.Second {
			p.sendPLI()
			lastPLI = time.Now()
		}
		lastIn, lastOut = in, out
	}
}

// sendPLI asks the publisher for a keyframe.
func (p *publisher) sendPLI() {
	for _, r := range p.pc.GetReceivers() {
		if t := r.Track(); t != nil && t.Kind() == webrtc.RTPCodecTypeVideo {
			if err := p.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(t.SSRC())}}); err == nil {
				p.bridge.stats.PLIsSent.Add(1)
			}
		}
	}
}

// close ends the publisher: the pipeline stops, the connection closes, its viewers end, and
// a session created for it is deleted.
func (p *publisher) close(reason string) {
	p.closeOnce.Do(func() {
		close(p.done)
		p.svc.mu.Lock()
		delete(p.svc.publishers, p.id)
		var viewers []*viewer
		for _, v := range p.svc.viewers {
			if v.pub == p {
				viewers = append(viewers, v)
			}
		}
		p.svc.mu.Unlock()
		for _, v := range viewers {
			v.close("the camera stopped")
		}
		p.mu.Lock()
		sup := p.sup
		p.mu.Unlock()
		p.bridge.detach()
		if sup != nil {
			sup.Stop() // and detached from the session
		}
		p.pc.Close()
		if p.owned {
			if err := p.svc.checkouts.Delete(p.session.ID); err != nil && !errors.Is(err, checkout.ErrNoSession) {
				p.svc.log.Warn("closing the publisher's session", "session", p.session.ID, "error", err)
			}
		}
		metrics.WebRTCConnections.WithLabelValues("whip", closeOutcome(reason)).Inc()
		p.svc.log.Info("publisher closed", "resource", p.id, "session", p.session.ID, "reason", reason,
			"packets_in", p.bridge.stats.PacketsIn.Load(), "frames_out", p.bridge.stats.FramesOut.Load())
	})
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// viewer is one WHEP connection watching a session's annotated video: a publisher's, or a
// camera station's (pub nil).
type viewer struct {
	svc       *Service
	id        string
	pub       *publisher
	session   string
	pc        *webrtc.PeerConnection
	closeOnce sync.Once
	done      chan struct{}
}

func (s *Service) startViewer(ctx context.Context, pub *publisher, out *bridge, session, offer string) (*viewer, string, error) {
	pc, err := s.api.NewPeerConnection(s.cfg.rtcConfig())
	if err != nil {
		return nil, "", err
	}
	v := &viewer{svc: s, id: newResourceID(), pub: pub, session: session, pc: pc, done: make(chan struct{})}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		pc.Close()
		return nil, "", refuse(http.StatusBadRequest, "sdp", "the offer was refused: %v", err)
	}
	sender, err := pc.AddTrack(out.out)
	if err != nil {
		pc.Close()
		return nil, "", err
	}
	go readRTCP(sender, out)
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			out.requestKeyframe() // a new viewer can only start decoding at a keyframe
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed:
			go v.close("connection " + st.String())
		}
	})
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	answer, err := s.answer(actx, pc)
	if err != nil {
		pc.Close()
		return nil, "", fmt.Errorf("%w", err)
	}
	s.mu.Lock()
	if s.closed || (pub != nil && isClosed(pub.done)) {
		s.mu.Unlock()
		pc.Close()
		return nil, "", refuse(http.StatusConflict, "session", "the session's camera stopped")
	}
	s.viewers[v.id] = v
	s.wg.Add(1)
	s.mu.Unlock()
	metrics.WebRTCConnections.WithLabelValues("whep", "opened").Inc()
	go func() {
		defer s.wg.Done()
		timer := time.NewTimer(s.cfg.ConnectTimeout)
		defer timer.Stop()
		select {
		case <-v.done:
		case <-timer.C:
			if pc.ConnectionState() != webrtc.PeerConnectionStateConnected {
				v.close("ICE did not connect in time")
			}
			<-v.done
		}
	}()
	return v, answer, nil
}

func (v *viewer) close(reason string) {
	v.closeOnce.Do(func() {
		close(v.done)
		v.svc.mu.Lock()
		delete(v.svc.viewers, v.id)
		v.svc.mu.Unlock()
		v.pc.Close()
		metrics.WebRTCConnections.WithLabelValues("whep", closeOutcome(reason)).Inc()
		v.svc.log.Info("viewer closed", "resource", v.id, "session", v.session, "reason", reason)
	})
}

// closeOutcome turns a close reason into a bounded metric label.
func closeOutcome(reason string) string {
	switch {
	case reason == "deleted by the client":
		return "deleted"
	case reason == "ICE did not connect in time":
		return "never_connected"
	case strings.HasPrefix(reason, "connection "):
		return "disconnected"
	case reason == "session ended", reason == "the camera stopped":
		return "session_ended"
	case reason == "server shutdown":
		return "shutdown"
	}
	return "other"
}

// testHookNewPublisher lets the churn test follow publishers until they are collected.
var testHookNewPublisher func(*publisher)
