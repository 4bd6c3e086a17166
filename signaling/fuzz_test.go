package signaling

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"
)

// FuzzInspectOffer: inspectOffer never panics on any SDP, for a publisher ("send") or a
// viewer ("recv"). A refusal is always an *Error with a 4xx status; an acceptance names a
// codec we support and a direction that lets the peer do what it asked for.
//
//	go test -run '^$' -fuzz '^FuzzInspectOffer$' -fuzztime 60s ./signaling/
func FuzzInspectOffer(f *testing.F) {
	for _, dir := range []webrtc.RTPTransceiverDirection{
		webrtc.RTPTransceiverDirectionSendrecv,
		webrtc.RTPTransceiverDirectionSendonly,
		webrtc.RTPTransceiverDirectionRecvonly,
	} {
		f.Add(pionOffer(f, dir))
	}
	base := pionOffer(f, webrtc.RTPTransceiverDirectionSendrecv)
	f.Add(strings.ReplaceAll(base, "VP8/90000", "AV1/90000"))                           // no VP8
	f.Add(strings.Replace(base, "m=video 9", "m=video 0", 1))                           // rejected section
	f.Add(strings.Replace(base, "a=sendrecv", "a=inactive", 1))                         // inactive
	f.Add(strings.ReplaceAll(base, "\r\n", "\n"))                                       // bare newlines
	f.Add(base[:len(base)/2])                                                           // truncated
	f.Add(strings.Replace(base, "a=rtpmap:", "a=rtpmap", -1))                           // no space
	f.Add(strings.Replace(base, "m=video 9 UDP/TLS/RTP/SAVPF", "m=video x UDP/TLS", 1)) // bad port
	for _, s := range []string{
		"",
		"v=0\r\n",
		"v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 vp8/90000\r\n",
		"v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n",
		"v=0\r\no=- 0 0 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=video 9/2 RTP/AVP 96 97\r\na=rtpmap:97 H264\r\na=recvonly\r\n",
		"m=video 9 RTP/AVP 96\r\n",
		"v=0\r\no=\r\ns=\r\nt=\r\nm=\r\na=\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for _, want := range []string{"send", "recv"} {
			info, err := inspectOffer(raw, want)
			if err != nil {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("inspectOffer(%s): error %T %q is not an *Error", want, err, err)
				}
				if e.Status < 400 || e.Status > 499 {
					t.Fatalf("inspectOffer(%s): status %d for %q", want, e.Status, e.Msg)
				}
				if e.Msg == "" {
					t.Errorf("inspectOffer(%s): refusal %d without a message", want, e.Status)
				}
				continue
			}
			if !slices.Contains(supportedCodecs, info.codec) {
				t.Errorf("inspectOffer(%s): accepted codec %q", want, info.codec)
			}
			ok := info.direction == "sendrecv" ||
				(want == "send" && info.direction == "sendonly") ||
				(want == "recv" && info.direction == "recvonly")
			if !ok {
				t.Errorf("inspectOffer(%s): accepted direction %q", want, info.direction)
			}
		}
	})
}

// pionOffer is a real browser-like offer: a pion PeerConnection with the default codecs and
// one video transceiver. ICE is never started, so nothing touches the network.
func pionOffer(tb testing.TB, dir webrtc.RTPTransceiverDirection) string {
	tb.Helper()
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		tb.Fatal(err)
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: dir}); err != nil {
		tb.Fatal(err)
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return offer.SDP
}
