package checkout

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/cart"
	"github.com/ebrcs/ebrcs/data"
	"github.com/ebrcs/ebrcs/pipelines"
)

// recorder is an EventSink that keeps what it gets.
type recorder struct {
	mu  sync.Mutex
	got []Outgoing
}

func (r *recorder) Emit(o Outgoing) {
	r.mu.Lock()
	r.got = append(r.got, o)
	r.mu.Unlock()
}

func (r *recorder) of(session string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, o := range r.got {
		if o.Session == session {
			s := string(o.Event.Type)
			if o.Pipeline != nil {
				s += ":" + string(o.Pipeline.State)
			}
			out = append(out, s)
		}
	}
	return out
}

// purchases stores confirmed carts in memory.
type purchases struct{}

func (purchases) RecordPurchase(id string, items []data.PurchaseItem) (*data.Purchase, error) {
	return &data.Purchase{ID: 1, SessionID: id, Items: items}, nil
}

// Every event of a session leaves through the sink, in order, with its opening first; the
// purchase goes with the confirmation.
func TestSessionEventsLeaveThroughTheSink(t *testing.T) {
	rec := &recorder{}
	m := newTestManager(t, Config{Events: rec})
	s, err := m.Create(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.Events.Publish(cart.Event{Type: cart.EventCount, Product: "Milk", Quantity: 1})
	if _, err := s.Cart.Count(0, "Milk", 0.9); err != nil {
		t.Fatal(err)
	}
	if _, err := m.SetROI(s.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Cart.Confirm(purchases{}, s.ID); err != nil {
		t.Fatal(err)
	}
	m.Delete(s.ID)
	if got := fmt.Sprint(rec.of(s.ID)); got != "[opened count roi_set confirmed closed]" {
		t.Fatalf("the sink got %s", got)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, o := range rec.got {
		if o.Event.Type == cart.EventConfirmed && (o.Event.Cart == nil || o.Event.Cart.Purchase == nil || o.Event.Cart.Purchase.SessionID != s.ID) {
			t.Fatalf("the confirmation has no purchase: %+v", o.Event)
		}
		if o.Event.Type == cart.EventCount && o.Event.Seq != 1 {
			t.Fatalf("the count has the stream's seq %d, want 1", o.Event.Seq)
		}
	}
}

// A station's camera pipeline tells the sink its state changes, as the station's events.
func TestStationStatesLeaveThroughTheSink(t *testing.T) {
	rec := &recorder{}
	m := newTestManager(t, Config{Events: rec})
	spec := mustSpec(t, "name: door\nsource: {type: test, width: 64, height: 48}\nelements: [{element: ebrcs_counter}]\nsink: {type: fake}\n")
	b, err := m.Bind(spec)
	if err != nil {
		t.Fatal(err)
	}
	sup := pipelines.NewSupervisor(spec, pipelines.SupervisorOptions{MaxRestarts: 0, Binding: b})
	sup.Start()
	deadline := time.Now().Add(10 * time.Second)
	for sup.Status().State != pipelines.StateRunning {
		if time.Now().After(deadline) {
			t.Fatalf("not running: %+v", sup.Status())
		}
		time.Sleep(10 * time.Millisecond)
	}
	sup.Stop()
	if got := fmt.Sprint(rec.of(StationID("door"))); got != "[opened state:starting state:running state:stopped]" {
		t.Fatalf("the sink got %s", got)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, o := range rec.got {
		if o.Station != "door" {
			t.Fatalf("a station's event without its station: %+v", o)
		}
	}
}

// Without a sink nothing is forwarded: a session's stream is a plain bus.
func TestNoSinkNoForwarding(t *testing.T) {
	m := newTestManager(t, Config{})
	if f := m.forwarder("s_1", ""); f != nil {
		t.Fatal("a forwarder without a sink")
	}
}

// A shopper's session may move to another node while nothing would be lost.
func TestMovable(t *testing.T) {
	m := newTestManager(t, Config{})
	s, err := m.Create(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Movable() {
		t.Fatal("a new session is not movable")
	}
	s.Cart.Count(0, "Milk", 0.9)
	if s.Movable() {
		t.Fatal("a session with a cart is movable")
	}
	other, _ := m.Create(nil)
	detach := other.attach(nil)
	detach()
	if other.Movable() {
		t.Fatal("a session that had media is movable")
	}
}
