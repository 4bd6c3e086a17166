// Package counter is ebrcs_counter: it turns the recogniser's decisions into a counted cart.
//
// It sits after ebrcs_match (and before ebrcs_overlay, which draws the cart it writes on every
// frame). ebrcs_match decides about the object of a visit from everything it has seen of it
// (framemeta.Match.Decision, on each recognised frame). A visit starts when an object enters
// the ROI and ends when the ROI has been free for roi-clear-frames (framemeta.Visits). The
// counter takes one of three decisions per visit:
//
//   - count: on the first recognition that decides "count", at once (the shopper sees it in
//     the cart the moment the product is shown), silently: a count event, unless the same
//     product was counted less than `cooldown` (3) seconds ago in this stream (the original
//     system's rule, per product name; a cooldown event is published instead).
//   - ask: when the visit ends, or after `ask-after` (10) recognitions without a count (a
//     shopper holding the product is asked promptly), if the last decision was "ask": the
//     visit is held in the cart as a pending review (cart.Cart.Ask: a review event with the
//     best 3 candidates and the visit's crop) until its shopper or staff answer which product
//     it was. When the best candidate was counted within the cooldown, the same product is
//     being shown again: a cooldown event, no question.
//   - unknown: likewise, if the last decision was "unknown" (nothing of the catalog): an
//     unknown event with the closest product and the crop.
//
// A visit recognised only after the next one began (Frame.Late, ebrcs_embed in async mode on
// a machine where recognition fell behind the video) is decided when its verdict comes, as it
// would have been at its end, unless it was decided already: a product swiped past just before
// the next one is not lost, and never decided twice. The cooldown takes it at the time it was
// shown (Frame.Late.Seen), so a late count does not hold back the same product shown again.
// A recognition ebrcs_embed sends without a frame, because the camera stopped sending, is
// decided as the next frame would have decided it (ProcessMeta).
//
// With `once-per-visit` (on by default) a visit is decided once: a product left in the ROI
// is not counted again every cooldown. Without it, every recognition deciding "count" counts,
// under the cooldown (the original system). A visit that was asked about or reported unknown
// is never asked again. A count into a confirmed cart is refused (and counted in `refused`).
//
// Every decision keeps the visit's crop (framemeta.Match.Crop, as a small JPEG) in the cart:
// the review shows it, and an answer or a cart edit that corrects a count teaches the catalog
// with it.
//
// Time is the stream's time (buffer timestamps), not the wall clock: a recorded video gives
// the same cart whether it is processed in real time or ten times faster.
//
// On every frame it puts on the cart how many products ebrcs_embed is still recognising
// (Frame.Recognising, after the frame's own decisions): while a busy machine recognises behind
// the video, the cart says it is not complete and cannot be confirmed (cart.Cart.SetRecognising).
//
// The element publishes what it decides on the cart's event stream: count (product, score,
// new quantity), cooldown (recognised, not counted), review (from the cart), unknown (with the
// crop's URL) and roi (the gate's status changed).
//
// The cart comes from the checkout session named by the `session` property (registered with
// package cart; `ebrcs run` registers one for its run); without one the element keeps a cart
// of its own.
package counter

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ebrcs/ebrcs/cart"
	"github.com/ebrcs/ebrcs/elements/framemeta"
	"github.com/ebrcs/ebrcs/elements/goelement"
	"github.com/ebrcs/ebrcs/internal/metrics"
)

// The element's factory name and its properties.
const (
	// Name is the element factory's name.
	Name = "ebrcs_counter"

	PropSession      = "session"
	PropCooldown     = "cooldown"
	PropOncePerVisit = "once-per-visit"
	PropAskAfter     = "ask-after"
	PropCounted      = "counted"
	PropSuppressed   = "suppressed"
	PropAsked        = "asked"
	PropUnknown      = "unknown"
	PropRefused      = "refused"
)

// Defaults.
const (
	// DefaultCooldown is the original system's COUNT_COOLDOWN.
	DefaultCooldown = 3.0
	// DefaultAskAfter is ask-after's default: about a second of a product held still in the
	// ROI (the gate recognises on the entry, the 4 frames after it, then every 5th frame).
	DefaultAskAfter = 10
	// candidatesAsked is how many candidates a review offers.
	candidatesAsked = 3
)

// The optional interfaces of goelement that Counter implements: a renamed method fails to
// compile here instead of being silently skipped by the framework.
var (
	_ goelement.Starter        = (*Counter)(nil)
	_ goelement.Stopper        = (*Counter)(nil)
	_ goelement.PropertyReader = (*Counter)(nil)
	_ goelement.MetaProcessor  = (*Counter)(nil)
)

// Element is the ebrcs_counter definition.
var Element = &goelement.Definition[*Counter]{
	Info: goelement.Info{
		Name:           Name,
		LongName:       "EBRCS cart counter",
		Classification: "Filter/Analyzer/Video",
		Description:    "Counts recognised products into the checkout's cart once per visit, never twice within the cooldown, and asks about the visits it is not sure of",
		Caps:           "video/x-raw",
		Access:         goelement.NoPixels,
		Properties: []goelement.Property{
			{Name: PropSession, Kind: goelement.String, Default: "",
				Doc: "Checkout session whose cart to count into; empty: a cart of the element's own"},
			{Name: PropCooldown, Kind: goelement.Double, Default: DefaultCooldown, Min: 0, Max: 3600, Mutable: true,
				Doc: "Seconds of stream time during which the same product is not counted again"},
			{Name: PropOncePerVisit, Kind: goelement.Bool, Default: true, Mutable: true,
				Doc: "Count at most one product per visit of the ROI (from entry until the ROI is free again)"},
			{Name: PropAskAfter, Kind: goelement.Int, Default: DefaultAskAfter, Min: 1, Max: 1000, Mutable: true,
				Doc: "Recognitions of a visit without a count after which it is asked about (or reported unknown) while the object is still shown; the visit's end decides sooner"},
			{Name: PropCounted, Kind: goelement.Int64, Default: int64(0), ReadOnly: true,
				Doc: "Products counted since the element started"},
			{Name: PropSuppressed, Kind: goelement.Int64, Default: int64(0), ReadOnly: true,
				Doc: "Visits not counted because of the cooldown"},
			{Name: PropAsked, Kind: goelement.Int64, Default: int64(0), ReadOnly: true,
				Doc: "Visits held for an answer (reviews)"},
			{Name: PropUnknown, Kind: goelement.Int64, Default: int64(0), ReadOnly: true,
				Doc: "Visits whose object matched no product"},
			{Name: PropRefused, Kind: goelement.Int64, Default: int64(0), ReadOnly: true,
				Doc: "Counts and reviews refused because the cart was already confirmed"},
		},
	},
	New: func(props *goelement.Props) *Counter { return &Counter{props: props} },
}

// Counter is one ebrcs_counter instance.
type Counter struct {
	props *goelement.Props

	// mu guards the stream state: Process runs on the streaming thread, Start and Stop on the
	// application thread.
	mu          sync.Mutex
	target      *cart.Cart
	lastCounted map[string]time.Duration // folded product name → stream time of its last count
	visits      framemeta.Visits
	visit       visit
	visitState  *framemeta.VisitState // what the elements share about c.visit (nil without an ROI)
	lastStatus  framemeta.ROIStatus
	started     time.Time     // wall clock fallback for buffers without timestamps
	now         time.Duration // the stream time of the last frame

	counted, suppressed, asked, unknown, refused atomic.Int64
}

// visit is what the counter knows of the object currently shown.
type visit struct {
	decided bool // counted, suppressed by the cooldown, asked about or reported unknown
	// undecided counts the recognitions without a count; last is the latest verdict.
	undecided int
	last      *framemeta.Match
}

// Start binds the cart: the session's, or a new one of the element's own.
func (c *Counter) Start() error {
	var target *cart.Cart
	if key := c.props.String(PropSession); key != "" {
		var err error
		if target, err = cart.Lookup(key); err != nil {
			return err
		}
	} else {
		target = cart.NewCart(nil)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.target = target
	c.reset()
	c.started = time.Now()
	return nil
}

// reset forgets the stream (c.mu held).
func (c *Counter) reset() {
	c.lastCounted = map[string]time.Duration{}
	c.visits, c.visit, c.visitState = framemeta.Visits{}, visit{}, nil
	c.lastStatus, c.now = "", 0
}

// Stop forgets the stream; the cart itself belongs to its session. Recognitions still under
// way upstream end with the stream: the cart no longer waits for them.
func (c *Counter) Stop() {
	c.mu.Lock()
	c.reset()
	if c.target != nil {
		c.target.SetRecognising(0)
	}
	c.mu.Unlock()
	c.counted.Store(0)
	c.suppressed.Store(0)
	c.asked.Store(0)
	c.unknown.Store(0)
	c.refused.Store(0)
}

// Cart returns the cart the element counts into (nil before it starts).
func (c *Counter) Cart() *cart.Cart {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.target
}

// Process implements goelement.Processor.
func (c *Counter) Process(b *goelement.Buffer) error {
	f := b.UpstreamMeta()
	if f == nil {
		return nil
	}
	now := b.PTS
	c.mu.Lock()
	if now < 0 {
		now = time.Since(c.started)
	}
	c.step(f, now)
	target := c.target
	c.mu.Unlock()
	// After this frame's decisions: a client waiting for the count to reach 0 then reads a
	// cart that has them.
	target.SetRecognising(f.Recognising)

	lines := target.Lines()
	if len(lines) > 0 {
		meta := b.Meta()
		meta.Cart = make([]framemeta.CartLine, len(lines))
		for i, l := range lines {
			meta.Cart[i] = framemeta.CartLine{Product: l.Product, Quantity: l.Quantity}
		}
	}
	return nil
}

// step applies one frame's gate and verdict to the visit and the cart (c.mu held).
func (c *Counter) step(f *framemeta.Frame, now time.Duration) {
	c.now = now
	if g := f.Gate; g != nil && g.Status != c.lastStatus {
		c.lastStatus = g.Status
		c.target.Events().Publish(cart.Event{Type: cart.EventROI, Status: string(g.Status), StreamTime: now.Seconds()})
	}
	ended, started := c.visits.Step(f.Gate)
	if ended {
		c.settle(now)
	}
	if (ended || started) && c.visit.decided {
		// A recognition of it still in flight (Frame.Late) must not decide it again.
		c.visitState.MarkDecided()
	}
	if started {
		c.visit, c.visitState = visit{}, f.Gate.Visit
	}
	if l := f.Late; l != nil && l.Visit != c.visitState {
		c.late(l, now)
	}
	m := f.Match
	if m == nil {
		c.shareDecided(f)
		return
	}
	defer c.shareDecided(f)
	c.recognised(m, now)
}

// recognised applies a verdict on the visit in progress, or on the last one when none has
// started since (c.mu held).
func (c *Counter) recognised(m *framemeta.Match, now time.Duration) {
	if m.Decision == framemeta.DecisionCount {
		if !c.visit.decided || !c.props.Bool(PropOncePerVisit) {
			c.visit.decided = true
			c.count(m, now)
		}
	} else if !c.visit.decided {
		c.visit.undecided++
		c.visit.last = m
		if c.visit.undecided >= c.props.Int(PropAskAfter) || !c.visits.Active() {
			c.settle(now) // asked long enough, or a recognition outside any visit
		}
	}
}

// late decides an earlier visit recognised only after another began (a saturated machine):
// from that one recognition, as it would have been at its end, and at the time it was
// shown, which the cooldown compares; unless something decided it already (c.mu held).
func (c *Counter) late(l *framemeta.LateRecognition, now time.Duration) {
	if l.Match == nil || l.Visit.Decided() {
		return
	}
	l.Visit.MarkDecided()
	seen := now
	if l.Seen >= 0 && l.Seen <= now {
		seen = l.Seen
	}
	if l.Match.Decision == framemeta.DecisionCount {
		c.count(l.Match, seen)
	} else {
		c.decide(l.Match, seen)
	}
}

// ProcessMeta implements goelement.MetaProcessor: a recognition ebrcs_embed sent without a
// frame because the camera stopped sending. Of an earlier visit it is a late recognition;
// of the latest one (in progress, or ended with none since) it is that visit's recognition,
// as the next frame would have brought it.
func (c *Counter) ProcessMeta(f *framemeta.Frame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.target.SetRecognising(f.Recognising) // after the decision, as on a frame
	l := f.Late
	if l == nil || l.Match == nil {
		return nil
	}
	if l.Visit != c.visitState {
		c.late(l, c.now)
		return nil
	}
	if l.Visit.Decided() {
		return nil
	}
	c.recognised(l.Match, c.now)
	if c.visit.decided && c.props.Bool(PropOncePerVisit) {
		l.Visit.MarkDecided() // ebrcs_embed stops recognising it
	}
	return nil
}

// shareDecided tells the elements upstream (through the gate's VisitState) that the visit is
// decided, so that ebrcs_embed stops recognising it. Only once per visit: without it, a
// product left in the ROI is counted again after the cooldown, which needs recognitions.
func (c *Counter) shareDecided(f *framemeta.Frame) {
	if c.visit.decided && c.visits.Active() && c.props.Bool(PropOncePerVisit) && f.Gate != nil {
		f.Gate.Visit.MarkDecided()
	}
}

// count counts a recognised product, unless it was counted within the cooldown (c.mu held).
func (c *Counter) count(m *framemeta.Match, now time.Duration) {
	events := c.target.Events()
	key := strings.ToLower(m.Product)
	if since, ok := c.sinceCounted(key, now); ok {
		c.suppressed.Add(1)
		metrics.CounterEvents.WithLabelValues("cooldown").Inc()
		events.Publish(cart.Event{Type: cart.EventCooldown, StreamTime: now.Seconds(),
			Product: m.Product, ProductID: m.ProductID, Score: m.Score, SinceLast: since.Seconds()})
		return
	}
	qty, err := c.target.Count(m.ProductID, m.Product, m.Score)
	if err != nil {
		c.refused.Add(1)
		return
	}
	c.lastCounted[key] = max(now, c.lastCounted[key]) // a late count can be of an older sight
	c.counted.Add(1)
	metrics.CounterEvents.WithLabelValues("count").Inc()
	events.Publish(cart.Event{Type: cart.EventCount, StreamTime: now.Seconds(),
		Product: m.Product, ProductID: m.ProductID, Score: m.Score, Quantity: qty})
	// The crop only matters if the count is corrected: encoded once the count is out.
	c.target.CountSeen(m.ProductID, m.Product, encodeCrop(m.Crop))
}

// sinceCounted says how long ago (stream time) a product was counted, if within the cooldown.
func (c *Counter) sinceCounted(key string, now time.Duration) (time.Duration, bool) {
	last, ok := c.lastCounted[key]
	cooldown := time.Duration(c.props.Double(PropCooldown) * float64(time.Second))
	// A late recognition's sight can come before the last count: the cooldown is between
	// sights, in either order.
	since := now - last
	return since, ok && max(since, -since) < cooldown
}

// settle decides an undecided visit from its last verdict: a review when the recogniser
// hesitates between products, else an unknown object (c.mu held).
func (c *Counter) settle(now time.Duration) {
	m := c.visit.last
	if c.visit.decided || m == nil {
		return
	}
	c.visit.decided = true
	c.decide(m, now)
}

// decide holds a visit the recogniser was not sure of for review, or reports an unknown
// object, from its last verdict m (c.mu held).
func (c *Counter) decide(m *framemeta.Match, now time.Duration) {
	events := c.target.Events()
	if m.Decision == framemeta.DecisionAsk && len(m.Candidates) > 0 {
		best := m.Candidates[0]
		if since, ok := c.sinceCounted(strings.ToLower(best.Product), now); ok {
			c.suppressed.Add(1)
			metrics.CounterEvents.WithLabelValues("cooldown").Inc()
			events.Publish(cart.Event{Type: cart.EventCooldown, StreamTime: now.Seconds(),
				Product: best.Product, ProductID: best.ProductID, Score: best.Score, SinceLast: since.Seconds()})
			return
		}
		s := cart.Sighting{StreamTime: now.Seconds(), Crop: encodeCrop(m.Crop)}
		for _, cand := range m.Candidates[:min(candidatesAsked, len(m.Candidates))] {
			s.Candidates = append(s.Candidates, cart.Candidate{ProductID: cand.ProductID, Product: cand.Product, Score: cand.Score})
		}
		_, err := c.target.Ask(s) // the cart publishes the review
		switch {
		case err == nil:
			c.asked.Add(1)
			metrics.CounterEvents.WithLabelValues("review").Inc()
			return
		case errors.Is(err, cart.ErrConfirmed):
			c.refused.Add(1)
			return
		}
		// Too many questions wait already: report it, at least.
	}
	c.unknown.Add(1)
	metrics.CounterEvents.WithLabelValues("unknown").Inc()
	events.Publish(cart.Event{Type: cart.EventUnknown, StreamTime: now.Seconds(),
		Product: m.Product, ProductID: m.ProductID, Score: m.Score, Crop: c.target.KeepCrop(encodeCrop(m.Crop))})
}

// ReadProperty implements goelement.PropertyReader.
func (c *Counter) ReadProperty(name string) any {
	switch name {
	case PropCounted:
		return c.counted.Load()
	case PropSuppressed:
		return c.suppressed.Load()
	case PropAsked:
		return c.asked.Load()
	case PropUnknown:
		return c.unknown.Load()
	case PropRefused:
		return c.refused.Load()
	}
	return nil
}
