package metrics

import "sync"

// Other is the label value that stands for every value beyond a label's bounded set.
//
// Every label value of every series must come from a bounded set: each distinct value is a
// new series that the registry keeps, and /metrics sends, for the life of the process. A value
// taken from a request (a method, a path) or from outside the code (a pipeline file's name)
// must go through a fixed list or a LabelSet first.
const Other = "other"

// MaxPipelineLabels is how many distinct pipeline names get series of their own; the
// pipelines beyond them count under "other". Pipeline names come from files an administrator
// writes, but a directory of generated files, or one renamed in a loop, must not grow
// /metrics without end.
const MaxPipelineLabels = 64

// PipelineNames is the bounded set of the pipeline label's values (ebrcs_pipeline_*).
var PipelineNames = NewLabelSet(MaxPipelineLabels)

// LabelSet bounds the values of one label: the fixed values, and the first max other values
// it is asked about (in order of first use); anything else is Other. Forget frees a value's
// place when what it named is gone. Safe for concurrent use.
type LabelSet struct {
	mu    sync.Mutex
	max   int
	fixed map[string]bool
	seen  map[string]bool
}

// NewLabelSet admits the fixed values always and up to max others.
func NewLabelSet(max int, fixed ...string) *LabelSet {
	l := &LabelSet{max: max, fixed: map[string]bool{}, seen: map[string]bool{}}
	for _, v := range fixed {
		l.fixed[v] = true
	}
	return l
}

// Value returns v when it is admitted (or can still be), else Other.
func (l *LabelSet) Value(v string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.fixed[v], l.seen[v]:
		return v
	case v == Other || len(l.seen) >= l.max:
		return Other
	}
	l.seen[v] = true
	return v
}

// Forget frees v's place, and reports whether v had one (fixed values keep theirs).
func (l *LabelSet) Forget(v string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.seen[v] {
		return false
	}
	delete(l.seen, v)
	return true
}

// Len is the number of admitted values beyond the fixed ones.
func (l *LabelSet) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seen)
}

// ForgetPipeline drops the series of a pipeline that no longer exists (its file was removed,
// or renamed) and frees its name's place in PipelineNames. A pipeline counted under Other
// keeps that series: other pipelines may still be counted there.
func ForgetPipeline(name string) {
	if !PipelineNames.Forget(name) {
		return
	}
	for _, at := range []string{"source", "sink"} {
		PipelineFrames.DeleteLabelValues(name, at)
	}
	PipelineDropped.DeleteLabelValues(name)
	PipelineLateAnalysed.DeleteLabelValues(name)
}
