package checkout

import (
	"sync"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/cart"
	"github.com/ebrcs/ebrcs/data"
)

// historyStore records what the history writes.
type historyStore struct {
	mu      sync.Mutex
	counts  []data.CountRecord
	crops   []string
	prices  map[int64][]*int64
	pruned  []time.Time
	written chan struct{}
}

func (h *historyStore) RecordCount(r data.CountRecord, crop []byte) (data.CountRecord, error) {
	h.mu.Lock()
	h.counts, h.crops = append(h.counts, r), append(h.crops, string(crop))
	h.mu.Unlock()
	h.written <- struct{}{}
	return r, nil
}

func (h *historyStore) RecordPurchasePrices(id int64, unit []*int64, currency string) error {
	h.mu.Lock()
	h.prices[id] = unit
	h.mu.Unlock()
	h.written <- struct{}{}
	return nil
}

func (h *historyStore) PruneHistory(before time.Time) (int64, error) {
	h.mu.Lock()
	h.pruned = append(h.pruned, before)
	h.mu.Unlock()
	return 0, nil
}

// Every decision a session's stream publishes (count, ask, unknown, cooldown) is kept with the
// visit's crop, where it happened, and the confirmed purchase's prices; the history is pruned
// by the retention at start.
func TestHistoryKeepsEveryDecisionWithItsCrop(t *testing.T) {
	h := &historyStore{prices: map[int64][]*int64{}, written: make(chan struct{}, 16)}
	m, err := NewManager(Config{Store: &learningStore{}, History: h, HistoryRetention: 48 * time.Hour, Currency: "EUR"})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := m.Create(nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	// A count: published first, its crop kept right after (as ebrcs_counter does).
	s.Cart.Count(1, "Milk", 0.91)
	s.Events.Publish(cart.Event{Type: cart.EventCount, Time: now, ProductID: 1, Product: "Milk", Score: 0.91, Quantity: 1})
	s.Cart.CountSeen(1, "Milk", []byte("milk-crop"))
	s.Events.Publish(cart.Event{Type: cart.EventCooldown, Time: now, ProductID: 1, Product: "Milk", Score: 0.9})
	url := s.Cart.KeepCrop([]byte("box-crop"))
	s.Events.Publish(cart.Event{Type: cart.EventUnknown, Time: now, ProductID: 2, Product: "Bread", Score: 0.1, Crop: url})
	// Asking publishes the review event; a ROI status is not history.
	r := askIn(t, s, "ask-crop")
	s.Events.Publish(cart.Event{Type: cart.EventROI, Time: now, Status: "inside"})
	for range 4 {
		select {
		case <-h.written:
		case <-time.After(5 * time.Second):
			t.Fatalf("the history wrote %d records in 5s, want 4", len(h.counts))
		}
	}
	want := []struct{ decision, product, crop string }{
		{data.DecisionCount, "Milk", "milk-crop"}, {data.DecisionCooldown, "Milk", ""},
		{data.DecisionUnknown, "Bread", "box-crop"}, {data.DecisionAsk, "Milk", "ask-crop"},
	}
	h.mu.Lock()
	for i, w := range want {
		got := h.counts[i]
		if got.Decision != w.decision || got.Product != w.product || h.crops[i] != w.crop || got.SessionID != s.ID || got.Station != "" || got.CreatedAt.Sub(now).Abs() > time.Second {
			t.Errorf("record %d: %+v crop %q, want %s of %s with %q in %s", i, got, h.crops[i], w.decision, w.product, w.crop, s.ID)
		}
	}
	if len(h.pruned) != 1 || time.Since(h.pruned[0]) < 47*time.Hour {
		t.Errorf("pruned %v, want once, 48 h back", h.pruned)
	}
	h.mu.Unlock()

	// The confirmed purchase's prices (the test catalog has none: nil for each line).
	if _, _, err := s.Cart.Resolve(r.ID, cart.Answer{ProductID: 2, Product: "Bread"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Cart.Confirm(&learningStore{}, s.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-h.written:
	case <-time.After(5 * time.Second):
		t.Fatal("no prices recorded for the purchase")
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if unit, ok := h.prices[1]; !ok || len(unit) != 2 || unit[0] != nil {
		t.Fatalf("purchase prices %v", h.prices)
	}
}
