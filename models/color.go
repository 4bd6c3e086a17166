package models

import (
	"fmt"
	"math"
)

// colorHistogram is the hybrid's built-in "color" encoder: an HSV histogram of the image's
// centre 90% (the border of a crop is mostly background), 8 hue x 4 saturation x 4 value
// bins, square-rooted (the Hellinger map, so that cosine similarity of two vectors is the
// Bhattacharyya coefficient of the histograms) and L2-normalised.
//
// It is cheap (about 0.15 ms for a 348 x 348 photo) and complements a CNN trained on
// ImageNet classes: many grocery products differ mostly by colour (a red and a green pepper,
// two milk cartons of different fat content), which global CNN features partly discard.
// Measured once on the GroceryStore val photos (296 queries; catalog: the iconic image and 5
// train photos per class), MobileNetV2 alone scored top-1 50.0% and MobileNetV2 + color at
// weight 0.5 54.4%.
type colorHistogram struct{}

const (
	colorHueBins   = 8
	colorSatBins   = 4
	colorValBins   = 4
	colorBins      = colorHueBins * colorSatBins * colorValBins
	colorCropPct   = 90
	colorMaxSample = 256 // at most this many samples per axis (larger images are strided)
)

func (colorHistogram) Dim() int { return colorBins }

// Fingerprint names the algorithm and its parameters; v1 changes with any change to them.
func (colorHistogram) Fingerprint() string {
	return fmt.Sprintf("color:hsv%dx%dx%d;crop%d;hellinger;v1", colorHueBins, colorSatBins, colorValBins, colorCropPct)
}

func (colorHistogram) Close() error { return nil }

func (c colorHistogram) embedRGB(imgs []*rgbImage) ([][]float32, error) {
	out := make([][]float32, len(imgs))
	slab := make([]float32, len(imgs)*colorBins)
	for i, img := range imgs {
		out[i] = slab[i*colorBins : (i+1)*colorBins : (i+1)*colorBins]
		c.histogram(out[i], img)
	}
	return out, nil
}

func (colorHistogram) histogram(dst []float32, img *rgbImage) {
	m := centreCrop(img, colorCropPct)
	// A fixed stride keeps the cost bounded on large images; a grid of up to 256 x 256
	// samples estimates a 128-bin histogram far more finely than it needs.
	step := max(1, (max(m.w, m.h)+colorMaxSample-1)/colorMaxSample)
	var counts [colorBins]int
	total := 0
	for y := 0; y < m.h; y += step {
		row := m.pix[y*m.stride : y*m.stride+m.w*3]
		for x := 0; x < m.w; x += step {
			p := row[x*3 : x*3+3 : x*3+3]
			counts[hsvBin(int(p[0]), int(p[1]), int(p[2]))]++
			total++
		}
	}
	// Hellinger: sqrt of the probabilities, whose L2 norm is then exactly 1.
	for i, n := range counts {
		dst[i] = float32(sqrtRatio(n, total))
	}
	l2Normalize(dst) // removes the float rounding of the sum
}

func sqrtRatio(n, total int) float64 {
	if n == 0 {
		return 0
	}
	return math.Sqrt(float64(n) / float64(total))
}

// hsvBin maps an 8-bit RGB colour to its histogram bin. Value is max(r,g,b), saturation
// (max-min)/max, hue the usual hexcone angle; greys (max == min) have hue 0.
func hsvBin(r, g, b int) int {
	hi := max(r, g, b)
	lo := min(r, g, b)
	v := hi * colorValBins / 256
	s, h := 0, 0
	if delta := hi - lo; delta > 0 {
		s = min(colorSatBins-1, delta*colorSatBins/hi)
		var deg float64 // hue in degrees, [0, 360)
		switch hi {
		case r:
			deg = 60 * float64(g-b) / float64(delta)
			if deg < 0 {
				deg += 360
			}
		case g:
			deg = 60*float64(b-r)/float64(delta) + 120
		default:
			deg = 60*float64(r-g)/float64(delta) + 240
		}
		h = min(colorHueBins-1, int(deg*colorHueBins/360))
	}
	return (h*colorSatBins+s)*colorValBins + v
}
