package embed

import (
	"slices"
	"testing"

	"github.com/ebrcs/ebrcs/elements/framemeta"
)

// After a crop of a visit is embedded, the next crop is a later visit's first look rather
// than another look at the same visit (which the vector just embedded usually decides);
// otherwise the oldest visit's. No crop is ever left behind.
func TestNextCropPrefersAnotherVisit(t *testing.T) {
	crop := func(visit int64) *asyncCrop { return &asyncCrop{visit: visit, state: &framemeta.VisitState{}} }
	order := func(e *Embed, looked int64) []int64 {
		var got []int64
		for job := e.next(looked); job != nil; job = e.next(looked) {
			got = append(got, job.visit)
			looked = job.visit
		}
		return got
	}
	for _, c := range []struct {
		name    string
		pending []int64
		looked  int64
		want    []int64
	}{
		{"another look waits alone", []int64{3}, 3, []int64{3}},
		{"a later visit goes first", []int64{3, 4}, 3, []int64{4, 3}},
		{"oldest visit first otherwise", []int64{2, 3, 4}, 1, []int64{2, 3, 4}},
		{"then alternating", []int64{3, 4, 5}, 3, []int64{4, 3, 5}},
	} {
		e := &Embed{}
		for _, v := range c.pending {
			e.pending = append(e.pending, crop(v))
		}
		if got := order(e, c.looked); !slices.Equal(got, c.want) {
			t.Errorf("%s: embedded %v, want %v", c.name, got, c.want)
		}
	}
}

// underWay counts the visits, not decided, with a crop in flight or waiting or a vector not
// yet delivered: each visit once.
func TestUnderWayCountsUndecidedVisitsOnce(t *testing.T) {
	decided := &framemeta.VisitState{}
	decided.MarkDecided()
	open1, open2 := &framemeta.VisitState{}, &framemeta.VisitState{}
	e := &Embed{
		inflight: &asyncCrop{visit: 1, state: open1},
		pending:  []*asyncCrop{{visit: 1, state: open1}, {visit: 2, state: open2}, {visit: 3, state: decided}},
		ready:    []asyncVector{{visit: 2, state: open2}, {visit: 4, state: decided}},
	}
	if n := e.underWay(); n != 2 {
		t.Fatalf("underWay %d, want 2 (visits 1 and 2)", n)
	}
	if n := (&Embed{}).underWay(); n != 0 {
		t.Fatalf("nothing under way: %d", n)
	}
}
