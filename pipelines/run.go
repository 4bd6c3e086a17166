package pipelines

import (
	"context"
	"log/slog"
	"time"
)

// RunOptions tune RunToEnd.
type RunOptions struct {
	// Input is the video of a file source (overrides source.path; "": the file's).
	Input  string
	Logger *slog.Logger
	// Binding ties the pipeline to the run's cart; the zero Binding: the file alone.
	Binding Binding
	// Items reads the cart the run counted into, once the pipeline has ended; nil: none, the
	// report's cart is empty.
	Items func() map[string]int
	// OnSecond is handed each second of the ROI gate's activity as it closes, on the
	// streaming thread; nil: the seconds are only collected for the report.
	OnSecond func(SecondReport)
	// OnProgress is told how far through its source the run is (0 to 1), five times a
	// second while the source's length is known; nil: not told.
	OnProgress func(done float64)
}

// RunReport is what a run to the end of its source did (`ebrcs run --details`).
type RunReport struct {
	Pipeline string  `json:"pipeline"`
	State    State   `json:"state"`
	Frames   int64   `json:"frames"`
	Seconds  float64 `json:"seconds"`
	Error    string  `json:"error,omitempty"`
	// Items is the cart counted by the pipeline's ebrcs_counter (empty without one).
	Items map[string]int `json:"items"`
	// ROI is the gate's activity per second of stream time (pipelines with ebrcs_roigate or
	// ebrcs_bgsub).
	ROI []SecondReport `json:"roi,omitempty"`
}

// Failed reports whether the run ended in failure (its Error says why).
func (r *RunReport) Failed() bool { return r.State == StateFailed }

// progressEvery is how often RunToEnd reports its progress.
const progressEvery = 200 * time.Millisecond

// RunToEnd runs spec once, never restarting it, until its source ends, it fails, or ctx is
// done (the pipeline is then stopped), and reports what it did.
func RunToEnd(ctx context.Context, spec *Spec, opts RunOptions) *RunReport {
	seconds := &secondCollector{onSecond: opts.OnSecond}
	start := time.Now()
	sup := NewSupervisor(spec, SupervisorOptions{
		Input: opts.Input, MaxRestarts: 0, Logger: opts.Logger, OnFrame: seconds.onFrame, Binding: opts.Binding,
	})
	sup.Start()
	waitForEnd(ctx, sup, opts.OnProgress)
	st := sup.Status()
	rep := &RunReport{Pipeline: spec.Name, State: st.State, Frames: st.Frames, Seconds: time.Since(start).Seconds(),
		Items: map[string]int{}, ROI: seconds.finish()}
	if opts.Items != nil {
		rep.Items = opts.Items()
	}
	if rep.Failed() {
		rep.Error = st.LastError
	}
	return rep
}

// waitForEnd waits until sup has ended, stopping it when ctx is done, and reports its
// progress through the source meanwhile.
func waitForEnd(ctx context.Context, sup *Supervisor, onProgress func(float64)) {
	tick := time.NewTicker(progressEvery)
	defer tick.Stop()
	for {
		select {
		case <-sup.Done():
			return
		case <-ctx.Done():
			sup.Stop()
			return
		case <-tick.C:
			if pos, length, ok := sup.Position(); ok && onProgress != nil {
				onProgress(min(pos.Seconds()/length.Seconds(), 1))
			}
		}
	}
}
