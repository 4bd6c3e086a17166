package pipelines

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-gst/go-gst/gst"
	"gopkg.in/yaml.v3"

	"github.com/ebrcs/ebrcs/elements"
	"github.com/ebrcs/ebrcs/elements/goelement"
	"github.com/ebrcs/ebrcs/pipelines/gstprops"
)

// LoadFile reads and validates a pipeline file. GStreamer must be initialised and our elements
// registered. A validation failure is an ErrorList naming file:line:column for each problem.
func LoadFile(path string) (*Spec, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Load(path, raw)
}

// Load validates a pipeline definition given as bytes; file is used in messages and to name
// the pipeline when the definition has no name.
func Load(file string, raw []byte) (*Spec, error) {
	return LoadWithPolicy(file, raw, nil)
}

type loader struct {
	file string
	errs ErrorList
	// policy, when set, bounds what the definition may reach on the file system (policy.go).
	policy *Policy
}

func (l *loader) errorf(n *yaml.Node, format string, args ...any) {
	pos := Pos{}
	if n != nil {
		pos = Pos{n.Line, n.Column}
	}
	l.errs = append(l.errs, &Error{File: l.file, Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func (l *loader) load(raw []byte) *Spec {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			l.errorf(nil, "empty file: a pipeline needs at least a source and a sink")
			return nil
		}
		msg := err.Error()
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			l.errs = append(l.errs, &Error{File: l.file, Pos: Pos{line, 1}, Msg: "invalid YAML: " + m[2]})
		} else {
			l.errorf(nil, "invalid YAML: %s", strings.TrimPrefix(msg, "yaml: "))
		}
		return nil
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		l.errorf(root, "a pipeline file must be a mapping with source, elements and sink")
		return nil
	}
	spec := &Spec{Raw: raw, File: l.file, Restart: DefaultRestartPolicy, Autostart: true}
	fields := l.mapping(root, "pipeline", []string{"name", "description", "autostart", "source", "elements", "sink", "restart"})
	if n := fields["name"]; n != nil {
		spec.Name = l.scalarString(n, "name")
		if spec.Name == "" && n.Kind == yaml.ScalarNode {
			l.errorf(n, "name is empty: give the pipeline a name, or leave the key out to use the file's")
		} else if spec.Name != "" && !namePattern.MatchString(spec.Name) {
			l.errorf(n, "name %q: use lower-case letters, digits, '-' and '_' (at most 63, starting with a letter or digit)", spec.Name)
		}
	} else {
		base := strings.TrimSuffix(filepath.Base(l.file), filepath.Ext(l.file))
		if !namePattern.MatchString(base) {
			l.errorf(root, "no name, and the file name %q is not a valid pipeline name: add name:", base)
		}
		spec.Name = base
	}
	if n := fields["description"]; n != nil {
		spec.Description = l.scalarString(n, "description")
	}
	if n := fields["autostart"]; n != nil {
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			l.errorf(n, "autostart must be true or false, not %q", n.Value)
		} else {
			spec.Autostart = n.Value == "true"
		}
	}
	if n := fields["source"]; n != nil {
		spec.Source = l.endpoint(n, "source", sourceTypes)
		if l.policy != nil {
			l.checkSource(n, spec.Source)
		}
	} else {
		l.errorf(root, "missing source (e.g. source: {type: test})")
	}
	if n := fields["elements"]; n != nil {
		spec.Elements = l.steps(n)
	}
	if n := fields["sink"]; n != nil {
		spec.Sink = l.endpoint(n, "sink", sinkTypes)
	} else {
		l.errorf(root, "missing sink (e.g. sink: {type: fake})")
	}
	if n := fields["restart"]; n != nil {
		l.restart(n, &spec.Restart)
	}
	// A WebRTC pipeline is a template: one instance runs per WHIP session. It cannot start
	// on its own, and its webrtc sink needs a webrtc source (the peer to send the video to).
	if spec.Source.Type == "webrtc" {
		if n := fields["autostart"]; n != nil && spec.Autostart {
			l.errorf(n, "a webrtc pipeline runs once per WebRTC session (POST /whip/%s): set autostart: false", spec.Name)
		}
		spec.Autostart = false
	}
	if spec.Sink.Type == "webrtc" && spec.Source.Type != "webrtc" && fields["sink"] != nil {
		l.errorf(fields["sink"], "a webrtc sink sends the video back to a WebRTC peer: it needs a webrtc source")
	}
	return spec
}

// mapping checks that n is a mapping whose keys are all in allowed, and returns the value
// nodes by key. Unknown and duplicate keys are reported with suggestions.
func (l *loader) mapping(n *yaml.Node, what string, allowed []string) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "%s must be a mapping (key: value pairs)", what)
		return out
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		if !contains(allowed, key) {
			l.errorf(k, "unknown key %q in %s%s (allowed: %s)", key, what, didYouMean(key, allowed), strings.Join(allowed, ", "))
			continue
		}
		if _, dup := out[key]; dup {
			l.errorf(k, "duplicate key %q in %s", key, what)
			continue
		}
		out[key] = v
	}
	return out
}

func (l *loader) scalarString(n *yaml.Node, what string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		l.errorf(n, "%s must be a single value", what)
		return ""
	}
	return n.Value
}

func (l *loader) endpoint(n *yaml.Node, what string, types map[string]*EndpointType) Endpoint {
	ep := Endpoint{Pos: Pos{n.Line, n.Column}, Params: Params{}}
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "%s must be a mapping with a type, e.g. %s: {type: %s}", what, what, firstKey(types))
		return ep
	}
	var typeNode *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "type" {
			typeNode = n.Content[i+1]
		}
	}
	if typeNode == nil {
		l.errorf(n, "%s has no type (one of: %s)", what, strings.Join(sortedKeys(types), ", "))
		return ep
	}
	ep.Type = l.scalarString(typeNode, what+" type")
	t := types[ep.Type]
	if t == nil {
		l.errorf(typeNode, "unknown %s type %q%s (one of: %s)", what, ep.Type, didYouMean(ep.Type, sortedKeys(types)), strings.Join(sortedKeys(types), ", "))
		return ep
	}
	allowed := []string{"type"}
	for _, f := range t.Fields {
		allowed = append(allowed, f.Name)
	}
	values := l.mapping(n, what+" ("+t.Name+")", allowed)
	for _, f := range t.Fields {
		v := values[f.Name]
		if v == nil {
			if f.Required {
				l.errorf(n, "%s (%s) needs %s: %s", what, t.Name, f.Name, f.Doc)
			} else if f.Default != nil {
				ep.Params[f.Name] = f.Default
			}
			continue
		}
		if val, ok := l.fieldValue(v, what+"."+f.Name, &f); ok {
			ep.Params[f.Name] = val
		}
	}
	return ep
}

// fieldValue converts and checks one endpoint parameter.
func (l *loader) fieldValue(n *yaml.Node, what string, f *Field) (any, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		l.errorf(n, "%s must be a single %s value", what, f.Kind)
		return nil, false
	}
	var val any
	switch f.Kind {
	case FieldString:
		val = n.Value
	case FieldBool:
		if n.Tag != "!!bool" {
			l.errorf(n, "%s must be true or false, not %q", what, n.Value)
			return nil, false
		}
		val = n.Value == "true"
	case FieldInt:
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
		if n.Tag != "!!int" || err != nil {
			l.errorf(n, "%s must be an integer, not %q", what, n.Value)
			return nil, false
		}
		if f.Max > f.Min && (i < int64(f.Min) || i > int64(f.Max)) {
			l.errorf(n, "%s: %d is out of range [%d, %d]", what, i, f.Min, f.Max)
			return nil, false
		}
		val = int(i)
	case FieldDuration:
		d, err := parseDuration(n.Value)
		if err != nil {
			l.errorf(n, "%s: %v", what, err)
			return nil, false
		}
		val = d
	}
	if f.Check != nil {
		if err := f.Check(val); err != nil {
			l.errorf(n, "%s: %v", what, err)
			return nil, false
		}
	}
	return val, true
}

func (l *loader) steps(n *yaml.Node) []Step {
	if n.Tag == "!!null" {
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		l.errorf(n, "elements must be a list (each entry starting with '- element:' or '- caps:')")
		return nil
	}
	names := map[string]bool{"source": true, "sink": true}
	var steps []Step
	counts := map[string]int{}
	for _, item := range n.Content {
		st, ok := l.step(item)
		if !ok {
			continue
		}
		if st.Name == "" {
			base := st.Element
			if base == "" {
				base = "capsfilter"
			}
			st.Name = fmt.Sprintf("%s%d", base, counts[base])
			counts[base]++
			for names[st.Name] { // a user name may already have taken it
				st.Name = fmt.Sprintf("%s%d", base, counts[base])
				counts[base]++
			}
		} else if names[st.Name] {
			l.errorf(item, "element name %q is used twice (source and sink are reserved)", st.Name)
		}
		names[st.Name] = true
		steps = append(steps, st)
	}
	return steps
}

func (l *loader) step(n *yaml.Node) (Step, bool) {
	st := Step{Pos: Pos{n.Line, n.Column}}
	fields := l.mapping(n, "elements entry", []string{"element", "caps", "name", "properties"})
	if n.Kind != yaml.MappingNode {
		return st, false
	}
	elemNode, capsNode := fields["element"], fields["caps"]
	switch {
	case elemNode != nil && capsNode != nil:
		l.errorf(n, "an elements entry is either an element or caps, not both")
		return st, false
	case capsNode != nil:
		st.Caps = l.scalarString(capsNode, "caps")
		if gst.NewCapsFromString(st.Caps) == nil {
			l.errorf(capsNode, "caps %q cannot be parsed (write e.g. video/x-raw,format=RGBA,width=640)", st.Caps)
		}
		if fields["properties"] != nil {
			l.errorf(fields["properties"], "a caps entry has no properties")
		}
	case elemNode != nil:
		st.Element = l.scalarString(elemNode, "element")
	default:
		l.errorf(n, "an elements entry needs element: (a GStreamer element) or caps:")
		return st, false
	}
	if nn := fields["name"]; nn != nil {
		st.Name = l.scalarString(nn, "name")
		if st.Name != "" && !namePattern.MatchString(st.Name) {
			l.errorf(nn, "element name %q: use lower-case letters, digits, '-' and '_'", st.Name)
		}
	}
	if st.Element == "" {
		return st, true
	}
	specs, err := gstprops.Factory(st.Element)
	if err != nil {
		l.errorf(elemNode, "unknown element %q%s", st.Element, didYouMean(st.Element, gstprops.FactoryNames()))
		return st, false
	}
	if l.policy != nil {
		l.checkFactory(elemNode, st.Element)
	}
	if pn := fields["properties"]; pn != nil && pn.Tag != "!!null" {
		st.Properties = l.properties(pn, st.Element, specs)
	}
	return st, true
}

func (l *loader) properties(n *yaml.Node, factory string, specs []gstprops.Spec) []PropertyValue {
	if n.Kind != yaml.MappingNode {
		l.errorf(n, "properties of %s must be a mapping (name: value)", factory)
		return nil
	}
	var names []string
	for _, s := range specs {
		if s.Writable && s.Name != "name" && s.Name != "parent" {
			names = append(names, s.Name)
		}
	}
	var out []PropertyValue
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		spec := gstprops.Lookup(specs, k.Value)
		switch {
		case spec == nil:
			l.errorf(k, "%s has no property %q%s", factory, k.Value, didYouMean(gstprops.Canonical(k.Value), names))
			continue
		case !spec.Writable:
			l.errorf(k, "property %q of %s is read-only", spec.Name, factory)
			continue
		case spec.Name == "name" || spec.Name == "parent":
			l.errorf(k, "set the element name with name:, not as a property")
			continue
		case seen[spec.Name]:
			l.errorf(k, "property %q is set twice", spec.Name)
			continue
		}
		seen[spec.Name] = true
		value, ok := l.propertyValue(v, factory, spec)
		if !ok {
			continue
		}
		if l.policy != nil {
			l.checkProperty(k, v, factory, spec, value)
		}
		out = append(out, PropertyValue{Name: spec.Name, Value: value, Pos: Pos{v.Line, v.Column}})
	}
	return out
}

// propertyValue checks a YAML scalar against a property spec and returns the string form that
// GStreamer parses. The YAML type is checked first (so that `bitrate: fast` says "expects an
// integer"), then GStreamer itself parses and range-checks the value.
func (l *loader) propertyValue(n *yaml.Node, factory string, spec *gstprops.Spec) (string, bool) {
	what := fmt.Sprintf("property %q of %s", spec.Name, factory)
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		l.errorf(n, "%s needs a single value (%s)", what, describeType(spec))
		return "", false
	}
	value := n.Value
	switch spec.Kind {
	case gstprops.Bool:
		if n.Tag != "!!bool" {
			l.errorf(n, "%s expects true or false, got %q", what, n.Value)
			return "", false
		}
	case gstprops.Int:
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
		if n.Tag != "!!int" || err != nil {
			// uint64 values above MaxInt64 still parse as unsigned.
			u, uerr := strconv.ParseUint(strings.ReplaceAll(n.Value, "_", ""), 0, 64)
			if n.Tag != "!!int" || uerr != nil {
				l.errorf(n, "%s expects an integer (%s), got %q", what, describeType(spec), n.Value)
				return "", false
			}
			value = strconv.FormatUint(u, 10)
		} else {
			value = strconv.FormatInt(i, 10)
		}
	case gstprops.Float:
		f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
		if (n.Tag != "!!int" && n.Tag != "!!float") || err != nil || math.IsNaN(f) {
			l.errorf(n, "%s expects a number (%s), got %q", what, describeType(spec), n.Value)
			return "", false
		}
		value = strconv.FormatFloat(f, 'g', -1, 64)
	case gstprops.Enum:
		if n.Tag != "!!str" && n.Tag != "!!int" {
			l.errorf(n, "%s expects one of %s, got %q", what, strings.Join(spec.Choices, ", "), n.Value)
			return "", false
		}
	}
	if err := gstprops.Check(factory, spec.Name, value); err != nil {
		msg := err.Error()
		if spec.Kind == gstprops.Enum || spec.Kind == gstprops.Flags {
			msg = fmt.Sprintf("%q is not a valid value%s (one of: %s)", value, didYouMean(value, spec.Choices), strings.Join(spec.Choices, ", "))
		}
		l.errorf(n, "%s: %s", what, msg)
		return "", false
	}
	if err := checkOurProperty(factory, spec.Name, value); err != nil {
		l.errorf(n, "%s: %v", what, err)
		return "", false
	}
	return value, true
}

// checkOurProperty applies the semantic check an EBRCS element declares for a property (the
// GObject spec only knows "a string"), on the value as the element would receive it.
func checkOurProperty(factory, prop, value string) error {
	info := elements.Lookup(factory)
	if info == nil {
		return nil
	}
	for _, p := range info.Properties {
		if p.Name != prop || p.Check == nil {
			continue
		}
		var v any = value
		switch p.Kind {
		case goelement.Bool:
			v = value == "true"
		case goelement.Int:
			i, _ := strconv.Atoi(value)
			v = i
		case goelement.Int64:
			i, _ := strconv.ParseInt(value, 10, 64)
			v = i
		case goelement.Double:
			f, _ := strconv.ParseFloat(value, 64)
			v = f
		}
		return p.Check(v)
	}
	return nil
}

func describeType(s *gstprops.Spec) string {
	if s.Min != "" {
		return fmt.Sprintf("%s in [%s, %s]", s.Type, s.Min, s.Max)
	}
	return s.Type
}

func (l *loader) restart(n *yaml.Node, p *RestartPolicy) {
	fields := l.mapping(n, "restart", []string{"initial_backoff", "max_backoff", "stable_after"})
	set := func(key string, dst *time.Duration) {
		v := fields[key]
		if v == nil {
			return
		}
		if v.Kind != yaml.ScalarNode {
			l.errorf(v, "restart.%s must be a duration (e.g. 500ms, 5s)", key)
			return
		}
		d, err := parseDuration(v.Value)
		if err != nil {
			l.errorf(v, "restart.%s: %v", key, err)
			return
		}
		if d == 0 {
			l.errorf(v, "restart.%s must be greater than zero", key)
			return
		}
		*dst = d
	}
	set("initial_backoff", &p.InitialBackoff)
	set("max_backoff", &p.MaxBackoff)
	set("stable_after", &p.StableAfter)
	if p.MaxBackoff < p.InitialBackoff {
		l.errorf(n, "restart.max_backoff (%v) is shorter than restart.initial_backoff (%v)", p.MaxBackoff, p.InitialBackoff)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]*EndpointType) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func firstKey(m map[string]*EndpointType) string { return sortedKeys(m)[0] }
