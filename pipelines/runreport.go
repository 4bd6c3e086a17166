package pipelines

import (
	"sync"
	"time"

	"github.com/go-gst/go-gst/gst"

	"github.com/ebrcs/ebrcs/elements/framemeta"
)

// SecondReport is what the ROI gate did during one second of stream time.
type SecondReport struct {
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

// secondCollector collects the gate's decisions second by second from the frames reaching the
// sink, and hands each second on when the next one starts (so a live source reports as it
// goes).
type secondCollector struct {
	mu       sync.Mutex
	onSecond func(SecondReport) // nil: collect only
	current  *SecondReport
	done     []SecondReport
}

// onFrame is the pipeline's OnFrame hook (streaming thread).
func (r *secondCollector) onFrame(buf *gst.Buffer) {
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
		r.current = &SecondReport{Second: sec}
	}
	r.current.add(f)
}

// add counts one frame's results into the second.
func (s *SecondReport) add(f *framemeta.Frame) {
	s.Frames++
	s.MaxBlobs = max(s.MaxBlobs, len(f.Blobs))
	if g := f.Gate; g != nil {
		if n := len(s.Statuses); n == 0 || s.Statuses[n-1] != g.Status {
			s.Statuses = append(s.Statuses, g.Status)
		}
		if g.Entry {
			s.Entries++
		}
		if g.Recognize {
			s.Recognitions++
		}
	}
	if m := f.Match; m != nil {
		name := m.Product
		if !m.Known {
			name = "unknown"
		}
		if s.Matches == nil {
			s.Matches = map[string]int{}
		}
		s.Matches[name]++
	}
}

// flush closes the current second; r.mu is held.
func (r *secondCollector) flush() {
	if r.current == nil {
		return
	}
	r.done = append(r.done, *r.current)
	if r.onSecond != nil {
		r.onSecond(*r.current)
	}
	r.current = nil
}

// finish closes the last second and returns them all.
func (r *secondCollector) finish() []SecondReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.flush()
	return r.done
}
