package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/ebrcs/ebrcs/cart"
	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/pipelines"
	"github.com/ebrcs/ebrcs/recognition"
)

// cmdPipelinesCheck validates files: the same validation and test-link the server does before
// running or hot-swapping a file.
func cmdPipelinesCheck(files []string, stdout, stderr io.Writer) int {
	if len(files) == 0 {
		fmt.Fprintln(stderr, "usage: ebrcs pipelines check FILE...")
		return 2
	}
	if err := initGStreamer(); err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	code := 0
	for _, file := range files {
		summary, err := checkFile(file)
		if err != nil {
			fmt.Fprintln(stderr, err)
			code = 1
			continue
		}
		fmt.Fprintln(stdout, summary)
	}
	return code
}

// checkFile is the summary line of a valid file (pipelines.CheckFile).
func checkFile(file string) (string, error) {
	spec, err := pipelines.CheckFile(file)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s: ok: pipeline %q: %s", file, spec.Name, spec.Outline()), nil
}

// runResult is `ebrcs run --json`'s whole output: the final cart and the frames processed,
// and what the counter could not decide on.
type runResult struct {
	Items  map[string]int `json:"items"`
	Frames int64          `json:"frames"`
	// Pending are the visits held for an answer (reviews).
	Pending []pendingVisit `json:"pending,omitempty"`
	// Unknown counts the visits of objects that matched no product.
	Unknown int `json:"unknown,omitempty"`
}

// pendingVisit is a review of `ebrcs run --json`: when it was asked (stream time, seconds)
// and the candidates' names, best first.
type pendingVisit struct {
	StreamTime float64  `json:"stream_time"`
	Candidates []string `json:"candidates"`
}

// runSummary is the full report of `ebrcs run` (--details FILE).
type runSummary = pipelines.RunReport

// runFlags are `ebrcs run`'s options.
type runFlags struct {
	file, input, details string
	asJSON               bool
}

const runUsage = "usage: ebrcs run --pipeline FILE [--input PATH] [--json] [--details FILE]"

// parseRunFlags parses `ebrcs run`'s command line; false: a usage error, already reported.
func parseRunFlags(args []string, stderr io.Writer) (runFlags, bool) {
	var f runFlags
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&f.file, "pipeline", "", "pipeline YAML file")
	fs.StringVar(&f.input, "input", "", "video file for a file source (overrides source.path)")
	fs.BoolVar(&f.asJSON, "json", false, `print only the final cart as JSON on stdout: {"items": {...}, "frames": N}`)
	fs.StringVar(&f.details, "details", "", "also write the full report (state, timing, per-second ROI activity) as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return f, false
	}
	if f.file == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, runUsage)
		return f, false
	}
	return f, true
}

// cmdRun runs one pipeline to its end (or until interrupted) without restarting it. The
// pipeline's ebrcs_counter elements count into one cart, printed at the end.
func cmdRun(args []string, stdout, stderr io.Writer) int {
	f, ok := parseRunFlags(args, stderr)
	if !ok {
		return 2
	}
	if err := initGStreamer(); err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	spec, err := pipelines.LoadFile(f.file)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if f.input != "" && spec.Source.Type != "file" {
		fmt.Fprintf(stderr, "%s: --input needs a file source, this pipeline's source is %q\n", f.file, spec.Source.Type)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer recognition.CloseAll() // after the pipeline: it may hold a shared catalog
	rep, res, err := runCounting(ctx, spec, f, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	return reportRun(rep, res, f, stdout, stderr)
}

// runCounting runs spec to its end with one cart (package checkout's Run) bound to every
// counter of the pipeline. Without --json the cart's events and each second of the ROI gate's
// activity are printed as they happen.
func runCounting(ctx context.Context, spec *pipelines.Spec, f runFlags, stdout, stderr io.Writer) (*pipelines.RunReport, runResult, error) {
	run, err := checkout.NewRun()
	if err != nil {
		return nil, runResult{}, err
	}
	defer run.Close()
	printed := printEvents(run.Events, stdout, !f.asJSON)
	bar := newProgress(stderr, 1000, spec.Name)
	opts := pipelines.RunOptions{Input: f.input, Logger: quietLogger(stderr), Binding: run.Binding(),
		Items: func() map[string]int { return run.Cart.View().Totals() }, OnProgress: bar.To}
	if !f.asJSON {
		opts.OnSecond = func(s pipelines.SecondReport) { fmt.Fprintln(stdout, secondLine(&s)) }
	}
	rep := pipelines.RunToEnd(ctx, spec, opts)
	bar.Finish()
	run.Events.Close()
	res := runResult{Items: rep.Items, Frames: rep.Frames, Unknown: <-printed}
	for _, r := range run.Cart.View().Pending {
		p := pendingVisit{StreamTime: r.StreamTime, Candidates: make([]string, len(r.Candidates))}
		for i, c := range r.Candidates {
			p.Candidates[i] = c.Product
		}
		res.Pending = append(res.Pending, p)
	}
	return rep, res, nil
}

// printEvents prints the cart's events as they come (when show is set) until the bus is
// closed; the channel it returns gets the number of unknown events then.
func printEvents(events *cart.Bus, stdout io.Writer, show bool) <-chan int {
	printed := make(chan int, 1)
	sub := events.Subscribe(-1, 4096)
	go func() {
		unknown := 0
		for e := range sub.C {
			if e.Type == cart.EventUnknown {
				unknown++
			}
			if show {
				printEvent(stdout, e)
			}
		}
		printed <- unknown
	}()
	return printed
}

// reportRun writes the run's report (--details), prints its result and returns the exit code.
func reportRun(rep *pipelines.RunReport, res runResult, f runFlags, stdout, stderr io.Writer) int {
	if f.details != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(f.details, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(stderr, "ebrcs:", err)
			return 1
		}
	}
	if f.asJSON {
		json.NewEncoder(stdout).Encode(res)
	} else {
		printRun(stdout, rep, res)
	}
	if rep.Error != "" {
		fmt.Fprintln(stderr, "error:", rep.Error)
	}
	if rep.Failed() {
		return 1
	}
	return 0
}

// printRun prints the run's summary line and its cart.
func printRun(w io.Writer, rep *pipelines.RunReport, res runResult) {
	fmt.Fprintf(w, "pipeline %s: %s: %d frames in %.2fs (%.1f frames/s)\n",
		rep.Pipeline, rep.State, rep.Frames, rep.Seconds, float64(rep.Frames)/max(rep.Seconds, 1e-9))
	for _, p := range res.Pending {
		fmt.Fprintf(w, "waiting for an answer (asked at %.1fs): %s?\n", p.StreamTime, strings.Join(p.Candidates, ", "))
	}
	if len(rep.Items) == 0 {
		return
	}
	names := make([]string, 0, len(rep.Items))
	for n := range rep.Items {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "cart:")
	for _, n := range names {
		fmt.Fprintf(w, "  %3d × %s\n", rep.Items[n], n)
	}
}

// printEvent writes one counter event as a line of `ebrcs run`'s text output.
func printEvent(w io.Writer, e cart.Event) {
	at := fmt.Sprintf("%02d:%06.3f", int(e.StreamTime)/60, math.Mod(e.StreamTime, 60))
	switch e.Type {
	case cart.EventCount:
		fmt.Fprintf(w, "%s  count     %s (score %.3f), now %d in the cart\n", at, e.Product, e.Score, e.Quantity)
	case cart.EventCooldown:
		fmt.Fprintf(w, "%s  cooldown  %s (score %.3f), counted %.1fs ago\n", at, e.Product, e.Score, e.SinceLast)
	case cart.EventUnknown:
		fmt.Fprintf(w, "%s  unknown   no product of the catalog (closest %s, score %.3f)\n", at, e.Product, e.Score)
	case cart.EventReview:
		var names []string
		for _, c := range e.Review.Candidates {
			names = append(names, fmt.Sprintf("%s %.3f", c.Product, c.Score))
		}
		fmt.Fprintf(w, "%s  review    not sure which: %s\n", at, strings.Join(names, ", "))
	}
}

// secondLine is one second of the ROI gate's activity as `ebrcs run` prints it.
func secondLine(s *pipelines.SecondReport) string {
	statuses := make([]string, len(s.Statuses))
	for i, st := range s.Statuses {
		statuses[i] = string(st)
	}
	status := strings.Join(statuses, "→")
	if status == "" {
		status = "-"
	}
	line := fmt.Sprintf("%02d:%02d  frames %3d  blobs ≤%d  roi %-30s entries %d  recognitions %d",
		s.Second/60, s.Second%60, s.Frames, s.MaxBlobs, status, s.Entries, s.Recognitions)
	names := make([]string, 0, len(s.Matches))
	for n := range s.Matches {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		if i == 0 {
			line += "  matched"
		}
		line += fmt.Sprintf(" %s×%d", n, s.Matches[n])
	}
	return line
}
