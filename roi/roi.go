// Package roi is the region of interest: the polygon, in normalised frame coordinates, inside
// which the checkout counts. The API takes it as JSON, the domain keeps it per session and
// station, the ROI gate tests objects against it and the overlay draws it; all of them use
// this one type, its parsing, formatting and checks.
package roi

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// Point is a point in normalised frame coordinates: (0,0) top left, (1,1) bottom right.
type Point struct{ X, Y float64 }

// Polygon is a ROI: its points in order, implicitly closed. nil is no ROI (the whole frame).
// Its JSON form is [[x, y], ...] (null for nil), its text form (the roigate element's `roi`
// property) "x,y;x,y;...".
type Polygon []Point

// ErrInvalid is wrapped by every error Parse and FromPoints return, so that callers (the
// element's property check, the HTTP API) can tell a user's bad polygon from other failures
// with errors.Is.
var ErrInvalid = errors.New("invalid ROI polygon")

// onEdgeEpsilon is how close (in normalised units, times the edge's length) a point must be
// to an edge to count as on it. It only absorbs float64 rounding: a pixel of an 8K frame is
// about 1e-4 wide, eight orders of magnitude more.
const onEdgeEpsilon = 1e-12

// MaxPoints is the most points a ROI may have. A counting area needs a handful; the
// gate tests every blob against every edge, and the overlay draws every edge on every frame, so
// an unbounded polygon (60,000 points were once accepted) is a way to slow every frame down.
const MaxPoints = 64

// commaSpace lets users write "0.1, 0.2" as well as "0.1,0.2": the space after a comma must not
// be taken for a separator between points.
var commaSpace = regexp.MustCompile(`\s*,\s*`)

// Parse parses a polygon in normalised frame coordinates, as the `roi` property and the
// API take it: points separated by ';' or whitespace (a run of separators counts as one), the
// two coordinates of a point by ',' (spaces around the comma are allowed), e.g.
// "0.1,0.1;0.9,0.1;0.9,0.9;0.1,0.9". Every coordinate must be a finite number in [0, 1]; a
// polygon needs 3 to MaxPoints points, not all on one line (such a polygon encloses
// nothing).
//
// A blank string is no polygon: Parse returns nil, nil. Errors wrap ErrInvalid
// and name the problem and, for a bad point, its 1-based position and text.
func Parse(s string) (Polygon, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	s = commaSpace.ReplaceAllString(s, ",")
	tokens := strings.FieldsFunc(s, func(r rune) bool { return r == ';' || unicode.IsSpace(r) })
	if len(tokens) > MaxPoints {
		return nil, polygonError("a polygon has at most %d points, got %d", MaxPoints, len(tokens))
	}
	pts := make([]Point, 0, len(tokens))
	for i, tok := range tokens {
		xs, ys, ok := strings.Cut(tok, ",")
		if !ok || strings.Contains(ys, ",") {
			return nil, polygonError("point %d %q: want two coordinates x,y", i+1, tok)
		}
		x, err := parseCoordinate("x", xs)
		if err != nil {
			return nil, polygonError("point %d %q: %v", i+1, tok, err)
		}
		y, err := parseCoordinate("y", ys)
		if err != nil {
			return nil, polygonError("point %d %q: %v", i+1, tok, err)
		}
		pts = append(pts, Point{X: x, Y: y})
	}
	if len(pts) < 3 {
		return nil, polygonError("a polygon needs at least 3 points, got %d", len(pts))
	}
	if collinear(pts) {
		return nil, polygonError("the polygon encloses no area: all its points are on one line")
	}
	return pts, nil
}

func polygonError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

func parseCoordinate(name, s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	switch {
	case errors.Is(err, strconv.ErrRange):
		// Syntactically a number, but beyond float64: certainly outside [0, 1].
		return 0, fmt.Errorf("%s %s is outside [0, 1]", name, s)
	case err != nil:
		return 0, fmt.Errorf("%s %q is not a number", name, s)
	case math.IsNaN(v) || math.IsInf(v, 0):
		return 0, fmt.Errorf("%s %s is not a finite number", name, s)
	case v < 0 || v > 1:
		return 0, fmt.Errorf("%s %s is outside [0, 1]", name, s)
	}
	return v, nil
}

// Format writes a polygon in the syntax Parse reads ("x,y;x,y;..."), with the
// shortest decimals that read back to the same float64s, so Parse(Format(p)) == p. nil or
// empty gives "".
func Format(pts []Point) string {
	parts := make([]string, len(pts))
	for i, p := range pts {
		parts[i] = strconv.FormatFloat(p.X, 'g', -1, 64) + "," + strconv.FormatFloat(p.Y, 'g', -1, 64)
	}
	return strings.Join(parts, ";")
}

// Contains reports whether p lies in the polygon poly (normalised coordinates, implicitly
// closed), by the even-odd rule: a ray from p crosses the outline an odd number of times. A
// point on the outline itself (an edge or a vertex, within float64 rounding) counts as inside,
// on every edge alike, as OpenCV's pointPolygonTest(...) >= 0 does. Pure ray casting would
// instead count, for a rectangle, its top and left edges in and its bottom and right edges
// out; a ROI that keeps an object exactly on its right edge but refuses it on its left edge
// would surprise whoever drew it. A polygon of fewer than 3 points contains nothing.
func Contains(poly []Point, p Point) bool {
	n := len(poly)
	if n < 3 {
		return false
	}
	inside := false
	for i, j := 0, n-1; i < n; j, i = i, i+1 {
		a, b := poly[j], poly[i]
		if onSegment(p, a, b) {
			return true
		}
		// The edge straddles the horizontal line through p (half-open in y, so a vertex on
		// that line is counted once), and crosses it to the right of p.
		if (a.Y > p.Y) != (b.Y > p.Y) && p.X < a.X+(p.Y-a.Y)*(b.X-a.X)/(b.Y-a.Y) {
			inside = !inside
		}
	}
	return inside
}

// onSegment reports whether p is on the segment ab: collinear (the cross product, which is
// the segment's length times p's distance from its line, is ~0) and within its bounding box.
func onSegment(p, a, b Point) bool {
	cross := (b.X-a.X)*(p.Y-a.Y) - (b.Y-a.Y)*(p.X-a.X)
	if math.Abs(cross) > onEdgeEpsilon {
		return false
	}
	return math.Min(a.X, b.X) <= p.X && p.X <= math.Max(a.X, b.X) &&
		math.Min(a.Y, b.Y) <= p.Y && p.Y <= math.Max(a.Y, b.Y)
}

// collinear reports whether all points lie on one line (or coincide): such a polygon encloses
// nothing, so no object could ever be inside it. A self-intersecting polygon (a bow tie) is
// allowed: the even-odd rule gives it a meaning.
func collinear(pts []Point) bool {
	a := pts[0]
	for _, b := range pts[1:] {
		if math.Hypot(b.X-a.X, b.Y-a.Y) <= onEdgeEpsilon {
			continue
		}
		// a and b are distinct: every point must be on the line through them.
		for _, p := range pts {
			if math.Abs((b.X-a.X)*(p.Y-a.Y)-(b.Y-a.Y)*(p.X-a.X)) > onEdgeEpsilon {
				return false
			}
		}
		return true
	}
	return true
}

// PointsError says which point of a polygon given as numbers is wrong (Index, 0-based; -1
// for the polygon as a whole) and why. It wraps ErrInvalid.
type PointsError struct {
	Index  int
	Reason string
}

func (e *PointsError) Error() string {
	if e.Index < 0 {
		return fmt.Sprintf("%v: %s", ErrInvalid, e.Reason)
	}
	return fmt.Sprintf("%v: point %d: %s", ErrInvalid, e.Index, e.Reason)
}

// Unwrap lets errors.Is find ErrInvalid.
func (e *PointsError) Unwrap() error { return ErrInvalid }

// FromPoints checks a polygon given as [x, y] pairs (the HTTP API's form) with the
// same rules as Parse: finite coordinates in [0, 1], 3 to MaxPoints points, some
// area.
func FromPoints(pts [][]float64) (Polygon, error) {
	if len(pts) > MaxPoints {
		return nil, &PointsError{Index: -1, Reason: fmt.Sprintf("a polygon has at most %d points, got %d", MaxPoints, len(pts))}
	}
	out := make([]Point, 0, len(pts))
	for i, p := range pts {
		if len(p) != 2 {
			return nil, &PointsError{Index: i, Reason: fmt.Sprintf("want two coordinates [x, y], got %d", len(p))}
		}
		for j, name := range []string{"x", "y"} {
			v := p[j]
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, &PointsError{Index: i, Reason: fmt.Sprintf("%s %v is not a finite number", name, v)}
			}
			if v < 0 || v > 1 {
				return nil, &PointsError{Index: i, Reason: fmt.Sprintf("%s %v is outside [0, 1]", name, v)}
			}
		}
		out = append(out, Point{X: p[0], Y: p[1]})
	}
	if len(out) < 3 {
		return nil, &PointsError{Index: -1, Reason: fmt.Sprintf("a polygon needs at least 3 points, got %d", len(out))}
	}
	if collinear(out) {
		return nil, &PointsError{Index: -1, Reason: "the polygon encloses no area: all its points are on one line"}
	}
	return out, nil
}

// String is the polygon's text form (Format).
func (p Polygon) String() string { return Format(p) }

// Pairs is the polygon as [x, y] pairs, its JSON form (nil for no polygon).
func (p Polygon) Pairs() [][2]float64 {
	if p == nil {
		return nil
	}
	out := make([][2]float64, len(p))
	for i, pt := range p {
		out[i] = [2]float64{pt.X, pt.Y}
	}
	return out
}

// MarshalJSON writes [[x, y], ...], or null for no polygon.
func (p Polygon) MarshalJSON() ([]byte, error) { return json.Marshal(p.Pairs()) }
