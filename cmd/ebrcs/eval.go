package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/ebrcs/ebrcs/models"
	"github.com/ebrcs/ebrcs/recognition"
)

const evalUsage = "usage: ebrcs eval --catalog DIR --queries DIR [--embedder FILE] [--holdout N] [--online [--seed S[,S...]]] [--json] [--report DIR]"

// cmdEval measures recognition (recognition.Evaluate): a catalog built from one directory,
// queries from another.
func cmdEval(args []string, stdout, stderr io.Writer) int {
	opts, asJSON, ok := parseEvalFlags(args, stderr)
	if !ok {
		return 2
	}
	if err := initGStreamer(); err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	defer recognition.CloseAll()
	opts.NewProgress = func(what string, total int) recognition.Progress { return newProgress(stderr, total, what) }
	res, err := recognition.Evaluate(opts)
	if err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	if asJSON {
		json.NewEncoder(stdout).Encode(res)
		return 0
	}
	printEval(stdout, res, opts.ReportDir)
	return 0
}

// parseEvalFlags parses `ebrcs eval`'s command line; false: a usage error, already reported.
func parseEvalFlags(args []string, stderr io.Writer) (opts recognition.EvalOptions, asJSON, ok bool) {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&opts.CatalogDir, "catalog", "", "catalog images: DIR/<product name>/*.jpg")
	fs.StringVar(&opts.QueriesDir, "queries", "", "query images: DIR/<product name>/*.jpg")
	fs.StringVar(&opts.Embedder, "embedder", "", "embedder configuration file; empty: the built-in default")
	fs.StringVar(&opts.ModelDir, "models", models.DefaultDir, "directory of the model files")
	fs.Float64Var(&opts.Threshold, "threshold", -1, "match threshold; -1: the embedder's count threshold in the catalog's score space")
	fs.IntVar(&opts.Holdout, "holdout", 0, "leave every N-th query product out of the catalog, to measure false accepts (0: none)")
	fs.BoolVar(&opts.Online, "online", false, "also run the online evaluation: queries in seeded random order, asked and wrongly counted ones answered and learned")
	seeds := fs.String("seed", "1", "the online run's seed; several, comma-separated, run once each and report their mean")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object")
	fs.StringVar(&opts.ReportDir, "report", "", "also write a confusion matrix, score histograms and ask rate against silent errors (PNG) here")
	if err := fs.Parse(args); err != nil {
		return opts, false, false
	}
	if opts.CatalogDir == "" || opts.QueriesDir == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, evalUsage)
		return opts, false, false
	}
	for _, f := range strings.Split(*seeds, ",") {
		s, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil {
			fmt.Fprintf(stderr, "ebrcs eval: --seed %q: want integers separated by commas\n", *seeds)
			return opts, false, false
		}
		opts.Seeds = append(opts.Seeds, s)
	}
	return opts, asJSON, true
}

// printEval prints the evaluation as a table per product and its totals.
func printEval(w io.Writer, r *recognition.Evaluation, reportDir string) {
	space := "cosine"
	if r.Adapted {
		space = "adapted"
	}
	fmt.Fprintf(w, "catalog: %d products, %d vectors; embedder: %s; scores: %s\n", r.CatalogProducts, r.CatalogVectors, r.Embedder, space)
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
	fmt.Fprintf(w, "decisions at the embedder's rules: %s\n", formatRates(r.Rates))
	if o := r.Online; o != nil {
		seeds := fmt.Sprint(o.Seed)
		if len(r.OnlineSeeds) > 1 {
			seeds = fmt.Sprintf("mean of %d seeds", len(r.OnlineSeeds))
		}
		fmt.Fprintf(w, "online (%s): top-1 %.1f%%, %s\n", seeds, 100*o.Top1, formatRates(o.Rates))
		fmt.Fprintf(w, "  second half: top-1 %.1f%%, ask %.1f%%, silent errors %.2f%%; learned %d views, %d none answers, %d refits\n",
			100*o.SecondHalf.Top1, 100*o.SecondHalf.AskRate, 100*o.SecondHalf.SilentErrorRate, o.LearnedViews, o.NoneViews, o.Refits)
	}
	if reportDir != "" {
		fmt.Fprintf(w, "report: %s/confusion.png, %s/scores.png, %s/tradeoff.png\n", reportDir, reportDir, reportDir)
	}
}

func formatRates(r recognition.Rates) string {
	s := fmt.Sprintf("ask %.1f%%, silent errors %.2f%%, missed %.1f%%", 100*r.AskRate, 100*r.SilentErrorRate, 100*r.MissRate)
	if r.UnknownSilentAcceptRate != nil {
		s += fmt.Sprintf(", unknown products counted %.1f%% (known counted wrongly %.2f%%)", 100**r.UnknownSilentAcceptRate, 100*r.KnownSilentErrorRate)
	}
	return s
}
