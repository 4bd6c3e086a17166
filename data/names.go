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

// cleanName returns the name as stored (trimmed, NFC) or ErrInvalidName.
//
// NFC matters because the same visible name typed on two keyboards ("é" as one code point or
// as "e" + combining accent) must be one product.
func cleanName(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", fmt.Errorf("%w: not valid UTF-8", ErrInvalidName)
	}
	name = norm.NFC.String(strings.TrimSpace(name))
	if name == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidName)
	}
	if n := utf8.RuneCountInString(name); n > MaxNameLength {
		return "", fmt.Errorf("%w: %d characters, at most %d", ErrInvalidName, n, MaxNameLength)
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return "", fmt.Errorf("%w: contains control character %U", ErrInvalidName, r)
		}
	}
	return name, nil
}

// foldName is the uniqueness key of a (cleaned) name: Unicode case folding, so "Milk",
// "MILK" and "milk" collide, and so do "STRASSE" and "straße". SQLite's NOCASE folds ASCII
// only, which is why the key is computed here.
func foldName(clean string) string {
	return norm.NFC.String(cases.Fold().String(clean))
}

// cleanSKU returns the SKU as stored ("" means none) or ErrInvalidSKU.
func cleanSKU(sku string) (string, error) {
	if !utf8.ValidString(sku) {
		return "", fmt.Errorf("%w: not valid UTF-8", ErrInvalidSKU)
	}
	sku = strings.TrimSpace(sku)
	if n := utf8.RuneCountInString(sku); n > MaxSKULength {
		return "", fmt.Errorf("%w: %d characters, at most %d", ErrInvalidSKU, n, MaxSKULength)
	}
	for _, r := range sku {
		if unicode.IsControl(r) {
			return "", fmt.Errorf("%w: contains %U", ErrInvalidSKU, r)
		}
	}
	return sku, nil
}
