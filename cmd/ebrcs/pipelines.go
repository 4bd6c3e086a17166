package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/ebrcs/ebrcs/internal/recognition"
	"github.com/ebrcs/ebrcs/pipelines"
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

// runSummary is what `ebrcs run` reports.
type runSummary struct {
	Pipeline string          `json:"pipeline"`
	State    pipelines.State `json:"state"`
	Frames   int64           `json:"frames"`
	Seconds  float64         `json:"seconds"`
	Error    string          `json:"error,omitempty"`
	// ROI is the gate's activity per second of stream time (pipelines with ebrcs_roigate or
	// ebrcs_bgsub).
	ROI []secondReport `json:"roi,omitempty"`
}

// cmdRun runs one pipeline to its end (or until interrupted) without restarting it.
func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("pipeline", "", "pipeline YAML file")
	input := fs.String("input", "", "video file for a file source (overrides source.path)")
	asJSON := fs.Bool("json", false, "print the summary as JSON on stdout, nothing else")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *file == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: ebrcs run --pipeline FILE [--input PATH] [--json]")
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

	report := &roiReporter{}
	if !*asJSON {
		report.out = stdout
	}
	start := time.Now()
	sup := pipelines.NewSupervisor(spec, pipelines.SupervisorOptions{
		Input: *input, MaxRestarts: 0, Logger: quietLogger(stderr), OnFrame: report.onFrame,
	})
	sup.Start()
	select {
	case <-sup.Done():
	case <-ctx.Done():
		sup.Stop()
	}
	st := sup.Status()
	sum := runSummary{Pipeline: spec.Name, State: st.State, Frames: st.Frames, Seconds: time.Since(start).Seconds(), ROI: report.finish()}
	if st.State == pipelines.StateFailed {
		sum.Error = st.LastError
	}
	if *asJSON {
		json.NewEncoder(stdout).Encode(sum)
	} else {
		fmt.Fprintf(stdout, "pipeline %s: %s: %d frames in %.2fs (%.1f frames/s)\n",
			sum.Pipeline, sum.State, sum.Frames, sum.Seconds, float64(sum.Frames)/max(sum.Seconds, 1e-9))
		if sum.Error != "" {
			fmt.Fprintln(stderr, "error:", sum.Error)
		}
	}
	if st.State == pipelines.StateFailed {
		return 1
	}
	return 0
}
