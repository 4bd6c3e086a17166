package checkout

import (
	"path"
	"sync/atomic"
	"time"

	"github.com/ebrcs/ebrcs/cart"
	"github.com/ebrcs/ebrcs/data"
)

// HistoryStore keeps what the cameras decided, visit by visit, and the prices of purchases,
// for the back office (the catalog's database).
type HistoryStore interface {
	RecordCount(r data.CountRecord, crop []byte) (data.CountRecord, error)
	RecordPurchasePrices(purchaseID int64, unitCents []*int64, currency string) error
	PruneHistory(before time.Time) (int64, error)
}

var _ HistoryStore = (*data.Catalog)(nil)

// Defaults of the history.
const (
	// DefaultHistoryRetention is how long count records are kept (Config.HistoryRetention).
	DefaultHistoryRetention = 90 * 24 * time.Hour
	// historyQueue bounds the events waiting to be written; beyond, they are dropped and
	// counted (a slow disk must never stall a camera's pipeline).
	historyQueue = 1024
	// countSettle is how long a count waits before it is written: the counter keeps the
	// visit's crop just after it publishes the count.
	countSettle = 300 * time.Millisecond
	// pruneEvery is how often records past the retention are removed.
	pruneEvery = time.Hour
)

// historyRecorder writes every session's and station's decisions (count, ask, unknown, cooldown)
// with the visit's crop, and each purchase's prices, to the HistoryStore. It takes events from
// the sessions' streams without blocking them, on a bounded queue.
type historyRecorder struct {
	m        *Manager
	store    HistoryStore
	currency string
	keep     time.Duration
	queue    chan Outgoing
	dropped  atomic.Int64
}

func newHistoryRecorder(m *Manager) *historyRecorder {
	keep := m.cfg.HistoryRetention
	if keep <= 0 {
		keep = DefaultHistoryRetention
	}
	return &historyRecorder{m: m, store: m.cfg.History, currency: m.cfg.Currency, keep: keep, queue: make(chan Outgoing, historyQueue)}
}

// offer queues an event if it is one the history keeps; it never blocks.
func (r *historyRecorder) offer(o Outgoing) {
	switch o.Event.Type {
	case cart.EventCount, cart.EventReview, cart.EventUnknown, cart.EventCooldown, cart.EventConfirmed:
	default:
		return
	}
	select {
	case r.queue <- o:
	default:
		if r.dropped.Add(1)%100 == 1 {
			r.m.log.Warn("history: events dropped (the database is slow)", "dropped", r.dropped.Load())
		}
	}
}

// Dropped is how many events the history could not keep up with.
func (r *historyRecorder) Dropped() int64 { return r.dropped.Load() }

// run writes queued events until stop, and prunes the history by age.
func (r *historyRecorder) run(stop <-chan struct{}) {
	defer r.m.wg.Done()
	r.prune()
	tick := time.NewTicker(pruneEvery)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			// What is queued still goes in: the last counts before a shutdown matter too.
			for {
				select {
				case o := <-r.queue:
					r.write(o)
				default:
					return
				}
			}
		case <-tick.C:
			r.prune()
		case o := <-r.queue:
			if o.Event.Type == cart.EventCount {
				if wait := time.Until(o.Event.Time.Add(countSettle)); wait > 0 {
					select {
					case <-time.After(wait):
					case <-stop:
					}
				}
			}
			r.write(o)
		}
	}
}

func (r *historyRecorder) prune() {
	n, err := r.store.PruneHistory(time.Now().Add(-r.keep))
	if err != nil {
		r.m.log.Warn("history: pruning failed", "error", err)
	} else if n > 0 {
		r.m.log.Info("history: old records removed", "records", n, "retention", r.keep)
	}
}

// write stores one event.
func (r *historyRecorder) write(o Outgoing) {
	e := o.Event
	if e.Type == cart.EventConfirmed {
		r.prices(e)
		return
	}
	rec := data.CountRecord{CreatedAt: e.Time, SessionID: o.Session, Station: o.Station, ProductID: e.ProductID, Product: e.Product, Score: e.Score}
	sess := r.m.peek(o.Session)
	var crop []byte
	switch e.Type {
	case cart.EventCount:
		rec.Decision = data.DecisionCount
		if sess != nil {
			crop = sess.Cart.LastCountCrop(e.ProductID, e.Product)
		}
	case cart.EventCooldown:
		rec.Decision = data.DecisionCooldown
	case cart.EventUnknown:
		rec.Decision = data.DecisionUnknown
		crop = cropOf(sess, e.Crop)
	case cart.EventReview:
		rec.Decision = data.DecisionAsk
		if e.Review != nil {
			if len(e.Review.Candidates) > 0 {
				c := e.Review.Candidates[0]
				rec.ProductID, rec.Product, rec.Score = c.ProductID, c.Product, c.Score
			}
			crop = cropOf(sess, e.Review.Crop)
		}
	}
	if _, err := r.store.RecordCount(rec, crop); err != nil {
		r.m.log.Warn("history: a decision could not be kept", "session", o.Session, "decision", rec.Decision, "error", err)
	}
}

// prices keeps the unit price of each line of a confirmed purchase, as the catalog has them now.
func (r *historyRecorder) prices(e cart.Event) {
	if e.Cart == nil || e.Cart.Purchase == nil {
		return
	}
	p := e.Cart.Purchase
	unit := make([]*int64, len(p.Items))
	for i, it := range p.Items {
		unit[i] = r.m.priceOf(it.ProductID, it.Product)
	}
	if err := r.store.RecordPurchasePrices(p.ID, unit, r.currency); err != nil {
		r.m.log.Warn("history: a purchase's prices could not be kept", "purchase", p.ID, "error", err)
	}
}

// cropOf is the crop a URL of the session's names ("/api/sessions/ID/crops/c3"), or nil.
func cropOf(s *Session, url string) []byte {
	if s == nil || url == "" {
		return nil
	}
	b, err := s.Cart.Crop(path.Base(url))
	if err != nil {
		return nil
	}
	return b
}

// priceOf is a product's unit price in cents in the catalog (nil: none, or no such product).
func (m *Manager) priceOf(id int64, name string) *int64 {
	store := m.cfg.Store
	if store == nil {
		return nil
	}
	if id > 0 {
		if p, err := store.Product(id); err == nil {
			return p.PriceCents
		}
	}
	if p, err := store.ProductByName(name); err == nil {
		return p.PriceCents
	}
	return nil
}

// peek returns a session without marking it active (nil when it is gone).
func (m *Manager) peek(id string) *Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sessions[id]
}
