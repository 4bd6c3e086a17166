package scenario

import (
	"image"
	"math"
	"math/rand/v2"
	"strings"
)

// plan is a compiled scenario: every step placed on the frame timeline, with its sprites
// and path. The renderer and the ground truth both read object positions from it, so the
// truth describes exactly the frames that are drawn.
type plan struct {
	s      *Scenario
	cfg    Config
	roi    []fpt // pixels
	steps  []stepPlan
	frames int
	skin   [3]uint8
}

// stepPlan is one step on the timeline: frames [start, start+n).
type stepPlan struct {
	step             Step // with defaults
	index            int
	start, n         int
	nIn, nHold, nOut int
	sprite           *image.RGBA // the object: product, or a bare hand; nil when idle
	hand             *image.RGBA // the hand holding the product, or nil
	handAt           image.Point // hand's top-left relative to the sprite's
	from, hold, to   fpt         // sprite centre at the start, while held, at the end
	phase            [4]float64  // hand jitter
}

// handLength is the wrist-to-fingertip length of a hand, as a fraction of frame height.
const handLength = 0.30

// handOverlap is how far a holding hand's fingers reach over the product, as a fraction of
// the hand's length.
const handOverlap = 0.25

// compile checks a scenario and lays it out. It does not check the counting constraints:
// that is truth's job.
func compile(s *Scenario, products []Product) (*plan, error) {
	if s == nil {
		return nil, (&Scenario{}).errf(ErrInvalid, "nil scenario")
	}
	if s.Name == "" || strings.ContainsAny(s.Name, `/\`) {
		return nil, s.errf(ErrInvalid, "need a name without slashes")
	}
	cfg := s.Config.withDefaults()
	if err := cfg.check(); err != nil {
		return nil, s.errf(ErrInvalid, "%v", err)
	}
	if len(s.Steps) == 0 {
		return nil, s.errf(ErrInvalid, "no steps")
	}
	byName := map[string]Product{}
	foreign := map[string]bool{}
	for i, p := range append(append([]Product(nil), products...), s.Foreign...) {
		if p.Name == "" || p.Image == nil || p.Image.Bounds().Empty() {
			return nil, s.errf(ErrInvalid, "product %q: need a name and an image", p.Name)
		}
		if _, dup := byName[p.Name]; dup {
			return nil, s.errf(ErrInvalid, "product %q given twice", p.Name)
		}
		byName[p.Name] = p
		foreign[p.Name] = i >= len(products)
	}

	p := &plan{s: s, cfg: cfg}
	for _, q := range cfg.ROI {
		p.roi = append(p.roi, fpt{q.X * float64(cfg.Width), q.Y * float64(cfg.Height)})
	}
	hold := centroid(p.roi)
	if !inside(p.roi, hold) {
		return nil, s.errf(ErrInvalid, "roi centroid (%.0f,%.0f) is outside the roi", hold.x, hold.y)
	}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5ce7a))
	skins := [][3]uint8{{224, 172, 140}, {198, 140, 104}, {241, 196, 170}, {150, 98, 68}}
	p.skin = skins[rng.IntN(len(skins))]

	handLen := int(handLength*float64(cfg.Height) + 0.5)
	hands := map[string]*image.RGBA{}
	handFor := func(side string) *image.RGBA {
		if h, ok := hands[side]; ok {
			return h
		}
		h := orient(handSprite(handLen, p.skin), side)
		hands[side] = h
		return h
	}
	type spriteKey struct {
		name  string
		scale float64
	}
	sprites := map[spriteKey]*image.RGBA{}

	start := 0
	for i, st := range s.Steps {
		st = st.withDefaults()
		sp := stepPlan{step: st, index: i, start: start}
		switch st.Kind {
		case Idle:
			if st.Duration <= 0 {
				return nil, s.errf(ErrInvalid, "step %d (idle): need a positive Duration", i)
			}
			sp.n = frames(st.Duration, cfg.FPS)
		case Show, Foreign, Distractor:
			if st.In < 0 || st.Hold < 0 || st.Out < 0 {
				return nil, s.errf(ErrInvalid, "step %d (%s): negative duration", i, st.Kind)
			}
			for _, side := range []string{st.From, st.To} {
				if side != Right && side != Left && side != Bottom && side != Top {
					return nil, s.errf(ErrInvalid, "step %d (%s): side %q: want right, left, bottom or top", i, st.Kind, side)
				}
			}
			sp.nIn, sp.nHold, sp.nOut = frames(st.In, cfg.FPS), frames(st.Hold, cfg.FPS), frames(st.Out, cfg.FPS)
			sp.n = sp.nIn + sp.nHold + sp.nOut
			if st.Kind == Distractor {
				sp.sprite = handFor(st.From)
				break
			}
			prod, ok := byName[st.Product]
			if !ok || foreign[st.Product] != (st.Kind == Foreign) {
				where := "the products"
				if st.Kind == Foreign {
					where = "the scenario's foreign products"
				}
				return nil, s.errf(ErrInvalid, "step %d (%s): %q is not one of %s", i, st.Kind, st.Product, where)
			}
			if st.Scale <= 0 || st.Scale > 1 {
				return nil, s.errf(ErrInvalid, "step %d (%s): scale %g: need 0 < scale <= 1", i, st.Kind, st.Scale)
			}
			key := spriteKey{prod.Name, st.Scale}
			if sprites[key] == nil {
				sprites[key] = scaleToHeight(prod.Image, int(st.Scale*float64(cfg.Height)+0.5))
			}
			sp.sprite = sprites[key]
			if st.Hand {
				sp.hand = handFor(st.From)
				sp.handAt = holdOffset(sp.sprite.Bounds().Size(), sp.hand.Bounds().Size(), st.From, handLen)
			}
		default:
			return nil, s.errf(ErrInvalid, "step %d: unknown kind %d", i, int(st.Kind))
		}
		if sp.sprite != nil {
			sp.hold = hold
			sp.from = sp.outside(hold, st.From, cfg)
			sp.to = sp.outside(hold, st.To, cfg)
			for j := range sp.phase {
				sp.phase[j] = rng.Float64() * 2 * math.Pi
			}
		}
		start += sp.n
		p.steps = append(p.steps, sp)
	}
	p.frames = start
	return p, nil
}

// holdOffset places a holding hand (size hs, fingers pointing at the product) on the given
// side of a product of size ps, its fingers reaching over the product's edge.
func holdOffset(ps, hs image.Point, side string, handLen int) image.Point {
	over := int(handOverlap * float64(handLen))
	switch side {
	case Left:
		return image.Point{over - hs.X, ps.Y*11/20 - hs.Y/2}
	case Top:
		return image.Point{ps.X*9/20 - hs.X/2, over - hs.Y}
	case Bottom:
		return image.Point{ps.X*11/20 - hs.X/2, ps.Y - over}
	}
	return image.Point{ps.X - over, ps.Y*11/20 - hs.Y/2}
}

// rel is the object's extent (sprite and hand) relative to the sprite's top-left corner.
func (sp *stepPlan) rel() image.Rectangle {
	r := sp.sprite.Bounds()
	if sp.hand != nil {
		r = r.Union(sp.hand.Bounds().Sub(sp.hand.Bounds().Min).Add(sp.handAt))
	}
	return r
}

// outside is the sprite centre, level with hold, at which the whole object is just out of
// the frame on the given side.
func (sp *stepPlan) outside(hold fpt, side string, cfg Config) fpt {
	rel := sp.rel()
	size := sp.sprite.Bounds().Size()
	x0 := math.Round(hold.x - float64(size.X)/2)
	y0 := math.Round(hold.y - float64(size.Y)/2)
	switch side {
	case Right:
		x0 = float64(cfg.Width - rel.Min.X)
	case Left:
		x0 = float64(-rel.Max.X)
	case Bottom:
		y0 = float64(cfg.Height - rel.Min.Y)
	case Top:
		y0 = float64(-rel.Max.Y)
	}
	return fpt{x0 + float64(size.X)/2, y0 + float64(size.Y)/2}
}

// rect is the sprite's rectangle in the frame at frame k of the step.
func (sp *stepPlan) rect(k, fps int) image.Rectangle {
	var c fpt
	switch {
	case k < sp.nIn:
		c = lerp(sp.from, sp.hold, ease(float64(k)/float64(sp.nIn)))
	case k < sp.nIn+sp.nHold:
		t := float64(k-sp.nIn) / float64(fps)
		c = fpt{sp.hold.x + jitter(t, sp.phase[0], sp.phase[1]), sp.hold.y + jitter(t, sp.phase[2], sp.phase[3])}
	default:
		c = lerp(sp.hold, sp.to, ease(float64(k-sp.nIn-sp.nHold+1)/float64(sp.nOut)))
	}
	size := sp.sprite.Bounds().Size()
	x0 := int(math.Round(c.x - float64(size.X)/2))
	y0 := int(math.Round(c.y - float64(size.Y)/2))
	return image.Rectangle{image.Point{x0, y0}, image.Point{x0 + size.X, y0 + size.Y}}
}

// handRect is where the holding hand is drawn when the sprite is at r.
func (sp *stepPlan) handRect(r image.Rectangle) image.Rectangle {
	return image.Rectangle{Max: sp.hand.Bounds().Size()}.Add(r.Min.Add(sp.handAt))
}

// jitter is a hand's tremor: a smooth wobble of at most 2 pixels.
func jitter(t, p0, p1 float64) float64 {
	j := math.Round(1.2*math.Sin(2*math.Pi*0.9*t+p0) + 0.8*math.Sin(2*math.Pi*2.3*t+p1))
	return math.Max(-2, math.Min(2, j))
}

// centre is the centre of a rectangle, in pixels.
func centre(r image.Rectangle) fpt {
	return fpt{float64(r.Min.X+r.Max.X) / 2, float64(r.Min.Y+r.Max.Y) / 2}
}

func toBox(r image.Rectangle) box {
	return box{float64(r.Min.X), float64(r.Min.Y), float64(r.Max.X), float64(r.Max.Y)}
}
