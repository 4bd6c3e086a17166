package signaling

import (
	"bytes"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// frameAssembler puts a camera's RTP packets back together into whole encoded frames, in
// order, for the decoder. It waits for packets that are missing (pion's NACK generator asks
// for them) at most wait after it noticed the gap; then it gives the incomplete frame up and
// reports the loss, and the caller drops every frame until the next keyframe (a frame whose
// reference is missing must never be decoded: it would come out as block garbage). Memory is
// bounded: at most maxPending packets wait.
type frameAssembler struct {
	codec string
	wait  time.Duration

	pkts    map[uint16]*pendingPacket
	next    uint16 // first sequence number of the next frame out
	started bool
	gapAt   time.Time // when the frame at next was first seen incomplete with later packets in
}

type pendingPacket struct {
	payload []byte
	ts      uint32
	marker  bool
	start   bool // the codec says a frame starts here
	at      time.Time
}

// maxPending bounds the packets waiting for a missing one (about a second of 1.5 Mbit/s video).
const maxPending = 1024

func newFrameAssembler(codec string, wait time.Duration) *frameAssembler {
	return &frameAssembler{codec: codec, wait: wait, pkts: map[uint16]*pendingPacket{}}
}

// encodedFrame is one whole encoded frame.
type encodedFrame struct {
	data []byte
	key  bool
	at   time.Time // arrival of its first packet
	// rtpTime is its RTP timestamp: when the camera took it, on the camera's clock.
	rtpTime uint32
	// camAt and camInterval are rtpTime as a time from the camera's first frame, and the
	// camera's time since the frame assembled before it (cameraClock; 0: the first).
	camAt, camInterval time.Duration
}

// rtpVideoClock is the RTP clock rate of every video codec WebRTC uses (VP8, H.264: RFC 7741,
// RFC 6184).
const rtpVideoClock = 90000

// cameraClock turns a camera's RTP timestamps into times from its first frame: 32-bit
// timestamps wrap (every 13 hours at 90 kHz), and a camera may start anywhere in them.
type cameraClock struct {
	started bool
	last    uint32
	ticks   int64 // since the first frame, unwrapped
}

// stamp sets f's camera time and its interval since the frame stamped before.
func (c *cameraClock) stamp(f *encodedFrame) {
	if !c.started {
		c.started, c.last = true, f.rtpTime
		f.camAt, f.camInterval = 0, 0
		return
	}
	// The difference as a signed number, across the wrap: frames come in order. A camera that
	// restarted its clock may go back: its time then stands still for that frame (never
	// before the last, never negative) and the interval is unknown.
	delta := int64(int32(f.rtpTime - c.last))
	c.last = f.rtpTime
	f.camInterval = 0
	if delta > 0 {
		c.ticks += delta
		f.camInterval = time.Duration(delta) * time.Second / rtpVideoClock
	}
	f.camAt = time.Duration(c.ticks) * time.Second / rtpVideoClock
}

// assembleResult is what one packet (or the passing of time) produced: frames complete in
// order, and how many frames were given up before them.
type assembleResult struct {
	frames []encodedFrame
	lost   int
	late   bool // the packet came after its frame was out or given up
}

func seqLess(a, b uint16) bool { return int16(a-b) < 0 }

// push adds a packet that arrived at now.
func (a *frameAssembler) push(pkt *rtp.Packet, now time.Time) assembleResult {
	if len(pkt.Payload) == 0 {
		return assembleResult{} // padding
	}
	if a.started && seqLess(pkt.SequenceNumber, a.next) {
		return assembleResult{late: true}
	}
	if _, dup := a.pkts[pkt.SequenceNumber]; !dup {
		a.pkts[pkt.SequenceNumber] = &pendingPacket{payload: pkt.Payload, ts: pkt.Timestamp, marker: pkt.Marker,
			start: isFrameStart(a.codec, pkt.Payload), at: now}
	}
	var res assembleResult
	if len(a.pkts) > maxPending {
		// Far behind a hole that never filled: start over at the next frame start.
		a.giveUp(&res)
	}
	a.drain(now, &res)
	return res
}

// tick gives up a frame whose missing packets did not come in time, when no packet arrives.
func (a *frameAssembler) tick(now time.Time) assembleResult {
	var res assembleResult
	a.drain(now, &res)
	return res
}

// drain emits every frame that is complete at next, and gives up a hole older than wait.
func (a *frameAssembler) drain(now time.Time, res *assembleResult) {
	for len(a.pkts) > 0 {
		if !a.started {
			s, ok := a.firstStart(0, false)
			if !ok {
				return
			}
			a.drop(s)
			a.next, a.started = s, true
		}
		end, complete, hole := a.scan()
		if complete {
			a.emit(end, res)
			a.gapAt = time.Time{}
			continue
		}
		if !hole {
			return // the frame is still arriving
		}
		if a.gapAt.IsZero() {
			a.gapAt = now
		}
		if now.Sub(a.gapAt) < a.wait {
			return // the retransmission may still come
		}
		a.giveUp(res)
	}
}

// scan walks the frame at next: complete when its packets run without a hole to one with the
// marker bit; hole when a packet is missing but later ones are in (a loss, or a reordering).
func (a *frameAssembler) scan() (end uint16, complete, hole bool) {
	first, ok := a.pkts[a.next]
	if !ok {
		return 0, false, true // later packets are in (pkts is not empty): next is missing
	}
	for s := a.next; ; s++ {
		p, ok := a.pkts[s]
		if !ok {
			return 0, false, a.anyAfter(s)
		}
		if p.ts != first.ts {
			// The frame ended without its marker packet (lost): a hole.
			return 0, false, true
		}
		if p.marker {
			return s, true, false
		}
		if uint16(s-a.next) > maxPending {
			return 0, false, true
		}
	}
}

func (a *frameAssembler) anyAfter(s uint16) bool {
	for q := range a.pkts {
		if !seqLess(q, s) {
			return true
		}
	}
	return false
}

// emit depacketizes the frame next..end and moves past it.
func (a *frameAssembler) emit(end uint16, res *assembleResult) {
	var payloads [][]byte
	at, rtpTime := a.pkts[a.next].at, a.pkts[a.next].ts
	for s := a.next; ; s++ {
		p := a.pkts[s]
		payloads = append(payloads, p.payload)
		if p.at.Before(at) {
			at = p.at
		}
		delete(a.pkts, s)
		if s == end {
			break
		}
	}
	a.next = end + 1
	data, key, ok := depacketize(a.codec, payloads)
	if !ok {
		res.lost++ // undecodable: the same as lost
		return
	}
	res.frames = append(res.frames, encodedFrame{data: data, key: key, at: at, rtpTime: rtpTime})
}

// giveUp drops the frame at next (and anything before the next frame start) as lost.
func (a *frameAssembler) giveUp(res *assembleResult) {
	res.lost++
	a.gapAt = time.Time{}
	s, ok := a.firstStart(a.next+1, true)
	if !ok {
		// Nothing usable yet: forget everything and start at the next frame start.
		clear(a.pkts)
		a.started = false
		return
	}
	a.drop(s)
	a.next = s
}

// firstStart finds the first packet (from `from` when bounded) that begins a frame: its
// predecessor ended a frame (marker, or another timestamp), or, when the predecessor is
// missing, the codec says a frame starts there.
func (a *frameAssembler) firstStart(from uint16, bounded bool) (uint16, bool) {
	var best uint16
	found := false
	for s, p := range a.pkts {
		if bounded && seqLess(s, from) {
			continue
		}
		starts := p.start
		if prev, ok := a.pkts[s-1]; ok {
			starts = prev.marker || prev.ts != p.ts
		}
		if starts && (!found || seqLess(s, best)) {
			best, found = s, true
		}
	}
	return best, found
}

// drop forgets the packets before s.
func (a *frameAssembler) drop(s uint16) {
	for q := range a.pkts {
		if seqLess(q, s) {
			delete(a.pkts, q)
		}
	}
}

// isFrameStart reports whether an RTP payload begins a frame (VP8: the first partition's
// start, RFC 7741; H.264: a NAL unit or aggregation packet, or the first fragment of one).
func isFrameStart(codec string, payload []byte) bool {
	if codec == "H264" {
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

// depacketize joins a frame's payloads into the codec's frame (H.264: Annex B access unit).
func depacketize(codec string, payloads [][]byte) (data []byte, key bool, ok bool) {
	if codec == "H264" {
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
	// RFC 6386 9.1: a keyframe's frame tag has bit 0 clear.
	return data, len(data) > 0 && data[0]&1 == 0, len(data) > 0
}
