package overlay

import (
	"image"
	"slices"
)

// shapeCache keeps the pixels of the ROI outline between frames. The outline is the same on
// every frame of a session until the area is edited, and working out its antialiased pixels
// (a distance per pixel of four long capsules) cost a third of the overlay's time; blending
// them onto each new frame is what remains. One per element, used by the streaming thread.
type shapeCache struct {
	key    []fpoint
	lw     int
	bounds image.Rectangle
	plots  []plotted
}

// plotted is one pixel of a stroke, as the shape's draw function reported it.
type plotted struct {
	x, y int32
	cov  uint32
}

// polygon strokes the closed outline through pts on c, as polygon does, from the cache when
// the outline, its width and the frame size are those of the last call.
func (sc *shapeCache) polygon(c surface, pts []fpoint, lw int, col rgba) {
	if col.A == 0 {
		return
	}
	b := c.bounds()
	if lw != sc.lw || b != sc.bounds || !slices.Equal(pts, sc.key) {
		rec := &recorder{bnd: b, plots: sc.plots[:0]}
		polygon(rec, pts, lw, col)
		sc.key, sc.lw, sc.bounds, sc.plots = slices.Clone(pts), lw, b, rec.plots
	}
	// One stroke for the whole outline: the same pixels in the same order as the segments
	// drew them, so the result is the same as drawing it anew (joints blended twice too).
	c.stroke(col, func(plot func(x, y int, cov uint32)) {
		for _, p := range sc.plots {
			plot(int(p.x), int(p.y), p.cov)
		}
	})
}

// recorder is a surface that only notes what strokes would plot.
type recorder struct {
	bnd   image.Rectangle
	plots []plotted
}

func (r *recorder) bounds() image.Rectangle { return r.bnd }
func (r *recorder) stroke(_ rgba, draw func(plot func(x, y int, cov uint32))) {
	draw(func(x, y int, cov uint32) { r.plots = append(r.plots, plotted{int32(x), int32(y), cov}) })
}
func (r *recorder) fill(image.Rectangle, rgba)                             {}
func (r *recorder) glyph(*image.Alpha, image.Rectangle, image.Point, rgba) {}
func (r *recorder) flush()                                                 {}
