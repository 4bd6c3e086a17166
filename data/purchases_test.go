package data

import (
	"errors"
	"sync"
	"testing"
)

func TestPurchaseRecordedOnceAndSurvivesProductRemoval(t *testing.T) {
	dir := t.TempDir()
	e := newGridEmbedder(4)
	c := openTest(t, dir, e, Options{})
	milk := mustAdd(t, c, makeProduct(t, "Milk", 1, 1, false).new())
	items := []PurchaseItem{
		{ProductID: milk.ID, Product: "Milk", Quantity: 2, Score: 0.91},
		{Product: "Bread (typed in)", Quantity: 1},
	}
	p, err := c.RecordPurchase("s-1", items)
	if err != nil {
		t.Fatal(err)
	}
	if p.ID == 0 || len(p.Items) != 2 {
		t.Fatalf("purchase %+v", p)
	}
	// A second confirm of the same session, even concurrent, is refused and stores nothing.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = c.RecordPurchase("s-1", items) }()
	}
	wg.Wait()
	for _, err := range errs {
		if !errors.Is(err, ErrAlreadyConfirmed) {
			t.Fatalf("second confirm: %v, want ErrAlreadyConfirmed", err)
		}
	}
	if err := c.RemoveProduct(milk.ID); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c = openTest(t, dir, e, Options{})
	got, err := c.PurchaseBySession("s-1")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != p.ID || len(got.Items) != 2 || got.Items[0].Product != "Milk" || got.Items[0].ProductID != 0 ||
		got.Items[0].Quantity != 2 || got.Items[1].Quantity != 1 || got.Items[0].Score < 0.909 || got.Items[0].Score > 0.911 {
		t.Fatalf("after reopen and product removal: %+v", got)
	}
	list, err := c.Purchases(0)
	if err != nil || len(list) != 1 {
		t.Fatalf("Purchases: %v %+v", err, list)
	}
	if _, err := c.PurchaseBySession("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown session: %v", err)
	}
}

func TestPurchaseRefusesBadCarts(t *testing.T) {
	c := openTest(t, t.TempDir(), newGridEmbedder(4), Options{})
	for name, items := range map[string][]PurchaseItem{
		"empty":         nil,
		"zero quantity": {{Product: "A", Quantity: 0}},
		"no name":       {{Product: " ", Quantity: 1}},
	} {
		if _, err := c.RecordPurchase("s-"+name, items); !errors.Is(err, ErrInvalidPurchase) {
			t.Errorf("%s: %v, want ErrInvalidPurchase", name, err)
		}
	}
	if list, _ := c.Purchases(10); len(list) != 0 {
		t.Fatalf("refused purchases were stored: %+v", list)
	}
}
