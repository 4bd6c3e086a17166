package cart

import (
	"errors"
	"fmt"
	"testing"

	"github.com/ebrcs/ebrcs/data"
)

func sighting(crop string) Sighting {
	return Sighting{StreamTime: 2.5, Crop: []byte(crop), Candidates: []Candidate{
		{ProductID: 7, Product: "Tea", Score: 0.31}, {ProductID: 8, Product: "Milk", Score: 0.28}, {ProductID: 9, Product: "Soap", Score: 0.1}}}
}

// drain returns the events published so far.
func drain(s *Subscription) []Event {
	var out []Event
	for {
		select {
		case e := <-s.C:
			out = append(out, e)
		default:
			return out
		}
	}
}

// A visit the camera is unsure of waits as a pending review, outside the items; answering it
// adds the product (a cart event), hands back the crop, and cannot be done twice.
func TestReviewIsPendingUntilAnsweredOnce(t *testing.T) {
	bus := NewBus(0)
	c := NewCart(bus, CropURLs("/api/sessions/s1/crops/"))
	sub := bus.Subscribe(-1, 100)
	defer sub.Close()
	r, err := c.Ask(sighting("jpeg-1"))
	if err != nil {
		t.Fatal(err)
	}
	if r.ID == "" || r.Crop == "" || r.Candidates[0].Image != "/api/products/7/images/1" || r.Candidates[1].Image != "/api/products/8/images/1" {
		t.Fatalf("review %+v", r)
	}
	v := c.View()
	if len(v.Items) != 0 || len(v.Pending) != 1 || v.Pending[0].ID != r.ID || v.Version != 1 {
		t.Fatalf("view after the ask: %+v", v)
	}
	ev := drain(sub)
	if len(ev) != 1 || ev[0].Type != EventReview || ev[0].Review == nil || ev[0].Review.ID != r.ID || ev[0].Cart == nil || len(ev[0].Cart.Pending) != 1 {
		t.Fatalf("events after the ask: %+v", ev)
	}
	if _, err := c.Confirm(&store{}, "s1"); !errors.Is(err, ErrPending) {
		t.Fatalf("confirm with a pending review: %v", err)
	}
	// The crop behind the URL.
	id := r.Crop[len("/api/sessions/s1/crops/"):]
	if b, err := c.Crop(id); err != nil || string(b) != "jpeg-1" {
		t.Fatalf("crop %q: %q %v", id, b, err)
	}

	res, v, err := c.Resolve(r.ID, Answer{ProductID: 8, Product: "Milk"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Product != "Milk" || res.Quantity != 1 || string(res.Crop) != "jpeg-1" {
		t.Fatalf("resolution %+v", res)
	}
	if len(v.Pending) != 0 || v.Totals()["Milk"] != 1 || v.Items[0].Score != 0.28 {
		t.Fatalf("view after the answer: %+v", v)
	}
	if ev := drain(sub); len(ev) != 1 || ev[0].Type != EventCart || ev[0].Cart.Totals()["Milk"] != 1 {
		t.Fatalf("events after the answer: %+v", ev)
	}
	if _, _, err := c.Resolve(r.ID, Answer{None: true}); !errors.Is(err, ErrResolved) {
		t.Fatalf("second answer: %v", err)
	}
	if _, _, err := c.Resolve("r99", Answer{None: true}); !errors.Is(err, ErrNoReview) {
		t.Fatalf("unknown review: %v", err)
	}
	if c.View().Totals()["Milk"] != 1 {
		t.Fatal("refused answers changed the cart")
	}
	if _, err := c.Confirm(&store{}, "s1"); err != nil {
		t.Fatalf("confirm once answered: %v", err)
	}
	if _, err := c.Ask(sighting("late")); !errors.Is(err, ErrConfirmed) {
		t.Fatalf("ask after confirm: %v", err)
	}
}

func TestNoneOfTheseAddsNothing(t *testing.T) {
	c := NewCart(nil)
	r, _ := c.Ask(sighting("jpeg"))
	if r.Crop != "" {
		t.Fatalf("a cart without crop URLs gave %q", r.Crop)
	}
	res, v, err := c.Resolve(r.ID, Answer{None: true})
	if err != nil || !res.None || string(res.Crop) != "jpeg" || len(v.Items) != 0 || len(v.Pending) != 0 || v.Version != 2 {
		t.Fatalf("%+v %+v %v", res, v, err)
	}
}

func TestPendingReviewsAreBounded(t *testing.T) {
	c := NewCart(nil)
	for i := 0; i < MaxPending; i++ {
		if _, err := c.Ask(sighting("x")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Ask(sighting("x")); !errors.Is(err, ErrTooManyPending) {
		t.Fatalf("ask beyond MaxPending: %v", err)
	}
	if n := len(c.Pending()); n != MaxPending {
		t.Fatalf("%d pending", n)
	}
}

// Crops of counted and unknown visits are bounded; those of pending reviews are kept.
func TestCropsAreBoundedButPendingOnesKept(t *testing.T) {
	c := NewCart(nil, CropURLs("/c/"))
	r, _ := c.Ask(sighting("asked"))
	first := c.KeepCrop([]byte("unknown-0"))
	for i := 1; i <= MaxCrops; i++ {
		countSeen(c, 1, "Tea", []byte(fmt.Sprint("count-", i)))
	}
	if _, err := c.Crop(first[len("/c/"):]); !errors.Is(err, ErrNoCrop) {
		t.Fatalf("the oldest crop is still kept: %v", err)
	}
	if b, err := c.Crop(r.Crop[len("/c/"):]); err != nil || string(b) != "asked" {
		t.Fatalf("a pending review's crop was dropped: %q %v", b, err)
	}
	if c.KeepCrop(nil) != "" {
		t.Fatal("a nil crop got a URL")
	}
}

// An edit that swaps a camera count for another product hands back the count's crop for the
// product put in; removals alone, quantity changes and hand-added products do not.
func TestEditReplacingACountIsACorrection(t *testing.T) {
	c := NewCart(nil)
	countSeen(c, 1, "Tea", []byte("tea-a"))
	countSeen(c, 1, "Tea", []byte("tea-b"))
	countSeen(c, 2, "Milk", []byte("milk-a"))
	v := c.View()
	// One Tea (the latest, tea-b) was really Soap.
	v, fixes, err := c.Replace([]Line{{ProductID: 1, Product: "Tea", Quantity: 1}, {ProductID: 2, Product: "Milk", Quantity: 1},
		{ProductID: 3, Product: "Soap", Quantity: 1}}, v.Version)
	if err != nil {
		t.Fatal(err)
	}
	if len(fixes) != 1 || fixes[0].FromProduct != "Tea" || fixes[0].ToProductID != 3 || string(fixes[0].Crop) != "tea-b" {
		t.Fatalf("corrections %+v", fixes)
	}
	// Soap's unit is now the camera's count of tea-b: replacing it again moves that crop on.
	_, fixes, _ = c.Replace([]Line{{ProductID: 1, Product: "Tea", Quantity: 1}, {ProductID: 2, Product: "Milk", Quantity: 1},
		{ProductID: 4, Product: "Gum", Quantity: 1}}, 0)
	if len(fixes) != 1 || fixes[0].FromProduct != "Soap" || fixes[0].ToProduct != "Gum" || string(fixes[0].Crop) != "tea-b" {
		t.Fatalf("second corrections %+v", fixes)
	}
	// Removing Milk without adding anything teaches nothing; neither does adding by hand.
	_, fixes, _ = c.Replace([]Line{{ProductID: 1, Product: "Tea", Quantity: 1}, {ProductID: 4, Product: "Gum", Quantity: 1}}, 0)
	if len(fixes) != 0 {
		t.Fatalf("a removal alone corrected: %+v", fixes)
	}
	// Jam added by hand, then swapped for Milk: nothing the camera saw.
	tea, gum := Line{ProductID: 1, Product: "Tea", Quantity: 1}, Line{ProductID: 4, Product: "Gum", Quantity: 1}
	_, fixes, _ = c.Replace([]Line{tea, gum, {ProductID: 5, Product: "Jam", Quantity: 1}}, 0)
	_, fixes2, _ := c.Replace([]Line{tea, gum, {ProductID: 2, Product: "Milk", Quantity: 1}}, 0)
	if len(fixes)+len(fixes2) != 0 {
		t.Fatalf("hand-added products corrected: %+v %+v", fixes, fixes2)
	}
}

// A review answered with a product counts as the camera's count of it: correcting it later
// teaches the catalog again.
func TestAnsweredReviewCanBeCorrected(t *testing.T) {
	c := NewCart(nil)
	r, _ := c.Ask(sighting("seen"))
	c.Resolve(r.ID, Answer{ProductID: 7, Product: "Tea"})
	_, fixes, err := c.Replace([]Line{{ProductID: 8, Product: "Milk", Quantity: 1}}, 0)
	if err != nil || len(fixes) != 1 || string(fixes[0].Crop) != "seen" || fixes[0].ToProduct != "Milk" {
		t.Fatalf("%+v %v", fixes, err)
	}
}

// countSeen is a camera count with its crop, as ebrcs_counter makes one.
func countSeen(c *Cart, id int64, product string, crop []byte) {
	c.Count(id, product, 0.5)
	c.CountSeen(id, product, crop)
}

type store struct{}

func (*store) RecordPurchase(id string, items []data.PurchaseItem) (*data.Purchase, error) {
	return &data.Purchase{ID: 1, SessionID: id, Items: items}, nil
}

// Products the camera is still recognising (a busy server recognises behind the video) keep
// the cart from being confirmed, as questions do: the shopper would pay without them. Each
// change of their number is published once, with the cart.
func TestRecognisingHoldsTheConfirm(t *testing.T) {
	bus := NewBus(0)
	c := NewCart(bus)
	sub := bus.Subscribe(-1, 100)
	defer sub.Close()
	if _, err := c.Count(7, "Tea", 0.8); err != nil {
		t.Fatal(err)
	}
	drain(sub)
	c.SetRecognising(2)
	c.SetRecognising(2) // unchanged: no event
	ev := drain(sub)
	if len(ev) != 1 || ev[0].Type != EventRecognising || ev[0].Cart == nil || ev[0].Cart.Recognising != 2 || len(ev[0].Cart.Items) != 1 {
		t.Fatalf("events after SetRecognising(2) twice: %+v", ev)
	}
	version := c.View().Version
	if _, err := c.Confirm(&store{}, "s1"); !errors.Is(err, ErrPending) {
		t.Fatalf("confirm while recognising: %v", err)
	}
	if v := c.View(); v.Confirmed || v.Version != version || v.Recognising != 2 {
		t.Fatalf("after the refused confirm: %+v (version was %d)", v, version)
	}
	c.SetRecognising(0)
	if ev := drain(sub); len(ev) != 1 || ev[0].Cart.Recognising != 0 {
		t.Fatalf("events after SetRecognising(0): %+v", ev)
	}
	if v, err := c.Confirm(&store{}, "s1"); err != nil || !v.Confirmed {
		t.Fatalf("confirm once recognised: %+v %v", v, err)
	}
}
