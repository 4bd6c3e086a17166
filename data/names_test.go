package data

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Names and SKUs with characters a reader cannot see are refused, naming the character; the
// names that remain are compared after normalisation, so none can pass for another.
func TestNamesRefuseInvisibleCharacters(t *testing.T) {
	for _, r := range []rune{
		'\u202e', '\u202d', '\u2066', '\u2067', '\u2068', '\u2069', '\u200e', '\u200f', '\u061c', // direction
		'\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad', '\u180e', // zero-width, BOM, soft hyphen
		'\u3164', '\u115f', '\uffa0', '\u034f', '\u2800', '\ufe00', '\U000E0041', '\ue000', // fillers, CGJ, blank, VS1, tag, private use
		'\u0007', '\u001b', '\u0085', '\u2028', '\u2029', // controls and separators
	} {
		name := "Mi" + string(r) + "lk"
		_, err := cleanName(name)
		if !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), fmt.Sprintf("%U", r)) {
			t.Errorf("cleanName(%+q): %v, want ErrInvalidName naming %U", name, err, r)
		}
		if _, err := cleanSKU("SKU-" + string(r) + "1"); !errors.Is(err, ErrInvalidSKU) || !strings.Contains(err.Error(), fmt.Sprintf("%U", r)) {
			t.Errorf("cleanSKU with %U: %v", r, err)
		}
	}
	for in, want := range map[string]string{
		"Café":                    "Café",
		"Cafe\u0301":              "Café", // NFC
		"  Milk\u00a0\u2009 Bar ": "Milk Bar",
		"Crème brûlée":            "Crème brûlée",
		"緑茶 500ml":                "緑茶 500ml",
		"\u2764\ufe0f Valentine":  "\u2764\ufe0f Valentine", // emoji presentation is fine
		"שוקו":                    "שוקו",                   // right-to-left text itself is fine
	} {
		if got, err := cleanName(in); err != nil || got != want {
			t.Errorf("cleanName(%+q) = %+q, %v; want %+q", in, got, err, want)
		}
	}
}

func TestLookalikeNamesAreDuplicates(t *testing.T) {
	c := openTest(t, t.TempDir(), newGridEmbedder(4), Options{})
	mustAdd(t, c, makeProduct(t, "Milk Bar", 1, 1, false).new())
	mustAdd(t, c, makeProduct(t, "Tea", 2, 1, false).new())
	for _, name := range []string{"Milk\u00a0Bar", "Milk  Bar", "MILK\u3000BAR", "Milk Bar\ufe0f", "Tea\ufe0e"} {
		if _, err := c.AddProduct(makeProduct(t, name, 9, 1, false).new()); !errors.Is(err, ErrDuplicateName) {
			t.Errorf("AddProduct(%+q): %v, want ErrDuplicateName", name, err)
		}
	}
	if _, err := c.AddProduct(makeProduct(t, "Milk\u202eraB", 9, 1, false).new()); !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), "U+202E") {
		t.Errorf("a right-to-left override: %v", err)
	}
	if p, err := c.ProductByName("milk\u00a0bar"); err != nil || p.Name != "Milk Bar" {
		t.Errorf("ProductByName with a no-break space: %v %v", p, err)
	}
}
