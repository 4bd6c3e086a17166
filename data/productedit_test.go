package data

import (
	"errors"
	"testing"
)

// A product's name, SKU and price change in place: its id, photos and vectors stay, the next
// search reports the new name, the old name is free again, and a clash or an unknown id is
// refused without changing anything; the change survives a reopen.
func TestUpdateProduct(t *testing.T) {
	dir := t.TempDir()
	e := newGridEmbedder(4)
	c := openTest(t, dir, e, Options{})
	milkP := makeProduct(t, "Milk", 1, 1, false)
	milk := mustAdd(t, c, milkP.new())
	mustAdd(t, c, makeProduct(t, "Bread", 2, 1, false).new())
	price := int64(189)
	got, err := c.UpdateProduct(milk.ID, "Oat Milk", "SKU-7", &price)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != milk.ID || got.Name != "Oat Milk" || got.SKU != "SKU-7" || got.PriceCents == nil || *got.PriceCents != 189 || got.Images != milk.Images {
		t.Fatalf("updated: %+v", got)
	}
	if hits := mustSearch(t, c, query(t, e, milkP, 0), 1); len(hits) != 1 || hits[0].ProductID != milk.ID || hits[0].Name != "Oat Milk" {
		t.Fatalf("search after the rename: %+v", hits)
	}
	if p, err := c.ProductByName("milk"); err == nil {
		t.Fatalf("the old name still finds %+v", p)
	}
	if _, err := c.UpdateProduct(milk.ID, "bread", "", nil); !errors.Is(err, ErrDuplicateName) {
		t.Fatalf("renaming to another product's name: %v", err)
	}
	if _, err := c.UpdateProduct(999, "Tea", "", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an unknown product: %v", err)
	}
	if _, err := c.UpdateProduct(milk.ID, "  ", "", nil); err == nil {
		t.Fatal("an empty name was accepted")
	}
	if p, _ := c.Product(milk.ID); p.Name != "Oat Milk" {
		t.Fatalf("refused edits changed the product: %+v", p)
	}
	// The price can be cleared, and everything is on disk.
	if _, err := c.UpdateProduct(milk.ID, "Oat Milk", "", nil); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c = openTest(t, dir, e, Options{})
	if p, err := c.Product(milk.ID); err != nil || p.Name != "Oat Milk" || p.SKU != "" || p.PriceCents != nil {
		t.Fatalf("after a reopen: %+v %v", p, err)
	}
	if hits := mustSearch(t, c, query(t, e, milkP, 0), 1); hits[0].Name != "Oat Milk" {
		t.Fatalf("search after a reopen: %+v", hits)
	}
}
