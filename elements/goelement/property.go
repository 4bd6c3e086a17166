package goelement

import (
	"fmt"
	"math"
	"sync"

	"github.com/go-gst/go-glib/glib"
	"github.com/go-gst/go-gst/gst"
)

// Kind is the value type of a property.
type Kind int

// The property kinds. Each maps to one GLib type, so that YAML validation, gst-launch and
// gst-inspect all see the same thing.
const (
	Bool   Kind = iota // gboolean
	Int                // gint, with Min/Max
	Int64              // gint64, with Min/Max
	Double             // gdouble, with Min/Max
	String             // gchararray
)

func (k Kind) String() string {
	switch k {
	case Bool:
		return "bool"
	case Int:
		return "int"
	case Int64:
		return "int64"
	case Double:
		return "double"
	case String:
		return "string"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Property declares one element property. The same declaration installs the GObject property
// (so gst-inspect, gst-launch and our YAML validator see it), stores its value and documents it.
type Property struct {
	Name string // GObject name: lower case, words joined with '-' (YAML may use '_')
	Doc  string // one sentence for users; becomes the GObject blurb and the docs
	Kind Kind
	// Default is the initial value; its Go type must match Kind: bool, int, int64, float64
	// or string.
	Default any
	// Min and Max bound Int, Int64 and Double properties (inclusive). Both zero means the
	// type's full range.
	Min, Max float64
	// Mutable says the property may change while the pipeline plays (GST_PARAM_MUTABLE_PLAYING).
	// The element reads the new value on its next frame.
	Mutable bool
	// ReadOnly properties are reported by the element (statistics); the Processor provides
	// them through PropertyReader.
	ReadOnly bool
	// Check validates a value beyond its kind and range (e.g. the syntax of a polygon
	// string). The YAML validator calls it, and a value it refuses at run time is not
	// applied: the element posts a warning and keeps the previous value. nil: no check.
	Check func(v any) error
}

func (p *Property) check() error {
	ok := false
	switch p.Kind {
	case Bool:
		_, ok = p.Default.(bool)
	case Int:
		_, ok = p.Default.(int)
	case Int64:
		_, ok = p.Default.(int64)
	case Double:
		_, ok = p.Default.(float64)
	case String:
		_, ok = p.Default.(string)
	}
	if !ok {
		return fmt.Errorf("property %q: default %v (%T) does not match kind %s", p.Name, p.Default, p.Default, p.Kind)
	}
	return nil
}

// bounds returns the property's range, defaulting to the full range of its GLib type.
func (p *Property) bounds() (float64, float64) {
	if p.Min != 0 || p.Max != 0 {
		return p.Min, p.Max
	}
	switch p.Kind {
	case Int:
		return math.MinInt32, math.MaxInt32
	case Int64:
		return math.MinInt64, math.MaxInt64
	default:
		return -math.MaxFloat64, math.MaxFloat64
	}
}

func (p *Property) paramSpec() *glib.ParamSpec {
	flags := glib.ParameterReadWrite
	if p.ReadOnly {
		flags = glib.ParameterReadable
	}
	if p.Mutable {
		flags |= glib.ParameterFlags(gst.ParameterMutablePlaying)
	}
	lo, hi := p.bounds()
	switch p.Kind {
	case Bool:
		return glib.NewBoolParam(p.Name, p.Name, p.Doc, p.Default.(bool), flags)
	case Int:
		return glib.NewIntParam(p.Name, p.Name, p.Doc, int(lo), int(hi), p.Default.(int), flags)
	case Int64:
		// Not through float64: MaxInt64 does not survive the round trip.
		ilo, ihi := int64(math.MinInt64), int64(math.MaxInt64)
		if p.Min != 0 || p.Max != 0 {
			ilo, ihi = int64(p.Min), int64(p.Max)
		}
		return glib.NewInt64Param(p.Name, p.Name, p.Doc, ilo, ihi, p.Default.(int64), flags)
	case Double:
		return glib.NewFloat64Param(p.Name, p.Name, p.Doc, lo, hi, p.Default.(float64), flags)
	default:
		def := p.Default.(string)
		return glib.NewStringParam(p.Name, p.Name, p.Doc, &def, flags)
	}
}

// Props holds the current values of one element instance's properties. GObject sets them from
// the application thread while the streaming thread reads them, hence the lock.
type Props struct {
	mu     sync.RWMutex
	decls  []Property
	index  map[string]int
	values []any
}

func newProps(decls []Property) *Props {
	p := &Props{decls: decls, index: make(map[string]int, len(decls)), values: make([]any, len(decls))}
	for i, d := range decls {
		p.index[d.Name] = i
		p.values[i] = d.Default
	}
	return p
}

func (p *Props) get(name string) any {
	i, ok := p.index[name]
	if !ok {
		// A typo in an element's own code, not a user error: fail loudly in tests.
		panic(fmt.Sprintf("goelement: no property %q", name))
	}
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.values[i]
}

func (p *Props) set(i int, v any) {
	p.mu.Lock()
	p.values[i] = v
	p.mu.Unlock()
}

// Bool returns the current value of a Bool property.
func (p *Props) Bool(name string) bool { return p.get(name).(bool) }

// Int returns the current value of an Int property.
func (p *Props) Int(name string) int { return p.get(name).(int) }

// Int64 returns the current value of an Int64 property.
func (p *Props) Int64(name string) int64 { return p.get(name).(int64) }

// Double returns the current value of a Double property.
func (p *Props) Double(name string) float64 { return p.get(name).(float64) }

// String returns the current value of a String property.
func (p *Props) String(name string) string { return p.get(name).(string) }

// fromGValue converts a value GObject hands us to the Go type of the property's Kind.
func fromGValue(decl *Property, v any) (any, error) {
	switch decl.Kind {
	case Bool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case Int:
		if i, ok := v.(int); ok {
			return i, nil
		}
	case Int64:
		if i, ok := v.(int64); ok {
			return i, nil
		}
	case Double:
		if f, ok := v.(float64); ok {
			return f, nil
		}
	case String:
		switch s := v.(type) {
		case string:
			return s, nil
		case nil:
			return "", nil
		}
	}
	return nil, fmt.Errorf("property %q: got %T, want %s", decl.Name, v, decl.Kind)
}

// NewProcessor creates a processor outside GStreamer, with its properties at their defaults
// except those in values (Go values of the properties' kinds). It serves unit tests of an
// element's logic; pipelines create processors through the registered element.
func (d *Definition[T]) NewProcessor(values map[string]any) (T, error) {
	props := newProps(d.Properties)
	for name, v := range values {
		i, ok := props.index[name]
		if !ok {
			var zero T
			return zero, fmt.Errorf("%s: no property %q", d.Name, name)
		}
		cv, err := fromGValue(&props.decls[i], v)
		if err != nil {
			var zero T
			return zero, fmt.Errorf("%s: property %q: %w", d.Name, name, err)
		}
		props.set(i, cv)
	}
	return d.New(props), nil
}

// Set changes a property value, as a GObject set would (for tests of mutable properties).
func (p *Props) Set(name string, v any) error {
	i, ok := p.index[name]
	if !ok {
		return fmt.Errorf("no property %q", name)
	}
	cv, err := fromGValue(&p.decls[i], v)
	if err != nil {
		return err
	}
	p.set(i, cv)
	return nil
}
