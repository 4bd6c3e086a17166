package liveload

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// Loss drops a client's outgoing RTP packets as a bad network would: bursts of Burst packets
// starting at random, Rate of all packets in all, between From and To after the first
// packet. Retransmissions (NACK) pass through the same loss.
type Loss struct {
	Rate  float64       `json:"rate"`  // 0.02: 2 %
	Burst int           `json:"burst"` // packets per burst (1: independent losses)
	From  time.Duration `json:"from,omitempty"`
	To    time.Duration `json:"to,omitempty"`
	Seed  uint64        `json:"seed,omitempty"`
	// Unrepairable also drops every retransmission (a packet sent again after a NACK), as
	// on a link too slow for repairs: a lost packet then loses its frame, and only a
	// keyframe (PLI) brings the picture back.
	Unrepairable bool `json:"unrepairable,omitempty"`
}

// lossInterceptor applies a Loss to every local (outgoing) RTP stream.
type lossInterceptor struct {
	interceptor.NoOp
	loss    Loss
	mu      sync.Mutex
	rng     *rand.Rand
	start   time.Time
	left    int // packets left in the current burst
	dropped atomic.Int64
	// sent marks the sequence numbers sent or dropped once (a bit each), so that a
	// retransmission (same SSRC and sequence number: no RTX stream is negotiated) is known.
	sent [1 << 16 / 64]uint64
}

type lossFactory struct{ li *lossInterceptor }

func (f lossFactory) NewInterceptor(string) (interceptor.Interceptor, error) { return f.li, nil }

func newLossInterceptor(l Loss) *lossInterceptor {
	if l.Burst < 1 {
		l.Burst = 1
	}
	return &lossInterceptor{loss: l, rng: rand.New(rand.NewPCG(l.Seed, 0x1055))}
}

// BindLocalStream wraps the writer nearest the network.
func (li *lossInterceptor) BindLocalStream(_ *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	return interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, a interceptor.Attributes) (int, error) {
		if li.drop(h.SequenceNumber) {
			return len(payload), nil
		}
		return w.Write(h, payload, a)
	})
}

func (li *lossInterceptor) drop(seq uint16) bool {
	li.mu.Lock()
	defer li.mu.Unlock()
	if li.start.IsZero() {
		li.start = time.Now()
	}
	again := li.sent[seq/64]&(1<<(seq%64)) != 0
	li.sent[seq/64] |= 1 << (seq % 64)
	// Half the sequence space away is forgotten, so that numbers reused after a wrap are new.
	far := seq + 1<<15
	li.sent[far/64] &^= 1 << (far % 64)
	since := time.Since(li.start)
	if again && li.loss.Unrepairable && since >= li.loss.From && (li.loss.To == 0 || since < li.loss.To) {
		li.dropped.Add(1)
		return true
	}
	if since < li.loss.From || li.loss.To > 0 && since >= li.loss.To {
		li.left = 0
		return false
	}
	if li.left == 0 && li.rng.Float64() < li.loss.Rate/float64(li.loss.Burst) {
		li.left = li.loss.Burst
	}
	if li.left > 0 {
		li.left--
		li.dropped.Add(1)
		return true
	}
	return false
}
