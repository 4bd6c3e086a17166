// Package signaling is EBRCS's WebRTC side: WHIP ingest (RFC 9725) and WHEP egress over
// pion, and the media bridge between pion tracks and GStreamer pipelines.
//
// A WHIP publisher (a browser's camera, OBS, GStreamer's whipclientsink) POSTs an SDP offer
// to /whip/{pipeline}. The service opens (or joins) a checkout session, answers, and when the
// camera's track arrives builds the named pipeline for the session: its webrtc source gets
// the RTP packets (appsrc → jitter buffer → depayloader → decoder), its elements analyse and
// annotate, its webrtc sink encodes the result, which goes back to the publisher on the same
// PeerConnection and to any WHEP viewer of the session. Slow parts never stall the rest:
// packets beyond the source's queue and frames the encoder cannot take are dropped and
// counted.
package signaling

import (
	"fmt"
	"net"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/webrtc/v4"
)

// Config tunes the WebRTC service. Zero values take the defaults in parentheses.
type Config struct {
	// ICEServers are offered to pion for its own candidates (none: host candidates only,
	// enough on a LAN or for localhost).
	ICEServers []string
	// UDPPortMin and UDPPortMax restrict the ICE ports (0: any), for firewalls.
	UDPPortMin, UDPPortMax uint16
	// NAT1To1IPs are public addresses to advertise instead of the host's (behind a NAT).
	NAT1To1IPs []string
	// IncludeLoopback adds 127.0.0.1 candidates: tests and same-host clients in a network
	// namespace with only loopback.
	IncludeLoopback bool
	// LoopbackOnly gathers on the loopback interface only (tests).
	LoopbackOnly bool
	// ConnectTimeout: a peer whose ICE has not connected by then is closed (20s).
	ConnectTimeout time.Duration
	// MaxSDPBytes limits offers (64 KiB).
	MaxSDPBytes int64
	// MaxPublishers is the admission limit of live cameras (WHIP publishers) at once: a new
	// offer beyond it is answered 503 with Retry-After. 0: derived from this machine's
	// measured capacity (see admission); negative: no limit.
	MaxPublishers int
	// CompactAbove is the number of live sessions beyond which the ones whose pipeline's
	// webrtc sink size is auto send their video back compact (see returnStep). 0: three
	// quarters of the sessions this machine serves at the camera's size (12 on 2 cores);
	// negative: never.
	CompactAbove int
	// HalfRateAbove is the number of live sessions beyond which the ones whose pipeline's
	// webrtc sink rate is auto send every other frame back (see returnStep). 0: one and a
	// half times the sessions this machine serves at the camera's size (24 on 2 cores);
	// negative: never.
	HalfRateAbove int
	// Elsewhere, when set, names a node with room for an offer this node cannot admit: it is
	// answered 307 to that node instead of refused (more than one server, package cluster).
	Elsewhere Elsewhere
}

func (c Config) withDefaults() Config {
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = 20 * time.Second
	}
	if c.MaxSDPBytes <= 0 {
		c.MaxSDPBytes = 64 << 10
	}
	return c
}

// Payload types we offer for each codec. Browsers use their own numbers in offers; pion
// matches codecs by name and parameters.
const (
	payloadVP8  = 96
	payloadH264 = 102
)

// videoFeedback is what we ask peers for: retransmissions (NACK), keyframes (PLI, FIR) and
// bandwidth estimates (REMB).
var videoFeedback = []webrtc.RTCPFeedback{
	{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"},
}

// codecCapability returns the capability of a supported codec name.
func codecCapability(codec string) webrtc.RTPCodecCapability {
	if codec == "H264" {
		return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
			SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", RTCPFeedback: videoFeedback}
	}
	return webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback}
}

// newAPI builds the pion API: VP8 and H.264 video, the default interceptors (NACK
// responder and generator, RTCP sender and receiver reports, stats) and the network settings.
func newAPI(cfg Config) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	for _, c := range []struct {
		codec string
		pt    webrtc.PayloadType
	}{{"VP8", payloadVP8}, {"H264", payloadH264}} {
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: codecCapability(c.codec), PayloadType: c.pt}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
	}
	reg, err := interceptors(m)
	if err != nil {
		return nil, err
	}
	s := webrtc.SettingEngine{}
	// A peer that vanishes without a DELETE (a closed laptop, a dropped network) is noticed
	// within seconds: disconnected after 4 s without traffic, failed (and cleaned up) after 8.
	s.SetICETimeouts(4*time.Second, 8*time.Second, time.Second)
	s.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	s.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	if cfg.IncludeLoopback || cfg.LoopbackOnly {
		s.SetIncludeLoopbackCandidate(true)
	}
	if cfg.LoopbackOnly {
		s.SetInterfaceFilter(func(name string) bool { return name == "lo" })
		s.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	}
	if cfg.UDPPortMin > 0 || cfg.UDPPortMax > 0 {
		if err := s.SetEphemeralUDPPortRange(cfg.UDPPortMin, cfg.UDPPortMax); err != nil {
			return nil, fmt.Errorf("udp port range: %w", err)
		}
	}
	if len(cfg.NAT1To1IPs) > 0 {
		s.SetNAT1To1IPs(cfg.NAT1To1IPs, webrtc.ICECandidateTypeHost)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(s)), nil
}

// nackInterval is how often missing packets are asked for again (pion's default, 100 ms, is
// longer than a frame waits for them).
const nackInterval = 15 * time.Millisecond

// interceptors are pion's defaults without the statistics one (per-packet bookkeeping that
// nothing here reads): NACK generator (asking every nackInterval) and responder, RTCP
// sender and receiver reports, and transport-wide congestion control feedback (browsers
// adapt their bitrate to it).
func interceptors(m *webrtc.MediaEngine) (*interceptor.Registry, error) {
	reg := &interceptor.Registry{}
	if err := webrtc.ConfigureNackWithOptions(m, reg, []nack.GeneratorOption{nack.GeneratorInterval(nackInterval)}); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureTWCCSender(m, reg); err != nil {
		return nil, err
	}
	return reg, nil
}

func (c Config) rtcConfig() webrtc.Configuration {
	var conf webrtc.Configuration
	if len(c.ICEServers) > 0 {
		conf.ICEServers = []webrtc.ICEServer{{URLs: c.ICEServers}}
	}
	return conf
}
