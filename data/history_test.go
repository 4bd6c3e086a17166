package data

import (
	"errors"
	"testing"
	"time"
)

// The history keeps every decision with its crop, filters by time, station and product, pages
// by id, outlives a removed product (by name), and is pruned by age; purchases keep their
// prices and totals as they were when bought.
func TestHistoryRecordsFiltersAndPrunes(t *testing.T) {
	c := openTest(t, t.TempDir(), newGridEmbedder(4), Options{})
	milk := mustAdd(t, c, makeProduct(t, "Milk", 1, 1, false).new())
	bread := mustAdd(t, c, makeProduct(t, "Bread", 2, 1, false).new())
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	crop := []byte{0xff, 0xd8, 0xff, 0xe0, 1, 2, 3}
	recs := []CountRecord{
		{CreatedAt: t0, SessionID: "s_a", ProductID: milk.ID, Product: "Milk", Score: 0.81, Decision: DecisionCount},
		{CreatedAt: t0.Add(time.Minute), SessionID: "st_counter-1", Station: "counter-1", ProductID: bread.ID, Product: "Bread", Score: 0.6, Decision: DecisionAsk},
		{CreatedAt: t0.Add(2 * time.Minute), SessionID: "st_counter-1", Station: "counter-1", Decision: DecisionUnknown},
		{CreatedAt: t0.Add(3 * time.Minute), SessionID: "s_a", ProductID: milk.ID, Product: "Milk", Score: 0.83, Decision: DecisionCooldown},
	}
	for i, r := range recs {
		var cr []byte
		if i < 3 {
			cr = crop
		}
		got, err := c.RecordCount(r, cr)
		if err != nil || got.ID == 0 || got.HasCrop != (cr != nil) {
			t.Fatalf("record %d: %+v, %v", i, got, err)
		}
	}
	if _, err := c.RecordCount(CountRecord{SessionID: "s_a", Decision: "maybe"}, nil); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("an unknown decision: %v", err)
	}
	count := func(f HistoryFilter) []CountRecord {
		t.Helper()
		list, err := c.Counts(f)
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	if all := count(HistoryFilter{}); len(all) != 4 || all[0].Decision != DecisionCooldown || all[3].Product != "Milk" || all[3].Score < 0.8 {
		t.Fatalf("all, newest first: %+v", all)
	}
	for name, c := range map[string]struct {
		f    HistoryFilter
		want int
	}{
		"from":              {HistoryFilter{From: t0.Add(time.Minute)}, 3},
		"to":                {HistoryFilter{To: t0.Add(time.Minute)}, 1},
		"station":           {HistoryFilter{Station: "counter-1"}, 2},
		"shoppers only":     {HistoryFilter{Station: "-"}, 2},
		"product id":        {HistoryFilter{ProductID: milk.ID}, 2},
		"product name":      {HistoryFilter{Product: "bread"}, 1},
		"page":              {HistoryFilter{Limit: 2}, 2},
		"older than":        {HistoryFilter{Before: 3}, 2},
		"station and range": {HistoryFilter{Station: "counter-1", From: t0.Add(90 * time.Second)}, 1},
	} {
		if got := count(c.f); len(got) != c.want {
			t.Errorf("%s: %d records, want %d: %+v", name, len(got), c.want, got)
		}
	}
	first := count(HistoryFilter{ProductID: milk.ID})[1]
	if data, mime, err := c.CountCrop(first.ID); err != nil || string(data) != string(crop) || mime != "image/jpeg" {
		t.Fatalf("crop of %d: %q %q %v", first.ID, data, mime, err)
	}
	if _, _, err := c.CountCrop(4); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the crop of a record without one: %v", err)
	}

	// A removed product's records stay, by name.
	if err := c.RemoveProduct(bread.ID); err != nil {
		t.Fatal(err)
	}
	if got := count(HistoryFilter{Product: "Bread"}); len(got) != 1 || got[0].ProductID != 0 || got[0].Product != "Bread" {
		t.Fatalf("after removing Bread: %+v", got)
	}

	// Purchases with their prices when bought.
	p, err := c.RecordPurchase("s_a", []PurchaseItem{{ProductID: milk.ID, Product: "Milk", Quantity: 2}, {Product: "Bag", Quantity: 1}})
	if err != nil {
		t.Fatal(err)
	}
	price := int64(129)
	if err := c.RecordPurchasePrices(p.ID, []*int64{&price, nil}, "EUR"); err != nil {
		t.Fatal(err)
	}
	list, err := c.PurchaseHistory(HistoryFilter{Product: "milk"})
	if err != nil || len(list) != 1 {
		t.Fatalf("purchases with milk: %+v, %v", list, err)
	}
	got := list[0]
	if got.TotalCents != 258 || got.Unpriced != 1 || got.Currency != "EUR" || *got.Items[0].LineCents != 258 || got.Items[1].UnitCents != nil {
		t.Fatalf("purchase %+v", got)
	}
	if list, _ := c.PurchaseHistory(HistoryFilter{Station: "counter-1"}); len(list) != 0 {
		t.Fatalf("a station's purchases: %+v", list)
	}

	// Retention: what is older than the cut goes, crops with it.
	n, err := c.PruneHistory(t0.Add(2 * time.Minute))
	if err != nil || n != 2 {
		t.Fatalf("prune: %d, %v", n, err)
	}
	if left := count(HistoryFilter{}); len(left) != 2 {
		t.Fatalf("after pruning: %+v", left)
	}
	if _, _, err := c.CountCrop(first.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a pruned record's crop: %v", err)
	}
}
