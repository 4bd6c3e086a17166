package scenario

import (
	"time"
)

// GroundTruth is what a counting system must report for a scenario. Frames are indexes into
// the video (stream time = frame / fps).
type GroundTruth struct {
	Scenario    string         `json:"scenario"`
	Items       map[string]int `json:"items"` // counted products; never nil
	Frames      int            `json:"frames"`
	FPS         int            `json:"fps"`
	Width       int            `json:"width"`
	Height      int            `json:"height"`
	Visits      []Visit        `json:"visits"`
	Distractors []Span         `json:"distractors"`
	// Foreign are the visits of products the catalog does not have (Foreign steps): never
	// counted; the system should report them unknown or ask about them.
	Foreign []Visit `json:"foreign"`
}

// Visit is one Show (or Foreign) step: EntryFrame is the first frame where the centre of the product's
// box is inside the ROI, ExitFrame the last one.
type Visit struct {
	Product    string `json:"product"`
	EntryFrame int    `json:"entry_frame"`
	ExitFrame  int    `json:"exit_frame"`
	Counted    bool   `json:"counted"`
}

// Span is when a distractor's box centre is inside the ROI, first and last frame.
type Span struct {
	EntryFrame int `json:"entry_frame"`
	ExitFrame  int `json:"exit_frame"`
}

// Validate checks that the scenario can be rendered with these products and that its ground
// truth is unambiguous: no visit enters within CooldownMargin of its product's cooldown
// boundary (ErrAmbiguous), and the ROI stays empty at least MinGap between objects,
// MinLeadIn at the start and MinTail at the end (ErrCrowded). Other errors wrap ErrInvalid.
func (s *Scenario) Validate(products []Product) error {
	_, err := s.Truth(products)
	return err
}

// Truth computes the scenario's ground truth from its script; it fails as Validate does.
func (s *Scenario) Truth(products []Product) (GroundTruth, error) {
	p, err := compile(s, products)
	if err != nil {
		return GroundTruth{}, err
	}
	return p.truth()
}

// occupancy is when an object touches the ROI, first and last frame.
type occupancy struct{ step, first, last int }

func (p *plan) truth() (GroundTruth, error) {
	s, cfg := p.s, p.cfg
	g := GroundTruth{
		Scenario: s.Name, Items: map[string]int{}, Frames: p.frames, FPS: cfg.FPS,
		Width: cfg.Width, Height: cfg.Height, Visits: []Visit{}, Distractors: []Span{}, Foreign: []Visit{},
	}
	seconds := func(frames int) time.Duration {
		return time.Duration(frames) * time.Second / time.Duration(cfg.FPS)
	}
	var occ []occupancy
	lastCounted := map[string]int{} // product -> entry frame of its last counted visit
	for i := range p.steps {
		sp := &p.steps[i]
		if sp.sprite == nil {
			continue
		}
		entry, exit := -1, -1
		o := occupancy{step: sp.index, first: -1}
		for k := 0; k < sp.n; k++ {
			r := sp.rect(k, cfg.FPS)
			if inside(p.roi, centre(r)) {
				if entry < 0 {
					entry = sp.start + k
				}
				exit = sp.start + k
			}
			whole := r
			if sp.hand != nil {
				whole = whole.Union(sp.handRect(r))
			}
			if touches(p.roi, toBox(whole)) {
				if o.first < 0 {
					o.first = sp.start + k
				}
				o.last = sp.start + k
			}
		}
		if entry < 0 || o.first < 0 {
			return GroundTruth{}, s.errf(ErrInvalid, "step %d (%s): the object never enters the roi", sp.index, sp.step.Kind)
		}
		occ = append(occ, o)
		if sp.step.Kind == Distractor {
			g.Distractors = append(g.Distractors, Span{entry, exit})
			continue
		}
		if sp.step.Kind == Foreign {
			g.Foreign = append(g.Foreign, Visit{Product: sp.step.Product, EntryFrame: entry, ExitFrame: exit})
			continue
		}
		name := sp.step.Product
		v := Visit{Product: name, EntryFrame: entry, ExitFrame: exit, Counted: true}
		if last, ok := lastCounted[name]; ok {
			since := seconds(entry - last)
			if d := since - cfg.Cooldown; d > -CooldownMargin && d < CooldownMargin {
				return GroundTruth{}, s.errf(ErrAmbiguous,
					"step %d: %q enters %.2fs after its last count, within %v of the %v cooldown",
					sp.index, name, since.Seconds(), CooldownMargin, cfg.Cooldown)
			}
			v.Counted = since >= cfg.Cooldown
		}
		if v.Counted {
			lastCounted[name] = entry
			g.Items[name]++
		}
		g.Visits = append(g.Visits, v)
	}

	if len(occ) > 0 {
		if lead := seconds(occ[0].first); lead < MinLeadIn {
			return GroundTruth{}, s.errf(ErrCrowded, "step %d reaches the roi after %.2fs, need %v of empty counter first",
				occ[0].step, lead.Seconds(), MinLeadIn)
		}
		last := occ[len(occ)-1]
		if tail := seconds(p.frames - 1 - last.last); tail < MinTail {
			return GroundTruth{}, s.errf(ErrCrowded, "step %d leaves the roi %.2fs before the end, need %v",
				last.step, tail.Seconds(), MinTail)
		}
	}
	for i := 1; i < len(occ); i++ {
		if gap := seconds(occ[i].first - occ[i-1].last - 1); gap < MinGap {
			return GroundTruth{}, s.errf(ErrCrowded, "the roi is empty for %.2fs between steps %d and %d, need %v",
				gap.Seconds(), occ[i-1].step, occ[i].step, MinGap)
		}
	}
	return g, nil
}
