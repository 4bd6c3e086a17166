package recognition

import (
	"fmt"

	"github.com/ebrcs/ebrcs/data"
)

// Decision is what the checkout does with a visit's evidence.
type Decision string

const (
	// DecisionCount: the product is sure enough to go into the cart without a word.
	DecisionCount Decision = "count"
	// DecisionAsk: probably a product of the catalog, but not sure which: ask the cashier
	// (whose answer teaches the catalog, see data.Catalog.AddLearnedView).
	DecisionAsk Decision = "ask"
	// DecisionUnknown: not a product of the catalog (or too unlike any to ask about).
	DecisionUnknown Decision = "unknown"
)

// Thresholds decide in one score space (see Decide).
type Thresholds struct {
	// Count: the best score s1 must reach it...
	Count float32 `yaml:"count"`
	// Margin: ...and lead the second best by this much, to count.
	Margin float32 `yaml:"margin"`
	// Unknown: below it, the visit is no product of the catalog.
	Unknown float32 `yaml:"unknown"`
	// NoneGap: a "none" answer scoring at least s1 + NoneGap makes the visit unknown.
	NoneGap float32 `yaml:"none_gap"`
}

// Rules are an embedder's calibrated decision rules: one set for the catalog's adapted
// space, one for plain cosine (a catalog below data.AdaptOptions.MinProducts products, or an
// embedder whose adapted rules were never calibrated: Adapted zero turns adaptation off).
type Rules struct {
	Adapted Thresholds `yaml:"adapted"`
	Cosine  Thresholds `yaml:"cosine"`
}

// For picks the thresholds of the evidence's score space.
func (r Rules) For(adapted bool) Thresholds {
	if adapted {
		return r.Adapted
	}
	return r.Cosine
}

// adapts says whether the rules allow adapted matching (its thresholds were calibrated).
func (r Rules) adapts() bool { return r.Adapted != Thresholds{} }

func (r Rules) validate() error {
	for _, t := range []struct {
		name string
		th   Thresholds
	}{{"adapted", r.Adapted}, {"cosine", r.Cosine}} {
		if t.name == "adapted" && t.th == (Thresholds{}) {
			continue
		}
		switch {
		case t.th.Count <= -1 || t.th.Count > 1:
			return fmt.Errorf("rules.%s.count %v out of (-1, 1]", t.name, t.th.Count)
		case t.th.Unknown > t.th.Count:
			return fmt.Errorf("rules.%s.unknown %v above count %v", t.name, t.th.Unknown, t.th.Count)
		case t.th.Margin < 0 || t.th.NoneGap < 0:
			return fmt.Errorf("rules.%s: margin and none_gap must not be negative", t.name)
		}
	}
	return nil
}

// Decide makes a visit's decision:
//
//	count    s1 ≥ Count, s1 − s2 ≥ Margin, and no "none" answer scores s1 or more
//	unknown  otherwise, if s1 < Unknown or a "none" answer scores s1 + NoneGap or more
//	ask      otherwise
//
// in the thresholds of the evidence's score space. No hit (an empty catalog) is unknown.
func Decide(ev data.Evidence, r Rules) Decision {
	if len(ev.Hits) == 0 {
		return DecisionUnknown
	}
	t := r.For(ev.Adapted)
	s1 := ev.Hits[0].Score
	switch {
	case s1 >= t.Count && s1-ev.Second >= t.Margin && ev.None < s1:
		return DecisionCount
	case s1 < t.Unknown || ev.None >= s1+t.NoneGap:
		return DecisionUnknown
	}
	return DecisionAsk
}
