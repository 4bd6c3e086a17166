package pipelines

import (
	"errors"
	"fmt"
	"strings"
)

// Error is one problem in a pipeline file, at a position.
type Error struct {
	File string
	Pos  Pos
	Msg  string
}

func (e *Error) Error() string {
	file := e.File
	if file == "" {
		file = "<pipeline>"
	}
	// Messages may quote a value from the file: never a password.
	if e.Pos.Line == 0 {
		return Redact(fmt.Sprintf("%s: %s", file, e.Msg))
	}
	return Redact(fmt.Sprintf("%s:%d:%d: %s", file, e.Pos.Line, e.Pos.Column, e.Msg))
}

// ErrorList is every problem found in a file, in file order. Its message has one line each.
type ErrorList []*Error

func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Errors returns the individual problems in err when it is a validation error.
func Errors(err error) []*Error {
	var list ErrorList
	if errors.As(err, &list) {
		return list
	}
	var one *Error
	if errors.As(err, &one) {
		return []*Error{one}
	}
	return nil
}

// LinkError says two adjacent elements could not be connected, or failed to agree on a format
// when the pipeline started.
type LinkError struct {
	From, To         string // element names
	FromCaps, ToCaps string // what each side offers / accepts
	Pos              Pos    // position of the second step in the file
	File             string
	Negotiation      bool // true: found at run time (not-negotiated), false: at link time
}

func (e *LinkError) Error() string {
	what := "cannot link"
	if e.Negotiation {
		what = "caps negotiation failed between"
	}
	msg := fmt.Sprintf("%s %s and %s: %s produces %s; %s accepts %s", what, e.From, e.To, e.From, e.FromCaps, e.To, e.ToCaps)
	if e.File != "" && e.Pos.Line > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Pos.Line, e.Pos.Column, msg)
	}
	return msg
}

// ErrNoPipeline: no pipeline file with this name.
var ErrNoPipeline = errors.New("no such pipeline")
