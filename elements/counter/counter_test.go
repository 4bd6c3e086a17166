package counter

import (
	"fmt"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/cart"
	"github.com/ebrcs/ebrcs/data"
	"github.com/ebrcs/ebrcs/elements/framemeta"
	"github.com/ebrcs/ebrcs/roi"
)

// stream feeds a counter frames at 30 fps of stream time, the way the gate and the matcher
// would describe them.
type stream struct {
	t      *testing.T
	c      *Counter
	target *cart.Cart
	sub    *cart.Subscription
	frame  int
	inROI  bool // the gate's occupancy
	empty  int  // frames since the object left
}

var streams int

func newStream(t *testing.T, values map[string]any) *stream {
	t.Helper()
	bus := cart.NewBus(0)
	target := cart.NewCart(bus)
	streams++
	key := fmt.Sprintf("%s-%d", t.Name(), streams)
	if err := cart.Register(key, target); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cart.Unregister(key) })
	if values == nil {
		values = map[string]any{}
	}
	values[PropSession] = key
	c, err := Element.NewProcessor(values)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	return &stream{t: t, c: c, target: target, sub: bus.Subscribe(-1, 10000)}
}

func (s *stream) now() time.Duration { return time.Duration(s.frame) * time.Second / 30 }

// object shows an object in the ROI for frames frames; match returns the recognition on
// every 5th frame (nil: none).
func (s *stream) object(frames int, product string, known bool) {
	score := float32(0.9)
	if !known {
		score = 0.5
	}
	s.objectScored(frames, product, score)
}

// objectScored is object with a given score against the threshold 0.8.
func (s *stream) objectScored(frames int, product string, score float32) {
	for i := 0; i < frames; i++ {
		g := &framemeta.Gate{Status: framemeta.ROIInside, Occupied: true, ROI: []roi.Point{{}, {X: 1}, {Y: 1}}}
		if !s.inROI {
			g.Entry, g.Status, s.inROI = true, framemeta.ROIEntered, true
		}
		s.empty = 0
		f := &framemeta.Frame{Gate: g}
		if i%5 == 0 {
			f.Match = &framemeta.Match{ProductID: 7, Product: product, Score: score, Known: score >= 0.8, Threshold: 0.8}
		}
		s.c.step(f, s.now())
		s.frame++
	}
}

// idle shows frames with nothing in the ROI; the gate frees it after 8.
func (s *stream) idle(frames int) {
	for i := 0; i < frames; i++ {
		s.empty++
		if s.empty >= 8 {
			s.inROI = false
		}
		s.c.step(&framemeta.Frame{Gate: &framemeta.Gate{Status: framemeta.ROIEmpty, Occupied: s.inROI}}, s.now())
		s.frame++
	}
}

func (s *stream) events(typ cart.EventType) []cart.Event {
	var out []cart.Event
	for {
		select {
		case e := <-s.sub.C:
			if e.Type == typ {
				out = append(out, e)
			}
		default:
			return out
		}
	}
}

func (s *stream) quantity(product string) int {
	return s.target.View().Totals()[product]
}

func TestCountsOncePerVisitAndHonoursTheCooldown(t *testing.T) {
	s := newStream(t, nil)
	s.idle(30)
	s.object(60, "Milk", true) // 2 s in the ROI, recognised 12 times
	if q := s.quantity("Milk"); q != 1 {
		t.Fatalf("after one visit: %d, want 1", q)
	}
	s.idle(15) // back 0.5 s after leaving: within the 3 s cooldown of the count at 1 s
	s.object(30, "Milk", true)
	if q := s.quantity("Milk"); q != 1 {
		t.Fatalf("second visit within the cooldown: %d, want 1", q)
	}
	if ev := s.events(cart.EventCooldown); len(ev) != 1 || ev[0].SinceLast < 2 || ev[0].SinceLast > 3 {
		t.Fatalf("cooldown events: %+v", ev)
	}
	s.idle(150) // 5 s later
	s.object(30, "Milk", true)
	if q := s.quantity("Milk"); q != 2 {
		t.Fatalf("visit beyond the cooldown: %d, want 2", q)
	}
	counts := s.events(cart.EventCount) // the cooldown drain above consumed the first
	if len(counts) != 1 || counts[0].Quantity != 2 || counts[0].Product != "Milk" {
		t.Fatalf("count events: %+v", counts)
	}
}

func TestProductLeftInTheROICountsOnce(t *testing.T) {
	s := newStream(t, nil)
	s.object(300, "Tea", true) // 10 s: three cooldowns
	if q := s.quantity("Tea"); q != 1 {
		t.Fatalf("%d, want 1", q)
	}
	// The original's behaviour, without visits: once per cooldown.
	s2 := newStream(t, map[string]any{PropOncePerVisit: false})
	s2.object(300, "Tea", true)
	if q := s2.quantity("Tea"); q != 4 { // at 0, 3, 6 and 9 s (recognitions every 5 frames)
		t.Fatalf("without once-per-visit: %d, want 4", q)
	}
}

func TestUnknownObjectIsReportedOncePerVisitAndNeverCounted(t *testing.T) {
	s := newStream(t, nil)
	s.object(60, "Hand", false)
	s.idle(20)
	s.object(60, "Hand", false)
	if v := s.target.View(); len(v.Items) != 0 {
		t.Fatalf("unknown objects were counted: %+v", v.Items)
	}
	if ev := s.events(cart.EventUnknown); len(ev) != 2 {
		t.Fatalf("unknown events: %d, want 2 (one per visit)", len(ev))
	}
	if got := s.c.ReadProperty(PropUnknown).(int64); got != 2 {
		t.Fatalf("unknown property %d", got)
	}
}

func TestUnknownThenKnownInOneVisitCounts(t *testing.T) {
	// The entry frame may show the product half in view: a later, better recognition in the
	// same visit still counts.
	s := newStream(t, nil)
	s.object(5, "Milk", false)
	s.object(10, "Milk", true)
	if q := s.quantity("Milk"); q != 1 {
		t.Fatalf("%d, want 1", q)
	}
}

func TestROIEventsFollowTheGate(t *testing.T) {
	s := newStream(t, nil)
	s.idle(3)
	s.object(10, "Milk", true)
	s.idle(10)
	var got []string
	for _, e := range s.events(cart.EventROI) {
		got = append(got, e.Status)
	}
	want := []string{"empty", "entered", "inside", "empty"}
	if len(got) != len(want) {
		t.Fatalf("roi events %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("roi events %v, want %v", got, want)
		}
	}
}

type memStore struct{ n int }

func (m *memStore) RecordPurchase(id string, items []data.PurchaseItem) (*data.Purchase, error) {
	m.n++
	return &data.Purchase{ID: int64(m.n), SessionID: id, Items: items}, nil
}

func TestConfirmedCartRefusesCounts(t *testing.T) {
	s := newStream(t, nil)
	s.object(10, "Milk", true)
	if _, err := s.target.Confirm(&memStore{}, "s"); err != nil {
		t.Fatal(err)
	}
	s.idle(200)
	s.object(10, "Milk", true)
	if q := s.quantity("Milk"); q != 1 {
		t.Fatalf("confirmed cart changed: %d", q)
	}
	if got := s.c.ReadProperty(PropRefused).(int64); got != 1 {
		t.Fatalf("refused %d, want 1", got)
	}
}

func TestUnboundSessionIsAnError(t *testing.T) {
	c, err := Element.NewProcessor(map[string]any{PropSession: "nobody"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err == nil {
		t.Fatal("Start with an unregistered session succeeded")
	}
	own, _ := Element.NewProcessor(nil)
	if err := own.Start(); err != nil || own.Cart() == nil {
		t.Fatalf("own cart: %v", err)
	}
}

// A product scoring consistently just below the threshold (held by a hand that hides part of
// it) is counted after vote-frames recognitions; clutter scoring far below never is.
func TestConsistentNearMissesVoteAProductIn(t *testing.T) {
	s := newStream(t, nil)
	s.objectScored(11, "Tea", 0.77) // recognitions at frames 0, 5, 10: the third completes the vote
	if q := s.quantity("Tea"); q != 1 {
		t.Fatalf("after three near misses: %d, want 1", q)
	}
	s2 := newStream(t, nil)
	s2.objectScored(10, "Tea", 0.77) // only two
	s2.objectScored(60, "Tea", 0.75) // too far below the threshold (an unknown product's neighbour)
	if q := s2.quantity("Tea"); q != 0 {
		t.Fatalf("two near misses then clutter: %d, want 0", q)
	}
	s3 := newStream(t, map[string]any{PropVoteFrames: 0})
	s3.objectScored(60, "Tea", 0.77)
	if q := s3.quantity("Tea"); q != 0 {
		t.Fatalf("voting off: %d, want 0", q)
	}
}
