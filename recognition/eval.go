package recognition

import (
	"fmt"
	"image"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/ebrcs/ebrcs/data"
)

// LabeledImages lists the images of a directory laid out DIR/<product name>/*.{jpg,png,...}
// (the original's product_images layout), by product name, in name order.
func LabeledImages(dir string) (map[string][]string, []string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	byName := map[string][]string{}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && e.Type()&os.ModeSymlink == 0 {
			continue
		}
		sub := filepath.Join(dir, e.Name())
		if st, err := os.Stat(sub); err != nil || !st.IsDir() {
			continue
		}
		files, err := os.ReadDir(sub)
		if err != nil {
			return nil, nil, err
		}
		var paths []string
		for _, f := range files {
			switch strings.ToLower(filepath.Ext(f.Name())) {
			case ".jpg", ".jpeg", ".png", ".gif", ".webp":
				paths = append(paths, filepath.Join(sub, f.Name()))
			}
		}
		if len(paths) == 0 {
			continue
		}
		sort.Strings(paths)
		byName[e.Name()] = paths
		names = append(names, e.Name())
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, nil, fmt.Errorf("%s: no DIR/<product>/*.jpg images", dir)
	}
	return byName, names, nil
}

// Outcome is the recogniser's answer for one query.
type Outcome struct {
	Label    string     // the query's true product
	Known    bool       // the true product is in the catalog
	Hits     []data.Hit // best first
	Decision Decision   // at the embedder's rules ("" when not decided)
	ev       data.Evidence
	rules    Rules // Decision's
}

// Top returns the best hit's name and score ("" and 0 when the catalog is empty).
func (o Outcome) Top() (string, float32) {
	if len(o.Hits) == 0 {
		return "", 0
	}
	return o.Hits[0].Name, o.Hits[0].Score
}

// ClassResult is one product's line in a report.
type ClassResult struct {
	Name    string  `json:"name"`
	N       int     `json:"n"`
	Top1    float64 `json:"top1"`
	Top5    float64 `json:"top5"`
	Known   bool    `json:"known"`
	Confuse string  `json:"most_confused_with,omitempty"`
}

// Report is the result of an evaluation.
type Report struct {
	N         int     `json:"n"`         // queries
	Known     int     `json:"known"`     // queries whose product is in the catalog
	Top1      float64 `json:"top1"`      // of the known queries, best hit correct
	Top5      float64 `json:"top5"`      // of the known queries, correct among the 5 best products
	Threshold float32 `json:"threshold"` // the match threshold evaluated
	// Accuracy at the threshold: a known query is right when its best hit is correct and
	// reaches the threshold; an unknown one when nothing reaches it.
	Accuracy float64 `json:"accuracy"`
	// FalseAccept is the share of unknown queries (product not in the catalog) that a
	// threshold would still have accepted as some product; -1 when there were none.
	FalseAccept float64 `json:"false_accept_rate"`
	// FalseReject is the share of correctly ranked known queries below the threshold.
	FalseReject float64 `json:"false_reject_rate"`
	// Adapted: scores are in the catalog's adapted space (false: cosine).
	Adapted  bool          `json:"-"`
	Classes  []ClassResult `json:"classes"`
	outcomes []Outcome
}

// Summarise computes a report from outcomes at a threshold.
func Summarise(outcomes []Outcome, threshold float32) *Report {
	r := &Report{N: len(outcomes), Threshold: threshold, FalseAccept: -1, outcomes: outcomes}
	type tally struct {
		n, top1, top5 int
		known         bool
		wrong         map[string]int
	}
	classes := map[string]*tally{}
	var right, unknown, falseAccepts, rankedRight, rejected int
	for _, o := range outcomes {
		t := classes[o.Label]
		if t == nil {
			t = &tally{known: o.Known, wrong: map[string]int{}}
			classes[o.Label] = t
		}
		t.n++
		top, score := o.Top()
		if !o.Known {
			unknown++
			if score >= threshold && top != "" {
				falseAccepts++
			} else {
				right++
			}
			continue
		}
		r.Known++
		if top == o.Label {
			t.top1++
			rankedRight++
			if score >= threshold {
				right++
			} else {
				rejected++
			}
		} else if top != "" {
			t.wrong[top]++
		}
		for i, h := range o.Hits {
			if i >= 5 {
				break
			}
			if h.Name == o.Label {
				t.top5++
				break
			}
		}
	}
	var top1, top5 int
	for name, t := range classes {
		top1 += t.top1
		top5 += t.top5
		cr := ClassResult{Name: name, N: t.n, Known: t.known}
		if t.known {
			cr.Top1, cr.Top5 = frac(t.top1, t.n), frac(t.top5, t.n)
		}
		best := 0
		for other, c := range t.wrong {
			if c > best || (c == best && other < cr.Confuse) {
				best, cr.Confuse = c, other
			}
		}
		r.Classes = append(r.Classes, cr)
	}
	sort.Slice(r.Classes, func(i, j int) bool { return r.Classes[i].Name < r.Classes[j].Name })
	r.Top1, r.Top5 = frac(top1, r.Known), frac(top5, r.Known)
	r.Accuracy = frac(right, r.N)
	if unknown > 0 {
		r.FalseAccept = frac(falseAccepts, unknown)
	}
	r.FalseReject = frac(rejected, rankedRight)
	return r
}

func frac(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Outcomes returns the per-query results the report was made from.
func (r *Report) Outcomes() []Outcome { return r.outcomes }

// Calibrate picks the threshold that maximises accuracy over known and unknown queries
// alike (ties: the lower false-accept rate), scanning the observed scores.
func Calibrate(outcomes []Outcome) float32 {
	var cands []float32
	for _, o := range outcomes {
		if _, s := o.Top(); s > 0 {
			cands = append(cands, s)
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i] < cands[j] })
	best, bestAcc, bestFAR := float32(0.5), -1.0, 2.0
	for _, t := range cands {
		r := Summarise(outcomes, t)
		if r.Accuracy > bestAcc || (r.Accuracy == bestAcc && r.FalseAccept < bestFAR) {
			best, bestAcc, bestFAR = t, r.Accuracy, r.FalseAccept
		}
	}
	return best
}

// LoadImage reads and decodes an image file.
func LoadImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}
