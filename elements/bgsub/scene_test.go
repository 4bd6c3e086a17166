package bgsub

import (
	"math"
	"math/rand"
)

// scene renders a deterministic test sequence for background subtraction: a static textured
// background, textured objects moving in and out, a gradual lighting change and camera noise.
// Frames are interleaved 3-byte pixels.
type scene struct {
	w, h   int
	frames [][]byte
}

type mover struct {
	x0, y0, vx, vy float64 // position at frame `from`, pixels per frame
	rw, rh         float64 // half sizes
	from, to       int     // visible frames
	stopAfter      int     // frames after `from` it moves for, then it stays (0: never stops)
	ellipse        bool
	tex            [3]float64
}

func newScene(w, h, n int, seed int64) *scene {
	rng := rand.New(rand.NewSource(seed))
	bg := make([]float64, w*h*3)
	// Texture: a few sinusoids plus smoothed noise, like a wooden counter top.
	noise := make([]float64, w*h)
	for i := range noise {
		noise[i] = rng.Float64()
	}
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			s := 0.0
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					xx, yy := min(max(x+dx, 0), w-1), min(max(y+dy, 0), h-1)
					s += noise[yy*w+xx]
				}
			}
			s /= 9
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			base := 110 + 40*math.Sin(fx*23+3*math.Sin(fy*7)) + 60*(s-0.5)
			i := (y*w + x) * 3
			bg[i] = base * 0.9
			bg[i+1] = base * 1.0
			bg[i+2] = base*0.7 + 30*fy
		}
	}
	movers := []mover{
		{x0: -0.25 * float64(w), y0: 0.45 * float64(h), vx: float64(w) / 90, rw: 0.12 * float64(w), rh: 0.16 * float64(h), from: 60, to: 170, tex: [3]float64{200, 60, 50}},
		{x0: 0.7 * float64(w), y0: 1.2 * float64(h), vy: -float64(h) / 60, rw: 0.08 * float64(w), rh: 0.1 * float64(h), from: 110, to: 200, ellipse: true, tex: [3]float64{40, 170, 220}},
		{x0: 0.3 * float64(w), y0: 0.3 * float64(h), vx: float64(w) / 200, vy: float64(h) / 300, rw: 0.05 * float64(w), rh: 0.05 * float64(w), from: 150, to: 230, tex: [3]float64{240, 240, 90}},
		// Put down and left: it slowly becomes background, at a pace set by the sample
		// refresh phases, which are random — the hardest part to reproduce.
		{x0: 1.1 * float64(w), y0: 0.8 * float64(h), vx: -float64(w) / 80, rw: 0.09 * float64(w), rh: 0.08 * float64(h), from: 20, to: n, stopAfter: 30, tex: [3]float64{150, 120, 100}},
	}
	sc := &scene{w: w, h: h}
	for f := 0; f < n; f++ {
		gain := 1 + 0.15*float64(f)/float64(n) // slow lighting drift, +15% over the clip
		frame := make([]byte, w*h*3)
		for i := 0; i < w*h; i++ {
			x, y := float64(i%w), float64(i/w)
			c := [3]float64{bg[i*3], bg[i*3+1], bg[i*3+2]}
			for _, m := range movers {
				if f < m.from || f >= m.to {
					continue
				}
				t := f - m.from
				if m.stopAfter > 0 {
					t = min(t, m.stopAfter)
				}
				cx, cy := m.x0+m.vx*float64(t), m.y0+m.vy*float64(t)
				dx, dy := (x-cx)/m.rw, (y-cy)/m.rh
				in := math.Abs(dx) <= 1 && math.Abs(dy) <= 1
				if m.ellipse {
					in = dx*dx+dy*dy <= 1
				}
				if in {
					stripe := 25 * math.Sin((x+y)/3)
					c = [3]float64{m.tex[0] + stripe, m.tex[1] - stripe, m.tex[2] + stripe/2}
				}
			}
			for k := 0; k < 3; k++ {
				v := c[k]*gain + rng.NormFloat64()*4 // sensor noise, sigma 4
				frame[i*3+k] = uint8(min(max(math.Round(v), 0), 255))
			}
		}
		sc.frames = append(sc.frames, frame)
	}
	return sc
}

// planes splits an interleaved frame into three planes.
func planes(frame []byte, n int) (c0, c1, c2 []byte) {
	c0, c1, c2 = make([]byte, n), make([]byte, n), make([]byte, n)
	for i := 0; i < n; i++ {
		c0[i], c1[i], c2[i] = frame[i*3], frame[i*3+1], frame[i*3+2]
	}
	return
}
