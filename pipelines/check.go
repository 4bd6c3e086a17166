package pipelines

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/go-gst/go-gst/gst"
)

// CheckFile validates a pipeline file and test-links it (TestLink): the checks the server
// makes before it runs or hot-swaps a file. A file that cannot be read is reported as
// "FILE: reason".
func CheckFile(file string) (*Spec, error) {
	spec, err := LoadFile(file)
	if err != nil {
		var pathErr *os.PathError
		if errors.As(err, &pathErr) {
			return nil, fmt.Errorf("%s: %v", file, pathErr.Err)
		}
		return nil, err
	}
	if err := TestLink(spec); err != nil {
		return nil, err
	}
	return spec, nil
}

// TestLink builds spec in the NULL state, which needs no device, network or file access, and
// returns the *LinkError of elements whose formats cannot meet. Other build errors (a missing
// input file, an unreachable camera) are run-time conditions, not faults of the definition:
// they are not returned.
func TestLink(spec *Spec) error {
	built, err := Build(&BuildContext{Spec: spec})
	if err != nil {
		var le *LinkError
		if errors.As(err, &le) {
			return err
		}
		return nil
	}
	built.Pipeline.SetState(gst.StateNull)
	built.Release()
	return nil
}

// Outline is the pipeline's chain in one line: its source type, each element (a caps filter as
// caps(...)) and its sink type, joined by arrows.
func (s *Spec) Outline() string {
	chain := []string{s.Source.Type}
	for _, st := range s.Elements {
		if st.Element != "" {
			chain = append(chain, st.Element)
		} else {
			chain = append(chain, "caps("+st.Caps+")")
		}
	}
	chain = append(chain, s.Sink.Type)
	return strings.Join(chain, " → ")
}
