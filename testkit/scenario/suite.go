package scenario

import (
	"fmt"
	"time"
)

// Suite returns the standard scenarios, products used round-robin so that each appears, and
// a product that is not among them (ForeignProduct) in unknown-product. It needs at least 3
// products; each scenario's Config is DefaultConfig with its own Seed (its index + 1), except
// flicker-noise, which has Flicker 0.08 and Noise 4.
func Suite(products []Product) ([]*Scenario, error) {
	if len(products) < 3 {
		return nil, fmt.Errorf("scenario suite: need at least 3 products, have %d", len(products))
	}
	next := 0
	pick := func() string {
		name := products[next%len(products)].Name
		next++
		return name
	}
	var suite []*Scenario
	add := func(name, desc string, steps ...Step) *Scenario {
		cfg := DefaultConfig()
		cfg.Seed = int64(len(suite) + 1)
		s := &Scenario{Name: name, Description: desc, Config: cfg, Steps: steps}
		suite = append(suite, s)
		return s
	}

	p := pick()
	add("single-product", "one product shown once: counts 1",
		idle(1.5), Step{Product: p}, idle(1.5))

	p = pick()
	quick := Step{Product: p, In: secs(0.5), Hold: secs(0.4), Out: secs(0.5)}
	add("same-product-within-cooldown", "the same product shown twice about 2 s apart, within the 3 s cooldown: counts 1",
		idle(1.5), quick, idle(0.4), quick, idle(1.5))

	p = pick()
	add("same-product-beyond-cooldown", "the same product shown twice about 6 s apart, beyond the cooldown: counts 2",
		idle(1.5), Step{Product: p}, idle(4), Step{Product: p, From: Left, To: Right}, idle(1.5))

	p, q := pick(), pick()
	add("two-products", "two different products in a row: each counts 1",
		idle(1.5), Step{Product: p}, idle(0.8), Step{Product: q}, idle(1.5))

	p, q, r := pick(), pick(), pick()
	add("three-products", "three different products in a row: each counts 1",
		idle(1.5), Step{Product: p}, idle(0.8), Step{Product: q, From: Left, To: Left},
		idle(0.8), Step{Product: r, To: Left}, idle(1.5))

	p = pick()
	add("long-stop", "a product that stays about 6 s inside the roi, then leaves: counts 1",
		idle(1.5), Step{Product: p, Hold: secs(6)}, idle(1.5))

	add("distractor-only", "a bare hand passes through the roi: nothing counts",
		idle(1.5), Step{Kind: Distractor}, idle(1.5))

	p = pick()
	add("distractor-then-product", "a bare hand passes through, then a product: counts the product only",
		idle(1.5), Step{Kind: Distractor, From: Bottom}, idle(0.8), Step{Product: p}, idle(1.5))

	p, q = pick(), pick()
	add("hand-held", "products held by a hand, from below and from the right: each counts 1",
		idle(1.5), Step{Product: p, From: Bottom, Hand: true}, idle(0.8),
		Step{Product: q, Hand: true, Hold: secs(1.5)}, idle(1.5))

	p, q = pick(), pick()
	add("left-and-bottom", "products entering from the left and from the bottom: each counts 1",
		idle(1.5), Step{Product: p, From: Left, To: Left}, idle(0.8),
		Step{Product: q, From: Bottom, To: Bottom}, idle(1.5))

	p, q = pick(), pick()
	s := add("flicker-noise", "two products under strong flicker (8 %) and camera noise (sigma 4): each counts 1",
		idle(1.5), Step{Product: p}, idle(0.8), Step{Product: q, From: Bottom}, idle(1.5))
	s.Config.Flicker, s.Config.Noise = 0.08, 4

	p, q = pick(), pick()
	swipe := func(name, from, to string) Step {
		return Step{Product: name, From: from, To: to, In: secs(0.3), Hold: secs(0.3), Out: secs(0.3)}
	}
	add("fast-swipe", "two products swiped quickly across the counter: each counts 1",
		idle(1.5), swipe(p, Right, Left), idle(0.8), swipe(q, Left, Right), idle(1.5))

	p, q, r = pick(), pick(), pick()
	add("busy-checkout", "a realistic checkout: products, a held product, a bare hand, a repeat beyond the cooldown, a swipe",
		idle(1.5), Step{Product: p}, idle(0.5), Step{Product: q, From: Bottom, Hand: true}, idle(0.5),
		Step{Kind: Distractor, From: Left}, idle(0.5), Step{Product: p, From: Left, To: Right}, idle(0.5),
		swipe(r, Right, Left), idle(1.5))

	stranger := ForeignProduct(products, 1)
	s = add("unknown-product", "a product the catalog does not have is shown: nothing counts; it is reported unknown or asked about",
		idle(1.5), Step{Kind: Foreign, Product: stranger.Name}, idle(1.5))
	s.Foreign = []Product{stranger}
	return suite, nil
}

// ForeignProduct returns a product that is not among products (the catalog's): a plain box
// (no pattern) with the label and border of SyntheticProducts' next product for seed, in that
// product's colour, its name made unique if products has it. Plain on purpose, unlike every
// pattern of the synthetic products: a scenario showing it checks what the pipeline does with
// a product it does not know; how often a look-alike of a catalog product is taken for it is
// the recogniser's accuracy, which `ebrcs eval --holdout` measures.
func ForeignProduct(products []Product, seed int64) Product {
	name := syntheticName(len(products))
	taken := map[string]bool{}
	for _, q := range products {
		taken[q.Name] = true
	}
	for base, k := name, 2; taken[name]; k++ {
		name = fmt.Sprintf("%s (%d)", base, k)
	}
	return plainProduct(seed, len(products), name)
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func idle(s float64) Step { return Step{Kind: Idle, Duration: secs(s)} }
