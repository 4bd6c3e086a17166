package scenario

import (
	"fmt"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Size of a synthetic product image.
const (
	ProductWidth  = 220
	ProductHeight = 300
)

var productNames = []string{
	"Aurora Tea", "Bolt Cola", "Crimson Crisps", "Delta Detergent", "Ember Coffee",
	"Fjord Water", "Golden Oats", "Harbor Sardines", "Iris Soap", "Jade Noodles",
	"Kite Cookies", "Lumen Juice", "Mosaic Cereal", "Nimbus Milk", "Orbit Gum",
	"Pepper Chips", "Quartz Salt", "Rumba Rice", "Saffron Soup", "Tundra Ice",
	"Umber Cocoa", "Vivid Yogurt", "Willow Honey", "Zest Lemonade",
}

// pattern says whether point (x,y) of a package, in pixels, is in the pattern's ink.
type pattern func(x, y float64) bool

// patterns are bold geometric designs, each parameterised by a random source.
var patterns = []func(r *rand.Rand) pattern{
	func(r *rand.Rand) pattern { // stripes at an angle
		a, period := r.Float64()*math.Pi, 22+r.Float64()*16
		return func(x, y float64) bool { return frac((x*math.Cos(a)+y*math.Sin(a))/period) < 0.5 }
	},
	func(r *rand.Rand) pattern { // checkerboard
		cell := 24 + r.Float64()*14
		return func(x, y float64) bool { return (int(math.Floor(x/cell))+int(math.Floor(y/cell)))%2 == 0 }
	},
	func(r *rand.Rand) pattern { // concentric circles
		cx, cy, period := 60+r.Float64()*100, 60+r.Float64()*180, 18+r.Float64()*12
		return func(x, y float64) bool { return frac(math.Hypot(x-cx, y-cy)/period) < 0.5 }
	},
	func(r *rand.Rand) pattern { // dots on a staggered grid
		sp := 30 + r.Float64()*10
		rad := sp * (0.25 + 0.1*r.Float64())
		return func(x, y float64) bool {
			row := math.Floor(y / sp)
			ox := 0.0
			if int(row)%2 != 0 {
				ox = sp / 2
			}
			dx := frac((x+ox)/sp)*sp - sp/2
			dy := frac(y/sp)*sp - sp/2
			return dx*dx+dy*dy < rad*rad
		}
	},
	func(r *rand.Rand) pattern { // zig-zag bands
		period, amp, band := 36+r.Float64()*16, 10+r.Float64()*8, 26+r.Float64()*10
		return func(x, y float64) bool {
			tri := math.Abs(frac(x/period)*2-1) * amp
			return frac((y+tri)/band) < 0.5
		}
	},
	func(r *rand.Rand) pattern { // wide diagonal bands with a thin line between
		period := 60 + r.Float64()*20
		sign := 1.0
		if r.IntN(2) == 0 {
			sign = -1
		}
		return func(x, y float64) bool {
			f := frac((x + sign*y) / period)
			return f < 0.45 || (f > 0.68 && f < 0.76)
		}
	},
	func(r *rand.Rand) pattern { // diamonds
		p := 40 + r.Float64()*16
		return func(x, y float64) bool {
			return math.Abs(frac(x/p)-0.5)+math.Abs(frac(y/p)-0.5) < 0.3
		}
	},
	func(r *rand.Rand) pattern { // tartan: crossing bars
		p, wd := 44+r.Float64()*12, 0.22+r.Float64()*0.1
		return func(x, y float64) bool { return frac(x/p) < wd || frac(y/p) < wd }
	},
	func(r *rand.Rand) pattern { // sunburst rays
		cx, cy, n := 110.0, 40+r.Float64()*60, float64(10+r.IntN(8))
		return func(x, y float64) bool { return frac(math.Atan2(y-cy, x-cx)/(2*math.Pi)*n) < 0.5 }
	},
	func(r *rand.Rand) pattern { // waves
		period, amp, band := 60+r.Float64()*30, 8+r.Float64()*8, 24+r.Float64()*10
		return func(x, y float64) bool { return frac((y+amp*math.Sin(2*math.Pi*x/period))/band) < 0.5 }
	},
}

func frac(v float64) float64 { return v - math.Floor(v) }

// SyntheticProducts returns n distinct packaging images of ProductWidth x ProductHeight, named
// like real products ("Aurora Tea", "Bolt Cola", ...). Each has its own dominant colour
// (12 hues 30° apart), a bold pattern, a label band with its name and a border,
// so that a CNN embedding tells them apart easily. The result depends only on (n, seed).
func SyntheticProducts(n int, seed int64) []Product {
	out := make([]Product, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, synthetic(seed, i, syntheticName(i)))
	}
	return out
}

// syntheticName is the i-th synthetic product's name.
func syntheticName(i int) string {
	name := productNames[i%len(productNames)]
	if i >= len(productNames) {
		name = fmt.Sprintf("%s %d", name, i/len(productNames)+1)
	}
	return name
}

// SyntheticVariant returns the i-th product of SyntheticProducts(…, seed) with another name
// on its label: a variant of the same packaging (a flavour, a size), which only the label's
// text tells apart.
func SyntheticVariant(seed int64, i int, name string) Product { return synthetic(seed, i, name) }

// synthetic paints the i-th synthetic product of seed, labelled name.
func synthetic(seed int64, i int, name string) Product {
	hue, pat, ink, r := syntheticStyle(seed, i)
	return Product{Name: name, Image: packaging(name, hue, ink, pat, r)}
}

// plainProduct paints the i-th synthetic product of seed without its pattern: a plain box in
// its colour, with its label and border.
func plainProduct(seed int64, i int, name string) Product {
	hue, _, ink, r := syntheticStyle(seed, i)
	return Product{Name: name, Image: packaging(name, hue, ink, func(x, y float64) bool { return false }, r)}
}

// syntheticStyle is the i-th synthetic product of seed's colour, pattern and ink, and the
// random source its packaging is painted with.
func syntheticStyle(seed int64, i int) (hue float64, pat pattern, ink int, r *rand.Rand) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9d0c))
	hue0 := rng.Float64()
	pat0 := rng.IntN(len(patterns))
	ink0 := rng.IntN(4)
	r = rand.New(rand.NewPCG(uint64(seed), uint64(i)+1))
	// Twelve hues 30° apart, consecutive products 150° apart; later rounds shifted.
	hue = frac(hue0 + float64(5*i%12)/12 + float64(i/12)/24)
	return hue, patterns[(pat0+i)%len(patterns)](r), (ink0 + i) % 4, r
}

// packaging paints one product: pattern over the dominant colour, border, label band, name.
// inkKind picks the pattern's colour: white, dark, complementary or triadic.
func packaging(name string, hue float64, inkKind int, pat pattern, r *rand.Rand) *image.RGBA {
	w, h := ProductWidth, ProductHeight
	base := hsv(hue, 0.65+0.25*r.Float64(), 0.70+0.25*r.Float64())
	var ink color.RGBA
	switch inkKind {
	case 0:
		ink = color.RGBA{250, 248, 240, 255}
	case 1:
		ink = hsv(hue, 0.9, 0.22)
	case 2:
		ink = hsv(frac(hue+0.5), 0.8, 0.95)
	default:
		ink = hsv(frac(hue+1.0/3), 0.85, 0.5)
	}
	border := hsv(hue, 0.8, 0.3)
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			n := 0 // 2x2 supersampling smooths the pattern's edges
			for s := 0; s < 4; s++ {
				if pat(float64(x)+0.25+0.5*float64(s%2), float64(y)+0.25+0.5*float64(s/2)) {
					n++
				}
			}
			img.SetRGBA(x, y, mix(base, ink, float64(n)/4))
		}
	}
	// Label band with thin rules, the name in dark ink.
	bandTop, bandH := h*56/100+r.IntN(h/10), h*24/100
	label := hsv(hue, 0.10, 0.97)
	fill(img, image.Rect(0, bandTop, w, bandTop+bandH), label)
	fill(img, image.Rect(0, bandTop+3, w, bandTop+6), border)
	fill(img, image.Rect(0, bandTop+bandH-6, w, bandTop+bandH-3), border)
	drawName(img, image.Rect(10, bandTop+8, w-10, bandTop+bandH-8), strings.ToUpper(name), border)
	// Border.
	const bw = 6
	fill(img, image.Rect(0, 0, w, bw), border)
	fill(img, image.Rect(0, h-bw, w, h), border)
	fill(img, image.Rect(0, 0, bw, h), border)
	fill(img, image.Rect(w-bw, 0, w, h), border)
	return img
}

// drawName writes text centred in r, one word per line when it does not fit on one, with
// basicfont scaled up by the largest whole factor that fits.
func drawName(img *image.RGBA, r image.Rectangle, text string, c color.RGBA) {
	face := basicfont.Face7x13
	lines := []string{text}
	if len(text)*7*2 > r.Dx() {
		lines = strings.Fields(text)
	}
	longest := 0
	for _, l := range lines {
		longest = max(longest, len(l))
	}
	lineH := 13
	scale := min(r.Dx()/(7*longest), r.Dy()/(lineH*len(lines)), 4)
	if scale < 1 {
		scale = 1
	}
	mask := image.NewAlpha(image.Rect(0, 0, 7*longest, lineH*len(lines)))
	for i, l := range lines {
		d := font.Drawer{Dst: mask, Src: image.Opaque, Face: face,
			Dot: fixed.P((7*longest-7*len(l))/2, i*lineH+face.Ascent)}
		d.DrawString(l)
	}
	mw, mh := mask.Bounds().Dx()*scale, mask.Bounds().Dy()*scale
	x0, y0 := r.Min.X+(r.Dx()-mw)/2, r.Min.Y+(r.Dy()-mh)/2
	for y := 0; y < mh; y++ {
		for x := 0; x < mw; x++ {
			if a := mask.AlphaAt(x/scale, y/scale).A; a > 0 && image.Pt(x0+x, y0+y).In(img.Bounds()) {
				img.SetRGBA(x0+x, y0+y, mix(img.RGBAAt(x0+x, y0+y), c, float64(a)/255))
			}
		}
	}
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

func mix(a, b color.RGBA, t float64) color.RGBA {
	l := func(p, q uint8) uint8 { return uint8(float64(p)*(1-t) + float64(q)*t + 0.5) }
	return color.RGBA{l(a.R, b.R), l(a.G, b.G), l(a.B, b.B), 255}
}

// hsv converts hue, saturation, value in [0,1] to an opaque colour.
func hsv(h, s, v float64) color.RGBA {
	h = frac(h) * 6
	i := int(h)
	f := h - float64(i)
	p, q, t := v*(1-s), v*(1-s*f), v*(1-s*(1-f))
	var r, g, b float64
	switch i {
	case 0:
		r, g, b = v, t, p
	case 1:
		r, g, b = q, v, p
	case 2:
		r, g, b = p, v, t
	case 3:
		r, g, b = p, q, v
	case 4:
		r, g, b = t, p, v
	default:
		r, g, b = v, p, q
	}
	return color.RGBA{uint8(r*255 + 0.5), uint8(g*255 + 0.5), uint8(b*255 + 0.5), 255}
}
