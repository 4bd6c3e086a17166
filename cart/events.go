// Package cart is a checkout's cart and its event stream: what ebrcs_counter counts into and
// what the checkout API reads, edits, confirms and streams to browsers. It sits below both
// (the element and the session manager import it), so it knows nothing of pipelines.
package cart

import (
	"sync"
	"sync/atomic"
	"time"
)

// EventType names what happened.
type EventType string

// Event types. The first six come from ebrcs_counter, on the frame they happened.
const (
	EventCount    EventType = "count"    // a product was added to the cart
	EventCooldown EventType = "cooldown" // a product was recognised but counted less than the cooldown ago
	EventUnknown  EventType = "unknown"  // an object was shown that matched no product; Crop is its picture
	EventReview   EventType = "review"   // a product was shown but not recognised surely: Review asks which it was
	EventROI      EventType = "roi"      // the ROI status changed (empty, outside, entered, inside)
	// EventRecognising: the number of products still being recognised changed (Cart.Recognising).
	EventRecognising EventType = "recognising"

	EventCart      EventType = "cart"      // the cart was edited through the API, or a review answered
	EventConfirmed EventType = "confirmed" // the cart was confirmed: a purchase was stored
	EventROISet    EventType = "roi_set"   // the session's ROI was set or cleared
	EventClosed    EventType = "closed"    // the session ended (deleted or expired); the stream ends

	EventProgress EventType = "progress" // an upload task advanced
	EventDone     EventType = "done"     // an upload task finished; Cart is the session's cart
	EventFailed   EventType = "failed"   // an upload task failed; Error says why
)

// Event is one entry of a session's or a task's event stream. Only the fields that apply to
// its Type are set.
type Event struct {
	Seq  int64     `json:"seq"` // 1, 2, ... per stream; a gap means this subscriber missed events
	Type EventType `json:"type"`
	Time time.Time `json:"time"`

	// StreamTime is the frame's time in its stream (seconds from the stream start), for
	// events from the pipeline.
	StreamTime float64 `json:"stream_time,omitempty"`
	ProductID  int64   `json:"product_id,omitempty"`
	Product    string  `json:"product,omitempty"`
	Score      float32 `json:"score,omitempty"`
	Quantity   int     `json:"quantity,omitempty"` // the product's quantity in the cart after a count
	// SinceLast is, for a cooldown event, how long ago (stream time) the product was counted.
	SinceLast float64      `json:"since_last,omitempty"`
	Status    string       `json:"status,omitempty"` // ROI status for roi events
	ROI       [][2]float64 `json:"roi,omitempty"`
	// Crop is the URL of an unknown object's picture (unknown events; "" when the cart keeps
	// crops without URLs).
	Crop string `json:"crop,omitempty"`
	// Review is the question a review event asks.
	Review *Review `json:"review,omitempty"`

	Cart *CartView `json:"cart,omitempty"`

	Task     string  `json:"task,omitempty"`
	Frames   int64   `json:"frames,omitempty"`
	Progress float64 `json:"progress,omitempty"` // 0..1, when the length is known
	Error    string  `json:"error,omitempty"`
}

// Bus fans a stream of events out to subscribers. Publishing never blocks: each subscriber has
// a bounded buffer, and an event that does not fit is dropped for that subscriber and counted
// (a slow browser must never stall the pipeline). The last events are kept so that a client
// reconnecting with the last sequence number it saw misses nothing that is still kept.
//
// A nil *Bus is valid and discards everything (a cart counted by `ebrcs run` has no listeners).
type Bus struct {
	mu      sync.Mutex
	seq     int64
	history []Event // ring of the last historySize events, oldest first
	subs    map[*Subscription]struct{}
	closed  bool
	dropped atomic.Int64

	historySize int
	// forward, when set, gets every published event, in order (NewForwardingBus).
	forward func(Event)
}

// DefaultHistory is how many recent events a bus keeps for reconnecting clients.
const DefaultHistory = 256

// NewBus returns a bus keeping the last history events (<= 0: DefaultHistory).
func NewBus(history int) *Bus {
	if history <= 0 {
		history = DefaultHistory
	}
	return &Bus{subs: map[*Subscription]struct{}{}, historySize: history}
}

// NewForwardingBus is NewBus whose every published event, numbered and stamped, is also
// handed to forward, in order, before subscribers get it: how a session's events leave the
// process (checkout.EventSink). forward is called with the bus locked and must not block.
func NewForwardingBus(history int, forward func(Event)) *Bus {
	b := NewBus(history)
	b.forward = forward
	return b
}

// Publish numbers the event, stamps it (if Time is unset) and delivers it to every
// subscriber that has room. It returns the event as delivered.
func (b *Bus) Publish(e Event) Event {
	if b == nil {
		return e
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return e
	}
	b.seq++
	e.Seq = b.seq
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if len(b.history) == b.historySize {
		copy(b.history, b.history[1:])
		b.history = b.history[:len(b.history)-1]
	}
	b.history = append(b.history, e)
	if b.forward != nil {
		b.forward(e)
	}
	for s := range b.subs {
		s.deliver(e, &b.dropped)
	}
	return e
}

// Subscribe returns a subscription with a buffer of size events (<= 0: 64). With after >= 0,
// the kept events with a sequence number above after are delivered first (0: all kept);
// with after < 0 only new events are. On a closed bus the subscription gets the kept events
// and then its channel is closed.
func (b *Bus) Subscribe(after int64, size int) *Subscription {
	if size <= 0 {
		size = 64
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	var replay []Event
	if after >= 0 {
		for _, e := range b.history {
			if e.Seq > after {
				replay = append(replay, e)
			}
		}
	}
	// The buffer grows by the replay so that a reconnecting client gets all of it.
	ch := make(chan Event, size+len(replay))
	for _, e := range replay {
		ch <- e
	}
	s := &Subscription{ch: ch, C: ch, bus: b}
	if b.closed {
		close(ch)
		s.closed = true
		return s
	}
	b.subs[s] = struct{}{}
	return s
}

// Close ends the stream: every subscription's channel is closed after the events already in
// it; later publishes are ignored.
func (b *Bus) Close() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	for s := range b.subs {
		s.closed = true
		close(s.ch)
	}
	b.subs = nil
}

// Dropped returns how many deliveries were dropped because a subscriber's buffer was full.
func (b *Bus) Dropped() int64 {
	if b == nil {
		return 0
	}
	return b.dropped.Load()
}

// Subscribers returns how many subscriptions are open.
func (b *Bus) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// LastSeq returns the sequence number of the latest event.
func (b *Bus) LastSeq() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seq
}

// Subscription is one listener of a Bus. Read events from C until it is closed (the bus
// closed) and call Close when done listening.
type Subscription struct {
	C <-chan Event

	ch      chan Event
	bus     *Bus
	closed  bool // guarded by bus.mu
	dropped atomic.Int64
}

func (s *Subscription) deliver(e Event, total *atomic.Int64) {
	select {
	case s.ch <- e:
	default:
		s.dropped.Add(1)
		total.Add(1)
	}
}

// Dropped returns how many events this subscriber missed because its buffer was full.
func (s *Subscription) Dropped() int64 { return s.dropped.Load() }

// Close stops delivery and closes C. It is safe to call more than once.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	defer s.bus.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	delete(s.bus.subs, s)
	close(s.ch)
}
