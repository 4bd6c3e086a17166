package data

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Limits on product fields, in characters (runes).
const (
	MaxNameLength = 200
	MaxSKULength  = 64
)

// cleanName returns the name as stored or ErrInvalidName: trimmed, in Unicode NFC, every
// space character (no-break, thin, ideographic ...) a plain space, runs of spaces one space,
// and no character a reader cannot see (invisibleRune).
//
// NFC matters because the same visible name typed on two keyboards ("é" as one code point or
// as "e" + combining accent) must be one product; the spaces and invisibles because a name
// must not pass for another: "Milk\u200b" or "Milk\u00a0Bar" look like "Milk" and "Milk Bar",
// and a right-to-left override (U+202E) shows its text reversed.
func cleanName(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: not valid UTF-8", ErrInvalidName)
	}
	name = norm.NFC.String(strings.TrimSpace(name))
	for _, r := range name {
		if why := invisibleRune(r); why != "" {
			return "", fmt.Errorf("%w: contains %U, %s", ErrInvalidName, r, why)
		}
	}
	name = strings.Join(strings.FieldsFunc(name, func(r rune) bool { return r == ' ' || unicode.Is(unicode.Zs, r) }), " ")
	if name == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidName)
	}
	if n := utf8.RuneCountInString(name); n > MaxNameLength {
		return "", fmt.Errorf("%w: %d characters, at most %d", ErrInvalidName, n, MaxNameLength)
	}
	return name, nil
}

// invisibleRune says why r may not be in a product name or SKU ("" when it may): control
// characters (Cc), line and paragraph separators, format characters (Cf: text direction
// overrides and isolates, zero-width spaces and joiners, the byte order mark, soft hyphens,
// tags), the other default-ignorable code points (Hangul fillers, the combining grapheme
// joiner), variation selectors other than the text and emoji ones (U+FE0E, U+FE0F), the
// blank Braille pattern, private-use and surrogate code points. Ordinary spaces are fine
// (cleanName makes them one plain space).
func invisibleRune(r rune) string {
	switch {
	case unicode.Is(unicode.Cc, r):
		return "a control character"
	case unicode.In(r, unicode.Zl, unicode.Zp):
		return "a line or paragraph separator"
	case unicode.Is(unicode.Cf, r):
		return "an invisible formatting character (text direction, zero-width, byte order mark ...)"
	case unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r), r == '\u2800',
		unicode.Is(unicode.Variation_Selector, r) && r != '\ufe0e' && r != '\ufe0f':
		return "an invisible character"
	case unicode.In(r, unicode.Co, unicode.Cs):
		return "a private-use character"
	}
	return ""
}

// foldName is the uniqueness key of a (cleaned) name: Unicode case folding, so "Milk",
// "MILK" and "milk" collide, and so do "STRASSE" and "straße"; the text and emoji
// presentation selectors (U+FE0E, U+FE0F), which change no letter, are left out. SQLite's
// NOCASE folds ASCII only, which is why the key is computed here.
func foldName(clean string) string {
	key := norm.NFC.String(cases.Fold().String(clean))
	return strings.Map(func(r rune) rune {
		if r == '\ufe0e' || r == '\ufe0f' {
			return -1
		}
		return r
	}, key)
}

// cleanSKU returns the SKU as stored ("" means none) or ErrInvalidSKU: trimmed, NFC, and
// with no character a reader cannot see (invisibleRune), so that one SKU cannot pass for
// another either.
func cleanSKU(sku string) (string, error) {
	if !utf8.ValidString(sku) {
		return "", fmt.Errorf("%w: not valid UTF-8", ErrInvalidSKU)
	}
	sku = norm.NFC.String(strings.TrimSpace(sku))
	if n := utf8.RuneCountInString(sku); n > MaxSKULength {
		return "", fmt.Errorf("%w: %d characters, at most %d", ErrInvalidSKU, n, MaxSKULength)
	}
	for _, r := range sku {
		if why := invisibleRune(r); why != "" {
			return "", fmt.Errorf("%w: contains %U, %s", ErrInvalidSKU, r, why)
		}
	}
	return sku, nil
}
