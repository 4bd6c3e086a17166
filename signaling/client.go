package signaling

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"
	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"
)

// Client is a Go WHIP publisher: it sends a video track and receives the annotated one on
// the same connection. The server's tests and load benchmarks use it; it works against any
// WHIP server.
type Client struct {
	PC       *webrtc.PeerConnection
	Track    *webrtc.TrackLocalStaticSample
	Location string // the WHIP resource, absolute URL
	Session  string // X-Ebrcs-Session
	// Key opens the session the POST made (X-Session-Key): send it to read or change the
	// session through the API.
	Key string

	// Returned counts RTP packets of the video coming back.
	Returned atomic.Int64
}

// ClientAPI returns a pion API for clients; loopbackOnly restricts ICE to 127.0.0.1.
func ClientAPI(loopbackOnly bool) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return nil, err
	}
	reg := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(m, reg); err != nil {
		return nil, err
	}
	s := webrtc.SettingEngine{}
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	if loopbackOnly {
		s.SetIncludeLoopbackCandidate(true)
		s.SetInterfaceFilter(func(n string) bool { return n == "lo" })
		s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(s)), nil
}

// Publish connects to a WHIP endpoint (e.g. http://host:8080/whip/live) and returns once the
// answer is applied. onReturn, when set, gets every packet of the returned video.
func Publish(ctx context.Context, api *webrtc.API, endpoint, codec string, onReturn func(*rtp.Packet)) (*Client, error) {
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	mime := webrtc.MimeTypeVP8
	if codec == "H264" {
		mime = webrtc.MimeTypeH264
	}
	track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: mime}, "video", "camera")
	if err != nil {
		pc.Close()
		return nil, err
	}
	if _, err := pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendrecv}); err != nil {
		pc.Close()
		return nil, err
	}
	c := &Client{PC: pc, Track: track}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			c.Returned.Add(1)
			if onReturn != nil {
				onReturn(pkt)
			}
		}
	})
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		pc.Close()
		return nil, err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		pc.Close()
		return nil, err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		pc.Close()
		return nil, ctx.Err()
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(pc.LocalDescription().SDP))
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		pc.Close()
		return nil, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		pc.Close()
		return nil, fmt.Errorf("WHIP %s: %s: %s", endpoint, resp.Status, strings.TrimSpace(string(body)))
	}
	loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("WHIP: bad Location: %v", err)
	}
	c.Location, c.Session, c.Key = loc.String(), resp.Header.Get("X-Ebrcs-Session"), resp.Header.Get("X-Session-Key")
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(body)}); err != nil {
		pc.Close()
		return nil, err
	}
	return c, nil
}

// Send writes encoded frames at fps, paced like a camera, until done or ctx ends; sent
// receives the time each frame went out (nil: not recorded).
func (c *Client) Send(ctx context.Context, frames [][]byte, fps int, sent []time.Time) error {
	tick := time.NewTicker(time.Second / time.Duration(fps))
	defer tick.Stop()
	for i, f := range frames {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if sent != nil {
			sent[i] = time.Now()
		}
		if err := c.Track.WriteSample(media.Sample{Data: f, Duration: time.Second / time.Duration(fps)}); err != nil {
			return err
		}
	}
	return nil
}

// Close deletes the WHIP resource and closes the connection.
func (c *Client) Close() error {
	req, _ := http.NewRequest(http.MethodDelete, c.Location, nil)
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	c.PC.Close()
	return err
}

// EncodeVideo decodes a video file and encodes it to VP8 or H.264 frames at fps, with a
// keyframe every 2 s, for clients that replay a camera (load tests). gst.Init must have run.
func EncodeVideo(path, codec string, fps, kbps int) ([][]byte, error) {
	return EncodeVideoKeyframes(path, codec, fps, kbps, 2*fps)
}

// EncodeVideoKeyframes is EncodeVideo with a keyframe every keyint frames. A replayed stream
// cannot answer keyframe requests, so a receiver that joins late waits for the next one.
func EncodeVideoKeyframes(path, codec string, fps, kbps, keyint int) ([][]byte, error) {
	enc := fmt.Sprintf("vp8enc deadline=1 cpu-used=8 keyframe-max-dist=%d target-bitrate=%d", keyint, kbps*1000)
	if codec == "H264" {
		enc = fmt.Sprintf("x264enc tune=zerolatency speed-preset=ultrafast key-int-max=%d bitrate=%d ! "+
			"video/x-h264,stream-format=byte-stream,alignment=au,profile=constrained-baseline", keyint, kbps)
	}
	pipeline, err := gst.NewPipelineFromString(fmt.Sprintf("filesrc location=%q ! decodebin ! videoconvert ! videorate ! "+
		"video/x-raw,framerate=%d/1,format=I420 ! %s ! appsink name=out sync=false", path, fps, enc))
	if err != nil {
		return nil, err
	}
	el, err := pipeline.GetElementByName("out")
	if err != nil {
		return nil, err
	}
	sink := app.SinkFromElement(el)
	var frames [][]byte
	sink.SetCallbacks(&app.SinkCallbacks{NewSampleFunc: func(s *app.Sink) gst.FlowReturn {
		return withNextBuffer(s, func(buf *gst.Buffer) { frames = append(frames, buf.Bytes()) })
	}})
	if err := pipeline.SetState(gst.StatePlaying); err != nil {
		return nil, err
	}
	// The wrapper is the pipeline's only owner: a deferred method call alone does not keep
	// it alive while set_state runs (only open-coded defers happen to), and its finalizer
	// would dispose of the pipeline mid-call.
	defer func() {
		pipeline.SetState(gst.StateNull)
		runtime.KeepAlive(pipeline)
	}()
	msg := pipeline.GetPipelineBus().TimedPopFiltered(gst.ClockTime(5*time.Minute), gst.MessageEOS|gst.MessageError)
	if msg == nil {
		return nil, fmt.Errorf("encoding %s timed out", path)
	}
	if msg.Type() == gst.MessageError {
		return nil, fmt.Errorf("encoding %s: %v", path, msg.ParseError())
	}
	return frames, nil
}
