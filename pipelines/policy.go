package pipelines

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/ebrcs/ebrcs/elements"
	"github.com/ebrcs/ebrcs/elements/embed"
	"github.com/ebrcs/ebrcs/elements/match"
	"github.com/ebrcs/ebrcs/elements/overlay"
	"github.com/ebrcs/ebrcs/models"
	"github.com/ebrcs/ebrcs/pipelines/gstprops"
)

// Policy bounds what a pipeline definition from the admin API (Manager.Replace, behind
// PUT /api/pipelines/{name}) may reach on the server's file system. Whoever holds the admin
// token must not get the server's user's rights to read or write files through element
// properties; LoadWithPolicy refuses, with file:line:column like every validation error:
//
//   - elements that read or write files by themselves: factories whose klass has "File"
//     (filesrc, filesink, multifilesink, fdsink, giosrc, ...) and the bins in fileElements,
//     which write or read files with their default settings or through a URI (splitmuxsink,
//     hlssink, playbin, ...);
//   - on every other GStreamer element, a property given as text (string, structure, ...)
//     whose name names a file, a directory, a device, a URI, a library or an element factory
//     (FileProperty: location, *-location, *-file, filename, *-template, *-path, *-dir,
//     directory, device, uri, profile, *-factory, option-string, ...), and any value with a
//     file: URI;
//   - on our own elements, the path properties (ourPathProperties: ebrcs_match catalog,
//     embedder and model-dir, ebrcs_embed embedder and model-dir, ebrcs_overlay font) are
//     allowed, but only as a relative path without "..", inside the server's own directory
//     for that kind of file (var/ for catalogs, configs/embedders/ for embedder files,
//     models/ for models, fonts/ for fonts), symlinks resolved;
//   - a file source's path must resolve, symlinks included, inside MediaDir. Checkout
//     uploads are not affected: the server gives their path (BuildContext.Input), which
//     replaces the file's.
//
// The rules apply to what the API sends, not to the files in the pipeline directory: those
// are the operator's own, written by someone who already has the server's user's rights
// (restricting them would protect nothing and would break local uses such as detect.yaml
// reading ../shared/videos). The API cannot get around it through the directory: Replace
// checks the bytes it writes, and the directory watcher only reloads those same bytes.
type Policy struct {
	// MediaDir is the only directory a file source may read from ("": no file source may
	// name a path; one without a path still runs uploads).
	MediaDir string
}

// Our elements' path properties and the directory each must stay in (relative to the
// server's working directory, as the elements resolve them). A test checks that every
// string property of our elements that names a file or a directory is listed here.
var ourPathProperties = map[string]map[string]pathRoot{
	match.Name:   {match.PropCatalog: dataRoot, match.PropEmbedder: embedderRoot, match.PropModelDir: modelRoot},
	embed.Name:   {embed.PropEmbedder: embedderRoot, embed.PropModelDir: modelRoot},
	overlay.Name: {overlay.PropFont: fontRoot},
}

// pathRoot is a directory of the server's own that a path property must stay in.
type pathRoot struct {
	Dir  string // relative to the working directory
	Self bool   // the directory itself is allowed (model-dir: models), not only what it holds
	What string // for messages
}

var (
	dataRoot     = pathRoot{Dir: "var", What: "the data directory var/"}
	embedderRoot = pathRoot{Dir: "configs/embedders", What: "configs/embedders/"}
	modelRoot    = pathRoot{Dir: models.DefaultDir, Self: true, What: "the model directory models/"}
	fontRoot     = pathRoot{Dir: "fonts", What: "fonts/"}
)

// fileElements are factories that read or write files by themselves although their klass
// does not say "File": with their default settings (splitmuxsink and hlssink write
// segments in the working directory) or through a URI.
var fileElements = map[string]bool{
	"splitmuxsink": true, "splitmuxsrc": true, "hlssink": true, "hlssink2": true, "hlssink3": true,
	"dashsink": true, "downloadbuffer": true, "qtmoovrecover": true, "multifilesrc": true,
	"imagesequencesrc": true, "playbin": true, "playbin3": true, "playsink": true, "uridecodebin": true,
	"uridecodebin3": true, "urisourcebin": true, "uritranscodebin": true, "camerabin": true,
	"encodebin": true, "encodebin2": true, "transcodebin": true,
}

// fileWords are the words of a property name (split at '-') that make it name a file, a
// directory, a device, a URI, a library, an element factory, or a library's free-form
// options (x264enc option-string can name a stats file).
var fileWords = map[string]bool{
	"location": true, "file": true, "files": true, "filename": true, "filenames": true,
	"path": true, "paths": true, "dir": true, "directory": true, "folder": true, "template": true,
	"profile": true, "device": true, "uri": true, "suburi": true, "url": true, "soundfont": true,
	"input": true, "output": true, "cert": true, "knownhosts": true, "libname": true,
	"libprefix": true, "factory": true, "socket": true, "option": true, "options": true,
	"parameters": true, "params": true, "root": true, "fd": true,
}

// FileProperty reports whether a GStreamer property name names a file (or a directory, a
// device, a URI, ...) by the rule of Policy: one of its words is in fileWords or ends in
// "file", "files" or "filename" (multipass-cache-file, passlogfile, ssh-priv-keyfile).
func FileProperty(name string) bool {
	for _, w := range strings.Split(gstprops.Canonical(strings.ToLower(name)), "-") {
		if fileWords[w] || strings.HasSuffix(w, "file") || strings.HasSuffix(w, "files") || strings.HasSuffix(w, "filename") {
			return true
		}
	}
	return false
}

var fileURI = regexp.MustCompile(`(?i)(^|[^a-z0-9+.-])file:`)

// apiRefusal ends every message of a rule of Policy.
const apiRefusal = "not allowed in a definition sent through the pipelines API (an operator may put it in a file of the pipeline directory)"

// checkFactory refuses an element factory that reads or writes files.
func (l *loader) checkFactory(n *yaml.Node, factory string) {
	klass := gstprops.Klass(factory)
	for _, w := range strings.Split(klass, "/") {
		if w == "File" {
			l.errorf(n, "element %s reads or writes files (klass %s): %s", factory, klass, apiRefusal)
			return
		}
	}
	if fileElements[factory] {
		l.errorf(n, "element %s reads or writes files by itself: %s", factory, apiRefusal)
	}
}

// checkProperty applies the policy to one property value.
func (l *loader) checkProperty(k, v *yaml.Node, factory string, spec *gstprops.Spec, value string) {
	if roots, ours := ourPathProperties[factory]; ours {
		if root, isPath := roots[spec.Name]; isPath && value != "" {
			if err := insideRoot(value, root); err != nil {
				l.errorf(v, "property %q of %s: %v", spec.Name, factory, err)
			}
		}
		return
	}
	if elements.Lookup(factory) != nil {
		return // our other properties are never paths (a test keeps ourPathProperties complete)
	}
	switch spec.Kind {
	case gstprops.Bool, gstprops.Int, gstprops.Float, gstprops.Enum, gstprops.Flags:
		return // cannot name a file
	}
	if FileProperty(spec.Name) {
		l.errorf(k, "property %q of %s names a file, a directory, a device or a URI: %s", spec.Name, factory, apiRefusal)
		return
	}
	if fileURI.MatchString(value) {
		l.errorf(v, "property %q of %s: a file: URI is %s", spec.Name, factory, apiRefusal)
	}
}

// checkSource keeps a file source's path inside the media directory.
func (l *loader) checkSource(n *yaml.Node, ep Endpoint) {
	if ep.Type != fileSource.Name || !ep.Params.Has("path") {
		return
	}
	at := n
	for i := 0; n != nil && i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "path" {
			at = n.Content[i+1]
		}
	}
	path := ep.Params.String("path")
	if l.policy.MediaDir == "" {
		l.errorf(at, "source.path: the server has no media directory (media_dir), so a definition sent through the API cannot name a file; leave path out (uploads give their own)")
		return
	}
	if err := insideDir(path, l.policy.MediaDir, false); err != nil {
		l.errorf(at, "source.path %q: %v: a definition sent through the API may only read files of the media directory (media_dir)", path, err)
	}
}

// insideRoot checks a path property of ours: relative, no "..", inside root.
func insideRoot(p string, root pathRoot) error {
	if filepath.IsAbs(p) || strings.HasPrefix(p, "~") {
		return fmt.Errorf("%q: give a path relative to the server's directory, inside %s (%s)", p, root.What, apiRefusal)
	}
	if err := insideDir(p, root.Dir, root.Self); err != nil {
		return fmt.Errorf("%q: %v: through the API it must be inside %s", p, err, root.What)
	}
	return nil
}

// insideDir reports whether path p (relative to the working directory, or absolute) lies
// inside dir, lexically and once every symlink of its existing part is resolved (a path
// that does not exist yet is resolved as far as it exists). A ".." anywhere is refused
// outright. self allows dir itself.
func insideDir(p, dir string, self bool) error {
	for _, part := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == ".." {
			return errors.New(`".." is not allowed`)
		}
	}
	if strings.ContainsRune(p, 0) {
		return errors.New("a NUL byte")
	}
	absDir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	absPath, err := filepath.Abs(p)
	if err != nil {
		return err
	}
	if !within(absPath, absDir, self) {
		return fmt.Errorf("outside %s", dir)
	}
	realDir := resolveExisting(absDir)
	if !within(resolveExisting(absPath), realDir, self) {
		return fmt.Errorf("a symbolic link leads outside %s", dir)
	}
	return nil
}

// within reports whether p is inside dir (both absolute and clean).
func within(p, dir string, self bool) bool {
	if p == dir {
		return self
	}
	return strings.HasPrefix(p, strings.TrimSuffix(dir, string(filepath.Separator))+string(filepath.Separator))
}

// resolveExisting resolves the symlinks of the longest existing prefix of an absolute path
// and appends the rest.
func resolveExisting(p string) string {
	rest := ""
	for cur := p; ; {
		if real, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(real, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return p
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// LoadWithPolicy validates a definition as Load does and also applies the policy p (nil:
// none) for definitions from an untrusted origin.
func LoadWithPolicy(file string, raw []byte, p *Policy) (*Spec, error) {
	l := &loader{file: file, policy: p}
	spec := l.load(raw)
	if len(l.errs) > 0 {
		l.redactErrors(raw)
		return nil, l.errs
	}
	return spec, nil
}

// redactErrors removes the file's credentials from its errors: a message quoting a value
// (an unparsable URL, a bad property value) must not show a password.
func (l *loader) redactErrors(raw []byte) {
	secrets := DocumentSecrets(raw)
	for _, e := range l.errs {
		e.Msg = RedactSecrets(e.Msg, secrets)
	}
}
