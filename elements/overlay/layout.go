package overlay

import (
	"fmt"
	"image"
	"math"

	"github.com/ebrcs/ebrcs/elements/framemeta"
	"github.com/ebrcs/ebrcs/roi"
)

// style is everything the drawing needs from the properties, read once per frame.
type style struct {
	showROI, showBox, showLabel, showStatus, showCart bool

	roi, match, unknown, pending, text, panel rgba
	lineWidth                                 int     // at 480 px of frame height
	fontSize                                  float64 // px at 480 px of frame height
	returnWidth                               int     // the width the picture is shrunk to after drawing (0: none)
}

// sizing returns the factors that line widths and text sizes (declared for a 480-line frame)
// are multiplied by on a frame of bounds b. When the picture is shrunk after drawing
// (returnWidth), lines are drawn that much wider, so that they keep their width in pixels in
// the picture sent: at 320 from 640 a 2 px ROI outline would otherwise be 1 px, and 4:2:0
// video keeps one colour sample per 2×2 pixels, so the outline would lose its colour. Text
// and its padding grow by the square root of that: 13 px at 320×240 instead of 9 (not
// legible), without labels and the cart covering twice the share of the picture.
func (st *style) sizing(b image.Rectangle) (line, text float64) {
	k := float64(b.Dy()) / 480
	if st.returnWidth <= 0 || st.returnWidth >= b.Dx() {
		return k, k
	}
	shrink := float64(st.returnWidth) / float64(b.Dx())
	return k / shrink, k / math.Sqrt(shrink)
}

// maxCartLines is how many cart lines are listed before "+N more".
const maxCartLines = 6

// scene is one frame's drawing: sizes scaled to the frame, metadata mapped onto it.
type scene struct {
	c      surface
	text   *textRenderer
	st     *style
	f      *framemeta.Frame
	shapes *shapeCache // nil: nothing kept between frames

	sx, sy float64 // metadata pixels → frame pixels
	lw     int     // line width in frame pixels
	pad    int     // text padding and margins in frame pixels
}

// drawFrame draws f onto c. Metadata coordinates are in an f.Width×f.Height frame; the buffer
// may be another size (an overlay after a scaler), so boxes are mapped by the size ratio.
// shapes (may be nil) keeps the ROI outline's pixels for the next frame.
func drawFrame(c surface, text *textRenderer, st *style, f *framemeta.Frame, shapes *shapeCache) error {
	b := c.bounds()
	kLine, kText := st.sizing(b)
	if err := text.setSize(math.Max(4, st.fontSize*kText)); err != nil {
		return err
	}
	s := scene{c: c, text: text, st: st, f: f, shapes: shapes, sx: 1, sy: 1,
		lw:  max(1, int(math.Round(float64(st.lineWidth)*kLine))),
		pad: max(2, int(math.Round(4*kText))),
	}
	if f.Width > 0 && f.Height > 0 {
		s.sx, s.sy = float64(b.Dx())/float64(f.Width), float64(b.Dy())/float64(f.Height)
	}
	// The status badge and the cart panel are placed first, so that the label can keep clear
	// of them: the label is drawn where neither is.
	var avoid []image.Rectangle
	status := ""
	if g := f.Gate; g != nil && st.showStatus && g.Status != "" {
		status = statusText(g.Status)
		avoid = append(avoid, s.statusRect(status))
	}
	var cartLines []string
	if st.showCart && len(f.Cart) > 0 {
		cartLines = cartText(f.Cart)
		avoid = append(avoid, s.cartRect(cartLines))
	}
	if g := f.Gate; g != nil {
		if st.showROI && len(g.ROI) > 0 {
			s.roi(g.ROI)
		}
		if g.HasMain {
			box := s.scale(g.Main)
			if st.showBox {
				outline(c, box, s.lw, s.stateColor())
			}
			if st.showLabel {
				s.label(box, avoid)
			}
		}
	}
	if status != "" {
		s.status(status)
	}
	if len(cartLines) > 0 {
		s.cart(cartLines)
	}
	c.flush()
	return nil
}

// scale maps a rectangle of metadata pixels onto the frame.
func (s *scene) scale(r image.Rectangle) image.Rectangle {
	return image.Rect(
		int(math.Round(float64(r.Min.X)*s.sx)), int(math.Round(float64(r.Min.Y)*s.sy)),
		int(math.Round(float64(r.Max.X)*s.sx)), int(math.Round(float64(r.Max.Y)*s.sy)))
}

// roi strokes the ROI polygon; its points are normalised, so they scale with the frame itself.
func (s *scene) roi(pts []roi.Point) {
	b := s.c.bounds()
	px := make([]fpoint, len(pts))
	for i, p := range pts {
		px[i] = fpoint{p.X * float64(b.Dx()), p.Y * float64(b.Dy())}
	}
	if s.shapes != nil {
		s.shapes.polygon(s.c, px, s.lw, s.st.roi)
		return
	}
	polygon(s.c, px, s.lw, s.st.roi)
}

// verdict is what the recogniser made of the main object: this frame's recognition, else
// the visit's latest (frames between recognitions, and after the visit was decided).
func (s *scene) verdict() *framemeta.Match {
	if s.f.Match != nil {
		return s.f.Match
	}
	return s.f.Verdict
}

// stateColor says at a glance what the recogniser made of the main object.
func (s *scene) stateColor() rgba {
	switch m := s.verdict(); {
	case m == nil:
		return s.st.pending
	case m.Known:
		return s.st.match
	default:
		return s.st.unknown
	}
}

// labelText names the main object in the shopper's words: the product once recognised,
// otherwise what the checkout is doing about it. Scores are for staff (the event log), not
// for the video a shopper watches.
func labelText(m *framemeta.Match) string {
	switch {
	case m == nil:
		return "Checking…"
	case m.Known && m.Product != "":
		return m.Product
	case m.Decision == framemeta.DecisionAsk:
		return "Not sure: see the screen"
	default:
		return "Not recognised"
	}
}

// statusText is the ROI status in the shopper's words.
func statusText(st framemeta.ROIStatus) string {
	switch st {
	case framemeta.ROIEmpty:
		return "Show a product"
	case framemeta.ROIOutside:
		return "Move it into the area"
	case framemeta.ROIEntered, framemeta.ROIInside:
		return "In the area"
	}
	return string(st)
}

// label puts the label on a tab in the box's colour: on the box's top edge, or just inside
// it, or below it, wherever it keeps clear of the status badge and the cart panel (avoid)
// and stays within the frame.
func (s *scene) label(box image.Rectangle, avoid []image.Rectangle) {
	txt := labelText(s.verdict())
	w := s.text.measure(txt) + 2*s.pad
	h := s.text.height + 2*s.pad
	tab := placeLabel(box, w, h, s.c.bounds(), avoid)
	s.c.fill(tab, s.stateColor())
	s.text.draw(s.c, txt, tab.Min.X+s.pad, tab.Min.Y+s.pad+s.text.ascent, s.st.text)
}

// placeLabel chooses where a w×h label of box goes within frame: above the box, at the top
// inside it, below it, at the bottom inside it; at the box's left edge, or moved sideways
// clear of what it would cover. The first place that overlaps none of avoid wins; when there
// is none, the first place within the frame.
func placeLabel(box image.Rectangle, w, h int, frame image.Rectangle, avoid []image.Rectangle) image.Rectangle {
	clampX := func(x int) int { return max(frame.Min.X, min(x, frame.Max.X-w)) }
	// Without anything to avoid: on the top edge, or just inside the box at the frame's top.
	y0 := box.Min.Y - h
	if y0 < frame.Min.Y {
		y0 = max(box.Min.Y, frame.Min.Y)
	}
	first := image.Rect(clampX(box.Min.X), y0, clampX(box.Min.X)+w, y0+h)
	if !overlapsAny(first, avoid) {
		return first
	}
	for _, y := range []int{box.Min.Y - h, box.Min.Y, box.Max.Y, box.Max.Y - h} {
		if y < frame.Min.Y || y+h > frame.Max.Y {
			continue
		}
		xs := []int{clampX(box.Min.X)}
		for _, a := range avoid {
			xs = append(xs, clampX(a.Max.X+1), clampX(a.Min.X-w-1))
		}
		for _, x := range xs {
			if r := image.Rect(x, y, x+w, y+h); !overlapsAny(r, avoid) {
				return r
			}
		}
	}
	return first
}

func overlapsAny(r image.Rectangle, list []image.Rectangle) bool {
	for _, a := range list {
		if r.Overlaps(a) {
			return true
		}
	}
	return false
}

// statusRect is where the status badge of txt goes: the top left corner.
func (s *scene) statusRect(txt string) image.Rectangle {
	b := s.c.bounds()
	sw := s.text.height / 2 // swatch side
	w := s.pad + sw + s.pad + s.text.measure(txt) + s.pad
	h := s.text.height + 2*s.pad
	x, y := b.Min.X+s.pad, b.Min.Y+s.pad
	return image.Rect(x, y, x+w, y+h)
}

// status is a badge in the top left corner: a swatch in the ROI's colour, then the status.
func (s *scene) status(txt string) {
	r := s.statusRect(txt)
	sw := s.text.height / 2
	s.c.fill(r, s.st.panel)
	sy := r.Min.Y + (r.Dy()-sw)/2
	s.c.fill(image.Rect(r.Min.X+s.pad, sy, r.Min.X+s.pad+sw, sy+sw), s.st.roi)
	s.text.draw(s.c, txt, r.Min.X+2*s.pad+sw, r.Min.Y+s.pad+s.text.ascent, s.st.text)
}

// cartText is the cart panel's lines: "2 × 바나나", and past maxCartLines "+N more".
func cartText(lines []framemeta.CartLine) []string {
	n := min(len(lines), maxCartLines)
	txt := make([]string, 0, n+1)
	for _, l := range lines[:n] {
		txt = append(txt, fmt.Sprintf("%d × %s", l.Quantity, l.Product))
	}
	if len(lines) > n {
		txt = append(txt, fmt.Sprintf("+%d more", len(lines)-n))
	}
	return txt
}

// cartRect is where the cart panel of txt goes: the top right corner.
func (s *scene) cartRect(txt []string) image.Rectangle {
	w := 0
	for _, t := range txt {
		w = max(w, s.text.measure(t))
	}
	lineH := s.text.height + s.pad/2
	b := s.c.bounds()
	pw, ph := w+2*s.pad, len(txt)*lineH+2*s.pad-s.pad/2
	x, y := max(b.Min.X, b.Max.X-s.pad-pw), b.Min.Y+s.pad
	return image.Rect(x, y, x+pw, y+ph)
}

// cart lists the cart's lines on a translucent panel in the top right corner.
func (s *scene) cart(txt []string) {
	r := s.cartRect(txt)
	lineH := s.text.height + s.pad/2
	s.c.fill(r, s.st.panel)
	for i, t := range txt {
		s.text.draw(s.c, t, r.Min.X+s.pad, r.Min.Y+s.pad+i*lineH+s.text.ascent, s.st.text)
	}
}
