package cart

import (
	"fmt"
	"strings"
	"sync"

	"github.com/ebrcs/ebrcs/data"
)

// Line is one product in a cart.
type Line struct {
	ProductID int64   `json:"product_id,omitempty"`
	Product   string  `json:"product"`
	Quantity  int     `json:"quantity"`
	Score     float32 `json:"score,omitempty"` // the last recognition score; 0 when added by hand
}

// CartView is a consistent snapshot of a cart.
type CartView struct {
	Items []Line `json:"items"`
	// Pending are the visits the camera could not decide on, waiting for an answer (see
	// Ask): oldest first, never nil. They are not items until answered.
	Pending []Review `json:"pending"`
	// Version increases with every change; a client editing the cart sends the version it
	// saw, so that it never overwrites a count it has not seen.
	Version   int64 `json:"version"`
	Confirmed bool  `json:"confirmed"`
	// Recognising is how many products shown to the camera are still being recognised (a
	// busy machine recognises seconds behind the video): the cart is not complete until it
	// is 0, and cannot be confirmed before.
	Recognising int `json:"recognising"`
	// Purchase is the stored purchase once confirmed.
	Purchase *data.Purchase `json:"purchase,omitempty"`
}

// Totals maps each product to its quantity: the `ebrcs run --json` form.
func (v CartView) Totals() map[string]int {
	out := map[string]int{}
	for _, l := range v.Items {
		out[l.Product] += l.Quantity
	}
	return out
}

// PurchaseStore is where confirmed carts go (the catalog's SQLite database).
type PurchaseStore interface {
	RecordPurchase(sessionID string, items []data.PurchaseItem) (*data.Purchase, error)
}

// Cart is a checkout's cart: counted into by ebrcs_counter on the streaming thread, read and
// edited through the API, confirmed once. Every change is published on its event bus.
type Cart struct {
	events  *Bus
	cropURL string // prefix of a kept crop's URL; "" when crops have none

	mu       sync.Mutex
	lines    []Line // in the order products were first added
	version  int64
	purchase *data.Purchase
	seen     sightings // crops, counted visits and reviews (reviews.go)
	// recognising: products shown whose recognition is under way (SetRecognising).
	recognising int
}

// Option configures a new cart.
type Option func(*Cart)

// CropURLs makes the URL of a kept crop prefix + its id (a session's cart: the checkout API's
// route that serves its crops). Without it crops have no URL.
func CropURLs(prefix string) Option { return func(c *Cart) { c.cropURL = prefix } }

// NewCart returns an empty cart publishing on events (nil: no events).
func NewCart(events *Bus, opts ...Option) *Cart {
	c := &Cart{events: events}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Events returns the bus the cart publishes on (nil when it has none).
func (c *Cart) Events() *Bus { return c.events }

// Count adds one of a recognised product and returns its new quantity. A confirmed cart is
// immutable: Count returns ErrConfirmed and changes nothing.
func (c *Cart) Count(productID int64, product string, score float32) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.purchase != nil {
		return 0, ErrConfirmed
	}
	return c.addLocked(productID, product, score), nil
}

// CountSeen says that the latest count of a product was the camera's, and keeps the crop of
// its visit (JPEG): if a cart edit later replaces the count with another product, the crop is
// what the correction teaches the catalog (see Replace). ebrcs_counter calls it right after
// Count, once the count is published, so that encoding the crop never delays the count.
func (c *Cart) CountSeen(productID int64, product string, crop []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.purchase == nil {
		c.seen.counted(productID, product, c.seen.keep(crop, false))
	}
}

// addLocked adds one of a product and returns its new quantity (c.mu held).
func (c *Cart) addLocked(productID int64, product string, score float32) int {
	c.version++
	for i := range c.lines {
		if sameProduct(c.lines[i], productID, product) {
			c.lines[i].Quantity++
			c.lines[i].Score = score
			return c.lines[i].Quantity
		}
	}
	c.lines = append(c.lines, Line{ProductID: productID, Product: product, Quantity: 1, Score: score})
	return 1
}

func sameProduct(l Line, id int64, name string) bool {
	if id != 0 && l.ProductID != 0 {
		return id == l.ProductID
	}
	return strings.EqualFold(l.Product, name)
}

// View returns a snapshot.
func (c *Cart) View() CartView {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.viewLocked()
}

func (c *Cart) viewLocked() CartView {
	return CartView{
		Items:       append([]Line{}, c.lines...),
		Pending:     c.seen.pendingViews(c.cropURL),
		Version:     c.version,
		Confirmed:   c.purchase != nil,
		Recognising: c.recognising,
		Purchase:    c.purchase,
	}
}

// SetRecognising records how many products shown to the camera are still being recognised
// (ebrcs_counter, from ebrcs_embed's count on each frame) and publishes a recognising event
// with the cart when it changes.
func (c *Cart) SetRecognising(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n == c.recognising {
		return
	}
	c.recognising = n
	v := c.viewLocked()
	c.events.Publish(Event{Type: EventRecognising, Cart: &v})
}

// Lines returns the cart's lines (a copy), for the overlay.
func (c *Cart) Lines() []Line {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Line(nil), c.lines...)
}

// Limits of a cart edit. A real cart has a few dozen lines; the limits keep one request from
// costing more than a cart could ever need (25,000 duplicate lines once cost 1.2 s of CPU and
// added up past the quantity cap).
const (
	// MaxQuantity is the most of one product a cart may hold.
	MaxQuantity = 10000
	// MaxLines is the most lines an edit may send (before duplicates are merged).
	MaxLines = 500
)

// Replace sets the cart's content to lines (the cashier's corrections: quantities changed,
// a missed product added, a wrong one removed). Lines of the same product are merged; lines
// with quantity 0 are dropped; a negative quantity is the caller's to refuse. The merged
// content must hold at most MaxLines lines and MaxQuantity of each product (ErrTooMany names
// the product), else nothing changes. version, when > 0, must be the cart's current version
// (ErrStale otherwise). The last score of a product already in the cart is kept.
//
// An edit that takes camera-counted products out and puts others in says the camera was
// wrong: each unit taken out, latest count first, is paired with a unit put in, and the
// crop of its count is returned as a Correction for the product put in.
func (c *Cart) Replace(lines []Line, version int64) (CartView, []Correction, error) {
	if len(lines) > MaxLines {
		return CartView{}, nil, fmt.Errorf("%w: %d lines, at most %d", ErrTooMany, len(lines), MaxLines)
	}
	var next []Line
	for _, l := range lines {
		if l.Quantity <= 0 {
			continue
		}
		merged := false
		for i := range next {
			if sameProduct(next[i], l.ProductID, l.Product) {
				next[i].Quantity += l.Quantity
				if next[i].Quantity > MaxQuantity {
					return CartView{}, nil, fmt.Errorf("%w: %d of %q, at most %d", ErrTooMany, next[i].Quantity, next[i].Product, MaxQuantity)
				}
				merged = true
				break
			}
		}
		if !merged {
			if l.Quantity > MaxQuantity {
				return CartView{}, nil, fmt.Errorf("%w: %d of %q, at most %d", ErrTooMany, l.Quantity, l.Product, MaxQuantity)
			}
			next = append(next, l)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.purchase != nil {
		return CartView{}, nil, ErrConfirmed
	}
	if version > 0 && version != c.version {
		return CartView{}, nil, fmt.Errorf("%w: the cart is at version %d, the edit was made on version %d", ErrStale, c.version, version)
	}
	for i := range next {
		for _, old := range c.lines {
			if sameProduct(old, next[i].ProductID, next[i].Product) && next[i].Score == 0 {
				next[i].Score = old.Score
			}
		}
	}
	fixes := c.seen.corrections(c.lines, next)
	c.lines = next
	c.version++
	v := c.viewLocked()
	c.events.Publish(Event{Type: EventCart, Cart: &v})
	return v, fixes, nil
}

// Confirm stores the cart as the session's purchase. The cart lock is held while the
// purchase is written, so no count can slip in between what is stored and what is shown.
// While reviews wait for an answer the cart is not complete: ErrPending.
func (c *Cart) Confirm(store PurchaseStore, sessionID string) (CartView, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.purchase != nil {
		return CartView{}, ErrConfirmed
	}
	if n := len(c.seen.pending); n > 0 {
		return CartView{}, fmt.Errorf("%w: %d product(s) shown to the camera wait for an answer; answer or dismiss them first", ErrPending, n)
	}
	if n := c.recognising; n > 0 {
		return CartView{}, fmt.Errorf("%w: %d product(s) shown to the camera are still being recognised; confirm again in a moment", ErrPending, n)
	}
	if len(c.lines) == 0 {
		return CartView{}, ErrEmptyCart
	}
	items := make([]data.PurchaseItem, len(c.lines))
	for i, l := range c.lines {
		items[i] = data.PurchaseItem{ProductID: l.ProductID, Product: l.Product, Quantity: l.Quantity, Score: l.Score}
	}
	p, err := store.RecordPurchase(sessionID, items)
	if err != nil {
		return CartView{}, err
	}
	c.purchase = p
	c.version++
	v := c.viewLocked()
	c.events.Publish(Event{Type: EventConfirmed, Cart: &v})
	return v, nil
}
