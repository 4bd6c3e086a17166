package liveload

import (
	"bytes"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// assembler puts RTP packets back together into frames, as a browser's jitter buffer does,
// but without waiting: a frame is out the moment its last packet is in. Packets may come out
// of order (retransmissions); a frame still incomplete when a later one completes is lost,
// and the frame out next says so (its reference chain is broken until a keyframe).
//
// It deliberately shares no code with the server's (signaling's frameAssembler): the client
// is the independent judge of what the server sends, so a bug in the server's depacketizing
// must not be repeated here.
type assembler struct {
	codec   string              // VP8 or H264
	frames  map[uint32]*partial // by RTP timestamp
	lastEnd uint16              // sequence number of the last packet of the last frame out
	started bool
	lost    bool // a frame was lost since the last frame out
}

type partial struct {
	pkts       map[uint16][]byte // RTP payloads by sequence number
	start, end uint16
	hasStart   bool
	hasEnd     bool
}

func newAssembler(codec string) *assembler {
	return &assembler{codec: codec, frames: map[uint32]*partial{}}
}

// assembled is a complete frame.
type assembled struct {
	data []byte
	key  bool
	// afterLoss: a frame before this one was lost.
	afterLoss bool
	// rtpTime is the frame's RTP timestamp: when the server says it is to be shown.
	rtpTime uint32
}

// isStart reports whether a payload begins a frame.
func (a *assembler) isStart(payload []byte) bool {
	if a.codec == "H264" {
		switch t := payload[0] & 0x1f; {
		case t >= 1 && t <= 24:
			return true
		case t == 28:
			return len(payload) > 1 && payload[1]&0x80 != 0
		}
		return false
	}
	var vp8 codecs.VP8Packet
	if _, err := vp8.Unmarshal(payload); err != nil {
		return false
	}
	return vp8.S == 1 && vp8.PID == 0
}

// frame depacketizes a complete frame's payloads, in order.
func (a *assembler) frame(payloads [][]byte) (data []byte, key bool, ok bool) {
	if a.codec == "H264" {
		var h codecs.H264Packet
		for _, p := range payloads {
			nal, err := h.Unmarshal(p)
			if err != nil {
				return nil, false, false
			}
			data = append(data, nal...)
		}
		for _, nal := range bytes.Split(data, []byte{0, 0, 1}) {
			if len(nal) > 0 && nal[0]&0x1f == 5 {
				key = true
			}
		}
		return data, key, len(data) > 0
	}
	for _, p := range payloads {
		var vp8 codecs.VP8Packet
		b, err := vp8.Unmarshal(p)
		if err != nil {
			return nil, false, false
		}
		data = append(data, b...)
	}
	return data, len(data) > 0 && data[0]&1 == 0, len(data) > 0
}

// push adds a packet; it returns a frame when this packet completed one.
func (a *assembler) push(pkt *rtp.Packet) *assembled {
	if len(pkt.Payload) == 0 {
		return nil
	}
	if a.started && seqBefore(pkt.SequenceNumber, a.lastEnd+1) {
		return nil // a frame already out, or given up on
	}
	p := a.frames[pkt.Timestamp]
	if p == nil {
		if len(a.frames) > 64 { // a stream gone bad: start over
			a.frames = map[uint32]*partial{}
			a.lost = true
		}
		p = &partial{pkts: map[uint16][]byte{}}
		a.frames[pkt.Timestamp] = p
	}
	p.pkts[pkt.SequenceNumber] = append([]byte(nil), pkt.Payload...)
	if a.isStart(pkt.Payload) && (!p.hasStart || seqBefore(pkt.SequenceNumber, p.start)) {
		p.start, p.hasStart = pkt.SequenceNumber, true
	}
	if pkt.Marker {
		p.end, p.hasEnd = pkt.SequenceNumber, true
	}
	if !p.hasStart || !p.hasEnd || int(uint16(p.end-p.start))+1 != len(p.pkts) {
		return nil
	}
	payloads := make([][]byte, 0, len(p.pkts))
	for s := p.start; ; s++ {
		payloads = append(payloads, p.pkts[s])
		if s == p.end {
			break
		}
	}
	data, key, ok := a.frame(payloads)
	if a.started && p.start != a.lastEnd+1 {
		a.lost = true
	}
	// Older incomplete frames are lost now.
	for ts, q := range a.frames {
		if q != p && anyBefore(q.pkts, p.start) {
			delete(a.frames, ts)
			a.lost = true
		}
	}
	delete(a.frames, pkt.Timestamp)
	a.lastEnd, a.started = p.end, true
	if !ok {
		a.lost = true
		return nil
	}
	out := &assembled{data: data, key: key, afterLoss: a.lost, rtpTime: pkt.Timestamp}
	a.lost = false
	return out
}

func seqBefore(a, b uint16) bool { return int16(a-b) < 0 }

func anyBefore(pkts map[uint16][]byte, s uint16) bool {
	for q := range pkts {
		if seqBefore(q, s) {
			return true
		}
	}
	return false
}
