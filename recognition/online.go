package recognition

import (
	"fmt"
	"math/rand/v2"
	"os"

	"github.com/ebrcs/ebrcs/data"
)

// Rates are the shares of a run's decisions that matter at a checkout. Every rate is over all
// queries unless it says otherwise.
type Rates struct {
	// AskRate: the cashier was asked.
	AskRate float64 `json:"ask_rate"`
	// SilentErrorRate: counted without a word, and wrong: another product, or a product not
	// in the catalog.
	SilentErrorRate float64 `json:"silent_error_rate"`
	// MissRate: a product of the catalog decided unknown (neither counted nor asked).
	MissRate float64 `json:"miss_rate"`
	// KnownSilentErrorRate: of the queries of products in the catalog, those counted as
	// another product.
	KnownSilentErrorRate float64 `json:"known_silent_error_rate"`
	// UnknownSilentAcceptRate: of the queries of products not in the catalog (--holdout),
	// those counted as some product; absent without any.
	UnknownSilentAcceptRate *float64 `json:"unknown_silent_accept_rate,omitempty"`
}

// DecisionRates computes the rates of decided outcomes.
func DecisionRates(outcomes []Outcome) Rates {
	var n, known, unknown, ask, silent, miss, knownSilent, unknownCounted int
	for _, o := range outcomes {
		n++
		top, _ := o.Top()
		right := o.Known && top == o.Label
		if o.Known {
			known++
		} else {
			unknown++
		}
		switch o.Decision {
		case DecisionAsk:
			ask++
		case DecisionUnknown:
			if o.Known {
				miss++
			}
		case DecisionCount:
			if !right {
				silent++
			}
			if o.Known && !right {
				knownSilent++
			}
			if !o.Known {
				unknownCounted++
			}
		}
	}
	r := Rates{AskRate: frac(ask, n), SilentErrorRate: frac(silent, n), MissRate: frac(miss, n),
		KnownSilentErrorRate: frac(knownSilent, known)}
	if unknown > 0 {
		v := frac(unknownCounted, unknown)
		r.UnknownSilentAcceptRate = &v
	}
	return r
}

// OnlineResult is an online run: what a checkout that learns from its cashier's answers
// would have decided, query after query.
type OnlineResult struct {
	Seed uint64 `json:"seed"`
	N    int    `json:"n"`
	// Top1: of the queries of products in the catalog, those whose best product was right
	// when they were seen (before anything was learned from them).
	Top1 float64 `json:"top1"`
	Rates
	// SecondHalf: the same for the second half of the queries, once the catalog has learned.
	SecondHalf HalfResult `json:"second_half"`
	// What was learned: views of products, "none" answers, and refits of the projection.
	LearnedViews int `json:"learned_views"`
	NoneViews    int `json:"none_views"`
	Refits       int `json:"refits"`
	outcomes     []Outcome
}

// HalfResult is a part of an online run.
type HalfResult struct {
	Top1            float64 `json:"top1"`
	AskRate         float64 `json:"ask_rate"`
	SilentErrorRate float64 `json:"silent_error_rate"`
}

// Outcomes are the run's decided queries, in the order they were seen.
func (r *OnlineResult) Outcomes() []Outcome { return r.outcomes }

// EvaluateOnline is the online evaluation: the queries come in a seeded random order, each is
// recognised as a visit of one crop and decided with rules, and each asked or wrongly counted
// query is answered with the truth and learned exactly as the server learns from a checkout
// answer: a product's crop through cat.AddLearnedView, a crop of a product not in the catalog
// as "none" through cat.AddNone (origin "review" for an ask, "correction" for a wrong count).
// Unknown decisions are not answered. After each answer it waits for a refit the answer may
// have started, so that a seed always gives the same result. vecs are the queries' vectors;
// ids the catalog's product ids by name.
func EvaluateOnline(cat *data.Catalog, rules Rules, queries []labelledQuery, vecs [][]float32, ids map[string]int64, seed uint64, bar Progress) (*OnlineResult, error) {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	order := rng.Perm(len(queries))
	outcomes := make([]Outcome, 0, len(queries))
	for _, i := range order {
		q := queries[i]
		o, err := recognise(cat, rules, q, vecs[i], ids)
		if err != nil {
			return nil, err
		}
		outcomes = append(outcomes, o)
		bar.Add(1)
		top, _ := o.Top()
		wrong := o.Decision == DecisionCount && (!o.Known || top != q.label)
		if o.Decision != DecisionAsk && !wrong {
			continue
		}
		origin := data.OriginReview
		if wrong {
			origin = data.OriginCorrection
		}
		crop, err := os.ReadFile(q.path)
		if err != nil {
			return nil, err
		}
		if o.Known {
			_, err = cat.AddLearnedView(ids[q.label], crop, origin)
		} else {
			_, err = cat.AddNone(crop, origin)
		}
		if err != nil {
			return nil, fmt.Errorf("learn %s: %w", q.path, err)
		}
		cat.WaitRefit()
	}
	bar.Finish()
	st := cat.Stats()
	res := &OnlineResult{Seed: seed, N: len(outcomes), Top1: top1(outcomes), Rates: DecisionRates(outcomes),
		LearnedViews: st.LearnedViews, NoneViews: st.NoneViews, Refits: st.Refits - 1, outcomes: outcomes}
	second := outcomes[len(outcomes)/2:]
	r := DecisionRates(second)
	res.SecondHalf = HalfResult{Top1: top1(second), AskRate: r.AskRate, SilentErrorRate: r.SilentErrorRate}
	return res, nil
}

// top1 is the share of known queries whose best product was right.
func top1(outcomes []Outcome) float64 {
	var known, right int
	for _, o := range outcomes {
		if o.Known {
			known++
			if top, _ := o.Top(); top == o.Label {
				right++
			}
		}
	}
	return frac(right, known)
}

// meanOnline averages runs (one run is itself).
func meanOnline(runs []OnlineResult) *OnlineResult {
	if len(runs) == 1 {
		r := runs[0]
		return &r
	}
	m := &OnlineResult{}
	var unknown float64
	for _, r := range runs {
		m.N += r.N
		m.Top1 += r.Top1
		m.AskRate += r.AskRate
		m.SilentErrorRate += r.SilentErrorRate
		m.MissRate += r.MissRate
		m.KnownSilentErrorRate += r.KnownSilentErrorRate
		m.SecondHalf.Top1 += r.SecondHalf.Top1
		m.SecondHalf.AskRate += r.SecondHalf.AskRate
		m.SecondHalf.SilentErrorRate += r.SecondHalf.SilentErrorRate
		m.LearnedViews += r.LearnedViews
		m.NoneViews += r.NoneViews
		m.Refits += r.Refits
		if r.UnknownSilentAcceptRate != nil {
			unknown += *r.UnknownSilentAcceptRate
		}
	}
	k := float64(len(runs))
	for _, p := range []*float64{&m.Top1, &m.AskRate, &m.SilentErrorRate, &m.MissRate, &m.KnownSilentErrorRate,
		&m.SecondHalf.Top1, &m.SecondHalf.AskRate, &m.SecondHalf.SilentErrorRate} {
		*p /= k
	}
	m.N /= len(runs)
	m.LearnedViews /= len(runs)
	m.NoneViews /= len(runs)
	m.Refits /= len(runs)
	if runs[0].UnknownSilentAcceptRate != nil {
		v := unknown / k
		m.UnknownSilentAcceptRate = &v
	}
	return m
}
