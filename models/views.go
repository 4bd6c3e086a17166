package models

import (
	"fmt"
	"image"
	"math"
	"strconv"
	"strings"
)

// A view is an augmentation of an image: the hybrid embeds catalog images under their
// CatalogViews (more vectors per product, so a crop seen from another side or tighter still
// finds a close one) and queries under their QueryViews (test-time augmentation).
//
// Names:
//
//	hflip    mirror left-right (products are photographed from either side)
//	cropNN   the centre NN% of the image, NN in 50..99 (crop90, crop80: a tighter framing,
//	         as the detector's box often is)
//	wideNN   the image at the left of a canvas NN% wider (rwideNN: at the right), the rest
//	         its mean colour, NN in 10..200: the box of a product held by a hand includes
//	         the hand and the counter on one side
type view struct {
	name  string
	apply func(*rgbImage) *rgbImage
}

func parseViews(names []string) ([]view, error) {
	views := make([]view, 0, len(names))
	for _, name := range names {
		v, err := parseView(name)
		if err != nil {
			return nil, err
		}
		views = append(views, v)
	}
	return views, nil
}

func parseView(name string) (view, error) {
	switch {
	case name == "hflip":
		return view{name, hflip}, nil
	case strings.HasPrefix(name, "wide"), strings.HasPrefix(name, "rwide"):
		// wideNN / rwideNN: the photo on a canvas NN% wider, at its left / right, the rest
		// filled with the photo's mean colour: a crop around a product held by a hand is
		// wider than the product, with the hand and counter on one side.
		right := strings.HasPrefix(name, "r")
		pct, err := strconv.Atoi(strings.TrimPrefix(strings.TrimPrefix(name, "r"), "wide"))
		if err == nil && pct >= 10 && pct <= 200 {
			return view{name, func(m *rgbImage) *rgbImage { return widen(m, pct, right) }}, nil
		}
	case strings.HasPrefix(name, "crop"):
		pct, err := strconv.Atoi(strings.TrimPrefix(name, "crop"))
		if err == nil && pct >= 50 && pct <= 99 {
			return view{name, func(m *rgbImage) *rgbImage { return centreCrop(m, pct) }}, nil
		}
	}
	return view{}, fmt.Errorf("unknown view %q (want hflip, cropNN with NN in 50..99, e.g. crop90, or wideNN/rwideNN with NN in 10..200)", name)
}

func viewNames(views []view) string {
	names := make([]string, len(views))
	for i, v := range views {
		names[i] = v.name
	}
	return strings.Join(names, ",")
}

// hflip returns a mirrored copy.
func hflip(m *rgbImage) *rgbImage {
	out := newRGB(m.w, m.h)
	for y := 0; y < m.h; y++ {
		s := m.pix[y*m.stride : y*m.stride+m.w*3]
		d := out.pix[y*out.stride : y*out.stride+m.w*3]
		for x := 0; x < m.w; x++ {
			copy(d[(m.w-1-x)*3:(m.w-x)*3], s[x*3:x*3+3])
		}
	}
	return out
}

// centreCrop returns the centre pct% of m in each dimension (at least one pixel), without
// copying.
func centreCrop(m *rgbImage, pct int) *rgbImage {
	return m.sub(centreRect(m.w, m.h, pct))
}

func centreRect(w, h, pct int) image.Rectangle {
	cw := max(1, int(math.Round(float64(w*pct)/100)))
	ch := max(1, int(math.Round(float64(h*pct)/100)))
	x0, y0 := (w-cw)/2, (h-ch)/2
	return image.Rect(x0, y0, x0+cw, y0+ch)
}

// widen puts m on a canvas pct% wider, at its left (or right), filling the rest with m's
// mean colour.
func widen(m *rgbImage, pct int, right bool) *rgbImage {
	extra := max(1, m.w*pct/100)
	out := newRGB(m.w+extra, m.h)
	var sum [3]int
	for y := 0; y < m.h; y++ {
		row := m.pix[y*m.stride : y*m.stride+m.w*3]
		for x := 0; x < m.w*3; x += 3 {
			sum[0] += int(row[x])
			sum[1] += int(row[x+1])
			sum[2] += int(row[x+2])
		}
	}
	n := max(1, m.w*m.h)
	mean := [3]byte{byte(sum[0] / n), byte(sum[1] / n), byte(sum[2] / n)}
	off := 0
	if right {
		off = extra
	}
	for y := 0; y < m.h; y++ {
		d := out.pix[y*out.stride : y*out.stride+out.w*3]
		for x := 0; x < out.w; x++ {
			copy(d[x*3:x*3+3], mean[:])
		}
		copy(d[off*3:(off+m.w)*3], m.pix[y*m.stride:y*m.stride+m.w*3])
	}
	return out
}
