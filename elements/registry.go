// Package elements is the registry of every EBRCS GStreamer element written in Go.
//
// The list below is the whole set: our binary registers it with GStreamer at start-up
// (RegisterAll), and the plugin library built by `make plugin` registers the same list for
// gst-launch-1.0. Adding an element means adding its package under elements/ and one line here.
package elements

import (
	"fmt"
	"sync"

	"github.com/go-gst/go-gst/gst"

	"github.com/ebrcs/ebrcs/elements/bgsub"
	"github.com/ebrcs/ebrcs/elements/counter"
	"github.com/ebrcs/ebrcs/elements/embed"
	"github.com/ebrcs/ebrcs/elements/goelement"
	"github.com/ebrcs/ebrcs/elements/match"
	"github.com/ebrcs/ebrcs/elements/overlay"
	"github.com/ebrcs/ebrcs/elements/passthrough"
	"github.com/ebrcs/ebrcs/elements/roigate"
	"github.com/ebrcs/ebrcs/internal/cores"
)

// All lists every element, in the order the docs show them.
var All = []goelement.Registrant{
	passthrough.Element,
	bgsub.Element,
	roigate.Element,
	embed.Element,
	match.Element,
	counter.Element,
	overlay.Element,
}

var (
	registerOnce sync.Once
	registerErr  error
)

// RegisterAll registers every element with GStreamer in this process (gst.Init must have run).
// Calling it again is a no-op.
func RegisterAll() error {
	registerOnce.Do(func() { registerErr = RegisterInto(nil) })
	return registerErr
}

// RegisterInto registers every element into plugin (nil: statically into the process).
func RegisterInto(plugin *gst.Plugin) error {
	// From here on GStreamer's threads call into Go: give them processors (see cores).
	cores.ForCallbacks()
	for _, r := range All {
		if err := r.Register(plugin); err != nil {
			return fmt.Errorf("register %s: %w", r.Describe().Name, err)
		}
	}
	return nil
}

// Infos returns the description of every element, in the order of All.
func Infos() []*goelement.Info {
	infos := make([]*goelement.Info, len(All))
	for i, r := range All {
		infos[i] = r.Describe()
	}
	return infos
}

// Lookup returns the description of the named element, or nil if it is not one of ours.
func Lookup(name string) *goelement.Info {
	for _, r := range All {
		if info := r.Describe(); info.Name == name {
			return info
		}
	}
	return nil
}
