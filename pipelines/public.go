package pipelines

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxPublicSecrets bounds the credentials a file shown to the public may hold: checking that
// none shows costs a scan of the output per credential (a pipeline file has a few).
const maxPublicSecrets = 256

// ErrNotPublic: a pipeline file that cannot be shown to the public, masked (it does not parse,
// or masking could not be proven to hide every credential). Admins still get it whole.
var ErrNotPublic = errors.New("shown to admins only")

// The reasons of a refusal: fixed texts, never a piece of the file.
var (
	errUnparsable = fmt.Errorf("%w: the file does not parse as YAML", ErrNotPublic)
	errUnwritable = fmt.Errorf("%w: the file cannot be written back masked", ErrNotPublic)
	errTooMany    = fmt.Errorf("%w: the file holds more credentials than can be checked", ErrNotPublic)
	errLeak       = fmt.Errorf("%w: a credential of the file also appears where it cannot be masked (elsewhere in the file, or in a form not recognised)", ErrNotPublic)
)

// PublicDefinition returns a pipeline file as the public may see it (GET /api/pipelines/{name}
// without the admin token). It works on the parsed documents, never on the text:
//
//   - every document of the file is parsed (a file that does not parse is not shown at all);
//   - the value of every mapping key that names a credential (IsCredentialName, after YAML
//     has resolved quotes, tags, aliases and !!binary) becomes "***", whatever it is: a
//     scalar of any style, a mapping, a sequence or an alias, and then the alias's anchored
//     target too, wherever it is defined (with everything it holds, following its aliases);
//   - in every other scalar, keys included, the password of each URL's userinfo ('@' in a
//     password included) and each credential-named URL parameter become ***, and so does the
//     value of each "name: value" or "name=value" with a credential's name (Redact's rules);
//   - comments are removed (a comment may say anything);
//   - the result is encoded again, and then checked: it must parse, and no credential found
//     on the way may occur in its bytes or in any of its parsed strings. If one does (a
//     password that is also a word elsewhere in the file, or a form the masking missed), the
//     file is refused rather than shown.
//
// A refusal wraps ErrNotPublic and says why, without quoting the file.
func PublicDefinition(raw []byte) (out []byte, err error) {
	docs, err := decodeDocuments(raw)
	if err != nil {
		return nil, errUnparsable
	}
	m := newMasker()
	for _, d := range docs {
		m.mask(d)
	}
	defer func() {
		if r := recover(); r != nil { // the encoder panics on nodes it cannot write
			out, err = nil, errUnwritable
		}
	}()
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	for _, d := range docs {
		stripComments(d, map[*yaml.Node]bool{})
		if err := enc.Encode(d); err != nil {
			return nil, errUnwritable
		}
	}
	if err := enc.Close(); err != nil {
		return nil, errUnwritable
	}
	out = b.Bytes()
	if len(dedupe(m.secrets)) > maxPublicSecrets {
		return nil, errTooMany
	}
	if leak := m.leaks(out); leak {
		return nil, errLeak
	}
	return out, nil
}

// DocumentSecrets returns the credentials PublicDefinition masks in a pipeline file: the
// values under credential-named keys (and their aliases' targets), the URL passwords and
// secret parameters. For a file that does not parse, it adds what Redact finds in its text.
func DocumentSecrets(raw []byte) []string {
	docs, err := decodeDocuments(raw)
	m := newMasker()
	for _, d := range docs {
		m.mask(d)
	}
	secrets := m.secrets
	if err != nil {
		for _, s := range TextSecrets(string(raw)) {
			if strings.Trim(s, "|>-+0123456789 \t") != "" { // not a block scalar's header
				secrets = append(secrets, s)
			}
		}
	}
	return dedupe(secrets)
}

// decodeDocuments parses every document of a YAML stream. On an error it returns the
// documents before it, and the error.
func decodeDocuments(raw []byte) (docs []*yaml.Node, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("yaml: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); err != nil {
			if errors.Is(err, io.EOF) {
				return docs, nil
			}
			return docs, err
		}
		docs = append(docs, &n)
	}
}

// masker masks the credentials of parsed documents in place and remembers them.
type masker struct {
	secrets []string
	// collapsed are the nodes already replaced by *** (shared by aliases).
	collapsed map[*yaml.Node]bool
}

func newMasker() *masker { return &masker{collapsed: map[*yaml.Node]bool{}} }

// mask masks a document.
func (m *masker) mask(doc *yaml.Node) {
	m.walk(doc, map[*yaml.Node]bool{})
	// Aliases to a node that was inside a masked value (its anchor no longer exists) become
	// *** too; so would anything that still refers to a removed node.
	present := map[*yaml.Node]bool{}
	markPresent(doc, present)
	fixDanglingAliases(doc, present, map[*yaml.Node]bool{})
}

// walk visits every node of the tree where it is defined; aliases are not followed (their
// targets are visited where they are defined).
func (m *masker) walk(n *yaml.Node, seen map[*yaml.Node]bool) {
	if n == nil || seen[n] {
		return
	}
	seen[n] = true
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for i := 0; i < len(n.Content); i++ {
			m.walk(n.Content[i], seen)
		}
	case yaml.MappingNode:
		// len is read again on every turn: masking a value may collapse this very mapping
		// (an alias back to an ancestor).
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			m.walk(k, seen)
			if credentialKey(k) {
				m.collapse(v, map[*yaml.Node]bool{})
				continue
			}
			m.walk(v, seen)
		}
	case yaml.ScalarNode:
		m.scalar(n)
	}
}

// credentialKey reports whether a mapping key names a credential. A key that is not a
// single string (a mapping or sequence as a key) counts as one: nothing legitimate uses it.
func credentialKey(k *yaml.Node) bool {
	for depth := 0; k != nil && k.Kind == yaml.AliasNode && depth < 64; depth++ {
		k = k.Alias
	}
	if k == nil || k.Kind != yaml.ScalarNode {
		return true
	}
	if k.Tag == "!!binary" {
		if d, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(k.Value), "")); err == nil {
			return IsCredentialName(string(d))
		}
	}
	return IsCredentialName(k.Value)
}

// scalar masks the credentials inside a scalar that is not itself a credential's value.
func (m *masker) scalar(n *yaml.Node) {
	if m.collapsed[n] {
		return
	}
	if n.Tag == "!!binary" {
		d, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(n.Value), ""))
		if err == nil {
			if secrets := TextSecrets(string(d)); len(secrets) > 0 {
				m.secrets = append(m.secrets, secrets...)
				m.collapse(n, map[*yaml.Node]bool{})
			}
		}
		return
	}
	out, secrets := scanText(n.Value)
	if len(secrets) == 0 {
		return
	}
	m.secrets = append(m.secrets, secrets...)
	n.Value = out
}

// collapse replaces a credential's value with ***, after collecting every string in it: all
// of a mapping or sequence, and through aliases their targets, which are replaced as well.
func (m *masker) collapse(n *yaml.Node, seen map[*yaml.Node]bool) {
	if n == nil || seen[n] {
		return
	}
	seen[n] = true
	if m.collapsed[n] {
		return
	}
	switch n.Kind {
	case yaml.ScalarNode:
		// true, false and null are masked but say nothing: not collected, or every "true"
		// of the file would refuse it.
		if n.Tag != "!!bool" && n.Tag != "!!null" {
			m.secrets = appendSecret(m.secrets, n.Value)
		}
		if n.Tag == "!!binary" {
			if d, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(n.Value), "")); err == nil {
				m.secrets = appendSecret(m.secrets, string(d))
			}
		}
	case yaml.AliasNode:
		m.collapse(n.Alias, seen)
	default:
		for _, c := range n.Content {
			m.collapse(c, seen)
		}
	}
	m.collapsed[n] = true
	n.Kind, n.Tag, n.Value, n.Style = yaml.ScalarNode, "!!str", Mask, yaml.DoubleQuotedStyle
	n.Content, n.Alias = nil, nil
}

// leaks reports whether any credential found occurs in the encoded output, in its bytes or,
// parsed again, in any key, value, tag or anchor (escapes and line folding undone).
func (m *masker) leaks(out []byte) bool {
	secrets := dedupe(m.secrets)
	for _, s := range secrets {
		if bytes.Contains(out, []byte(s)) {
			return true
		}
	}
	docs, err := decodeDocuments(out)
	if err != nil {
		return true
	}
	var texts []string
	for _, d := range docs {
		collectStrings(d, &texts, map[*yaml.Node]bool{})
	}
	for _, t := range texts {
		for _, s := range secrets {
			if strings.Contains(t, s) {
				return true
			}
		}
	}
	return false
}

func collectStrings(n *yaml.Node, out *[]string, seen map[*yaml.Node]bool) {
	if n == nil || seen[n] {
		return
	}
	seen[n] = true
	*out = append(*out, n.Value, n.Tag, n.Anchor)
	for _, c := range n.Content {
		collectStrings(c, out, seen)
	}
}

func markPresent(n *yaml.Node, present map[*yaml.Node]bool) {
	if n == nil || present[n] {
		return
	}
	present[n] = true
	for _, c := range n.Content {
		markPresent(c, present)
	}
}

func fixDanglingAliases(n *yaml.Node, present, seen map[*yaml.Node]bool) {
	if n == nil || seen[n] {
		return
	}
	seen[n] = true
	if n.Kind == yaml.AliasNode && (n.Alias == nil || !present[n.Alias]) {
		n.Kind, n.Tag, n.Value, n.Style, n.Alias = yaml.ScalarNode, "!!str", Mask, yaml.DoubleQuotedStyle, nil
		return
	}
	for _, c := range n.Content {
		fixDanglingAliases(c, present, seen)
	}
}

func stripComments(n *yaml.Node, seen map[*yaml.Node]bool) {
	if n == nil || seen[n] {
		return
	}
	seen[n] = true
	n.HeadComment, n.LineComment, n.FootComment = "", "", ""
	for _, c := range n.Content {
		stripComments(c, seen)
	}
}
