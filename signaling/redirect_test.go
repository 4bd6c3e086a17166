package signaling

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/pion/webrtc/v4"

	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/checkout/access"
	"github.com/ebrcs/ebrcs/pipelines"
	"github.com/ebrcs/ebrcs/testkit/gsttest"
)

// room is an Elsewhere that knows one node with room, or none.
type room string

func (r room) NodeWithRoom() (string, bool) { return string(r), r != "" }

// newRedirectEnv is a WebRTC service whose checkout takes one shopper's session, and which
// knows a node with room when elsewhere is set.
func newRedirectEnv(t *testing.T, elsewhere Elsewhere) (*Service, *checkout.Manager, *httptest.Server) {
	t.Helper()
	gsttest.Init(t)
	spec, err := pipelines.Load("live.yaml", []byte("name: live\nautostart: false\nsource: {type: webrtc}\nsink: {type: webrtc}\n"))
	if err != nil {
		t.Fatal(err)
	}
	mgr, err := checkout.NewManager(checkout.Config{MaxSessions: 1, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewService(Config{LoopbackOnly: true, Elsewhere: elsewhere}, specMap{"live": spec}, mgr, nil,
		&access.Guard{AdminToken: staffToken}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	svc.Routes(r)
	ts := httptest.NewServer(r)
	t.Cleanup(func() {
		ts.Close()
		svc.Close()
		mgr.Close()
	})
	return svc, mgr, ts
}

// offerSDP is a camera's offer (VP8, sendrecv).
func offerSDP(t *testing.T) string {
	t.Helper()
	pc, err := clientAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	track, _ := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "cam")
	pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv})
	offer, _ := pc.CreateOffer(nil)
	gathered := webrtc.GatheringCompletePromise(pc)
	pc.SetLocalDescription(offer)
	<-gathered
	return pc.LocalDescription().SDP
}

// A full node sends a new camera to a node with room (307, the same endpoint there), and
// refuses as before when it knows none.
func TestFullNodeRedirects(t *testing.T) {
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	offer := offerSDP(t)
	for _, tc := range []struct {
		name      string
		elsewhere Elsewhere
		status    int
		location  string
	}{
		{"no cluster", nil, http.StatusTooManyRequests, ""},
		{"no node with room", room(""), http.StatusTooManyRequests, ""},
		{"a node with room", room("http://n2.test:8082"), http.StatusTemporaryRedirect, "http://n2.test:8082/whip/live?x=1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, mgr, ts := newRedirectEnv(t, tc.elsewhere)
			if _, err := mgr.Create(nil); err != nil { // the node is full
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodPost, ts.URL+"/whip/live?x=1", strings.NewReader(offer))
			req.Header.Set("Content-Type", "application/sdp")
			resp, err := noFollow.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || resp.Header.Get("Location") != tc.location {
				t.Fatalf("%s, Location %q: %s", resp.Status, resp.Header.Get("Location"), body)
			}
			if mgr.Sessions() != 1 {
				t.Fatalf("%d sessions after the refused offer", mgr.Sessions())
			}
		})
	}
}

// An offer joining a session is sent away only when nothing would be lost; the session is
// then closed here, and the offer makes a new one there.
func TestRedirectJoiningASession(t *testing.T) {
	svc, mgr, _ := newRedirectEnv(t, room("https://n2.test"))
	redirect := func(s *checkout.Session) (*httptest.ResponseRecorder, bool) {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		c.Request = httptest.NewRequest(http.MethodPost, "/whip/live?session="+s.ID+"&x=1", nil)
		return w, svc.redirectElsewhere(c, s)
	}
	s, err := mgr.Create(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Cart.Count(0, "Milk", 0.9)
	if _, moved := redirect(s); moved {
		t.Fatal("a session with a cart was sent away")
	}
	mgr.Delete(s.ID)
	s, _ = mgr.Create(nil)
	w, moved := redirect(s)
	if !moved || w.Code != http.StatusTemporaryRedirect || w.Header().Get("Location") != "https://n2.test/whip/live?x=1" {
		t.Fatalf("an unused session: moved %v, %d, Location %q", moved, w.Code, w.Header().Get("Location"))
	}
	if _, err := mgr.Get(s.ID); err == nil {
		t.Fatal("the session sent away is still open here")
	}
}
