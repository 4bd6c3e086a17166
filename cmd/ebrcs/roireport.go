package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/ebrcs/ebrcs/elements/framemeta"
)

// secondReport is what the ROI gate did during one second of stream time.
type secondReport struct {
	Second       int                   `json:"second"`
	Frames       int                   `json:"frames"`
	MaxBlobs     int                   `json:"max_blobs"`
	Statuses     []framemeta.ROIStatus `json:"statuses"` // in order, repeats collapsed
	Entries      int                   `json:"entries"`
	Recognitions int                   `json:"recognitions"`
	// Matches counts the recognitions per best product ("unknown" below the threshold),
	// for pipelines with ebrcs_match.
	Matches map[string]int `json:"matches,omitempty"`
}

// roiReporter collects the gate's decisions second by second from the frames reaching the
// sink, and prints each second when the next one starts (so a live source reports as it goes).
type roiReporter struct {
	mu      sync.Mutex
	out     io.Writer // nil: collect only
	current *secondReport
	done    []secondReport
}

// onFrame is the pipeline's OnFrame hook (streaming thread).
func (r *roiReporter) onFrame(buf *gst.Buffer) {
	f := framemeta.Get(buf)
	if f == nil || (f.Gate == nil && !f.Detected) {
		return
	}
	sec := 0
	if pts := buf.PresentationTimestamp(); pts != gst.ClockTimeNone {
		sec = int(time.Duration(pts) / time.Second)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current == nil || r.current.Second != sec {
		r.flush()
		r.current = &secondReport{Second: sec}
	}
	c := r.current
	c.Frames++
	c.MaxBlobs = max(c.MaxBlobs, len(f.Blobs))
	if g := f.Gate; g != nil {
		if n := len(c.Statuses); n == 0 || c.Statuses[n-1] != g.Status {
			c.Statuses = append(c.Statuses, g.Status)
		}
		if g.Entry {
			c.Entries++
		}
		if g.Recognize {
			c.Recognitions++
		}
	}
	if m := f.Match; m != nil {
		name := m.Product
		if !m.Known {
			name = "unknown"
		}
		if c.Matches == nil {
			c.Matches = map[string]int{}
		}
		c.Matches[name]++
	}
}

// flush closes the current second; r.mu is held.
func (r *roiReporter) flush() {
	if r.current == nil {
		return
	}
	r.done = append(r.done, *r.current)
	if r.out != nil {
		fmt.Fprintln(r.out, r.current.line())
	}
	r.current = nil
}

// finish closes the last second and returns them all.
func (r *roiReporter) finish() []secondReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flush()
	return r.done
}

func (s *secondReport) line() string {
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
