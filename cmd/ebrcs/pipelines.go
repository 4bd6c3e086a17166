package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/ebrcs/ebrcs/cart"
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

func checkFile(file string) (string, error) {
	spec, err := pipelines.LoadFile(file)
	if err != nil {
		var pathErr *os.PathError
		if errors.As(err, &pathErr) {
			return "", fmt.Errorf("%s: %v", file, pathErr.Err)
		}
		return "", err
	}
	built, err := pipelines.Build(&pipelines.BuildContext{Spec: spec})
	if err != nil {
		var le *pipelines.LinkError
		if errors.As(err, &le) {
			return "", err
		}
		// Sources that need a file or a device at build time can still be valid.
	} else {
		built.Pipeline.SetState(gst.StateNull)
		built.Release()
	}
	chain := []string{spec.Source.Type}
	for _, st := range spec.Elements {
		if st.Element != "" {
			chain = append(chain, st.Element)
		} else {
			chain = append(chain, "caps("+st.Caps+")")
		}
	}
	chain = append(chain, spec.Sink.Type)
	return fmt.Sprintf("%s: ok: pipeline %q: %s", file, spec.Name, strings.Join(chain, " → ")), nil
}

// runResult is `ebrcs run --json`'s whole output: the final cart and the frames processed.
type runResult struct {
	Items  map[string]int `json:"items"`
	Frames int64          `json:"frames"`
}

// runSummary is the full report of `ebrcs run` (--details FILE).
type runSummary struct {
	Pipeline string          `json:"pipeline"`
	State    pipelines.State `json:"state"`
	Frames   int64           `json:"frames"`
	Seconds  float64         `json:"seconds"`
	Error    string          `json:"error,omitempty"`
	// Items is the cart counted by the pipeline's ebrcs_counter (empty without one).
	Items map[string]int `json:"items"`
	// ROI is the gate's activity per second of stream time (pipelines with ebrcs_roigate or
	// ebrcs_bgsub).
	ROI []secondReport `json:"roi,omitempty"`
}

// cmdRun runs one pipeline to its end (or until interrupted) without restarting it. The
// pipeline's ebrcs_counter elements count into one cart, printed at the end.
func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("pipeline", "", "pipeline YAML file")
	input := fs.String("input", "", "video file for a file source (overrides source.path)")
	asJSON := fs.Bool("json", false, `print only the final cart as JSON on stdout: {"items": {...}, "frames": N}`)
	details := fs.String("details", "", "also write the full report (state, timing, per-second ROI activity) as JSON to this file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *file == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: ebrcs run --pipeline FILE [--input PATH] [--json] [--details FILE]")
		return 2
	}
	if err := initGStreamer(); err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	spec, err := pipelines.LoadFile(*file)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *input != "" && spec.Source.Type != "file" {
		fmt.Fprintf(stderr, "%s: --input needs a file source, this pipeline's source is %q\n", *file, spec.Source.Type)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer recognition.CloseAll() // after the pipeline: it may hold a shared catalog

	// One cart for the run, bound to every counter of the pipeline. Without --json its events
	// are printed as they happen.
	events := cart.NewBus(0)
	counted := cart.NewCart(events)
	printed := make(chan struct{})
	sub := events.Subscribe(-1, 4096)
	go func() {
		defer close(printed)
		for e := range sub.C {
			if !*asJSON {
				printEvent(stdout, e)
			}
		}
	}()
	key := fmt.Sprintf("run-%d", os.Getpid())
	if err := cart.Register(key, counted); err != nil {
		fmt.Fprintln(stderr, "ebrcs:", err)
		return 1
	}
	defer cart.Unregister(key)
	bind := func(step *pipelines.Step, el *gst.Element) error {
		if step.Element == "ebrcs_counter" {
			return el.SetProperty("session", key)
		}
		return nil
	}

	report := &roiReporter{}
	if !*asJSON {
		report.out = stdout
	}
	start := time.Now()
	sup := pipelines.NewSupervisor(spec, pipelines.SupervisorOptions{
		Input: *input, MaxRestarts: 0, Logger: quietLogger(stderr), OnFrame: report.onFrame, Configure: bind,
	})
	sup.Start()
	bar := newProgress(stderr, 1000, spec.Name)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	shown := 0
wait:
	for {
		select {
		case <-sup.Done():
			break wait
		case <-ctx.Done():
			sup.Stop()
			break wait
		case <-tick.C:
			if pos, length, ok := sup.Position(); ok {
				if n := int(1000 * min(pos.Seconds()/length.Seconds(), 1)); n > shown {
					bar.Add(n - shown)
					shown = n
				}
			}
		}
	}
	bar.Finish()
	events.Close()
	<-printed
	st := sup.Status()
	items := counted.View().Totals()
	sum := runSummary{Pipeline: spec.Name, State: st.State, Frames: st.Frames, Seconds: time.Since(start).Seconds(),
		Items: items, ROI: report.finish()}
	if st.State == pipelines.StateFailed {
		sum.Error = st.LastError
	}
	if *details != "" {
		b, _ := json.MarshalIndent(sum, "", "  ")
		if err := os.WriteFile(*details, append(b, '\n'), 0o644); err != nil {
			fmt.Fprintln(stderr, "ebrcs:", err)
			return 1
		}
	}
	if *asJSON {
		json.NewEncoder(stdout).Encode(runResult{Items: items, Frames: st.Frames})
	} else {
		fmt.Fprintf(stdout, "pipeline %s: %s: %d frames in %.2fs (%.1f frames/s)\n",
			sum.Pipeline, sum.State, sum.Frames, sum.Seconds, float64(sum.Frames)/max(sum.Seconds, 1e-9))
		if len(items) > 0 {
			names := make([]string, 0, len(items))
			for n := range items {
				names = append(names, n)
			}
			sort.Strings(names)
			fmt.Fprintln(stdout, "cart:")
			for _, n := range names {
				fmt.Fprintf(stdout, "  %3d × %s\n", items[n], n)
			}
		}
	}
	if sum.Error != "" {
		fmt.Fprintln(stderr, "error:", sum.Error)
	}
	if st.State == pipelines.StateFailed {
		return 1
	}
	return 0
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
		fmt.Fprintf(w, "%s  unknown   best %s (score %.3f) is below the threshold\n", at, e.Product, e.Score)
	}
}
