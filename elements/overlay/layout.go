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
}

// maxCartLines is how many cart lines are listed before "+N more".
const maxCartLines = 6

// scene is one frame's drawing: sizes scaled to the frame, metadata mapped onto it.
type scene struct {
	c    surface
	text *textRenderer
	st   *style
	f    *framemeta.Frame

	sx, sy float64 // metadata pixels → frame pixels
	lw     int     // line width in frame pixels
	pad    int     // text padding and margins in frame pixels
}

// drawFrame draws f onto c. Metadata coordinates are in an f.Width×f.Height frame; the buffer
// may be another size (an overlay after a scaler), so boxes are mapped by the size ratio.
func drawFrame(c surface, text *textRenderer, st *style, f *framemeta.Frame) error {
	b := c.bounds()
	k := float64(b.Dy()) / 480 // sizes are declared for a 480-line frame
	if err := text.setSize(math.Max(4, st.fontSize*k)); err != nil {
		return err
	}
	s := scene{c: c, text: text, st: st, f: f, sx: 1, sy: 1,
		lw:  max(1, int(math.Round(float64(st.lineWidth)*k))),
		pad: max(2, int(math.Round(4*k))),
	}
	if f.Width > 0 && f.Height > 0 {
		s.sx, s.sy = float64(b.Dx())/float64(f.Width), float64(b.Dy())/float64(f.Height)
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
			if st.showLabel && f.Match != nil {
				s.label(box)
			}
		}
		if st.showStatus && g.Status != "" {
			s.status(string(g.Status))
		}
	}
	if st.showCart && len(f.Cart) > 0 {
		s.cart(f.Cart)
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
	polygon(s.c, px, s.lw, s.st.roi)
}

// stateColor says at a glance what the recogniser made of the main object.
func (s *scene) stateColor() rgba {
	switch m := s.f.Match; {
	case m == nil:
		return s.st.pending
	case m.Known:
		return s.st.match
	default:
		return s.st.unknown
	}
}

// labelText is "name 0.87", or "unknown 0.41" below the threshold.
func labelText(m *framemeta.Match) string {
	name := m.Product
	if !m.Known || name == "" {
		name = "unknown"
	}
	return fmt.Sprintf("%s %.2f", name, m.Score)
}

// label puts the match on a tab in the box's colour sitting on the box's top edge, or just
// inside the box when there is no room above it, kept within the frame.
func (s *scene) label(box image.Rectangle) {
	txt := labelText(s.f.Match)
	w := s.text.measure(txt) + 2*s.pad
	h := s.text.height + 2*s.pad
	b := s.c.bounds()
	x := min(box.Min.X, b.Max.X-w)
	x = max(x, b.Min.X)
	y := box.Min.Y - h
	if y < b.Min.Y {
		y = max(box.Min.Y, b.Min.Y)
	}
	tab := image.Rect(x, y, x+w, y+h)
	s.c.fill(tab, s.stateColor())
	s.text.draw(s.c, txt, x+s.pad, y+s.pad+s.text.ascent, s.st.text)
}

// status is a badge in the top left corner: a swatch in the ROI's colour, then the status.
func (s *scene) status(txt string) {
	b := s.c.bounds()
	sw := s.text.height / 2 // swatch side
	w := s.pad + sw + s.pad + s.text.measure(txt) + s.pad
	h := s.text.height + 2*s.pad
	x, y := b.Min.X+s.pad, b.Min.Y+s.pad
	s.c.fill(image.Rect(x, y, x+w, y+h), s.st.panel)
	sy := y + (h-sw)/2
	s.c.fill(image.Rect(x+s.pad, sy, x+s.pad+sw, sy+sw), s.st.roi)
	s.text.draw(s.c, txt, x+2*s.pad+sw, y+s.pad+s.text.ascent, s.st.text)
}

// cart lists "2 × 바나나" lines on a translucent panel in the top right corner; past
// maxCartLines the rest is summarised as "+N more".
func (s *scene) cart(lines []framemeta.CartLine) {
	n := min(len(lines), maxCartLines)
	txt := make([]string, 0, n+1)
	for _, l := range lines[:n] {
		txt = append(txt, fmt.Sprintf("%d × %s", l.Quantity, l.Product))
	}
	if len(lines) > n {
		txt = append(txt, fmt.Sprintf("+%d more", len(lines)-n))
	}
	w := 0
	for _, t := range txt {
		w = max(w, s.text.measure(t))
	}
	lineH := s.text.height + s.pad/2
	b := s.c.bounds()
	pw, ph := w+2*s.pad, len(txt)*lineH+2*s.pad-s.pad/2
	x, y := max(b.Min.X, b.Max.X-s.pad-pw), b.Min.Y+s.pad
	s.c.fill(image.Rect(x, y, x+pw, y+ph), s.st.panel)
	for i, t := range txt {
		s.text.draw(s.c, t, x+s.pad, y+s.pad+i*lineH+s.text.ascent, s.st.text)
	}
}
