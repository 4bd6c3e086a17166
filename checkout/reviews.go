package checkout

import (
	"errors"
	"fmt"
	"sort"

	"github.com/ebrcs/ebrcs/cart"
	"github.com/ebrcs/ebrcs/data"
)

// Reviews: ebrcs_counter holds a visit it is not sure of as a pending review in the session's
// cart (cart.Cart.Ask). Its shopper answers it on the checkout page, or staff from the review
// queue; the answer counts the product into the cart and teaches the catalog: the visit's
// crop becomes a learned view of the product answered, or a "none of these" memory. A cart
// edit that replaces a camera count with another product teaches the catalog the same way.

// CropURLPrefix is where the checkout API serves a session's kept crops (the crops of its
// counted, asked and unknown visits): the prefix + the crop's id.
func CropURLPrefix(sessionID string) string { return "/api/sessions/" + sessionID + "/crops/" }

// QueuedReview is a pending review in the staff's queue: which session (or station) it waits
// in, and the review.
type QueuedReview struct {
	Session string `json:"session"`
	Station string `json:"station,omitempty"` // the camera pipeline, for a station's review
	cart.Review
}

// Reviews lists every pending review of every session and station, oldest first.
func (m *Manager) Reviews() []QueuedReview {
	m.mu.Lock()
	list := make([]*Session, 0, len(m.sessions))
	for _, s := range m.sessions {
		list = append(list, s)
	}
	m.mu.Unlock()
	out := []QueuedReview{}
	for _, s := range list {
		for _, r := range s.Cart.Pending() {
			out = append(out, QueuedReview{Session: s.ID, Station: s.station, Review: r})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].Session < out[j].Session
	})
	return out
}

// Answer is an answer to a review: a product of the catalog by id, or None.
type Answer struct {
	ProductID int64
	None      bool
}

// Resolved is what answering a review did.
type Resolved struct {
	cart.Resolution
	Cart cart.CartView `json:"cart"`
	// Learned says the visit's crop was added to the catalog (a learned view of the product,
	// or a "none" memory); LearnError says why not, when it could not be.
	Learned    bool   `json:"learned"`
	LearnError string `json:"learn_error,omitempty"`
}

// Resolve answers a pending review of the session: the product is counted into the cart (a
// cart event), and the visit's crop teaches the catalog. The answer stands even when the
// catalog cannot learn (its storage full, say): Resolved.LearnError says so.
// Errors: ErrNoProduct (no product with that id), cart.ErrNoReview, cart.ErrResolved,
// cart.ErrConfirmed.
func (m *Manager) Resolve(s *Session, reviewID string, a Answer) (Resolved, error) {
	if m.cfg.Store == nil {
		return Resolved{}, errors.New("checkout: no catalog is configured to answer reviews with")
	}
	answer := cart.Answer{None: a.None}
	if !a.None {
		p, err := m.product(a.ProductID)
		if err != nil {
			return Resolved{}, err
		}
		answer.ProductID, answer.Product = p.ID, p.Name
	}
	res, view, err := s.Cart.Resolve(reviewID, answer)
	if err != nil {
		return Resolved{}, err
	}
	out := Resolved{Resolution: res, Cart: view}
	m.log.Info("review answered", "session", s.ID, "review", reviewID, "product", res.Product, "none", res.None)
	if res.Crop == nil {
		out.LearnError = "the visit left no crop to learn from"
		return out, nil
	}
	var learnErr error
	if res.None {
		_, learnErr = m.cfg.Store.AddNone(res.Crop, data.OriginReview)
	} else {
		_, learnErr = m.cfg.Store.AddLearnedView(res.ProductID, res.Crop, data.OriginReview)
	}
	if learnErr != nil {
		m.log.Warn("the catalog could not learn from an answer", "session", s.ID, "review", reviewID, "error", learnErr)
		out.LearnError = learnErr.Error()
		return out, nil
	}
	out.Learned = true
	return out, nil
}

// EditCart replaces the session's cart content (cart.Cart.Replace); each camera count the
// edit replaced with another product teaches the catalog that product.
func (m *Manager) EditCart(s *Session, lines []cart.Line, version int64) (cart.CartView, error) {
	view, fixes, err := s.Cart.Replace(lines, version)
	if err != nil {
		return cart.CartView{}, err
	}
	for _, f := range fixes {
		m.log.Info("count corrected", "session", s.ID, "from", f.FromProduct, "to", f.ToProduct)
		if m.cfg.Store == nil || f.ToProductID == 0 {
			continue
		}
		if _, err := m.cfg.Store.AddLearnedView(f.ToProductID, f.Crop, data.OriginCorrection); err != nil {
			m.log.Warn("the catalog could not learn from a correction", "session", s.ID, "product", f.ToProduct, "error", err)
		}
	}
	return view, nil
}

// product looks a product up by id for an answer: ErrNoProduct when there is none.
func (m *Manager) product(id int64) (*data.Product, error) {
	if m.cfg.Store == nil {
		return nil, fmt.Errorf("%w: no catalog is configured", ErrNoProduct)
	}
	p, err := m.cfg.Store.Product(id)
	if errors.Is(err, data.ErrNotFound) {
		return nil, fmt.Errorf("%w: %d", ErrNoProduct, id)
	}
	return p, err
}
