package counter

import (
	"bytes"
	"fmt"
	"image"
	"image/jpeg"
	"math"
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
	// visit is what the gate shares about the visit in progress (a new one on each entry).
	visit *framemeta.VisitState
	// late puts a late recognition (ebrcs_embed's Frame.Late) on the frame of that number.
	late map[int]*framemeta.LateRecognition
}

var streams int

func newStream(t *testing.T, values map[string]any) *stream {
	t.Helper()
	bus := cart.NewBus(0)
	streams++
	key := fmt.Sprintf("%s-%d", t.Name(), streams)
	target := cart.NewCart(bus, cart.CropURLs("/crops/"+key+"/"))
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

var area = []roi.Point{{}, {X: 1}, {Y: 1}}

// crop is what ebrcs_match hands on as the visit's crop: larger than what the cart keeps.
var crop = func() *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, 400, 600))
	for i := range img.Pix {
		img.Pix[i] = byte(i * 7)
	}
	return img
}()

// verdict is ebrcs_match's verdict on a visit showing product, decided d.
func verdict(product string, d framemeta.Decision) *framemeta.Match {
	score := map[framemeta.Decision]float32{framemeta.DecisionCount: 0.6, framemeta.DecisionAsk: 0.3, framemeta.DecisionUnknown: 0.1}[d]
	return &framemeta.Match{ProductID: 7, Product: product, Score: score, Second: score - 0.1, Decision: d,
		Known: d == framemeta.DecisionCount, Crop: crop, Candidates: []framemeta.Candidate{
			{ProductID: 7, Product: product, Score: score}, {ProductID: 8, Product: "Bread", Score: score - 0.1},
			{ProductID: 9, Product: "Soap", Score: score - 0.2}, {ProductID: 10, Product: "Gum", Score: score - 0.3}}}
}

// ownVerdict is verdict with each product under its own id (the cart counts by id), for
// tests that show several products.
func ownVerdict(product string, d framemeta.Decision) *framemeta.Match {
	ids := map[string]int64{"Milk": 21, "Bread": 22, "Soap": 23, "Gum": 24}
	m := verdict(product, d)
	m.ProductID, m.Candidates[0].ProductID = ids[product], ids[product]
	return m
}

// object shows an object in the ROI for frames frames, recognised on every 5th frame with
// the decision d.
func (s *stream) object(frames int, product string, d framemeta.Decision) {
	s.objectWith(frames, func(int) *framemeta.Match { return verdict(product, d) })
}

// objectWith shows an object whose k-th recognition (from 0) is m(k).
func (s *stream) objectWith(frames int, m func(k int) *framemeta.Match) {
	for i := 0; i < frames; i++ {
		g := &framemeta.Gate{Status: framemeta.ROIInside, Occupied: true, HasMain: true, ROI: area}
		if !s.inROI {
			g.Entry, g.Status, s.inROI = true, framemeta.ROIEntered, true
			s.visit = &framemeta.VisitState{}
		}
		g.Visit = s.visit
		s.empty = 0
		f := &framemeta.Frame{Gate: g, Late: s.late[s.frame]}
		if i%5 == 0 {
			g.Recognize = true
			f.Match = m(i / 5)
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
		s.c.step(&framemeta.Frame{Gate: &framemeta.Gate{Status: framemeta.ROIEmpty, Occupied: s.inROI, ROI: area, Visit: s.visit},
			Late: s.late[s.frame]}, s.now())
		s.frame++
	}
}

// events drains the events published so far and returns those of one type.
func (s *stream) events(typ cart.EventType) []cart.Event { return only(s.all(), typ) }

// all drains the events published so far.
func (s *stream) all() []cart.Event {
	var out []cart.Event
	for {
		select {
		case e := <-s.sub.C:
			out = append(out, e)
		default:
			return out
		}
	}
}

func only(events []cart.Event, typ cart.EventType) []cart.Event {
	var out []cart.Event
	for _, e := range events {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

func (s *stream) quantity(product string) int {
	return s.target.View().Totals()[product]
}

func (s *stream) property(name string) int64 { return s.c.ReadProperty(name).(int64) }

// A visit whose recognition came only after the next visit had begun (recognition yields to
// the video, and a saturated machine puts it seconds behind) is decided when it comes, as at
// its end: counted, asked about or reported unknown, once, and never if it was decided
// already. Nothing is lost, nothing is counted twice.
func TestLateRecognitionDecidesItsOwnVisit(t *testing.T) {
	s := newStream(t, nil)
	s.late = map[int]*framemeta.LateRecognition{}
	late := func(frame int, v *framemeta.VisitState, m *framemeta.Match) {
		s.late[frame] = &framemeta.LateRecognition{Visit: v, Match: m}
	}
	none := func(int) *framemeta.Match { return nil }
	verdict := ownVerdict

	// Visit 1 (milk) goes by without a recognition; visit 2 begins.
	s.idle(10)
	s.objectWith(20, none)
	milk := s.visit
	s.idle(10)
	if milk.Decided() {
		t.Fatal("a visit without any recognition was marked decided")
	}
	// Milk's vector comes during visit 2, and a second one of it after: counted once.
	late(s.frame+3, milk, verdict("Milk", framemeta.DecisionCount))
	late(s.frame+8, milk, verdict("Milk", framemeta.DecisionCount))
	s.objectWith(20, none)
	bread := s.visit
	if got := s.quantity("Milk"); got != 1 {
		t.Fatalf("milk counted %d times from its late recognitions, want 1", got)
	}
	if !milk.Decided() {
		t.Error("the late visit was not marked decided")
	}
	// Visit 2 (bread) is decided as it goes, its own recognition on the visit's frames.
	s.objectWith(10, func(int) *framemeta.Match { return verdict("Bread", framemeta.DecisionCount) })
	s.idle(10)
	// A late vector of bread, already counted: nothing.
	late(s.frame+2, bread, verdict("Bread", framemeta.DecisionCount))
	// Visit 3: unsure, asked at its end; a late recognition of it must not count it after.
	s.objectWith(20, func(int) *framemeta.Match { return verdict("Soap", framemeta.DecisionAsk) })
	soap := s.visit
	s.idle(10)
	late(s.frame+2, soap, verdict("Soap", framemeta.DecisionCount))
	// Visit 4 goes by unrecognised; its late verdict is unsure: asked.
	s.objectWith(20, none)
	gum := s.visit
	s.idle(10)
	late(s.frame+4, gum, verdict("Gum", framemeta.DecisionAsk))
	s.objectWith(10, none)
	s.idle(10)

	if got := s.quantity("Bread"); got != 1 {
		t.Errorf("bread counted %d times, want 1", got)
	}
	if got := s.quantity("Soap"); got != 0 {
		t.Errorf("soap, asked about at its visit's end, counted %d times by its late vector", got)
	}
	events := s.all()
	if n := len(only(events, cart.EventCount)); n != 2 {
		t.Errorf("%d count events, want 2 (milk late, bread)", n)
	}
	reviews := only(events, cart.EventReview)
	if len(reviews) != 2 {
		t.Fatalf("%d reviews, want 2 (soap at its end, gum late)", len(reviews))
	}
}

// The cooldown compares a late recognition by when its product was shown, not by when the
// machine got round to it: the same product shown again 3 s after its first sight counts,
// though its first count came only a second before.
func TestLateCountKeepsTheCooldownOfItsSight(t *testing.T) {
	s := newStream(t, nil)
	s.late = map[int]*framemeta.LateRecognition{}
	none := func(int) *framemeta.Match { return nil }
	s.idle(10)
	sight := s.now()
	s.objectWith(20, none) // milk, not recognised in time
	milk := s.visit
	s.idle(10)
	lateFrame := s.frame + 30
	s.late[lateFrame] = &framemeta.LateRecognition{Visit: milk, Seen: sight, Match: verdict("Milk", framemeta.DecisionCount)}
	s.objectWith(40, none) // something else meanwhile; milk's recognition comes at its 30th frame
	decided := time.Duration(lateFrame) * time.Second / 30
	s.idle(25)
	again := s.now()
	if again-sight < 3*time.Second || again-decided >= 3*time.Second {
		t.Fatalf("the test's timing is off: milk again %v after its sight, %v after its late count", again-sight, again-decided)
	}
	s.object(20, "Milk", framemeta.DecisionCount)
	s.idle(10)
	if got := s.quantity("Milk"); got != 2 {
		t.Errorf("milk counted %d times, want 2: shown again %v after it was first shown", got, again-sight)
	}
}

// A product the recogniser is sure of is counted on its first recognition, the entry frame:
// nothing waits for the visit to end.
func TestCountsAtOnceWhenSure(t *testing.T) {
	s := newStream(t, nil)
	s.idle(30)
	s.object(1, "Milk", framemeta.DecisionCount)
	counts := s.events(cart.EventCount)
	if len(counts) != 1 || counts[0].Product != "Milk" || counts[0].Quantity != 1 || counts[0].StreamTime != 1 {
		t.Fatalf("count events on the entry frame: %+v", counts)
	}
	s.object(59, "Milk", framemeta.DecisionCount)
	s.idle(20)
	if q := s.quantity("Milk"); q != 1 || s.property(PropCounted) != 1 {
		t.Fatalf("after one visit: %d, want 1", q)
	}
	if n := len(s.events(cart.EventReview)) + len(s.events(cart.EventUnknown)); n != 0 {
		t.Fatalf("%d questions about a counted visit", n)
	}
}

func TestCountsOncePerVisitAndHonoursTheCooldown(t *testing.T) {
	s := newStream(t, nil)
	s.idle(30)
	s.object(60, "Milk", framemeta.DecisionCount) // 2 s in the ROI, recognised 12 times
	if q := s.quantity("Milk"); q != 1 {
		t.Fatalf("after one visit: %d, want 1", q)
	}
	s.idle(15) // back 0.5 s after leaving: within the 3 s cooldown of the count at 1 s
	s.object(30, "Milk", framemeta.DecisionCount)
	if q := s.quantity("Milk"); q != 1 {
		t.Fatalf("second visit within the cooldown: %d, want 1", q)
	}
	if ev := s.events(cart.EventCooldown); len(ev) != 1 || ev[0].SinceLast < 2 || ev[0].SinceLast > 3 {
		t.Fatalf("cooldown events: %+v", ev)
	}
	s.idle(150) // 5 s later
	s.object(30, "Milk", framemeta.DecisionCount)
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
	s.object(300, "Tea", framemeta.DecisionCount) // 10 s: three cooldowns
	if q := s.quantity("Tea"); q != 1 {
		t.Fatalf("%d, want 1", q)
	}
	// The original's behaviour, without visits: once per cooldown.
	s2 := newStream(t, map[string]any{PropOncePerVisit: false})
	s2.object(300, "Tea", framemeta.DecisionCount)
	if q := s2.quantity("Tea"); q != 4 { // at 0, 3, 6 and 9 s (recognitions every 5 frames)
		t.Fatalf("without once-per-visit: %d, want 4", q)
	}
}

// A visit the recogniser hesitates about is asked about once, when it ends: a review with the
// best 3 candidates and the crop, held as pending outside the cart's items.
func TestUnsureVisitIsAskedWhenItEnds(t *testing.T) {
	s := newStream(t, nil)
	s.idle(10)
	s.object(20, "Tea", framemeta.DecisionAsk) // 4 recognitions, fewer than ask-after
	if ev := s.events(cart.EventReview); len(ev) != 0 {
		t.Fatalf("asked while the visit goes on: %+v", ev)
	}
	s.idle(7)
	if ev := s.events(cart.EventReview); len(ev) != 0 {
		t.Fatal("asked before the ROI cleared")
	}
	s.idle(1) // the 8th empty frame frees the ROI: the visit ends
	ev := s.events(cart.EventReview)
	if len(ev) != 1 || ev[0].Review == nil {
		t.Fatalf("review events: %+v", ev)
	}
	r := ev[0].Review
	if len(r.Candidates) != 3 || r.Candidates[0].Product != "Tea" || r.Candidates[2].Product != "Soap" ||
		r.Candidates[0].Image != "/api/products/7/images/1" || r.Crop == "" {
		t.Fatalf("review %+v", r)
	}
	v := s.target.View()
	if len(v.Items) != 0 || len(v.Pending) != 1 || v.Pending[0].ID != r.ID {
		t.Fatalf("cart after the review: %+v", v)
	}
	// The kept crop is a small JPEG of the visit's crop.
	b, err := s.target.Crop(r.Crop[len(r.Crop)-2:])
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil || img.Bounds().Dx() != 213 || img.Bounds().Dy() != CropMaxSide {
		t.Fatalf("crop %v %v, want 213×320", img.Bounds(), err)
	}
	if s.property(PropAsked) != 1 || s.property(PropCounted) != 0 {
		t.Fatalf("asked %d counted %d", s.property(PropAsked), s.property(PropCounted))
	}
}

// A shopper holding a product the recogniser is unsure of is asked after ask-after
// recognitions, without waiting for the product to leave; and only once.
func TestUnsureVisitIsAskedWhileHeld(t *testing.T) {
	s := newStream(t, map[string]any{PropAskAfter: 6})
	s.object(26, "Tea", framemeta.DecisionAsk) // recognitions at frames 0..25: the 6th at 25
	if ev := s.events(cart.EventReview); len(ev) != 1 || math.Abs(ev[0].StreamTime-25.0/30) > 1e-9 {
		t.Fatalf("reviews after 6 recognitions: %+v", ev)
	}
	s.object(200, "Tea", framemeta.DecisionAsk)
	s.idle(20)
	if ev := s.events(cart.EventReview); len(ev) != 0 {
		t.Fatalf("asked again in the same visit: %d", len(ev))
	}
}

// The entry frame may show the product half in view: a later, surer recognition in the same
// visit counts, and nothing is asked.
func TestUnsureThenSureCounts(t *testing.T) {
	s := newStream(t, nil)
	s.objectWith(40, func(k int) *framemeta.Match {
		if k < 3 {
			return verdict("Milk", framemeta.DecisionAsk)
		}
		return verdict("Milk", framemeta.DecisionCount)
	})
	s.idle(20)
	if q := s.quantity("Milk"); q != 1 {
		t.Fatalf("%d, want 1", q)
	}
	if n := len(s.events(cart.EventReview)); n != 0 {
		t.Fatalf("%d reviews", n)
	}
}

func TestUnknownObjectIsReportedOncePerVisitAndNeverCounted(t *testing.T) {
	s := newStream(t, nil)
	s.object(60, "Hand", framemeta.DecisionUnknown)
	s.idle(20)
	s.object(60, "Hand", framemeta.DecisionUnknown)
	s.idle(20)
	if v := s.target.View(); len(v.Items) != 0 || len(v.Pending) != 0 {
		t.Fatalf("unknown objects were counted or asked about: %+v", v)
	}
	ev := s.events(cart.EventUnknown)
	if len(ev) != 2 {
		t.Fatalf("unknown events: %d, want 2 (one per visit)", len(ev))
	}
	if ev[0].Crop == "" || ev[0].Product != "Hand" {
		t.Fatalf("unknown event %+v: want the closest product and the crop's URL", ev[0])
	}
	if got := s.property(PropUnknown); got != 2 {
		t.Fatalf("unknown property %d", got)
	}
}

// The same product shown again within the cooldown, unsurely: it was just counted, so it is
// not asked about (the answer would count it twice).
func TestUnsureRepeatWithinTheCooldownIsNotAsked(t *testing.T) {
	s := newStream(t, nil)
	s.object(20, "Milk", framemeta.DecisionCount)
	s.idle(15)
	s.object(20, "Milk", framemeta.DecisionAsk)
	s.idle(15)
	all := s.all()
	if n := len(only(all, cart.EventReview)); n != 0 {
		t.Fatalf("%d reviews", n)
	}
	if ev := only(all, cart.EventCooldown); len(ev) != 1 || ev[0].Product != "Milk" {
		t.Fatalf("cooldown events %+v", ev)
	}
	s.idle(120) // beyond the cooldown the same hesitation is a question again
	s.object(20, "Milk", framemeta.DecisionAsk)
	s.idle(15)
	if n := len(s.events(cart.EventReview)); n != 1 {
		t.Fatalf("%d reviews beyond the cooldown, want 1", n)
	}
}

func TestTooManyQuestionsAreReportedUnknown(t *testing.T) {
	s := newStream(t, nil)
	for i := 0; i <= cart.MaxPending; i++ {
		s.object(20, fmt.Sprint("Product ", i), framemeta.DecisionAsk)
		s.idle(15)
	}
	if n, u := len(s.events(cart.EventReview)), s.property(PropUnknown); n != cart.MaxPending || u != 1 {
		t.Fatalf("%d reviews and %d unknown, want %d and 1", n, u, cart.MaxPending)
	}
}

// A count keeps its visit's crop: a cart edit replacing it hands it back.
func TestCountKeepsTheCropForCorrections(t *testing.T) {
	s := newStream(t, nil)
	s.object(20, "Milk", framemeta.DecisionCount)
	s.idle(20)
	_, fixes, err := s.target.Replace([]cart.Line{{ProductID: 8, Product: "Bread", Quantity: 1}}, 0)
	if err != nil || len(fixes) != 1 || fixes[0].FromProduct != "Milk" || len(fixes[0].Crop) == 0 {
		t.Fatalf("%+v %v", fixes, err)
	}
}

func TestROIEventsFollowTheGate(t *testing.T) {
	s := newStream(t, nil)
	s.idle(3)
	s.object(10, "Milk", framemeta.DecisionCount)
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

func TestConfirmedCartRefusesCountsAndQuestions(t *testing.T) {
	s := newStream(t, nil)
	s.object(10, "Milk", framemeta.DecisionCount)
	if _, err := s.target.Confirm(&memStore{}, "s"); err != nil {
		t.Fatal(err)
	}
	s.idle(200)
	s.object(10, "Milk", framemeta.DecisionCount)
	s.idle(20)
	s.object(10, "Tea", framemeta.DecisionAsk)
	s.idle(20)
	if v := s.target.View(); v.Totals()["Milk"] != 1 || len(v.Pending) != 0 {
		t.Fatalf("confirmed cart changed: %+v", v)
	}
	if got := s.property(PropRefused); got != 2 {
		t.Fatalf("refused %d, want 2", got)
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

func BenchmarkEncodeCrop(b *testing.B) {
	for b.Loop() {
		encodeCrop(crop)
	}
}

// A recognition sent without a frame (ebrcs_embed, once the camera stopped sending) decides
// as the next frame would have: of the last visit, ended with none since, it decides that
// visit; of the visit in progress, a count counts at once and the visit counts no more; of
// an earlier visit, it is a late recognition; of a visit decided already, nothing.
func TestRecognitionWithoutAFrame(t *testing.T) {
	s := newStream(t, nil)
	verdict := ownVerdict
	meta := func(v *framemeta.VisitState, m *framemeta.Match) {
		t.Helper()
		if err := s.c.ProcessMeta(&framemeta.Frame{Late: &framemeta.LateRecognition{Visit: v, Seen: -1, Match: m}}); err != nil {
			t.Fatal(err)
		}
	}
	none := func(int) *framemeta.Match { return nil }

	// Milk goes by unrecognised, then the camera stops; its vector comes without a frame.
	s.idle(10)
	s.objectWith(20, none)
	milk := s.visit
	s.idle(10)
	meta(milk, verdict("Milk", framemeta.DecisionCount))
	meta(milk, verdict("Milk", framemeta.DecisionCount)) // a second vector of it: nothing
	if got := s.quantity("Milk"); got != 1 {
		t.Fatalf("milk counted %d times, want 1", got)
	}
	if !milk.Decided() {
		t.Error("the visit was not marked decided")
	}
	// Bread is still shown when its vector comes without a frame: counted at once, and not
	// again by the recognitions of the rest of its visit.
	s.objectWith(10, none)
	bread := s.visit
	meta(bread, verdict("Bread", framemeta.DecisionCount))
	if got := s.quantity("Bread"); got != 1 {
		t.Fatalf("bread counted %d times while shown, want 1", got)
	}
	s.objectWith(20, func(int) *framemeta.Match { return verdict("Bread", framemeta.DecisionCount) })
	s.idle(10)
	// Soap, unsure, after its visit ended: asked at once.
	s.objectWith(20, none)
	soap := s.visit
	s.idle(10)
	meta(soap, verdict("Soap", framemeta.DecisionAsk))
	// Gum goes by unrecognised and another visit begins; gum's vector, then, is late.
	s.objectWith(20, none)
	gum := s.visit
	s.idle(10)
	s.objectWith(10, none)
	meta(gum, verdict("Gum", framemeta.DecisionCount))
	s.idle(10)

	if got := s.quantity("Bread"); got != 1 {
		t.Errorf("bread counted %d times, want 1", got)
	}
	if got := s.quantity("Gum"); got != 1 {
		t.Errorf("gum counted %d times from its late vector, want 1", got)
	}
	events := s.all()
	if n := len(only(events, cart.EventCount)); n != 3 {
		t.Errorf("%d count events, want 3 (milk, bread, gum)", n)
	}
	if n := len(only(events, cart.EventReview)); n != 1 {
		t.Errorf("%d reviews, want 1 (soap)", n)
	}
}
