package scenario

import (
	"image"
	"math"
	"math/rand/v2"
)

// splitmix is SplitMix64's output function: a fast, well-mixed hash of a 64-bit state.
func splitmix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// valueNoise is smooth lattice noise in [0,1).
type valueNoise struct{ seed uint64 }

func (n valueNoise) lattice(ix, iy int) float64 {
	h := splitmix(n.seed ^ uint64(int64(ix))*0x9e3779b97f4a7c15 ^ uint64(int64(iy))*0xc2b2ae3d27d4eb4f)
	return float64(h>>11) / (1 << 53)
}

func (n valueNoise) at(x, y float64) float64 {
	fx, fy := math.Floor(x), math.Floor(y)
	ix, iy := int(fx), int(fy)
	u, v := quintic(x-fx), quintic(y-fy)
	a := n.lattice(ix, iy) + (n.lattice(ix+1, iy)-n.lattice(ix, iy))*u
	b := n.lattice(ix, iy+1) + (n.lattice(ix+1, iy+1)-n.lattice(ix, iy+1))*u
	return a + (b-a)*v
}

func quintic(t float64) float64 { return t * t * t * (t*(t*6-15) + 10) }

// fbm is fractal noise: octaves of value noise, each twice as fine and half as strong; [0,1).
func (n valueNoise) fbm(x, y float64, octaves int) float64 {
	sum, amp, norm := 0.0, 1.0, 0.0
	for o := 0; o < octaves; o++ {
		sum += amp * valueNoise{n.seed + uint64(o)*0x632be59bd9b4e019}.at(x, y)
		norm += amp
		amp /= 2
		x, y = x*2.03, y*2.03
	}
	return sum / norm
}

// counter materials: muted mid-tone base colours, so flicker and noise stay unclipped.
var materials = []struct {
	rgb  [3]float64
	wood bool
}{
	{[3]float64{150, 114, 80}, true},   // oak
	{[3]float64{112, 82, 60}, true},    // walnut
	{[3]float64{128, 126, 119}, false}, // grey stone
	{[3]float64{104, 113, 121}, false}, // slate laminate
}

// background paints the empty counter: low-frequency wood grain or stone mottling, a mild
// fine texture and a slight vignette, all from the seed. Its contrast is low, so a background
// subtractor sees it as one static surface.
func background(w, h int, seed int64) *image.RGBA {
	rng := rand.New(rand.NewPCG(uint64(seed), 0xc0047e7))
	m := materials[rng.IntN(len(materials))]
	var base [3]float64
	for c := range base {
		base[c] = m.rgb[c] + rng.Float64()*12 - 6
	}
	coarse := valueNoise{rng.Uint64()}
	warp := valueNoise{rng.Uint64()}
	fine := valueNoise{rng.Uint64()}
	ringPeriod := 12 + rng.Float64()*8
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fx, fy := float64(x), float64(y)
			var v float64 // relative brightness change
			if m.wood {
				g := coarse.fbm(fx/240, fy/26, 4)
				rings := math.Sin(2 * math.Pi * (fy/ringPeriod + 2.5*warp.fbm(fx/200, fy/60, 3)))
				v = 0.16*(g-0.5) + 0.035*rings
			} else {
				v = 0.20*(coarse.fbm(fx/120, fy/120, 4)-0.5) + 0.07*(warp.fbm(fx/16, fy/16, 2)-0.5)
			}
			dx, dy := fx/float64(w)-0.5, fy/float64(h)-0.5
			v -= 0.12 * (dx*dx + dy*dy)
			t := 3.0 * (fine.fbm(fx/1.7, fy/1.7, 2) - 0.5)
			i := img.PixOffset(x, y)
			for c := 0; c < 3; c++ {
				img.Pix[i+c] = clamp8(base[c]*(1+v) + t)
			}
			img.Pix[i+3] = 255
		}
	}
	return img
}

func clamp8(v float64) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}
