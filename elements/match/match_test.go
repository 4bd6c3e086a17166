package match

import (
	"image"
	"testing"
)

// The crop kept for a visit is the one closest to the visit as a whole: an outlier (a blurred
// entry frame, the hand alone) is not kept once better looks come.
func TestVisitKeepsItsMostRepresentativeCrop(t *testing.T) {
	crops := make([]*image.RGBA, 4)
	for i := range crops {
		crops[i] = image.NewRGBA(image.Rect(0, 0, i+1, 1))
	}
	var v visit
	v.add([]float32{0, 1, 0}, crops[0]) // the entry: half in view
	if v.crop != crops[0] {
		t.Fatal("the first crop is the best so far")
	}
	v.add([]float32{0.8, 0.6, 0}, crops[1])
	v.add([]float32{1, 0, 0}, crops[2])
	v.add([]float32{0.9, 0, 0.43}, crops[3])
	if v.crop != crops[1] || len(v.queries) != 4 {
		t.Fatalf("kept crop %d of %d queries, want the second (closest to the mean)", v.crop.Bounds().Dx()-1, len(v.queries))
	}
	v.add([]float32{0, 0, 1}, nil) // a frame without a crop is fused, never kept
	if v.crop != crops[1] || len(v.queries) != 5 {
		t.Fatal("a frame without a crop changed the kept one")
	}
}
