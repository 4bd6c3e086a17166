package overlay

import (
	"errors"
	"fmt"
	"image"
	"image/draw"
	"os"
	"strings"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/opentype"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// defaultFonts are searched, in order, when the font property is empty: Noto Sans CJK covers
// Hangul, kana, Han and Latin with diacritics; DejaVu Sans fills in what it lacks (more
// symbols, Cyrillic, Greek). Debian packages fonts-noto-cjk and fonts-dejavu-core.
var defaultFonts = []string{
	"/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
	"/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
}

// fontCache keeps parsed font files for the whole process: the CJK collection is ~20 MB, and
// every overlay element (one per pipeline) would otherwise read and hold its own copy. A
// parsed sfnt.Font is read-only and safe for concurrent use with separate sfnt.Buffers.
var fontCache = struct {
	sync.Mutex
	fonts map[string]*sfnt.Font
}{fonts: map[string]*sfnt.Font{}}

// loadFont reads a .ttf/.otf, or a .ttc collection (its first font), once per process.
func loadFont(path string) (*sfnt.Font, error) {
	fontCache.Lock()
	defer fontCache.Unlock()
	if f, ok := fontCache.fonts[path]; ok {
		return f, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	// ParseCollection also accepts a single font (a collection of one).
	coll, err := opentype.ParseCollection(data)
	if err != nil {
		return nil, err
	}
	if coll.NumFonts() == 0 {
		return nil, errors.New("no font in file")
	}
	f, err := coll.Font(0)
	if err != nil {
		return nil, err
	}
	fontCache.fonts[path] = f
	return f, nil
}

// loadFontChain returns the fonts that text is rendered with, in fallback order: the user's
// font first (it must load: a configured font that silently does not apply is a bug to
// report), then every default that loads. It fails, naming every path tried, when none does.
func loadFontChain(user string, defaults []string) ([]*sfnt.Font, error) {
	var chain []*sfnt.Font
	if user != "" {
		f, err := loadFont(user)
		if err != nil {
			return nil, fmt.Errorf("font %q: %w", user, err)
		}
		chain = append(chain, f)
	}
	var tried []string
	for _, p := range defaults {
		if p == user {
			continue
		}
		f, err := loadFont(p)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s (%v)", p, err))
			continue
		}
		chain = append(chain, f)
	}
	if len(chain) == 0 {
		return nil, fmt.Errorf("no usable font; tried %s; install fonts-noto-cjk or set the font property", strings.Join(tried, ", "))
	}
	return chain, nil
}

// glyphKey names a rendered glyph: which face of the chain, which rune.
type glyphKey struct {
	face int
	r    rune
}

// glyph is a rasterised glyph, drawn with its origin on a whole pixel.
type glyph struct {
	mask *image.Alpha // nil for blank glyphs (space)
	rect image.Rectangle
	adv  fixed.Int26_6
}

// maxGlyphs bounds the glyph cache; product names come from a catalogue, so it rarely fills.
const maxGlyphs = 4096

// textRenderer draws single lines of text with per-rune font fallback. It belongs to one
// element and is used from its streaming thread only (opentype faces are not concurrency-safe).
type textRenderer struct {
	fonts []*sfnt.Font
	buf   sfnt.Buffer

	size   float64 // pixel size of faces, 0 until setSize
	faces  []font.Face
	ascent int
	height int // ascent + descent of the first face: one line

	runeFace map[rune]int // the face of the chain that has each rune
	glyphs   map[glyphKey]*glyph
}

func newTextRenderer(fonts []*sfnt.Font) *textRenderer {
	return &textRenderer{fonts: fonts, runeFace: map[rune]int{}, glyphs: map[glyphKey]*glyph{}}
}

// setSize makes faces of px pixels per em; a no-op when the size is unchanged, so it can be
// called on every frame. Glyphs are cached per size.
func (t *textRenderer) setSize(px float64) error {
	if px == t.size && t.faces != nil {
		return nil
	}
	faces := make([]font.Face, len(t.fonts))
	for i, f := range t.fonts {
		face, err := opentype.NewFace(f, &opentype.FaceOptions{Size: px, DPI: 72, Hinting: font.HintingNone})
		if err != nil {
			return fmt.Errorf("font face of %.1f px: %w", px, err)
		}
		faces[i] = face
	}
	t.faces, t.size = faces, px
	m := faces[0].Metrics()
	t.ascent = m.Ascent.Ceil()
	t.height = t.ascent + m.Descent.Ceil()
	clear(t.glyphs)
	return nil
}

// faceFor returns the first face of the chain with a real glyph for r (0, whose .notdef box
// is then drawn, when none has it).
func (t *textRenderer) faceFor(r rune) int {
	if i, ok := t.runeFace[r]; ok {
		return i
	}
	idx := 0
	for i, f := range t.fonts {
		if gi, err := f.GlyphIndex(&t.buf, r); err == nil && gi != 0 {
			idx = i
			break
		}
	}
	if len(t.runeFace) >= maxGlyphs {
		clear(t.runeFace)
	}
	t.runeFace[r] = idx
	return idx
}

// glyph returns the cached rendering of r in face i, rasterising it on first use. The face
// reuses its mask buffer, hence the copy.
func (t *textRenderer) glyph(i int, r rune) *glyph {
	k := glyphKey{i, r}
	if g, ok := t.glyphs[k]; ok {
		return g
	}
	dr, mask, mp, adv, _ := t.faces[i].Glyph(fixed.Point26_6{}, r)
	g := &glyph{rect: dr, adv: adv}
	if m, ok := mask.(*image.Alpha); ok && !dr.Empty() {
		g.mask = image.NewAlpha(dr)
		draw.Draw(g.mask, dr, m, mp, draw.Src)
	}
	if len(t.glyphs) >= maxGlyphs {
		clear(t.glyphs)
	}
	t.glyphs[k] = g
	return g
}

// layout calls fn for each visible rune of s with its face, glyph and pen position (pixels
// from the start of the line), and returns the line's advance width in pixels.
func (t *textRenderer) layout(s string, fn func(g *glyph, x int)) int {
	var pen fixed.Int26_6
	prevFace, prev := -1, rune(-1)
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			continue // control characters have no business in a label
		}
		i := t.faceFor(r)
		if i == prevFace {
			pen += t.faces[i].Kern(prev, r)
		}
		g := t.glyph(i, r)
		if fn != nil {
			fn(g, pen.Round())
		}
		pen += g.adv
		prevFace, prev = i, r
	}
	return pen.Ceil()
}

// measure returns the width of s in pixels.
func (t *textRenderer) measure(s string) int { return t.layout(s, nil) }

// draw renders s with its baseline starting at (x, y), blending glyph masks into the frame
// (only the glyphs' own rectangles are touched).
func (t *textRenderer) draw(c surface, s string, x, y int, col rgba) {
	t.layout(s, func(g *glyph, gx int) {
		if g.mask == nil {
			return
		}
		dot := image.Pt(x+gx, y)
		c.glyph(g.mask, g.rect.Add(dot), g.rect.Min, col)
	})
}
