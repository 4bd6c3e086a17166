package signaling

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/pion/sdp/v3"
)

// Error is a refused request: the HTTP status and a message naming the problem.
type Error struct {
	Status int
	Field  string
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

func refuse(status int, field, format string, args ...any) *Error {
	return &Error{Status: status, Field: field, Msg: fmt.Sprintf(format, args...)}
}

// offerInfo is what we need to know about an offer before answering it.
type offerInfo struct {
	codec     string // the video codec the publisher sends
	outCodec  string // the video codec we send back
	direction string // the video section's direction attribute (sendrecv, sendonly, recvonly)
	offered   map[string]bool
}

// returnCodec picks the codec of the annotated video sent back, as the pipeline's webrtc sink
// asks (codec: same, vp8 or h264): the camera's own unless the one asked for was offered too.
func (o offerInfo) returnCodec(want string) string {
	switch strings.ToUpper(want) {
	case "VP8", "H264":
		if o.offered[strings.ToUpper(want)] {
			return strings.ToUpper(want)
		}
	}
	return o.codec
}

// supportedCodecs in order of preference: VP8 decodes and encodes fastest here.
var supportedCodecs = []string{"VP8", "H264"}

// inspectOffer parses an SDP offer and picks the video codec. want is the direction the
// peer must be able to do: "send" (a WHIP publisher) or "recv" (a WHEP viewer).
func inspectOffer(raw string, want string) (offerInfo, error) {
	var s sdp.SessionDescription
	if err := s.UnmarshalString(raw); err != nil {
		return offerInfo{}, refuse(http.StatusBadRequest, "sdp", "the SDP offer cannot be parsed: %v", err)
	}
	var video *sdp.MediaDescription
	for _, m := range s.MediaDescriptions {
		if m.MediaName.Media == "video" && m.MediaName.Port.Value != 0 {
			video = m
			break
		}
	}
	if video == nil {
		return offerInfo{}, refuse(http.StatusBadRequest, "sdp", "the offer has no video: add a video track (a camera)")
	}
	dir := "sendrecv"
	for _, a := range video.Attributes {
		switch a.Key {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			dir = a.Key
		}
	}
	if want == "send" && dir != "sendrecv" && dir != "sendonly" {
		return offerInfo{}, refuse(http.StatusBadRequest, "sdp", "the offer's video is %s: a publisher must send video", dir)
	}
	if want == "recv" && dir != "sendrecv" && dir != "recvonly" {
		return offerInfo{}, refuse(http.StatusBadRequest, "sdp", "the offer's video is %s: a viewer must receive video", dir)
	}
	offered := map[string]bool{}
	for _, a := range video.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		// "96 VP8/90000"
		_, enc, ok := strings.Cut(a.Value, " ")
		if !ok {
			continue
		}
		name, _, _ := strings.Cut(enc, "/")
		offered[strings.ToUpper(name)] = true
	}
	for _, c := range supportedCodecs {
		if offered[c] {
			return offerInfo{codec: c, outCodec: c, direction: dir, offered: offered}, nil
		}
	}
	names := make([]string, 0, len(offered))
	for n := range offered {
		names = append(names, n)
	}
	sort.Strings(names)
	return offerInfo{}, refuse(http.StatusUnsupportedMediaType, "sdp", "unsupported video codecs %s: EBRCS takes %s",
		strings.Join(names, ", "), strings.Join(supportedCodecs, " or "))
}
