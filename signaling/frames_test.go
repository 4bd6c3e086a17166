package signaling

import (
	"bytes"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// vp8Frames packetizes n VP8 frames (frame i is a keyframe when key(i)) into RTP packets of
// at most mtu bytes, as a sender would, and returns the packets and the frames.
func vp8Frames(t *testing.T, n, size int, key func(int) bool) ([]*rtp.Packet, [][]byte) {
	t.Helper()
	pay := &codecs.VP8Payloader{EnablePictureID: true}
	var pkts []*rtp.Packet
	var frames [][]byte
	seq := uint16(65500) // wraps during the test
	for i := 0; i < n; i++ {
		f := make([]byte, size+i%7)
		for k := range f {
			f[k] = byte(i*31 + k)
		}
		f[0] |= 1 // inter frame
		if key(i) {
			f[0] &^= 1
		}
		frames = append(frames, f)
		parts := pay.Payload(300, f)
		for k, p := range parts {
			pkts = append(pkts, &rtp.Packet{Header: rtp.Header{Version: 2, SequenceNumber: seq, Timestamp: uint32(i * 6000),
				Marker: k == len(parts)-1, PayloadType: 96}, Payload: p})
			seq++
		}
	}
	return pkts, frames
}

// Frames come out whole, in order, the moment their last packet is in, whatever the order
// the packets of a frame arrive in; a packet that comes again after its frame is out is late.
func TestAssemblerPutsFramesTogether(t *testing.T) {
	pkts, frames := vp8Frames(t, 20, 1000, func(i int) bool { return i%10 == 0 })
	a := newFrameAssembler("VP8", 50*time.Millisecond)
	now := time.Unix(0, 0)
	var out []encodedFrame
	for i := 0; i < len(pkts); i++ {
		p := pkts[i]
		// Swap neighbours now and then: reordering within a frame and across frames.
		if i%5 == 1 && i+1 < len(pkts) {
			pkts[i], pkts[i+1] = pkts[i+1], pkts[i]
			p = pkts[i]
		}
		res := a.push(p, now)
		if res.lost != 0 || res.late {
			t.Fatalf("packet %d: lost %d late %v", i, res.lost, res.late)
		}
		out = append(out, res.frames...)
		now = now.Add(time.Millisecond)
	}
	if len(out) != len(frames) {
		t.Fatalf("%d frames out, %d in", len(out), len(frames))
	}
	for i, f := range out {
		if !bytes.Equal(f.data, frames[i]) || f.key != (i%10 == 0) {
			t.Fatalf("frame %d differs (key %v)", i, f.key)
		}
	}
	if res := a.push(pkts[3], now); !res.late || len(res.frames) != 0 {
		t.Fatalf("a duplicate of an old packet: %+v", res)
	}
}

// A missing packet holds the frames after it back for at most the wait: a retransmission in
// time completes everything in order; one too late costs the frame (reported lost) and the
// frames after it come out.
func TestAssemblerWaitsForRetransmissionsThenGivesUp(t *testing.T) {
	pkts, frames := vp8Frames(t, 6, 1000, func(i int) bool { return i == 0 })
	per := len(pkts) / 6
	missing := per + 1 // the second packet of frame 1
	for _, tc := range []struct {
		name     string
		resendAt time.Duration // 0: never
		wantOut  int
		wantLost int
	}{
		{"retransmitted in time", 30 * time.Millisecond, 6, 0},
		{"never retransmitted", 0, 5, 1},
	} {
		a := newFrameAssembler("VP8", 50*time.Millisecond)
		t0 := time.Unix(0, 0)
		var out []encodedFrame
		lost := 0
		for i, p := range pkts {
			if i == missing {
				continue
			}
			res := a.push(p, t0.Add(time.Duration(i)*time.Millisecond))
			out, lost = append(out, res.frames...), lost+res.lost
		}
		if len(out) != 1 {
			t.Fatalf("%s: %d frames out before the hole is decided, want 1", tc.name, len(out))
		}
		if tc.resendAt > 0 {
			res := a.push(pkts[missing], t0.Add(tc.resendAt))
			out, lost = append(out, res.frames...), lost+res.lost
		}
		res := a.tick(t0.Add(200 * time.Millisecond))
		out, lost = append(out, res.frames...), lost+res.lost
		if len(out) != tc.wantOut || lost != tc.wantLost {
			t.Fatalf("%s: %d frames out, %d lost; want %d, %d", tc.name, len(out), lost, tc.wantOut, tc.wantLost)
		}
		if tc.wantLost == 1 && !bytes.Equal(out[1].data, frames[2]) {
			t.Fatalf("%s: the frame after the lost one is not frame 2", tc.name)
		}
	}
}

// A lost frame's own last packet (the marker) is noticed too, and a frame whose first
// packets were lost never comes out as a whole frame.
func TestAssemblerLosesFramesWithoutStartOrEnd(t *testing.T) {
	pkts, _ := vp8Frames(t, 5, 1000, func(i int) bool { return i == 0 })
	per := len(pkts) / 5
	for _, drop := range []int{2*per - 1, 2 * per} { // frame 1's marker; frame 2's first packet
		a := newFrameAssembler("VP8", 10*time.Millisecond)
		t0 := time.Unix(0, 0)
		out, lost := 0, 0
		for i, p := range pkts {
			if i == drop {
				continue
			}
			res := a.push(p, t0.Add(time.Duration(i)*20*time.Millisecond))
			out, lost = out+len(res.frames), lost+res.lost
		}
		if out != 4 || lost != 1 {
			t.Fatalf("packet %d dropped: %d frames out, %d lost; want 4, 1", drop, out, lost)
		}
	}
}

// The packets waiting behind a hole are bounded.
func TestAssemblerIsBounded(t *testing.T) {
	pkts, _ := vp8Frames(t, 300, 1000, func(i int) bool { return i%50 == 0 })
	a := newFrameAssembler("VP8", time.Hour) // never gives up by time
	t0 := time.Unix(0, 0)
	lost := 0
	for i, p := range pkts {
		if i == 50 {
			continue // a hole that never fills
		}
		res := a.push(p, t0.Add(time.Duration(i)*time.Millisecond))
		lost += res.lost
		if len(a.pkts) > maxPending+1 {
			t.Fatalf("%d packets waiting", len(a.pkts))
		}
	}
	if lost == 0 {
		t.Fatal("a hole that never fills was never given up")
	}
}
