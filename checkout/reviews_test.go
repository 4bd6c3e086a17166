package checkout

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ebrcs/ebrcs/cart"
	"github.com/ebrcs/ebrcs/data"
)

// learningStore is a catalog of two products that records what it is taught; fail makes
// learning fail (a full disk, say).
type learningStore struct {
	learned []string // "origin product-id crop"
	fail    error
}

var storeProducts = map[int64]string{1: "Milk", 2: "Bread"}

func (s *learningStore) RecordPurchase(id string, items []data.PurchaseItem) (*data.Purchase, error) {
	return &data.Purchase{ID: 1, SessionID: id, Items: items}, nil
}

func (s *learningStore) ProductByName(name string) (*data.Product, error) {
	for id, n := range storeProducts {
		if strings.EqualFold(n, name) {
			return &data.Product{ID: id, Name: n}, nil
		}
	}
	return nil, data.ErrNotFound
}

func (s *learningStore) Product(id int64) (*data.Product, error) {
	if n, ok := storeProducts[id]; ok {
		return &data.Product{ID: id, Name: n}, nil
	}
	return nil, fmt.Errorf("%w: product %d", data.ErrNotFound, id)
}

func (s *learningStore) AddLearnedView(pid int64, img []byte, origin string) (data.LearnedView, error) {
	return s.learn(pid, img, origin)
}

func (s *learningStore) AddNone(img []byte, origin string) (data.LearnedView, error) {
	return s.learn(0, img, origin)
}

func (s *learningStore) learn(pid int64, img []byte, origin string) (data.LearnedView, error) {
	if s.fail != nil {
		return data.LearnedView{}, s.fail
	}
	s.learned = append(s.learned, fmt.Sprintf("%s %d %s", origin, pid, img))
	return data.LearnedView{ID: int64(len(s.learned)), ProductID: pid, Origin: origin}, nil
}

func askIn(t *testing.T, s *Session, crop string) cart.Review {
	t.Helper()
	r, err := s.Cart.Ask(cart.Sighting{Crop: []byte(crop), Candidates: []cart.Candidate{
		{ProductID: 1, Product: "Milk", Score: 0.3}, {ProductID: 2, Product: "Bread", Score: 0.28}}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// An answer counts the product and teaches the catalog the visit's crop; "none" teaches the
// "none" memory; an answer stands even when the catalog cannot learn.
func TestResolveTeachesTheCatalog(t *testing.T) {
	store := &learningStore{}
	m := newTestManager(t, Config{Store: store})
	s, _ := m.Create(nil)
	r1, r2, r3 := askIn(t, s, "crop-1"), askIn(t, s, "crop-2"), askIn(t, s, "crop-3")

	if _, err := m.Resolve(s, r1.ID, Answer{ProductID: 9}); !errors.Is(err, ErrNoProduct) {
		t.Fatalf("an answer with no such product: %v", err)
	}
	res, err := m.Resolve(s, r1.ID, Answer{ProductID: 2})
	if err != nil || !res.Learned || res.Product != "Bread" || res.Cart.Totals()["Bread"] != 1 || len(res.Cart.Pending) != 2 {
		t.Fatalf("answer Bread: %+v %v", res, err)
	}
	if _, err := m.Resolve(s, r1.ID, Answer{ProductID: 2}); !errors.Is(err, cart.ErrResolved) {
		t.Fatalf("answered twice: %v", err)
	}
	if res, err := m.Resolve(s, r2.ID, Answer{None: true}); err != nil || !res.Learned || len(res.Cart.Items) != 1 {
		t.Fatalf("answer none: %+v %v", res, err)
	}
	store.fail = data.ErrDiskFull
	res, err = m.Resolve(s, r3.ID, Answer{ProductID: 1})
	if err != nil || res.Learned || !strings.Contains(res.LearnError, "full") || res.Cart.Totals()["Milk"] != 1 {
		t.Fatalf("answer while the catalog cannot learn: %+v %v", res, err)
	}
	if got := strings.Join(store.learned, "; "); got != "review 2 crop-1; review 0 crop-2" {
		t.Fatalf("the catalog learned %q", got)
	}
}

// A cart edit replacing a camera count with another product teaches that product.
func TestEditCartLearnsCorrections(t *testing.T) {
	store := &learningStore{}
	m := newTestManager(t, Config{Store: store})
	s, _ := m.Create(nil)
	s.Cart.Count(1, "Milk", 0.6)
	s.Cart.CountSeen(1, "Milk", []byte("milk-visit"))
	if _, err := m.EditCart(s, []cart.Line{{ProductID: 1, Product: "Milk", Quantity: 2}}, 0); err != nil {
		t.Fatal(err)
	}
	if len(store.learned) != 0 {
		t.Fatalf("a quantity change taught %v", store.learned)
	}
	if _, err := m.EditCart(s, []cart.Line{{ProductID: 1, Product: "Milk", Quantity: 1}, {ProductID: 2, Product: "Bread", Quantity: 1}}, 0); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(store.learned, "; "); got != "correction 2 milk-visit" {
		t.Fatalf("the catalog learned %q", got)
	}
}

// The staff's queue lists the pending reviews of every session, oldest first.
func TestReviewQueue(t *testing.T) {
	m := newTestManager(t, Config{Store: &learningStore{}})
	a, _ := m.Create(nil)
	b, _ := m.Create(nil)
	ra := askIn(t, a, "a")
	rb := askIn(t, b, "b")
	q := m.Reviews()
	if len(q) != 2 || q[0].Session != a.ID || q[0].ID != ra.ID || q[1].Session != b.ID || q[1].ID != rb.ID {
		t.Fatalf("queue %+v", q)
	}
	if !strings.HasPrefix(q[0].Crop, CropURLPrefix(a.ID)) {
		t.Fatalf("crop URL %q", q[0].Crop)
	}
	m.Resolve(a, ra.ID, Answer{None: true})
	if q := m.Reviews(); len(q) != 1 || q[0].Session != b.ID {
		t.Fatalf("queue after an answer %+v", q)
	}
}
