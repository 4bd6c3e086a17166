package bgsub

import (
	"encoding/binary"
	"image"
	"math"
	"sort"
)

// Region is one external connected region of a binary mask.
type Region struct {
	Box  image.Rectangle
	Area float64 // area of its outer contour, as OpenCV's contourArea computes it
}

// RegionFinder finds the regions OpenCV's findContours(RETR_EXTERNAL) returns for a binary
// mask (non-zero = foreground), with each one's bounding box and contour area. It keeps its
// buffers between frames; it is not safe for concurrent use.
//
// As in OpenCV: foreground is 8-connected (background and holes 4-connected); the 1-pixel
// border of the image counts as background; a region lying inside a hole of another is not
// external and is dropped; the area is the shoelace area of the polygon through the centres
// of the outer boundary pixels (a single pixel has area 0, a w×h rectangle (w-1)×(h-1)).
type RegionFinder struct {
	runs    []run   // foreground runs of the current mask, in raster order
	rowEnd  []int32 // rowEnd[y] = index after the last run of row y
	regions []traced
}

// run is a horizontal stretch of foreground pixels [x0, x1) on row y, with its union-find
// parent (runs of one 8-connected region end up with the same root).
type run struct {
	y, x0, x1 int32
	parent    int32
}

type traced struct {
	Region
	start   image.Point   // first pixel in raster order
	contour []image.Point // outer boundary, for the containment test
}

// Find returns the external regions of mask (w×h), largest area first.
//
// Regions are found from runs, not pixels: each row's foreground stretches are joined to the
// previous row's that touch them (8-connectivity), so the work grows with the number of runs
// and the length of the borders, not with the area of the objects.
func (f *RegionFinder) Find(mask []byte, w, h int) []Region {
	if w < 3 || h < 3 {
		return nil
	}
	f.runs, f.rowEnd, f.regions = f.runs[:0], f.rowEnd[:0], f.regions[:0]
	fg := func(x, y int) bool { // the image border counts as background
		return x > 0 && y > 0 && x < w-1 && y < h-1 && mask[y*w+x] != 0
	}
	f.rowEnd = append(f.rowEnd, 0) // row 0 (border): no runs
	prevStart, prevEnd := int32(0), int32(0)
	for y := 1; y < h-1; y++ {
		row := mask[y*w : y*w+w]
		rowStart := int32(len(f.runs))
		for x := 1; x < w-1; {
			// Skip background 8 bytes at a time: masks are mostly empty.
			if x+8 <= w-1 && binary.LittleEndian.Uint64(row[x:]) == 0 {
				x += 8
				continue
			}
			if row[x] == 0 {
				x++
				continue
			}
			x0 := x
			for x < w-1 && row[x] != 0 {
				x++
			}
			f.runs = append(f.runs, run{y: int32(y), x0: int32(x0), x1: int32(x), parent: int32(len(f.runs))})
		}
		// Join this row's runs with the previous row's runs they touch, diagonals included:
		// [x0, x1) and [p.x0, p.x1) touch when p.x0 <= x1 and p.x1 >= x0.
		p := prevStart
		for i := rowStart; i < int32(len(f.runs)); i++ {
			r := f.runs[i]
			for p < prevEnd && f.runs[p].x1 < r.x0 {
				p++
			}
			for q := p; q < prevEnd && f.runs[q].x0 <= r.x1; q++ {
				f.union(i, q)
			}
		}
		prevStart, prevEnd = rowStart, int32(len(f.runs))
		f.rowEnd = append(f.rowEnd, prevEnd)
	}
	// Each region's first run (raster order) starts at its first pixel: trace from there.
	started := map[int32]bool{}
	for i := range f.runs {
		root := f.find(int32(i))
		if started[root] {
			continue
		}
		started[root] = true
		r := f.runs[i]
		t := traceOuter(fg, int(r.x0), int(r.y))
		t.start = image.Pt(int(r.x0), int(r.y))
		f.regions = append(f.regions, t)
	}
	// A region whose first pixel lies inside another region's outer contour sits in a hole
	// of it. (No pixel of one region can lie on another's contour, which only joins that
	// region's own pixel centres, so the even-odd test needs no edge cases.)
	out := make([]Region, 0, len(f.regions))
	for a := range f.regions {
		external := true
		for b := range f.regions {
			if a != b && f.regions[b].Box.Overlaps(f.regions[a].Box) &&
				f.regions[a].start.In(f.regions[b].Box) && inside(f.regions[a].start, f.regions[b].contour) {
				external = false
				break
			}
		}
		if external {
			out = append(out, f.regions[a].Region)
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Area > out[b].Area })
	return out
}

func (f *RegionFinder) find(i int32) int32 {
	for f.runs[i].parent != i {
		f.runs[i].parent = f.runs[f.runs[i].parent].parent // path halving
		i = f.runs[i].parent
	}
	return i
}

func (f *RegionFinder) union(a, b int32) {
	ra, rb := f.find(a), f.find(b)
	if ra == rb {
		return
	}
	// The earlier run (raster order) stays the root; not needed for correctness, but it
	// keeps trees shallow for the row-by-row joins.
	if ra < rb {
		f.runs[rb].parent = ra
	} else {
		f.runs[ra].parent = rb
	}
}

// inside is the even-odd test of point p against a closed polygon.
func inside(p image.Point, poly []image.Point) bool {
	in := false
	for i, j := 0, len(poly)-1; i < len(poly); j, i = i, i+1 {
		a, b := poly[i], poly[j]
		if (a.Y > p.Y) != (b.Y > p.Y) {
			// x of the edge at p.Y, compared without division
			lhs := (p.X - a.X) * (b.Y - a.Y)
			rhs := (b.X - a.X) * (p.Y - a.Y)
			if (b.Y > a.Y && lhs < rhs) || (b.Y < a.Y && lhs > rhs) {
				in = !in
			}
		}
	}
	return in
}

// ring lists the 8 neighbours clockwise on screen (y grows downwards), starting east.
var ring = [8][2]int{{1, 0}, {1, 1}, {0, 1}, {-1, 1}, {-1, 0}, {-1, -1}, {0, -1}, {1, -1}}

// traceOuter follows the outer border of the region whose first raster pixel is (x0, y0)
// (Suzuki & Abe's border following), accumulating the shoelace area and the bounding box.
func traceOuter(fg func(x, y int) bool, x0, y0 int) traced {
	box := image.Rect(x0, y0, x0+1, y0+1)
	contour := []image.Point{{x0, y0}}
	// From the west neighbour (background: (x0, y0) is the region's first pixel), search
	// clockwise for the first foreground neighbour.
	d1 := -1
	for k := 0; k < 8; k++ {
		d := (4 + k) % 8
		if fg(x0+ring[d][0], y0+ring[d][1]) {
			d1 = d
			break
		}
	}
	if d1 < 0 {
		return traced{Region: Region{Box: box}, contour: contour} // an isolated pixel
	}
	x1, y1 := x0+ring[d1][0], y0+ring[d1][1]
	px, py := x1, y1 // the previous boundary pixel
	cx, cy := x0, y0 // the current one
	var twiceArea int
	for {
		// Search counterclockwise around the current pixel, starting after the previous one.
		dPrev := dirOf(px-cx, py-cy)
		var nx, ny int
		for k := 1; k <= 8; k++ {
			d := (dPrev - k + 8) % 8
			tx, ty := cx+ring[d][0], cy+ring[d][1]
			if fg(tx, ty) {
				nx, ny = tx, ty
				break
			}
		}
		twiceArea += cx*ny - nx*cy
		if nx == x0 && ny == y0 && cx == x1 && cy == y1 {
			break
		}
		box = box.Union(image.Rect(nx, ny, nx+1, ny+1))
		contour = append(contour, image.Pt(nx, ny))
		px, py, cx, cy = cx, cy, nx, ny
	}
	return traced{Region: Region{Box: box, Area: math.Abs(float64(twiceArea)) / 2}, contour: contour}
}

func dirOf(dx, dy int) int {
	return dirIndex[dy+1][dx+1]
}

// dirIndex[dy+1][dx+1] is the ring index of the neighbour at (dx, dy).
var dirIndex = [3][3]int{{5, 6, 7}, {4, -1, 0}, {3, 2, 1}}
