// Package gstprops reads GStreamer element factories' real GObject property specs, and parses
// and sets property values from strings exactly as gst-launch-1.0 does.
//
// The pipeline validator uses it so that a YAML file is checked against what the installed
// elements really accept (names, types, ranges, enum values), for native elements and ours
// alike: our Go elements install ordinary GObject properties, so nothing here is special-cased.
package gstprops

/*
#cgo pkg-config: gstreamer-1.0 gstreamer-video-1.0
#cgo CFLAGS: -I${SRCDIR}
#include <stdlib.h>
#include "gstprops.h"
*/
import "C"

import (
	"errors"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/go-gst/go-gst/gst"
)

// Kind is the broad value type of a property, enough to check a YAML scalar against it.
type Kind int

// Property kinds.
const (
	Other  Kind = iota // caps, fractions, structures, objects: passed to GStreamer as a string
	Bool               // gboolean
	Int                // any integer type
	Float              // gfloat, gdouble
	String             // gchararray
	Enum               // a GEnum: its nick, name or number
	Flags              // a GFlags: nicks joined with '+'
)

func (k Kind) String() string {
	return [...]string{"value", "bool", "integer", "number", "string", "enum", "flags"}[k]
}

// Spec is one property of an element factory.
type Spec struct {
	Name          string
	Blurb         string
	Type          string // GType name
	Kind          Kind
	Readable      bool
	Writable      bool
	ConstructOnly bool
	Mutable       bool // may change while PLAYING
	Default       string
	Min, Max      string   // numeric range, empty when not numeric
	Choices       []string // enum or flags nicks
}

var (
	cacheMu sync.Mutex
	cache   = map[string][]Spec{}
)

// ErrNoFactory is returned for an element name GStreamer does not know.
var ErrNoFactory = errors.New("no such element factory")

// Factory returns the property specs of the named element factory (cached).
func Factory(name string) ([]Spec, error) {
	cacheMu.Lock()
	defer cacheMu.Unlock()
	if specs, ok := cache[name]; ok {
		return specs, nil
	}
	cname := C.CString(name)
	defer C.free(unsafe.Pointer(cname))
	var props *C.EbrcsPropSpec
	n := int(C.ebrcs_factory_props(cname, &props))
	if n < 0 {
		return nil, ErrNoFactory
	}
	defer C.ebrcs_free_props(props, C.int(n))
	specs := make([]Spec, n)
	for i, p := range unsafe.Slice(props, n) {
		specs[i] = Spec{
			Name: C.GoString(p.name), Blurb: C.GoString(p.blurb), Type: C.GoString(p.type_name),
			Kind:     Kind(p.kind),
			Readable: p.readable != 0, Writable: p.writable != 0,
			ConstructOnly: p.construct_only != 0, Mutable: p.mutable_playing != 0,
			Default: goStringOrEmpty(p.default_str),
			Min:     goStringOrEmpty(p.min_str), Max: goStringOrEmpty(p.max_str),
		}
		if p.choices != nil {
			specs[i].Choices = strings.Split(C.GoString(p.choices), "\n")
		}
	}
	cache[name] = specs
	return specs, nil
}

// Lookup returns the named property of a factory, accepting '_' for '-' as GLib does.
func Lookup(specs []Spec, prop string) *Spec {
	prop = Canonical(prop)
	for i := range specs {
		if specs[i].Name == prop {
			return &specs[i]
		}
	}
	return nil
}

// Canonical returns a property name in GLib's canonical form (words joined by '-').
func Canonical(prop string) string { return strings.ReplaceAll(prop, "_", "-") }

// Check parses value for factory's property prop as GStreamer would, including the range
// check, without creating an element. It returns nil when the value is acceptable.
func Check(factory, prop, value string) error {
	cf, cp, cv := C.CString(factory), C.CString(Canonical(prop)), C.CString(value)
	defer C.free(unsafe.Pointer(cf))
	defer C.free(unsafe.Pointer(cp))
	defer C.free(unsafe.Pointer(cv))
	return takeError(C.ebrcs_check_prop_value(cf, cp, cv))
}

// Set parses value as Check does and sets it on the element.
func Set(el *gst.Element, prop, value string) error {
	cp, cv := C.CString(Canonical(prop)), C.CString(value)
	defer C.free(unsafe.Pointer(cp))
	defer C.free(unsafe.Pointer(cv))
	err := takeError(C.ebrcs_set_prop_value((*C.GstElement)(unsafe.Pointer(el.Instance())), cp, cv))
	// el's wrapper may hold the element's only reference (a new element not yet in a bin),
	// and a Go element's setter runs Go code inside the call, where a collection can happen.
	runtime.KeepAlive(el)
	return err
}

// FactoryNames returns every element factory GStreamer knows, ours included once registered.
func FactoryNames() []string {
	s := C.ebrcs_factory_names()
	defer C.g_free(C.gpointer(s))
	return strings.Split(C.GoString(s), "\n")
}

func takeError(msg *C.char) error {
	if msg == nil {
		return nil
	}
	defer C.g_free(C.gpointer(msg))
	return errors.New(C.GoString(msg))
}

func goStringOrEmpty(s *C.char) string {
	if s == nil {
		return ""
	}
	return C.GoString(s)
}

// IsVideoFormat reports whether name is a raw video format GStreamer knows (I420, RGBA, ...).
func IsVideoFormat(name string) bool {
	c := C.CString(name)
	defer C.free(unsafe.Pointer(c))
	return C.ebrcs_is_video_format(c) != 0
}

// Klass returns the factory's klass metadata, e.g. "Sink/File" ("" for an unknown factory).
// (go-gst's ElementFactory.GetMetadata frees the factory's own string: do not use it.)
func Klass(factory string) string {
	c := C.CString(factory)
	defer C.free(unsafe.Pointer(c))
	k := C.ebrcs_factory_klass(c)
	if k == nil {
		return ""
	}
	defer C.g_free(C.gpointer(k))
	return C.GoString(k)
}
