// Package pipelines defines EBRCS pipelines in YAML and runs them as real GStreamer pipelines.
//
// A pipeline file names a source, a chain of elements and a sink:
//
//	name: checkout
//	source: {type: test, pattern: ball}
//	elements:
//	  - element: videoconvert
//	  - caps: video/x-raw,format=RGBA
//	  - element: ebrcs_passthrough
//	    properties: {label: demo}
//	sink: {type: fake}
//
// The life of a file: Load parses and validates it against the installed GStreamer elements'
// real property specs (every problem reported as file:line:column), Build turns a valid Spec
// into a linked gst.Pipeline, a Supervisor runs one pipeline and restarts it with backoff when
// it fails, and a Manager keeps a directory of pipeline files running, hot-reloading the ones
// that change.
package pipelines

import (
	"crypto/sha256"
	"fmt"
	"time"
)

// Spec is a validated pipeline definition.
type Spec struct {
	Name        string
	Description string
	File        string // the file it was loaded from; "" when loaded from bytes
	Source      Endpoint
	Elements    []Step
	Sink        Endpoint
	Restart     RestartPolicy
	// Autostart: the server runs the pipeline as soon as it loads the file (the default).
	// Off for pipelines run on demand (`ebrcs run`, uploads): the server validates and lists
	// them, idle.
	Autostart bool

	// Raw is the file content, kept to detect changes and to show the definition back.
	Raw []byte
}

// Endpoint is the source or the sink of a pipeline: a type from the endpoint registry
// (endpoints.go) and its typed, defaulted parameters.
type Endpoint struct {
	Type   string
	Params Params
	Pos    Pos
}

// Step is one entry of the element chain: either an element with properties or a caps filter.
type Step struct {
	Element    string // element factory name; empty for a caps filter
	Caps       string // caps filter string; empty for an element
	Name       string // unique element name inside the pipeline
	Properties []PropertyValue
	Pos        Pos
}

// PropertyValue is one element property as written in the file, normalised to the string form
// GStreamer parses (the same as in a gst-launch line).
type PropertyValue struct {
	Name  string // canonical GObject name (words joined with '-')
	Value string
	Pos   Pos
}

// RestartPolicy says how the supervisor restarts a failed pipeline: after InitialBackoff,
// doubling on each consecutive failure up to MaxBackoff. A pipeline that has run for
// StableAfter is considered healthy again and the backoff starts over.
type RestartPolicy struct {
	InitialBackoff time.Duration
	MaxBackoff     time.Duration
	StableAfter    time.Duration
}

// DefaultRestartPolicy is used for keys a file does not set.
var DefaultRestartPolicy = RestartPolicy{
	InitialBackoff: 500 * time.Millisecond,
	MaxBackoff:     30 * time.Second,
	StableAfter:    10 * time.Second,
}

// Digest identifies the content a Spec was loaded from: two loads of unchanged bytes have the
// same digest, so reloading them is a no-op.
func (s *Spec) Digest() string {
	return fmt.Sprintf("%x", sha256.Sum256(s.Raw))
}

// Endless reports whether the pipeline's source never ends by itself (a camera, an endless test
// pattern, a looping file). For such a pipeline, end-of-stream is a failure to recover from.
func (s *Spec) Endless() bool {
	t := sourceTypes[s.Source.Type]
	return t != nil && t.Endless != nil && t.Endless(s.Source.Params)
}

// Uses reports whether a step of the pipeline is made by the element factory.
func (s *Spec) Uses(factory string) bool {
	for _, st := range s.Elements {
		if st.Element == factory {
			return true
		}
	}
	return false
}

// Property returns the value the file gives to a property of the first step made by the
// element factory; ok is false when no such step sets it.
func (s *Spec) Property(factory, name string) (value string, ok bool) {
	for _, st := range s.Elements {
		if st.Element != factory {
			continue
		}
		for _, p := range st.Properties {
			if p.Name == name {
				return p.Value, true
			}
		}
		return "", false
	}
	return "", false
}

// SilenceTimeout is how long the pipeline may go without a frame before the supervisor treats
// it as failed (0: never).
func (s *Spec) SilenceTimeout() time.Duration {
	t := sourceTypes[s.Source.Type]
	if t == nil || t.Silence == nil {
		return 0
	}
	return t.Silence(s.Source.Params)
}

// Pos is a position in a YAML file (1-based).
type Pos struct {
	Line, Column int
}

// Params holds an endpoint's parameters, typed according to its Fields.
type Params map[string]any

// String returns a string parameter ("" when unset).
func (p Params) String(name string) string { s, _ := p[name].(string); return s }

// Int returns an integer parameter (0 when unset).
func (p Params) Int(name string) int { i, _ := p[name].(int); return i }

// Bool returns a boolean parameter (false when unset).
func (p Params) Bool(name string) bool { b, _ := p[name].(bool); return b }

// Duration returns a duration parameter (0 when unset).
func (p Params) Duration(name string) time.Duration { d, _ := p[name].(time.Duration); return d }

// Has reports whether the parameter is set (explicitly or by a default).
func (p Params) Has(name string) bool { _, ok := p[name]; return ok }
