package overlay

import (
	"strings"
	"testing"
)

func TestParseColor(t *testing.T) {
	good := map[string]rgba{
		"#000000":   {0, 0, 0, 255},
		"#ff8000":   {255, 128, 0, 255},
		"#FF8000":   {255, 128, 0, 255},
		"#12345678": {0x12, 0x34, 0x56, 0x78},
		"#abcdef00": {0xab, 0xcd, 0xef, 0},
	}
	for s, want := range good {
		got, err := parseColor(s)
		if err != nil || got != want {
			t.Errorf("parseColor(%q) = %v, %v; want %v", s, got, err, want)
		}
		if err := checkColor(s); err != nil {
			t.Errorf("checkColor(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", "#", "ff0000", "#ff000", "#ff00000", "#ff0000000", "#gg0000", "#ff00 0", "red", "#ff0000ff00", "0xff0000"} {
		if _, err := parseColor(s); err == nil {
			t.Errorf("parseColor(%q) accepted", s)
		}
		err := checkColor(s)
		if err == nil {
			t.Errorf("checkColor(%q) accepted", s)
		} else if !strings.Contains(err.Error(), `"#rrggbb" or "#rrggbbaa"`) {
			t.Errorf("checkColor(%q) = %q: does not say what is expected", s, err)
		}
	}
	if err := checkColor(42); err == nil {
		t.Error("checkColor(42) accepted a non-string")
	}
}

// Every colour property is declared with checkColor, and every declared default passes it.
func TestColorPropertiesAreChecked(t *testing.T) {
	n := 0
	for _, p := range Element.Properties {
		if !strings.HasSuffix(p.Name, "-color") {
			continue
		}
		n++
		if p.Check == nil {
			t.Errorf("%s has no Check", p.Name)
			continue
		}
		if err := p.Check(p.Default); err != nil {
			t.Errorf("%s default %v refused: %v", p.Name, p.Default, err)
		}
		if err := p.Check("#12345"); err == nil {
			t.Errorf("%s accepts #12345", p.Name)
		}
	}
	if n != 6 {
		t.Errorf("%d colour properties, want 6", n)
	}
}

func TestPremul(t *testing.T) {
	c := rgba{R: 200, G: 100, B: 50, A: 255}
	if p := c.premul(false); p.R != 200 || p.G != 100 || p.B != 50 || p.A != 255 {
		t.Errorf("opaque premul = %v", p)
	}
	if p := c.premul(true); p.R != 50 || p.B != 200 {
		t.Errorf("swapped premul = %v", p)
	}
	c.A = 128
	if p := c.premul(false); p.R != 100 || p.G != 50 || p.B != 25 || p.A != 128 {
		t.Errorf("half premul = %v", p)
	}
}
