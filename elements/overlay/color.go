package overlay

import (
	"fmt"
	"image/color"
)

// rgba is a colour as users write it: straight (not premultiplied) alpha, 255 = opaque.
type rgba struct{ R, G, B, A uint8 }

// parseColor reads "#rrggbb" or "#rrggbbaa". The '#' is required so that a colour cannot be
// mistaken for a number; in YAML it must be quoted, since a bare # starts a comment.
func parseColor(s string) (rgba, error) {
	if len(s) != 7 && len(s) != 9 || s[0] != '#' {
		return rgba{}, fmt.Errorf("colour %q: want \"#rrggbb\" or \"#rrggbbaa\"", s)
	}
	var v [4]uint8
	v[3] = 0xff
	for i := 0; i < (len(s)-1)/2; i++ {
		hi, ok1 := hexDigit(s[1+2*i])
		lo, ok2 := hexDigit(s[2+2*i])
		if !ok1 || !ok2 {
			return rgba{}, fmt.Errorf("colour %q: want \"#rrggbb\" or \"#rrggbbaa\" (%q is not hexadecimal)", s, s[1+2*i:3+2*i])
		}
		v[i] = hi<<4 | lo
	}
	return rgba{v[0], v[1], v[2], v[3]}, nil
}

func hexDigit(c byte) (uint8, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// checkColor is the Check of every colour property: the YAML validator and GObject's
// set_property both refuse what parseColor cannot read.
func checkColor(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("colour: got %T, want a string", v)
	}
	_, err := parseColor(s)
	return err
}

// mustColor parses a colour that a Check already accepted; fallback covers the impossible.
func mustColor(s string, fallback rgba) rgba {
	c, err := parseColor(s)
	if err != nil {
		return fallback
	}
	return c
}

// premul is the colour as image/draw wants it (alpha-premultiplied), with red and blue
// exchanged for BGR frames: swapping the colour once is cheaper than swapping every pixel.
func (c rgba) premul(swapRB bool) color.RGBA {
	r, b := c.R, c.B
	if swapRB {
		r, b = b, r
	}
	a := uint32(c.A)
	return color.RGBA{
		R: uint8((uint32(r)*a + 127) / 255),
		G: uint8((uint32(c.G)*a + 127) / 255),
		B: uint8((uint32(b)*a + 127) / 255),
		A: c.A,
	}
}
