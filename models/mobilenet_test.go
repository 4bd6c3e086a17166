package models

import (
	"image"
	"math"
	"testing"
)

// TestDefaultEncoderRealPhotos runs the real pretrained MobileNetV2-int8 on real GroceryStore
// photos: 1280 finite values, deterministic, a batch equal to its images one by one, and two
// bananas closer to each other than either is to a milk carton.
func TestDefaultEncoderRealPhotos(t *testing.T) {
	e := openT(t, DefaultEncoderConfig(defaultModelDir(t)))
	banana1 := groceryPhoto(t, "train/Fruit/Banana/Banana_001.jpg")
	banana2 := groceryPhoto(t, "train/Fruit/Banana/Banana_010.jpg")
	milk := groceryPhoto(t, "train/Packages/Milk/Arla-Standard-Milk/Arla-Standard-Milk_001.jpg")
	imgs := []image.Image{banana1, banana2, milk}

	if e.Dim() != 1280 {
		t.Fatalf("dim %d, want 1280", e.Dim())
	}
	first, err := e.Embed(imgs[:1])
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.Embed(imgs[:1])
	if err != nil {
		t.Fatal(err)
	}
	if len(first[0]) != 1280 {
		t.Fatalf("vector of %d values", len(first[0]))
	}
	for i, x := range first[0] {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			t.Fatalf("value %d is %v", i, x)
		}
		if x != again[0][i] {
			t.Fatalf("not deterministic: value %d is %v then %v", i, x, again[0][i])
		}
	}
	if norm(first[0]) == 0 {
		t.Fatal("zero vector")
	}

	batch, err := e.Embed(imgs)
	if err != nil {
		t.Fatal(err)
	}
	singles := make([][]float32, len(imgs))
	for i := range imgs {
		one, err := e.Embed(imgs[i : i+1])
		if err != nil {
			t.Fatal(err)
		}
		singles[i] = one[0]
		if d := maxAbsDiff(batch[i], one[0]); d > 1e-5 {
			t.Errorf("photo %d: batch of 3 differs from a single call by %g", i, d)
		}
	}

	same := cosine(singles[0], singles[1])
	b1Milk := cosine(singles[0], singles[2])
	b2Milk := cosine(singles[1], singles[2])
	t.Logf("cosine banana/banana %.3f, banana/milk %.3f and %.3f", same, b1Milk, b2Milk)
	if same <= b1Milk || same <= b2Milk {
		t.Errorf("two bananas (%.3f) are not closer than a banana and a milk carton (%.3f, %.3f)", same, b1Milk, b2Milk)
	}
}

// TestDefaultEncoderRetrieval is a small real retrieval check: for 6 very different classes,
// each class's photo 2 is nearest (cosine) to photo 1 of the same class among the 6.
func TestDefaultEncoderRetrieval(t *testing.T) {
	e := openT(t, DefaultEncoderConfig(defaultModelDir(t)))
	classes := []string{
		"train/Fruit/Banana/Banana",
		"train/Packages/Milk/Arla-Standard-Milk/Arla-Standard-Milk",
		"train/Vegetables/Tomato/Vine-Tomato/Vine-Tomato",
		"train/Fruit/Kiwi/Kiwi",
		"train/Packages/Juice/Bravo-Apple-Juice/Bravo-Apple-Juice",
		"train/Vegetables/Pepper/Red-Bell-Pepper/Red-Bell-Pepper",
	}
	var refs, queries []image.Image
	for _, c := range classes {
		refs = append(refs, groceryPhoto(t, c+"_001.jpg"))
		queries = append(queries, groceryPhoto(t, c+"_002.jpg"))
	}
	r, err := e.Embed(refs)
	if err != nil {
		t.Fatal(err)
	}
	q, err := e.Embed(queries)
	if err != nil {
		t.Fatal(err)
	}
	correct := 0
	for i := range q {
		best, bestSim := -1, -2.0
		for j := range r {
			if s := cosine(q[i], r[j]); s > bestSim {
				best, bestSim = j, s
			}
		}
		if best == i {
			correct++
		} else {
			t.Logf("%s: nearest is %s", classes[i], classes[best])
		}
	}
	t.Logf("top-1 %d/%d", correct, len(classes))
	if correct < 4 {
		t.Errorf("top-1 %d of %d: the default encoder does not separate very different products", correct, len(classes))
	}
}
