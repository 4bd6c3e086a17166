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
	case strings.HasPrefix(name, "crop"):
		pct, err := strconv.Atoi(strings.TrimPrefix(name, "crop"))
		if err == nil && pct >= 50 && pct <= 99 {
			return view{name, func(m *rgbImage) *rgbImage { return centreCrop(m, pct) }}, nil
		}
	}
	return view{}, fmt.Errorf("unknown view %q (want hflip or cropNN with NN in 50..99, e.g. crop90)", name)
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
