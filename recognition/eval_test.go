package recognition

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/ebrcs/ebrcs/data"
)

func hits(pairs ...any) []data.Hit {
	var h []data.Hit
	for i := 0; i < len(pairs); i += 2 {
		h = append(h, data.Hit{Name: pairs[i].(string), Score: float32(pairs[i+1].(float64))})
	}
	return h
}

func TestSummarise(t *testing.T) {
	outcomes := []Outcome{
		{Label: "a", Known: true, Hits: hits("a", 0.9, "b", 0.5)},                                    // right, accepted
		{Label: "a", Known: true, Hits: hits("b", 0.8, "a", 0.7)},                                    // wrong at top-1, top-5 right
		{Label: "b", Known: true, Hits: hits("b", 0.55, "a", 0.5)},                                   // right but below 0.6
		{Label: "c", Known: false, Hits: hits("a", 0.65)},                                            // unknown, falsely accepted
		{Label: "c", Known: false, Hits: hits("b", 0.4)},                                             // unknown, rejected
		{Label: "b", Known: true, Hits: hits("x", 0.9, "y", .8, "z", .7, "w", .6, "v", .5, "b", .4)}, // b only 6th
	}
	r := Summarise(outcomes, 0.6)
	if r.N != 6 || r.Known != 4 {
		t.Fatalf("n %d known %d", r.N, r.Known)
	}
	if r.Top1 != 0.5 || r.Top5 != 0.75 {
		t.Fatalf("top1 %v top5 %v", r.Top1, r.Top5)
	}
	// right: #1 (known, accepted) and #5 (unknown, rejected) = 2 of 6
	if math.Abs(r.Accuracy-2.0/6) > 1e-9 || r.FalseAccept != 0.5 || r.FalseReject != 0.5 {
		t.Fatalf("accuracy %v FAR %v FRR %v", r.Accuracy, r.FalseAccept, r.FalseReject)
	}
	var a *ClassResult
	for i := range r.Classes {
		if r.Classes[i].Name == "a" {
			a = &r.Classes[i]
		}
	}
	if a == nil || a.N != 2 || a.Top1 != 0.5 || a.Confuse != "b" {
		t.Fatalf("class a: %+v", a)
	}
	// The best threshold rejects the 0.65 unknown and still accepts the 0.9 right answer.
	if got := Calibrate(outcomes); got <= 0.65 || got > 0.9 {
		t.Fatalf("calibrated threshold %v, want one in (0.65, 0.9]", got)
	}
	if r := Summarise(nil, 0.5); r.N != 0 || r.Top1 != 0 {
		t.Fatal("empty summary")
	}
}

func TestLabeledImages(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"Milk/1.jpg", "Milk/2.PNG", "Milk/notes.txt", "Banana/b.jpeg", "Empty/x.txt"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte("x"), 0o644)
	}
	byName, names, err := LabeledImages(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != 2 || names[0] != "Banana" || names[1] != "Milk" || len(byName["Milk"]) != 2 {
		t.Fatalf("%v %v", names, byName)
	}
	if _, _, err := LabeledImages(t.TempDir()); err == nil {
		t.Fatal("an empty directory has no images")
	}
}
