package cart

import (
	"fmt"
	"strconv"
	"time"
)

// What a cart keeps of what the camera saw. ebrcs_counter decides once per visit of the ROI:
// a visit it is sure of is counted (Count, CountSeen), one it is not sure of is held as a Review
// until someone answers it (Ask, Resolve), one that matched nothing is reported (KeepCrop).
// Each decision keeps the visit's crop, a small JPEG: a review shows it with the prompt, and
// an answer, or a cart edit that corrects a count (Replace), hands it back so that the
// catalog can learn what the product looks like at this counter.

// Limits of what a cart keeps. A checkout sees a few dozen visits; the limits bound the
// memory of one that runs for hours (a camera station).
const (
	// MaxCrops is how many crops of counted and unknown visits a cart keeps, the latest;
	// the crops of pending reviews are kept on top of these until answered.
	MaxCrops = 32
	// MaxPending is how many reviews may wait for an answer at once; a visit beyond them is
	// refused with ErrTooManyPending (ebrcs_counter reports it as unknown).
	MaxPending = 8
	// keepResolved is how many answered reviews are remembered, so that answering one again
	// is ErrResolved rather than ErrNoReview.
	keepResolved = 64
)

// productImageURL is the admin API's first photo of a product: a candidate's thumbnail.
const productImageURL = "/api/products/%d/images/1"

// Candidate is a product a visit resembles.
type Candidate struct {
	ProductID int64   `json:"product_id"`
	Product   string  `json:"product"`
	Score     float32 `json:"score"`
	// Image is the URL of the product's first photo.
	Image string `json:"image,omitempty"`
}

// Sighting is what the camera saw of a visit it could not decide on.
type Sighting struct {
	StreamTime float64     // the frame's time in its stream, seconds
	Candidates []Candidate // the products it resembles, best first
	Crop       []byte      // the visit's crop as JPEG; nil: none
}

// Review is a visit waiting for an answer: which product it was, or none of these.
type Review struct {
	ID         string      `json:"id"`
	Created    time.Time   `json:"created_at"`
	StreamTime float64     `json:"stream_time,omitempty"`
	Candidates []Candidate `json:"candidates"`
	// Crop is the URL of the visit's crop ("" when the cart's crops have no URL, or there
	// was none).
	Crop string `json:"crop,omitempty"`
}

// Answer answers a review: a product (ProductID and its catalog name), or None.
type Answer struct {
	ProductID int64
	Product   string
	None      bool
}

// Resolution is an answered review.
type Resolution struct {
	Review    string `json:"review"`
	ProductID int64  `json:"product_id,omitempty"`
	Product   string `json:"product,omitempty"`
	None      bool   `json:"none,omitempty"`
	// Quantity is the product's quantity in the cart after the answer.
	Quantity int `json:"quantity,omitempty"`
	// Crop is the visit's crop (JPEG), for the catalog to learn from; nil when it had none.
	Crop []byte `json:"-"`
}

// Correction is a camera count that a cart edit replaced with another product: the count's
// crop shows To, not From.
type Correction struct {
	FromProductID int64
	FromProduct   string
	ToProductID   int64
	ToProduct     string
	Crop          []byte // JPEG
}

// Ask holds a visit as a pending review (in the cart's view, not in its items) and publishes
// a review event with it and the cart. The crop is kept until the review is answered.
// Errors: ErrConfirmed, ErrTooManyPending; nothing changes then.
func (c *Cart) Ask(s Sighting) (Review, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.purchase != nil {
		return Review{}, ErrConfirmed
	}
	if len(c.seen.pending) >= MaxPending {
		return Review{}, fmt.Errorf("%w: %d, at most %d", ErrTooManyPending, len(c.seen.pending), MaxPending)
	}
	c.seen.nextReview++
	p := &pendingReview{
		Review: Review{ID: "r" + strconv.FormatInt(c.seen.nextReview, 10), Created: time.Now().UTC(),
			StreamTime: s.StreamTime, Candidates: append([]Candidate{}, s.Candidates...)},
		crop: c.seen.keep(s.Crop, true),
	}
	for i := range p.Candidates {
		if p.Candidates[i].ProductID > 0 {
			p.Candidates[i].Image = fmt.Sprintf(productImageURL, p.Candidates[i].ProductID)
		}
	}
	c.seen.pending = append(c.seen.pending, p)
	c.version++
	r := p.view(c.cropURL)
	v := c.viewLocked()
	c.events.Publish(Event{Type: EventReview, StreamTime: s.StreamTime, Review: &r, Cart: &v})
	return r, nil
}

// Resolve answers a pending review: the product is added to the cart (one more), or, for
// None, nothing is. Either way the review leaves the pending list and a cart event is
// published. The Resolution carries the visit's crop for the catalog to learn from.
// Errors: ErrNoReview, ErrResolved (it was answered before), ErrConfirmed.
func (c *Cart) Resolve(id string, a Answer) (Resolution, CartView, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	at := -1
	for i, p := range c.seen.pending {
		if p.ID == id {
			at = i
			break
		}
	}
	if at < 0 {
		if _, ok := c.seen.resolved[id]; ok {
			return Resolution{}, CartView{}, fmt.Errorf("%w: review %s", ErrResolved, id)
		}
		return Resolution{}, CartView{}, fmt.Errorf("%w: %q", ErrNoReview, id)
	}
	if c.purchase != nil {
		return Resolution{}, CartView{}, ErrConfirmed
	}
	p := c.seen.pending[at]
	c.seen.pending = append(c.seen.pending[:at], c.seen.pending[at+1:]...)
	res := Resolution{Review: id, None: a.None}
	if k := c.seen.crops[p.crop]; k != nil {
		res.Crop = k.data
	}
	if a.None {
		c.seen.drop(p.crop)
		c.version++
	} else {
		var score float32 // the camera's score for the product answered, if it was a candidate
		for _, cand := range p.Candidates {
			if cand.ProductID == a.ProductID {
				score = cand.Score
			}
		}
		res.ProductID, res.Product = a.ProductID, a.Product
		res.Quantity = c.addLocked(a.ProductID, a.Product, score)
		c.seen.unpin(p.crop)
		c.seen.counted(a.ProductID, a.Product, p.crop)
	}
	c.seen.remember(id, res)
	v := c.viewLocked()
	c.events.Publish(Event{Type: EventCart, Cart: &v})
	return res, v, nil
}

// Pending returns the reviews waiting for an answer, oldest first.
func (c *Cart) Pending() []Review {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seen.pendingViews(c.cropURL)
}

// KeepCrop keeps the crop of a visit that was not counted nor asked (an unknown object) and
// returns its URL ("" when the cart's crops have no URL, or crop is nil).
func (c *Cart) KeepCrop(crop []byte) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return cropURL(c.cropURL, c.seen.keep(crop, false))
}

// Crop returns a kept crop (JPEG) by its id, the last element of its URL: ErrNoCrop when it
// is not kept (any more).
func (c *Cart) Crop(id string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if k := c.seen.crops[id]; k != nil {
		return k.data, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrNoCrop, id)
}

// sightings is a cart's memory of the camera's visits; the cart's lock guards it.
type sightings struct {
	crops      map[string]*crop
	order      []string // crop ids, oldest first
	nextCrop   int64
	count      []countRecord // camera counts (with a crop) still in the cart, oldest first
	pending    []*pendingReview
	resolved   map[string]Resolution
	answered   []string // resolved ids, oldest first
	nextReview int64
}

type crop struct {
	data   []byte
	pinned bool // a pending review's: never dropped for room
}

// countRecord is one unit of a product in the cart that the camera counted, with the crop of
// its visit.
type countRecord struct {
	productID int64
	product   string
	crop      string
}

type pendingReview struct {
	Review
	crop string // its crop's id
}

func (p *pendingReview) view(prefix string) Review {
	r := p.Review
	r.Candidates = append([]Candidate{}, p.Candidates...)
	r.Crop = cropURL(prefix, p.crop)
	return r
}

// cropURL is the URL of crop id under prefix ("" when either is empty).
func cropURL(prefix, id string) string {
	if prefix == "" || id == "" {
		return ""
	}
	return prefix + id
}

func (s *sightings) pendingViews(prefix string) []Review {
	out := make([]Review, len(s.pending))
	for i, p := range s.pending {
		out[i] = p.view(prefix)
	}
	return out
}

// keep stores a crop and returns its id ("" for nil); beyond MaxCrops unpinned crops the
// oldest unpinned one is dropped.
func (s *sightings) keep(data []byte, pinned bool) string {
	if data == nil {
		return ""
	}
	if s.crops == nil {
		s.crops = map[string]*crop{}
	}
	s.nextCrop++
	id := "c" + strconv.FormatInt(s.nextCrop, 10)
	s.crops[id] = &crop{data: data, pinned: pinned}
	s.order = append(s.order, id)
	unpinned := 0
	for _, k := range s.crops {
		if !k.pinned {
			unpinned++
		}
	}
	for i := 0; unpinned > MaxCrops && i < len(s.order); {
		if old := s.crops[s.order[i]]; old.pinned {
			i++
			continue
		}
		s.drop(s.order[i])
		unpinned--
	}
	return id
}

// drop forgets a crop, and the counts that pointed at it.
func (s *sightings) drop(id string) {
	if _, ok := s.crops[id]; !ok {
		return
	}
	delete(s.crops, id)
	for i, o := range s.order {
		if o == id {
			s.order = append(s.order[:i], s.order[i+1:]...)
			break
		}
	}
	kept := s.count[:0]
	for _, r := range s.count {
		if r.crop != id {
			kept = append(kept, r)
		}
	}
	s.count = kept
}

func (s *sightings) unpin(id string) {
	if k := s.crops[id]; k != nil {
		k.pinned = false
	}
}

// counted records a camera count whose visit left crop id ("": none, nothing to record).
func (s *sightings) counted(productID int64, product, id string) {
	if id == "" {
		return
	}
	s.count = append(s.count, countRecord{productID: productID, product: product, crop: id})
}

func (s *sightings) remember(id string, r Resolution) {
	if s.resolved == nil {
		s.resolved = map[string]Resolution{}
	}
	r.Crop = nil
	s.resolved[id] = r
	s.answered = append(s.answered, id)
	if len(s.answered) > keepResolved {
		delete(s.resolved, s.answered[0])
		s.answered = s.answered[1:]
	}
}

// corrections compares a cart's lines before and after an edit. Every unit taken out of a
// product the camera counted, its latest count first, is paired with a unit put in (lines in
// their order): the count's crop becomes a Correction for the product put in, and the
// record moves to it. Units taken out without a partner just leave the cart.
func (s *sightings) corrections(before, after []Line) []Correction {
	type delta struct {
		id   int64
		name string
		n    int
	}
	quantity := func(lines []Line, l Line) int {
		for _, o := range lines {
			if sameProduct(o, l.ProductID, l.Product) {
				return o.Quantity
			}
		}
		return 0
	}
	var out, in []delta
	for _, l := range before {
		if q := quantity(after, l); q < l.Quantity {
			out = append(out, delta{l.ProductID, l.Product, l.Quantity - q})
		}
	}
	for _, l := range after {
		if q := quantity(before, l); q < l.Quantity {
			in = append(in, delta{l.ProductID, l.Product, l.Quantity - q})
		}
	}
	var fixes []Correction
	for _, d := range out {
		for k := 0; k < d.n; k++ {
			r, ok := s.takeCount(d.id, d.name)
			if !ok {
				break // the rest of this product was added by hand
			}
			for len(in) > 0 && in[0].n == 0 {
				in = in[1:]
			}
			if len(in) == 0 {
				s.drop(r.crop)
				continue
			}
			to := &in[0]
			to.n--
			if k := s.crops[r.crop]; k != nil {
				fixes = append(fixes, Correction{FromProductID: r.productID, FromProduct: r.product,
					ToProductID: to.id, ToProduct: to.name, Crop: k.data})
				s.counted(to.id, to.name, r.crop)
			}
		}
	}
	return fixes
}

// takeCount removes and returns the latest camera count of a product.
func (s *sightings) takeCount(id int64, name string) (countRecord, bool) {
	for i := len(s.count) - 1; i >= 0; i-- {
		r := s.count[i]
		if sameProduct(Line{ProductID: r.productID, Product: r.product}, id, name) {
			s.count = append(s.count[:i], s.count[i+1:]...)
			return r, true
		}
	}
	return countRecord{}, false
}
