package overlay

import (
	"image"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func defaultText(t testing.TB, px float64) *textRenderer {
	t.Helper()
	fonts, err := loadFontChain("", defaultFonts)
	if err != nil {
		t.Fatal(err)
	}
	tr := newTextRenderer(fonts)
	if err := tr.setSize(px); err != nil {
		t.Fatal(err)
	}
	return tr
}

// Hangul and Swedish letters resolve to real glyphs (never .notdef) and draw ink.
func TestUnicodeGlyphs(t *testing.T) {
	tr := defaultText(t, 24)
	for _, s := range []string{"바나나", "Äpple", "åäö ÅÄÖ", "2 × 바나나", "Äpple Royal Gala 0.87"} {
		for _, r := range s {
			i := tr.faceFor(r)
			gi, err := tr.fonts[i].GlyphIndex(&tr.buf, r)
			if err != nil || gi == 0 {
				t.Errorf("%q: rune %q resolves to face %d glyph %d (%v)", s, r, i, gi, err)
			}
		}
		f := newFrameBuf(t, "RGBA", 200, 40, 0, 0)
		c := f.canvas(t)
		w := tr.measure(s)
		tr.draw(c, s, 5, 5+tr.ascent, rgba{255, 255, 255, 255})
		ink := f.count(image.Rect(0, 0, 200, 40), func(p [3]byte) bool { return !black(p) })
		solid := f.count(image.Rect(0, 0, 200, 40), func(p [3]byte) bool { return p == [3]byte{255, 255, 255} })
		if ink < 10*len([]rune(s)) || solid == 0 {
			t.Errorf("%q: %d ink pixels, %d solid", s, ink, solid)
		}
		// Ink stays within the measured line.
		outside := ink - f.count(image.Rect(4, 5, 5+w+2, 5+tr.height+1), func(p [3]byte) bool { return !black(p) })
		if outside != 0 {
			t.Errorf("%q: %d ink pixels outside its %dx%d line", s, outside, w, tr.height)
		}
	}
	// Distinct Hangul syllables draw distinct shapes (not one .notdef box repeated).
	if a, b := tr.glyph(tr.faceFor('바'), '바'), tr.glyph(tr.faceFor('나'), '나'); string(a.mask.Pix) == string(b.mask.Pix) {
		t.Error("바 and 나 render identically")
	}
}

// With a Latin-only font first, Hangul falls back to the next font of the chain.
func TestFontFallback(t *testing.T) {
	dejavu := defaultFonts[1]
	fonts, err := loadFontChain(dejavu, defaultFonts)
	if err != nil {
		t.Fatal(err)
	}
	if len(fonts) != 2 {
		t.Fatalf("chain of %d fonts, want DejaVu then Noto", len(fonts))
	}
	tr := newTextRenderer(fonts)
	if err := tr.setSize(20); err != nil {
		t.Fatal(err)
	}
	if i := tr.faceFor('Ä'); i != 0 {
		t.Errorf("Ä from face %d, want the user's font (0)", i)
	}
	for _, r := range "바나나" {
		if i := tr.faceFor(r); i != 1 {
			t.Errorf("%q from face %d, want the fallback (1)", r, i)
		}
	}
	f := newFrameBuf(t, "BGRA", 200, 40, 0, 0)
	tr.draw(f.canvas(t), "Äpple 바나나", 2, 2+tr.ascent, rgba{255, 255, 255, 255})
	if n := f.count(image.Rect(0, 0, 200, 40), func(p [3]byte) bool { return !black(p) }); n < 100 {
		t.Errorf("only %d ink pixels", n)
	}
}

// A rune no font has is drawn as the first font's .notdef box, without failing.
func TestMissingRune(t *testing.T) {
	tr := defaultText(t, 20)
	const r = '\U000F0001' // supplementary private use: in no installed font
	for i, f := range tr.fonts {
		if gi, _ := f.GlyphIndex(&tr.buf, r); gi != 0 {
			t.Skipf("font %d has U+F0001", i)
		}
	}
	if i := tr.faceFor(r); i != 0 {
		t.Errorf("face %d, want 0", i)
	}
	f := newFrameBuf(t, "RGBA", 100, 40, 0, 0)
	tr.draw(f.canvas(t), string(r)+"a\x00\n"+string(r), 2, 2+tr.ascent, rgba{255, 0, 0, 255})
	if tr.measure(string(r)) <= 0 {
		t.Error(".notdef has no advance")
	}
}

// Text near or past the frame's edges is clipped, not a crash or a write outside the picture.
func TestTextClipped(t *testing.T) {
	tr := defaultText(t, 30)
	f := newFrameBuf(t, "RGBx", 60, 20, 16, 4)
	c := f.canvas(t)
	for _, p := range []image.Point{{-20, 5}, {40, 30}, {50, -10}, {-1000, 1000}} {
		tr.draw(c, "Äpple 바나나", p.X, p.Y, rgba{255, 255, 255, 255})
	}
	if !f.guardsIntact() {
		t.Error("text wrote outside the picture")
	}
}

func TestFontLoadErrors(t *testing.T) {
	dir := t.TempDir()
	missing := []string{filepath.Join(dir, "a.ttc"), filepath.Join(dir, "b.ttf")}
	_, err := loadFontChain("", missing)
	if err == nil {
		t.Fatal("no error without fonts")
	}
	for _, p := range missing {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not name %s", err, p)
		}
	}
	junk := filepath.Join(dir, "junk.ttf")
	if err := os.WriteFile(junk, []byte("not a font"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadFontChain(junk, defaultFonts); err == nil || !strings.Contains(err.Error(), junk) {
		t.Errorf("a configured font that does not parse: %v", err)
	}
	// The user's font is required even when the defaults would do.
	if _, err := loadFontChain(missing[0], defaultFonts); err == nil || !strings.Contains(err.Error(), missing[0]) {
		t.Errorf("a configured font that is missing: %v", err)
	}
}

// Faces follow the size; glyphs of the old size are not reused.
func TestSetSize(t *testing.T) {
	tr := defaultText(t, 10)
	small := tr.measure("Äpple")
	if err := tr.setSize(40); err != nil {
		t.Fatal(err)
	}
	if big := tr.measure("Äpple"); big < 3*small {
		t.Errorf("width %d at 40 px vs %d at 10 px", big, small)
	}
}
