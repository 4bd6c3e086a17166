package recognition

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// WriteReport draws the evaluation's confusion matrix (true product × best match, known
// queries) and the score histograms (correct, wrong, not in the catalog) as PNG files in dir.
func WriteReport(dir string, r *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := confusionPlot(filepath.Join(dir, "confusion.png"), r); err != nil {
		return err
	}
	return scoresPlot(filepath.Join(dir, "scores.png"), r)
}

// confusion is the matrix as a heat map grid: X = predicted, Y = true (rows from the top).
type confusion struct {
	names  []string
	counts [][]float64 // [true][predicted], normalised per row
}

func (c *confusion) Dims() (int, int)   { return len(c.names), len(c.names) }
func (c *confusion) Z(x, y int) float64 { return c.counts[len(c.names)-1-y][x] }
func (c *confusion) X(x int) float64    { return float64(x) }
func (c *confusion) Y(y int) float64    { return float64(y) }

func confusionPlot(path string, r *Report) error {
	index := map[string]int{}
	var names []string
	for _, o := range r.outcomes {
		for _, n := range []string{o.Label, firstName(o)} {
			if _, ok := index[n]; !ok && n != "" {
				index[n] = 0
				names = append(names, n)
			}
		}
	}
	sort.Strings(names)
	for i, n := range names {
		index[n] = i
	}
	c := &confusion{names: names, counts: make([][]float64, len(names))}
	for i := range c.counts {
		c.counts[i] = make([]float64, len(names))
	}
	rows := make([]float64, len(names))
	for _, o := range r.outcomes {
		if !o.Known || len(o.Hits) == 0 {
			continue
		}
		c.counts[index[o.Label]][index[o.Hits[0].Name]]++
		rows[index[o.Label]]++
	}
	for i := range c.counts {
		for j := range c.counts[i] {
			if rows[i] > 0 {
				c.counts[i][j] /= rows[i]
			}
		}
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Confusion (row-normalised), top-1 %.1f%%, n=%d", 100*r.Top1, r.Known)
	p.X.Label.Text = "best match"
	p.Y.Label.Text = "true product"
	pal := moreland.SmoothBlueRed().Palette(100)
	h := plotter.NewHeatMap(c, pal)
	h.Min, h.Max = 0, 1
	p.Add(h)
	p.HideAxes()
	size := vg.Length(max(6, len(names)/8)) * vg.Inch
	return p.Save(size, size, path)
}

func firstName(o Outcome) string {
	if len(o.Hits) == 0 {
		return ""
	}
	return o.Hits[0].Name
}

func scoresPlot(path string, r *Report) error {
	var correct, wrong, unknown plotter.Values
	for _, o := range r.outcomes {
		name, score := o.Top()
		switch {
		case name == "":
		case !o.Known:
			unknown = append(unknown, float64(score))
		case name == o.Label:
			correct = append(correct, float64(score))
		default:
			wrong = append(wrong, float64(score))
		}
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Best-match scores (threshold %.3f)", r.Threshold)
	p.X.Label.Text = "cosine similarity"
	p.Y.Label.Text = "queries"
	for _, s := range []struct {
		v   plotter.Values
		lbl string
		c   color.RGBA
	}{{correct, "correct", color.RGBA{0, 160, 80, 255}}, {wrong, "wrong product", color.RGBA{220, 50, 40, 255}}, {unknown, "not in the catalog", color.RGBA{90, 90, 220, 255}}} {
		if len(s.v) == 0 {
			continue
		}
		h, err := plotter.NewHist(s.v, 30)
		if err != nil {
			return err
		}
		h.FillColor = color.RGBA{s.c.R, s.c.G, s.c.B, 110}
		h.LineStyle.Color = s.c
		p.Add(h)
		p.Legend.Add(fmt.Sprintf("%s (%d)", s.lbl, len(s.v)), h)
	}
	p.Legend.Top = true
	return p.Save(8*vg.Inch, 5*vg.Inch, path)
}
