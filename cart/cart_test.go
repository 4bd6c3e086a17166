package cart

import (
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A subscriber that never reads must not block publishing: its events are dropped and counted.
func TestSlowSubscriberIsDroppedNotWaitedFor(t *testing.T) {
	b := NewBus(8)
	slow := b.Subscribe(-1, 4)
	fast := b.Subscribe(-1, 1000)
	for i := 0; i < 100; i++ {
		b.Publish(Event{Type: EventROI})
	}
	if slow.Dropped() != 96 || b.Dropped() != 96 || fast.Dropped() != 0 {
		t.Fatalf("dropped: slow %d, bus %d, fast %d", slow.Dropped(), b.Dropped(), fast.Dropped())
	}
	n := 0
	for e := range fast.C {
		n++
		if e.Seq != int64(n) {
			t.Fatalf("event %d has seq %d", n, e.Seq)
		}
		if n == 100 {
			break
		}
	}
	// A late subscriber resuming after 95 gets the kept events 96..100.
	late := b.Subscribe(95, 1)
	for want := int64(96); want <= 100; want++ {
		if e := <-late.C; e.Seq != want {
			t.Fatalf("replay: seq %d, want %d", e.Seq, want)
		}
	}
	b.Close()
	for range slow.C {
	}
	if _, ok := <-late.C; ok {
		t.Fatal("channel open after Close")
	}
	slow.Close() // closing twice, after the bus, is fine
	fast.Close()
}

func TestConcurrentCountsAndEdits(t *testing.T) {
	c := NewCart(NewBus(0))
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 250; i++ {
				c.Count(1, "Milk", 0.9)
			}
		}()
	}
	wg.Wait()
	if v := c.View(); v.Totals()["Milk"] != 1000 || v.Version != 1000 {
		t.Fatalf("%+v", v)
	}
	if _, _, err := c.Replace([]Line{{Product: "Milk", Quantity: 2}, {Product: "milk", Quantity: 1}, {Product: "Tea", Quantity: 0}}, 1000); err != nil {
		t.Fatal(err)
	}
	if v := c.View(); len(v.Items) != 1 || v.Items[0].Quantity != 3 || v.Items[0].Score != 0.9 {
		t.Fatalf("after edit %+v", v.Items)
	}
}
