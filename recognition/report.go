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
	"gonum.org/v1/plot/vg/draw"
)

// WriteReport draws the evaluation's confusion matrix (true product × best match, known
// queries), the score histograms (correct, wrong, not in the catalog) and the ask rate
// against the silent error rate (tradeoff.png) as PNG files in dir.
func WriteReport(dir string, ev *Evaluation) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := confusionPlot(filepath.Join(dir, "confusion.png"), ev.Report); err != nil {
		return err
	}
	if err := scoresPlot(filepath.Join(dir, "scores.png"), ev.Report); err != nil {
		return err
	}
	return tradeoffPlot(filepath.Join(dir, "tradeoff.png"), ev)
}

// tradeoffPlot draws, for the static run, the ask rate against the silent error rate as the
// count threshold and the margin move away from the embedder's rules, the rules themselves,
// and the online run's point(s).
func tradeoffPlot(path string, ev *Evaluation) error {
	outcomes := ev.outcomes
	if len(outcomes) == 0 {
		return nil
	}
	rules := outcomes[0].rules
	base := rules.For(ev.Adapted)
	sweep := func(set func(t *Thresholds, v float32), from, to, step float32) plotter.XYs {
		var xy plotter.XYs
		for v := from; v <= to+step/2; v += step {
			r := rules
			t := base
			set(&t, v)
			if ev.Adapted {
				r.Adapted = t
			} else {
				r.Cosine = t
			}
			redecided := make([]Outcome, len(outcomes))
			for i, o := range outcomes {
				o.Decision = Decide(o.ev, r)
				redecided[i] = o
			}
			rates := DecisionRates(redecided)
			xy = append(xy, plotter.XY{X: 100 * rates.AskRate, Y: 100 * rates.SilentErrorRate})
		}
		return xy
	}
	p := plot.New()
	p.Title.Text = "Asked against counted wrongly"
	p.X.Label.Text = "ask rate (% of queries)"
	p.Y.Label.Text = "silent error rate (% of queries)"
	p.X.Min, p.Y.Min = 0, 0
	lines := []struct {
		name string
		xy   plotter.XYs
		c    color.RGBA
	}{
		{fmt.Sprintf("static, margin 0 to 0.30 (count %.2f)", base.Count),
			sweep(func(t *Thresholds, v float32) { t.Margin = v }, 0, 0.30, 0.01), color.RGBA{40, 90, 200, 255}},
		{fmt.Sprintf("static, count %.2f to %.2f (margin %.2f)", base.Unknown, base.Count+0.3, base.Margin),
			sweep(func(t *Thresholds, v float32) { t.Count = v }, base.Unknown, base.Count+0.3, 0.02), color.RGBA{230, 130, 20, 255}},
	}
	for _, l := range lines {
		line, err := plotter.NewLine(l.xy)
		if err != nil {
			return err
		}
		line.Color = l.c
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(l.name, line)
	}
	type point struct {
		name string
		x, y float64
		c    color.RGBA
	}
	points := []point{{"static, the embedder's rules", ev.AskRate, ev.SilentErrorRate, color.RGBA{0, 0, 0, 255}}}
	if o := ev.Online; o != nil {
		points = append(points,
			point{"online, learning from answers", o.AskRate, o.SilentErrorRate, color.RGBA{0, 160, 80, 255}},
			point{"online, second half", o.SecondHalf.AskRate, o.SecondHalf.SilentErrorRate, color.RGBA{220, 50, 40, 255}})
	}
	for _, pt := range points {
		s, err := plotter.NewScatter(plotter.XYs{{X: 100 * pt.x, Y: 100 * pt.y}})
		if err != nil {
			return err
		}
		s.GlyphStyle.Color = pt.c
		s.GlyphStyle.Radius = vg.Points(4)
		s.GlyphStyle.Shape = draw.CircleGlyph{}
		p.Add(s)
		p.Legend.Add(fmt.Sprintf("%s (%.1f%%, %.2f%%)", pt.name, 100*pt.x, 100*pt.y), s)
	}
	// Room above the curves for the legend.
	var top float64
	for _, l := range lines {
		for _, xy := range l.xy {
			top = max(top, xy.Y)
		}
	}
	for _, pt := range points {
		top = max(top, 100*pt.y)
	}
	p.Y.Max = 1.5*top + 0.5
	p.X.Max = 100
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	return p.Save(8*vg.Inch, 5*vg.Inch, path)
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
	if r.Adapted {
		p.X.Label.Text = "score in the catalog's adapted space"
	}
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
