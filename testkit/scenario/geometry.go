package scenario

// fpt is a point in pixels.
type fpt struct{ x, y float64 }

func lerp(a, b fpt, u float64) fpt { return fpt{a.x + (b.x-a.x)*u, a.y + (b.y-a.y)*u} }

// ease is smoothstep: starts and stops gently.
func ease(u float64) float64 { return u * u * (3 - 2*u) }

// inside reports whether q is inside polygon poly (even-odd rule).
func inside(poly []fpt, q fpt) bool {
	in := false
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		a, b := poly[i], poly[j]
		if (a.y > q.y) != (b.y > q.y) && q.x < (b.x-a.x)*(q.y-a.y)/(b.y-a.y)+a.x {
			in = !in
		}
	}
	return in
}

// box is an axis-aligned rectangle in pixels, [x0,x1]x[y0,y1].
type box struct{ x0, y0, x1, y1 float64 }

func (b box) contains(q fpt) bool { return q.x >= b.x0 && q.x <= b.x1 && q.y >= b.y0 && q.y <= b.y1 }

// touches reports whether rectangle b and polygon poly overlap.
func touches(poly []fpt, b box) bool {
	if b.x1 <= b.x0 || b.y1 <= b.y0 {
		return false
	}
	for _, v := range poly {
		if b.contains(v) {
			return true
		}
	}
	corners := []fpt{{b.x0, b.y0}, {b.x1, b.y0}, {b.x1, b.y1}, {b.x0, b.y1}}
	for _, c := range corners {
		if inside(poly, c) {
			return true
		}
	}
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		for k := range corners {
			if crosses(poly[j], poly[i], corners[k], corners[(k+1)%4]) {
				return true
			}
		}
	}
	return false
}

// crosses reports whether segments ab and cd properly intersect.
func crosses(a, b, c, d fpt) bool {
	cross := func(o, p, q fpt) float64 { return (p.x-o.x)*(q.y-o.y) - (p.y-o.y)*(q.x-o.x) }
	d1, d2 := cross(c, d, a), cross(c, d, b)
	d3, d4 := cross(a, b, c), cross(a, b, d)
	return ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0))
}

// centroid is the area centroid of a simple polygon (the vertex mean when degenerate).
func centroid(poly []fpt) fpt {
	var a, cx, cy float64
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		c := poly[j].x*poly[i].y - poly[i].x*poly[j].y
		a += c
		cx += (poly[j].x + poly[i].x) * c
		cy += (poly[j].y + poly[i].y) * c
	}
	if a == 0 {
		var m fpt
		for _, p := range poly {
			m.x += p.x / float64(len(poly))
			m.y += p.y / float64(len(poly))
		}
		return m
	}
	return fpt{cx / (3 * a), cy / (3 * a)}
}
