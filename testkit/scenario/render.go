package scenario

import (
	"image"
	"image/draw"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
)

// Render draws the scenario's frames in order and calls each with every one; it stops at the
// first error each returns. The frame is reused: copy it to keep it. The output depends only
// on the scenario and the products: the same inputs give the same pixels. Render refuses
// what Validate refuses.
func Render(s *Scenario, products []Product, each func(i int, frame *image.RGBA) error) error {
	p, err := compile(s, products)
	if err != nil {
		return err
	}
	if _, err := p.truth(); err != nil {
		return err
	}
	return p.render(each)
}

func (p *plan) render(each func(i int, frame *image.RGBA) error) error {
	cam := newCamera(p.cfg)
	bg := background(p.cfg.Width, p.cfg.Height, p.cfg.Seed)
	frame := image.NewRGBA(bg.Bounds())
	for i := range p.steps {
		sp := &p.steps[i]
		for k := 0; k < sp.n; k++ {
			copy(frame.Pix, bg.Pix)
			if sp.sprite != nil {
				r := sp.rect(k, p.cfg.FPS)
				draw.Draw(frame, r, sp.sprite, image.Point{}, draw.Over)
				if sp.hand != nil {
					draw.Draw(frame, sp.handRect(r), sp.hand, image.Point{}, draw.Over)
				}
			}
			cam.expose(frame, sp.start+k)
			if err := each(sp.start+k, frame); err != nil {
				return err
			}
		}
	}
	return nil
}

// camera applies what a real camera adds to a scene: a global brightness flicker and
// per-pixel, per-channel Gaussian noise, both deterministic from the seed and frame index.
type camera struct {
	seed  uint64
	fps   float64
	amp   float64 // Config.Flicker
	waves [3]wave // the flicker signal
	gauss []int32 // noise quantiles, 16.16 fixed point; nil without noise
}

type wave struct{ weight, hz, phase float64 }

func newCamera(cfg Config) *camera {
	c := &camera{seed: uint64(cfg.Seed), fps: float64(cfg.FPS), amp: cfg.Flicker}
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), 0xf11c4e))
	c.waves = [3]wave{
		{0.55, 0.15 + 0.20*rng.Float64(), 2 * math.Pi * rng.Float64()},
		{0.30, 0.50 + 0.50*rng.Float64(), 2 * math.Pi * rng.Float64()},
		{0.15, 1.30 + 1.20*rng.Float64(), 2 * math.Pi * rng.Float64()},
	}
	if cfg.Noise > 0 {
		// The exact quantiles of N(0, sigma²), indexed by 16 random bits.
		c.gauss = make([]int32, 1<<16)
		for i := range c.gauss {
			q := math.Sqrt2 * math.Erfinv(2*(float64(i)+0.5)/(1<<16)-1)
			c.gauss[i] = int32(math.Round(cfg.Noise * q * 65536))
		}
	}
	return c
}

// brightness is the flicker factor of frame i: 1 + Flicker * s(t), s a smooth signal in [-1,1].
func (c *camera) brightness(i int) float64 {
	t := float64(i) / c.fps
	s := 0.0
	for _, w := range c.waves {
		s += w.weight * math.Sin(2*math.Pi*w.hz*t+w.phase)
	}
	return 1 + c.amp*s
}

// expose applies flicker and noise to frame i in place, rows in parallel (each row has its
// own random stream, so the result does not depend on the scheduling).
func (c *camera) expose(img *image.RGBA, i int) {
	gain := int32(math.Round(c.brightness(i) * 65536))
	h := img.Bounds().Dy()
	workers := min(runtime.GOMAXPROCS(0), 8, h)
	var wg sync.WaitGroup
	for wk := 0; wk < workers; wk++ {
		wg.Add(1)
		go func(y0, y1 int) {
			defer wg.Done()
			for y := y0; y < y1; y++ {
				c.row(img.Pix[y*img.Stride:y*img.Stride+4*img.Bounds().Dx()], gain, i, y)
			}
		}(h*wk/workers, h*(wk+1)/workers)
	}
	wg.Wait()
}

func (c *camera) row(px []uint8, gain int32, frame, y int) {
	if c.gauss == nil {
		for x := 0; x < len(px); x += 4 {
			px[x] = fixed8(int32(px[x])*gain + 32768)
			px[x+1] = fixed8(int32(px[x+1])*gain + 32768)
			px[x+2] = fixed8(int32(px[x+2])*gain + 32768)
		}
		return
	}
	g := c.gauss
	st := splitmix(c.seed*0x9e3779b97f4a7c15 ^ splitmix(uint64(frame)<<20|uint64(y)))
	for x := 0; x < len(px); x += 4 {
		st += 0x9e3779b97f4a7c15
		z := splitmix(st)
		px[x] = fixed8(int32(px[x])*gain + g[z&0xffff] + 32768)
		px[x+1] = fixed8(int32(px[x+1])*gain + g[(z>>16)&0xffff] + 32768)
		px[x+2] = fixed8(int32(px[x+2])*gain + g[(z>>32)&0xffff] + 32768)
	}
}

// fixed8 takes a 16.16 fixed-point value (rounding already added) to a clamped byte.
func fixed8(v int32) uint8 {
	v >>= 16
	switch {
	case v < 0:
		return 0
	case v > 255:
		return 255
	}
	return uint8(v)
}
