package signaling

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/checkout/access"
	"github.com/ebrcs/ebrcs/pipelines"
)

// SpecSource finds pipeline definitions by name (the pipelines.Manager).
type SpecSource interface {
	Spec(name string) *pipelines.Spec
}

// Service serves WHIP and WHEP and owns the live peers.
type Service struct {
	cfg       Config
	api       *webrtc.API
	specs     SpecSource
	checkouts *checkout.Manager
	outputs   *Outputs // stations' annotated video
	guard     *access.Guard
	log       *slog.Logger

	adm        *admission
	compact    *returnStep // when the sessions send their video back compact
	halfRate   *returnStep // when they send every other frame back
	shaping    sync.Mutex  // one shapeReturns at a time: the sessions see its decisions in order
	mu         sync.Mutex
	publishers map[string]*publisher // by resource id
	admitting  int                   // publishers admitted, not registered yet
	viewers    map[string]*viewer
	closed     bool
	wg         sync.WaitGroup
	stop       chan struct{} // ends the capacity measurement
}

// NewService prepares the WebRTC service. outputs are the camera stations' videos it serves
// to WHEP viewers (nil: none). guard decides who may join or watch a session (the same guard
// as the HTTP API's; nil: session keys only, nobody is staff).
func NewService(cfg Config, specs SpecSource, checkouts *checkout.Manager, outputs *Outputs, guard *access.Guard, log *slog.Logger) (*Service, error) {
	cfg = cfg.withDefaults()
	api, err := newAPI(cfg)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Service{cfg: cfg, api: api, specs: specs, checkouts: checkouts, outputs: outputs, guard: guard,
		log: log.With("component", "webrtc"), publishers: map[string]*publisher{}, viewers: map[string]*viewer{},
		adm: newAdmission(cfg.MaxPublishers), compact: newReturnStep(cfg.CompactAbove, defaultCompactAbove()),
		halfRate: newReturnStep(cfg.HalfRateAbove, defaultHalfRateAbove()), stop: make(chan struct{})}
	s.wg.Add(1)
	go s.measureCapacity()
	return s, nil
}

// measureCapacity measures what a live session costs, once a second, while the service runs,
// and shapes the video the sessions send back by how many run (returnStep).
func (s *Service) measureCapacity() {
	defer s.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			s.mu.Lock()
			n := len(s.publishers)
			s.mu.Unlock()
			s.adm.measure(n)
			s.shapeReturns()
		}
	}
}

// shapeReturns decides, by the number of live sessions, whether they send their video back
// compact and at half rate (returnStep), and tells every session. Called once a second and
// when a camera joins (sessions that end are seen on the next second).
func (s *Service) shapeReturns() {
	s.shaping.Lock()
	defer s.shaping.Unlock()
	s.mu.Lock()
	pubs := make([]*publisher, 0, len(s.publishers))
	for _, p := range s.publishers {
		pubs = append(pubs, p)
	}
	s.mu.Unlock()
	compact, changed := s.compact.update(len(pubs))
	if changed {
		s.log.Info("returned video size", "compact", compact, "sessions", len(pubs), "compact_above", s.compact.above)
	}
	half, changed := s.halfRate.update(len(pubs))
	if changed {
		s.log.Info("returned video rate", "half", half, "sessions", len(pubs), "half_rate_above", s.halfRate.above)
	}
	for _, p := range pubs {
		p.bridge.size.set(compact)
		p.bridge.rate.set(half)
	}
}

// Admission returns the live cameras (WHIP publishers) and their admission limit (0: none).
func (s *Service) Admission() (publishers, limit int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.publishers), s.adm.limit()
}

// admit reserves room for a new publisher: false when the limit is reached. The caller calls
// admitted once the publisher is registered, or has failed.
func (s *Service) admit() (bool, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lim := s.adm.limit()
	if lim > 0 && len(s.publishers)+s.admitting >= lim {
		return false, lim
	}
	s.admitting++
	return true, lim
}

func (s *Service) admitted() {
	s.mu.Lock()
	s.admitting--
	s.mu.Unlock()
}

// admitOrRefuse reserves room for a new publisher; at the limit it answers the offer (307 to
// a node with room, else 503 with Retry-After) and returns false. One camera more than the
// machine can process would degrade every session: it is refused before anything is made.
func (s *Service) admitOrRefuse(c *gin.Context, joining *checkout.Session) bool {
	ok, limit := s.admit()
	if ok {
		return true
	}
	if s.redirectElsewhere(c, joining) {
		return false
	}
	c.Header("Retry-After", strconv.Itoa(int(retryAfter/time.Second)))
	fail(c, refuse(http.StatusServiceUnavailable, "", "the server is processing as many live cameras as it can (%d); try again later", limit))
	return false
}

// Routes adds the WHIP and WHEP endpoints.
func (s *Service) Routes(r *gin.Engine) {
	r.POST("/whip/:pipeline", s.handleWHIP)
	r.DELETE("/whip/:pipeline/:resource", s.handleDeletePublisher)
	r.PATCH("/whip/:pipeline/:resource", s.handleTrickle)
	r.POST("/whep/:session", s.handleWHEP)
	r.DELETE("/whep/:session/:resource", s.handleDeleteViewer)
	r.PATCH("/whep/:session/:resource", s.handleTrickle)
	r.GET("/api/sessions/:id/annotations", s.handleAnnotations)
	for _, p := range []string{"/whip/:pipeline", "/whep/:session"} {
		r.OPTIONS(p, func(c *gin.Context) {
			c.Header("Allow", "OPTIONS, POST")
			c.Header("Accept-Post", "application/sdp")
			c.Status(http.StatusNoContent)
		})
	}
}

func fail(c *gin.Context, err error) {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Status: http.StatusInternalServerError, Msg: err.Error()}
	}
	c.AbortWithStatusJSON(e.Status, gin.H{"error": e.Msg, "field": e.Field})
}

// readOffer reads an SDP offer body, refusing other content types and oversized bodies.
func (s *Service) readOffer(c *gin.Context) (string, error) {
	ct := strings.ToLower(strings.TrimSpace(strings.Split(c.GetHeader("Content-Type"), ";")[0]))
	if ct != "application/sdp" {
		return "", refuse(http.StatusUnsupportedMediaType, "content-type", "the offer must be sent as application/sdp, not %q", ct)
	}
	raw, err := io.ReadAll(io.LimitReader(c.Request.Body, s.cfg.MaxSDPBytes+1))
	if err != nil {
		return "", refuse(http.StatusBadRequest, "sdp", "reading the offer: %v", err)
	}
	if int64(len(raw)) > s.cfg.MaxSDPBytes {
		return "", refuse(http.StatusRequestEntityTooLarge, "sdp", "the offer is larger than %d bytes", s.cfg.MaxSDPBytes)
	}
	if len(strings.TrimSpace(string(raw))) == 0 {
		return "", refuse(http.StatusBadRequest, "sdp", "the request has no SDP offer")
	}
	return string(raw), nil
}

func (s *Service) handleTrickle(c *gin.Context) {
	// Our answers carry every candidate (non-trickle); RFC 9725 lets a server refuse PATCH.
	c.Header("Allow", "DELETE")
	c.AbortWithStatusJSON(http.StatusMethodNotAllowed, gin.H{"error": "trickle ICE is not supported: send an offer with its candidates gathered"})
}

// answer completes an offer/answer exchange (the remote offer is set) and waits for our
// candidates: the answer carries them all.
func (s *Service) answer(ctx context.Context, pc *webrtc.PeerConnection) (string, error) {
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", refuse(http.StatusBadRequest, "sdp", "no answer is possible for this offer: %v", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", refuse(http.StatusBadRequest, "sdp", "no answer is possible for this offer: %v", err)
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", refuse(http.StatusServiceUnavailable, "", "gathering ICE candidates timed out")
	}
	return pc.LocalDescription().SDP, nil
}

func newResourceID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// handleWHIP: POST /whip/{pipeline} with an SDP offer publishes a camera into a new
// checkout session (or ?session=ID) running the named pipeline.
func (s *Service) handleWHIP(c *gin.Context) {
	offer, err := s.readOffer(c)
	if err != nil {
		fail(c, err)
		return
	}
	info, err := inspectOffer(offer, "send")
	if err != nil {
		fail(c, err)
		return
	}
	name := c.Param("pipeline")
	spec := s.specs.Spec(name)
	if spec == nil {
		fail(c, refuse(http.StatusNotFound, "pipeline", "no pipeline %q (see GET /api/pipelines)", name))
		return
	}
	if spec.Source.Type != "webrtc" {
		fail(c, refuse(http.StatusConflict, "pipeline", "pipeline %q takes a %s source, not WebRTC", name, spec.Source.Type))
		return
	}
	var sess *checkout.Session
	owned, reserved := false, false
	defer func() {
		if reserved {
			s.admitted()
		}
	}()
	if id := c.Query("session"); id != "" {
		// Publishing into a session is changing it: its key or staff only.
		if sess, err = s.checkouts.Get(id); err != nil {
			fail(c, refuse(http.StatusNotFound, "session", "%v", err))
			return
		}
		if err := s.guard.Session(c.Request, sess); err != nil {
			fail(c, refuse(access.Status(err), "session", "%v", err))
			return
		}
		if reserved = s.admitOrRefuse(c, sess); !reserved {
			return
		}
	} else {
		if reserved = s.admitOrRefuse(c, nil); !reserved {
			return
		}
		if err := s.guard.AllowCreate(c.Request); err != nil {
			var rate *access.RateError
			if errors.As(err, &rate) {
				c.Header("Retry-After", strconv.Itoa(int(rate.RetryAfter.Round(time.Second)/time.Second)))
			}
			fail(c, refuse(access.Status(err), "", "%v", err))
			return
		}
		if sess, err = s.checkouts.Create(nil); err != nil {
			status := http.StatusServiceUnavailable
			if errors.Is(err, checkout.ErrTooManySessions) {
				if s.redirectElsewhere(c, nil) {
					return
				}
				status = http.StatusTooManyRequests
			}
			fail(c, refuse(status, "", "%v", err))
			return
		}
		owned = true
	}
	p, answer, err := s.startPublisher(c.Request.Context(), spec, sess, owned, info, offer)
	if err != nil {
		if owned {
			s.checkouts.Delete(sess.ID)
		}
		fail(c, err)
		return
	}
	location := fmt.Sprintf("/whip/%s/%s", name, p.id)
	c.Header("Location", location) // the resource's id is the capability to end the stream
	c.Header("X-Ebrcs-Session", sess.ID)
	if owned {
		access.GiveKey(c.Writer, c.Request, sess) // the session's key, for its cart and events
	}
	c.Header("Access-Control-Expose-Headers", "Location, X-Ebrcs-Session, "+access.KeyHeader)
	c.Data(http.StatusCreated, "application/sdp", []byte(answer))
}

func (s *Service) handleDeletePublisher(c *gin.Context) {
	s.mu.Lock()
	p := s.publishers[c.Param("resource")]
	s.mu.Unlock()
	if p == nil || p.spec.Name != c.Param("pipeline") {
		fail(c, refuse(http.StatusNotFound, "resource", "no such WHIP resource"))
		return
	}
	p.close("deleted by the client")
	c.Status(http.StatusOK)
}

func (s *Service) handleWHEP(c *gin.Context) {
	offer, err := s.readOffer(c)
	if err != nil {
		fail(c, err)
		return
	}
	if _, err := inspectOffer(offer, "recv"); err != nil {
		fail(c, err)
		return
	}
	sessionID := c.Param("session")
	// Watching a shopper's camera is theirs and staff's; a station's, staff's only.
	sess, err := s.checkouts.Get(sessionID)
	if err != nil {
		fail(c, refuse(http.StatusNotFound, "session", "%v", err))
		return
	}
	if err := s.guard.Session(c.Request, sess); err != nil {
		fail(c, refuse(access.Status(err), "session", "%v", err))
		return
	}
	pub := s.publisherOf(sessionID)
	var out *bridge
	if pub != nil {
		out = pub.bridge
	} else {
		out = s.outputs.get(sessionID) // a camera station's annotated video
	}
	if out == nil {
		fail(c, refuse(http.StatusConflict, "session", "session %s has no live camera to watch", sessionID))
		return
	}
	v, answer, err := s.startViewer(c.Request.Context(), pub, out, sessionID, offer)
	if err != nil {
		fail(c, err)
		return
	}
	c.Header("Location", fmt.Sprintf("/whep/%s/%s", sessionID, v.id))
	c.Header("Access-Control-Expose-Headers", "Location")
	c.Data(http.StatusCreated, "application/sdp", []byte(answer))
}

func (s *Service) handleDeleteViewer(c *gin.Context) {
	s.mu.Lock()
	v := s.viewers[c.Param("resource")]
	s.mu.Unlock()
	if v == nil || v.session != c.Param("session") {
		fail(c, refuse(http.StatusNotFound, "resource", "no such WHEP resource"))
		return
	}
	v.close("deleted by the client")
	c.Status(http.StatusOK)
}

// publisherOf returns the session's live publisher (the most recent), nil if none.
func (s *Service) publisherOf(sessionID string) *publisher {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best *publisher
	for _, p := range s.publishers {
		if p.session.ID == sessionID && (best == nil || p.started.After(best.started)) {
			best = p
		}
	}
	return best
}

// PeerStats describes one live publisher, for the API and metrics.
type PeerStats struct {
	Resource       string    `json:"resource"`
	Session        string    `json:"session"`
	Pipeline       string    `json:"pipeline"`
	Codec          string    `json:"codec"`
	State          string    `json:"state"`
	Started        time.Time `json:"started"`
	Viewers        int       `json:"viewers"`
	PacketsIn      int64     `json:"packets_in"`
	PacketsDropped int64     `json:"packets_dropped"`
	FramesIn       int64     `json:"frames_in"`
	FramesLost     int64     `json:"frames_lost"`
	FramesSkipped  int64     `json:"frames_skipped"`
	FramesOut      int64     `json:"frames_out"`
	FramesDropped  int64     `json:"frames_dropped"`
	KeyframesAsked int64     `json:"keyframes_asked"`
	PLIsSent       int64     `json:"plis_sent"`
	// LatencyP50/P95 are the server-added latencies (RTP in → encoded frame out) of the
	// last frames, in milliseconds.
	LatencyP50 float64 `json:"latency_p50_ms"`
	LatencyP95 float64 `json:"latency_p95_ms"`
	// Compact: the annotated video goes back at the compact width now (the pipeline's
	// webrtc sink size is auto and the server is busy, or it is compact).
	Compact bool `json:"compact"`
	// HalfRate: every other annotated frame goes back now (the webrtc sink rate is auto and
	// the server is past its capacity, or it is half); FramesThinned counts the frames left
	// out so.
	HalfRate      bool  `json:"half_rate"`
	FramesThinned int64 `json:"frames_thinned"`
}

// Peers describes the live publishers.
func (s *Service) Peers() []PeerStats {
	s.mu.Lock()
	pubs := make([]*publisher, 0, len(s.publishers))
	for _, p := range s.publishers {
		pubs = append(pubs, p)
	}
	viewers := map[*publisher]int{}
	for _, v := range s.viewers {
		viewers[v.pub]++
	}
	s.mu.Unlock()
	out := make([]PeerStats, 0, len(pubs))
	for _, p := range pubs {
		st := &p.bridge.stats
		ps := PeerStats{Resource: p.id, Session: p.session.ID, Pipeline: p.spec.Name, Codec: p.bridge.codec,
			State: p.pc.ConnectionState().String(), Started: p.started, Viewers: viewers[p],
			PacketsIn: st.PacketsIn.Load(), PacketsDropped: st.PacketsDropped.Load(), FramesIn: st.FramesIn.Load(), FramesLost: st.FramesLost.Load(),
			FramesSkipped: st.FramesSkipped.Load(), FramesOut: st.FramesOut.Load(),
			FramesDropped: st.FramesDropped.Load(), KeyframesAsked: st.KeyframesAsked.Load(), PLIsSent: st.PLIsSent.Load(),
			Compact: p.bridge.size.on(), HalfRate: p.bridge.rate.on(), FramesThinned: st.FramesThinned.Load()}
		lat := p.bridge.latency.snapshot()
		if len(lat) > 0 {
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			ps.LatencyP50 = float64(lat[len(lat)/2]) / 1e6
			ps.LatencyP95 = float64(lat[int(0.95*float64(len(lat)-1))]) / 1e6
		}
		out = append(out, ps)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out
}

// Close ends every peer (server shutdown).
func (s *Service) Close() {
	s.mu.Lock()
	if !s.closed {
		close(s.stop)
	}
	s.closed = true
	pubs := make([]*publisher, 0, len(s.publishers))
	for _, p := range s.publishers {
		pubs = append(pubs, p)
	}
	viewers := make([]*viewer, 0, len(s.viewers))
	for _, v := range s.viewers {
		viewers = append(viewers, v)
	}
	s.mu.Unlock()
	for _, v := range viewers {
		v.close("server shutdown")
	}
	for _, p := range pubs {
		p.close("server shutdown")
	}
	s.wg.Wait()
}

// readRTCP drains a sender's RTCP (the interceptors need it read) and turns keyframe
// requests into encoder keyframes.
func readRTCP(sender *webrtc.RTPSender, b *bridge) {
	for {
		pkts, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			switch p.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				b.requestKeyframe()
			}
		}
	}
}
