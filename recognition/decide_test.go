package recognition

import (
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/ebrcs/ebrcs/data"
	"github.com/ebrcs/ebrcs/testkit/scenario"
)

func evidence(adapted bool, none, second float32, scores ...float32) data.Evidence {
	ev := data.Evidence{Second: second, None: none, Adapted: adapted}
	for i, s := range scores {
		ev.Hits = append(ev.Hits, data.Hit{ProductID: int64(i + 1), Score: s})
	}
	return ev
}

func TestDecide(t *testing.T) {
	r := DefaultRules
	for _, c := range []struct {
		name string
		ev   data.Evidence
		want Decision
	}{
		{"empty catalog", data.Evidence{Second: -1, None: data.NoNone, Adapted: true}, DecisionUnknown},
		{"sure", evidence(true, data.NoNone, 0.2, 0.6, 0.2), DecisionCount},
		{"one product", evidence(true, data.NoNone, -1, 0.41), DecisionCount},
		{"at the threshold", evidence(true, data.NoNone, 0.35, 0.40, 0.35), DecisionCount},
		{"below the count threshold", evidence(true, data.NoNone, 0.1, 0.39, 0.1), DecisionAsk},
		{"too close to the second", evidence(true, data.NoNone, 0.56, 0.6, 0.56), DecisionAsk},
		{"below the unknown threshold", evidence(true, data.NoNone, 0.1, 0.19, 0.1), DecisionUnknown},
		{"a none answer as close blocks counting", evidence(true, 0.6, 0.2, 0.6, 0.2), DecisionAsk},
		{"a none answer closer makes it unknown", evidence(true, 0.66, 0.2, 0.6, 0.2), DecisionUnknown},
		{"a none answer further changes nothing", evidence(true, 0.5, 0.2, 0.6, 0.2), DecisionCount},
		// The same scores in cosine space: the cosine rules.
		{"cosine: 0.6 is far from a match", evidence(false, data.NoNone, 0.2, 0.6, 0.2), DecisionUnknown},
		{"cosine: sure", evidence(false, data.NoNone, 0.6, 0.9, 0.6), DecisionCount},
		{"cosine: between", evidence(false, data.NoNone, 0.6, 0.8, 0.6), DecisionAsk},
	} {
		if got := Decide(c.ev, r); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

// TestDefaultEmbedderFile: configs/embedders/default.yaml is the built-in default.
func TestDefaultEmbedderFile(t *testing.T) {
	file, err := LoadEmbedderConfig("../configs/embedders/default.yaml", "../models")
	if err != nil {
		t.Fatal(err)
	}
	builtin := DefaultEmbedderConfig("../models")
	if file.Threshold != builtin.Threshold || file.Rules != builtin.Rules ||
		!reflect.DeepEqual(file.CatalogViews, builtin.CatalogViews) || !reflect.DeepEqual(file.QueryViews, builtin.QueryViews) {
		t.Fatalf("default.yaml %+v\nbuilt-in     %+v", file, builtin)
	}
	dino, err := LoadEmbedderConfig("../configs/embedders/dinov2-clip.yaml", "../models")
	if err != nil {
		t.Fatal(err)
	}
	if dino.Rules.adapts() || dino.Rules.Cosine.Count != 0.62 {
		t.Fatalf("dinov2-clip rules: %+v", dino.Rules)
	}
}

// TestDecisionsSmallCatalogs: with 1, 2, 3 and 5 of the scenario suite's products registered
// (one image each, as an admin would), camera views of them are counted as the right product
// (or, at worst, asked about: never counted as another, never unknown), and those of products
// not in the catalog are never counted; a "none" answer for such a product makes its next
// view unknown. The real model and catalog.
func TestDecisionsSmallCatalogs(t *testing.T) {
	emb := testEmbedder(t)
	defer CloseAll()
	products := scenario.SyntheticProducts(8, 3)
	cat := syntheticCatalog(t, emb)
	var ids []int64
	r := rand.New(rand.NewPCG(3, 9))
	decide := func(p int) (data.Evidence, Decision) {
		v, err := emb.EmbedQuery(cameraView(products[p].Image, r))
		if err != nil {
			t.Fatal(err)
		}
		ev, err := cat.Recognise([][]float32{v}, 3)
		if err != nil {
			t.Fatal(err)
		}
		return ev, Decide(ev, emb.Rules)
	}
	for _, k := range []int{1, 2, 3, 5} {
		ids = append(ids, addSynthetic(t, cat, products[len(ids):k]...)...)
		counted, known := 0, 0
		for p := range k + 2 {
			for range 1 + k/5 {
				ev, d := decide(p)
				if ev.Adapted != (k >= data.DefaultMinProducts) {
					t.Fatalf("%d products: Adapted %v", k, ev.Adapted)
				}
				if p >= k {
					if d == DecisionCount {
						t.Errorf("%d products: %s is not in the catalog, counted as %+v", k, products[p].Name, ev)
					}
					continue
				}
				known++
				switch {
				case d == DecisionCount && ev.Hits[0].ProductID == ids[p]:
					counted++
				case d != DecisionAsk:
					t.Errorf("%d products: a view of %s: %s %+v", k, products[p].Name, d, ev)
				}
			}
		}
		if counted < known*3/4 {
			t.Errorf("%d products: %d of %d views of them counted", k, counted, known)
		}
	}
	// The cashier answers "none" for a product not in the catalog: its next view is unknown,
	// and the catalog's products are still counted.
	unknown := products[7]
	if _, err := cat.AddNone(jpegOf(t, cameraView(unknown.Image, r)), data.OriginReview); err != nil {
		t.Fatal(err)
	}
	if ev, d := decide(7); d != DecisionUnknown {
		t.Errorf("after a none answer, %s is %s: %+v", unknown.Name, d, ev)
	}
	for p := range 5 {
		if _, d := decide(p); d != DecisionCount {
			t.Errorf("after a none answer, %s is %s", products[p].Name, d)
		}
	}
}
