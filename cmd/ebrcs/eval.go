package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image"
	"io"
	"os"
	"sort"
	"time"

	"github.com/ebrcs/ebrcs/data"
	"github.com/ebrcs/ebrcs/recognition"
)

// evalResult is what `ebrcs eval --json` prints.
type evalResult struct {
	*recognition.Report
	Calibrated      float32 `json:"calibrated_threshold"`
	CalibratedAcc   float64 `json:"calibrated_accuracy"`
	CalibratedFAR   float64 `json:"calibrated_false_accept_rate"`
	CatalogProducts int     `json:"catalog_products"`
	CatalogVectors  int     `json:"catalog_vectors"`
	Embedder        string  `json:"embedder"`
	Seconds         float64 `json:"seconds"`
}

// cmdEval measures recognition: a catalog built from one directory, queries from another.
func cmdEval(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	catalogDir := fs.String("catalog", "", "catalog images: DIR/<product name>/*.jpg")
	queriesDir := fs.String("queries", "", "query images: DIR/<product name>/*.jpg")
	embedder := fs.String("embedder", "", "embedder configuration file; empty: the built-in default")
	modelDir := fs.String("models", "models", "directory of the model files")
	threshold := fs.Float64("threshold", -1, "match threshold; -1: the embedder's calibrated one")
	holdout := fs.Int("holdout", 0, "leave every N-th query product out of the catalog, to measure false accepts (0: none)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	reportDir := fs.String("report", "", "also write a confusion matrix and score histograms (PNG) here")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *catalogDir == "" || *queriesDir == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: ebrcs eval --catalog DIR --queries DIR [--embedder FILE] [--holdout N] [--json] [--report DIR]")
		return 2
	}
	if err := initGStreamer(); err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	defer recognition.CloseAll()
	start := time.Now()
	catImages, catNames, err := recognition.LabeledImages(*catalogDir)
	if err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	queries, queryNames, err := recognition.LabeledImages(*queriesDir)
	if err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	held := map[string]bool{}
	if *holdout > 0 {
		for i, name := range queryNames {
			if i%*holdout == 0 {
				held[name] = true
			}
		}
	}

	emb, err := recognition.OpenEmbedder(*embedder, *modelDir)
	if err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	tmp, err := os.MkdirTemp("", "ebrcs-eval-")
	if err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	defer os.RemoveAll(tmp)
	cat, err := data.Open(tmp, emb.Hybrid, data.Options{MaxImages: 1000})
	if err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	defer cat.Close()

	inCatalog := map[string]bool{}
	bar := newProgress(stderr, len(catNames), "catalog")
	for _, name := range catNames {
		bar.Add(1)
		if held[name] {
			continue
		}
		var imgs [][]byte
		for _, p := range catImages[name] {
			b, err := os.ReadFile(p)
			if err != nil {
				fmt.Fprintln(stderr, "ebrcs:", err)
				return 1
			}
			imgs = append(imgs, b)
		}
		if _, err := cat.AddProduct(data.NewProduct{Name: name, Images: imgs}); err != nil {
			fmt.Fprintf(stderr, "ebrcs: catalog %s: %v\n", name, err)
			return 1
		}
		inCatalog[name] = true
	}
	bar.Finish()

	type query struct {
		label, path string
	}
	var all []query
	for _, name := range queryNames {
		for _, p := range queries[name] {
			all = append(all, query{name, p})
		}
	}
	outcomes := make([]recognition.Outcome, 0, len(all))
	bar = newProgress(stderr, len(all), "queries")
	const batch = 16
	for i := 0; i < len(all); i += batch {
		chunk := all[i:min(i+batch, len(all))]
		imgs := make([]image.Image, len(chunk))
		for j, q := range chunk {
			if imgs[j], err = recognition.LoadImage(q.path); err != nil {
				fmt.Fprintln(stderr, "ebrcs:", err)
				return 1
			}
		}
		vecs, err := emb.EmbedQueries(imgs)
		if err != nil {
			fmt.Fprintln(stderr, "ebrcs:", err)
			return 1
		}
		for j, q := range chunk {
			hits, err := cat.Search(vecs[j], 5)
			if err != nil {
				fmt.Fprintln(stderr, "ebrcs:", err)
				return 1
			}
			outcomes = append(outcomes, recognition.Outcome{Label: q.label, Known: inCatalog[q.label], Hits: hits})
		}
		bar.Add(len(chunk))
	}
	bar.Finish()

	thr := emb.Threshold
	if *threshold >= 0 {
		thr = float32(*threshold)
	}
	rep := recognition.Summarise(outcomes, thr)
	cal := recognition.Calibrate(outcomes)
	calRep := recognition.Summarise(outcomes, cal)
	res := evalResult{Report: rep, Calibrated: cal, CalibratedAcc: calRep.Accuracy, CalibratedFAR: calRep.FalseAccept,
		CatalogProducts: len(inCatalog), CatalogVectors: cat.Len(), Embedder: emb.Source, Seconds: time.Since(start).Seconds()}
	if *reportDir != "" {
		if err := recognition.WriteReport(*reportDir, rep); err != nil {
			fmt.Fprintln(stderr, "ebrcs:", err)
			return 1
		}
	}
	if *asJSON {
		json.NewEncoder(stdout).Encode(res)
		return 0
	}
	printEval(stdout, &res, *reportDir)
	return 0
}

func printEval(w io.Writer, r *evalResult, reportDir string) {
	fmt.Fprintf(w, "catalog: %d products, %d vectors; embedder: %s\n", r.CatalogProducts, r.CatalogVectors, r.Embedder)
	fmt.Fprintf(w, "queries: %d (%d of products in the catalog)\n\n", r.N, r.Known)
	fmt.Fprintf(w, "%-32s %5s %6s %6s  %s\n", "product", "n", "top1", "top5", "most confused with")
	classes := append([]recognition.ClassResult(nil), r.Classes...)
	sort.Slice(classes, func(i, j int) bool { return classes[i].Name < classes[j].Name })
	for _, c := range classes {
		if !c.Known {
			fmt.Fprintf(w, "%-32s %5d %6s %6s  (not in the catalog)\n", c.Name, c.N, "-", "-")
			continue
		}
		fmt.Fprintf(w, "%-32s %5d %5.1f%% %5.1f%%  %s\n", c.Name, c.N, 100*c.Top1, 100*c.Top5, c.Confuse)
	}
	fmt.Fprintf(w, "\ntop-1 %.1f%%   top-5 %.1f%%   (n = %d)\n", 100*r.Top1, 100*r.Top5, r.Known)
	far := "n/a (every query's product is in the catalog; use --holdout)"
	if r.FalseAccept >= 0 {
		far = fmt.Sprintf("%.1f%%", 100*r.FalseAccept)
	}
	fmt.Fprintf(w, "at threshold %.3f: accuracy %.1f%%, false accepts %s, false rejects %.1f%%\n",
		r.Threshold, 100*r.Accuracy, far, 100*r.FalseReject)
	fmt.Fprintf(w, "best threshold on these queries: %.3f (accuracy %.1f%%)\n", r.Calibrated, 100*r.CalibratedAcc)
	if reportDir != "" {
		fmt.Fprintf(w, "report: %s/confusion.png, %s/scores.png\n", reportDir, reportDir)
	}
}
