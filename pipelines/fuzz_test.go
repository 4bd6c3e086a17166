package pipelines

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/ebrcs/ebrcs/testkit/testelements"
)

// FuzzLoad feeds arbitrary bytes to Load. Load must never panic; a refusal is an ErrorList
// whose every entry names the file (file:line:col), and an accepted Spec has a name, a
// source and a sink.
//
//	go test -run '^$' -fuzz '^FuzzLoad$' -fuzztime 60s ./pipelines/
func FuzzLoad(f *testing.F) {
	testelements.Register(f)
	served, _ := filepath.Glob("../configs/pipelines/*.yaml")
	examples, err := filepath.Glob("../configs/examples/*.yaml")
	files := append(served, examples...)
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed pipelines in ../configs/pipelines and ../configs/examples: %v", err)
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	for _, s := range []string{
		"",
		"\n",
		"source: {type: test}\nsink: {type: fake}\n",
		"name: x\nsource: {type: test, width: 99999999}\nsink: {type: fake}\n",
		"source: {type: rtsp, url: 'rtsp://u:secret@cam/1'}\nsink: {type: fake}\n",
		"source: {type: webrtc}\nsink: {type: webrtc}\nautostart: true\n",
		"source: {type: test}\nelements:\n  - caps: video/x-raw,format=RGBA\n  - element: videoconvert\n    properties: {qos: maybe}\nsink: {type: fake}\n",
		"source: {type: test}\nelements:\n  - element: ebrcs_test_paint\n    name: p\n    properties: {value: 300}\n  - element: ebrcs_test_paint\n    name: p\nsink: {type: fake}\n",
		"source: {type: test}\nelements: [caps: 'video/x-raw,', {element: nope}]\nsink: {type: fake}\n",
		"restart: {initial_backoff: 5s, max_backoff: 1s}\nsource: {type: test}\nsink: {type: fake}\n",
		"source: [\n",         // unterminated flow sequence
		"source:\n\t- test\n", // a tab in the indentation
		"- source\n- sink\n",  // a sequence, not a mapping
		"&a [*a]\n",           // a self-referencing alias
		"source: *missing\n",  // an unknown alias
		"a: &a {b: *a}\n",     // an alias cycle inside a mapping
		"source: {type: test}\n---\nsink: {type: fake}\n",
		"\xff\xfe\x00s\x00o\x00u\x00r\x00c\x00e\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := Load("fuzz.yaml", data)
		if err != nil {
			if spec != nil {
				t.Errorf("Load returned a Spec with an error: %v", err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "fuzz.yaml") {
				t.Fatalf("error does not start with the file name: %q", msg)
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error is %T, not a non-empty ErrorList: %q", err, msg)
			}
			for _, e := range list {
				if e.File != "fuzz.yaml" || e.Pos.Line < 0 || e.Pos.Column < 0 || e.Msg == "" {
					t.Errorf("bad entry %+v", *e)
				}
				if !strings.HasPrefix(e.Error(), "fuzz.yaml:") {
					t.Errorf("entry does not start with the file name: %q", e.Error())
				}
			}
			return
		}
		if spec == nil {
			t.Fatal("Load returned neither a Spec nor an error")
		}
		if spec.Name == "" || spec.Source.Type == "" || spec.Sink.Type == "" {
			t.Fatalf("accepted a Spec without name, source or sink: name=%q source=%q sink=%q",
				spec.Name, spec.Source.Type, spec.Sink.Type)
		}
		if !namePattern.MatchString(spec.Name) {
			t.Errorf("accepted an invalid pipeline name %q", spec.Name)
		}
		if spec.File != "fuzz.yaml" {
			t.Errorf("Spec.File = %q", spec.File)
		}
	})
}

// FuzzRedact: Redact never panics, and the password of a URL with credentials never survives
// it, wherever the URL sits in the text.
//
//	go test -run '^$' -fuzz '^FuzzRedact$' -fuzztime 60s ./pipelines/
func FuzzRedact(f *testing.F) {
	for _, seed := range []struct{ text, secret string }{
		{"", "hunter2"},
		{"rtsp://admin:pa55@10.0.0.2:554/stream1", "pa55"},
		{`{"url": "rtsp://u:p@h/x", "password": "s3cret"}`, "s3cret"},
		{"password: 'a b c'\nurl: rtsp://user@cam/1", "p:w"},
		{"rtsp://u:%40encoded@host/", "%40enc%2F"},
		{"a://b:c@d e://f:g@h", "ÿ\xff\xfe"},
		{"password=", "***"},
	} {
		f.Add(seed.text, seed.secret)
	}
	f.Fuzz(func(t *testing.T, text, secret string) {
		_ = Redact(text)
		if !redactableSecret(secret) {
			return
		}
		inputs := []string{"rtsp://user:" + secret + "@host/x"}
		// The same URL between two copies of text, when text cannot bring the password in by
		// itself: it does not contain it, and the password has no '*' (the redaction mark,
		// which could join what precedes it in text into the password).
		if !strings.Contains(text, secret) && !strings.Contains(secret, "*") {
			inputs = append(inputs, text+" rtsp://user:"+secret+"@host/x "+text)
		}
		for _, in := range inputs {
			if out := Redact(in); strings.Contains(out, secret) {
				t.Fatalf("Redact(%q) = %q still contains the password %q", in, out, secret)
			}
		}
	})
}

// redactableSecret reports whether s is a password that Redact must hide in
// rtsp://user:s@host/x: non-empty, without '@', '/', whitespace or quotes, and not a piece of
// the redacted URL itself (a password "user" or "host" would match by coincidence).
func redactableSecret(s string) bool {
	if s == "" || strings.ContainsAny(s, "@/\"'") {
		return false
	}
	if strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return false
	}
	return !strings.Contains("rtsp://user:***@host/x", s)
}

// FuzzPublicDefinition: a generated secret placed in a random form of a pipeline file (a
// credential-named key with any quoting, a block scalar, an alias, a merge, a URL's password
// or query, an element property, another document, CRLF lines, !!binary) never appears in
// the public view; a refusal is ErrNotPublic and does not quote it either.
//
//	go test -run '^$' -fuzz '^FuzzPublicDefinition$' -fuzztime 60s ./pipelines/
func FuzzPublicDefinition(f *testing.F) {
	for _, seed := range []struct {
		secret string
		form   uint8
	}{
		{"hunter2", 0}, {"two words", 1}, {"p@ss:w/rd", 2}, {"a,b}c", 3}, {"line", 4}, {"it's", 5},
		{"pässwörd", 6}, {"x&y=z", 7}, {"tok", 8}, {"***", 9}, {"\t\\\"", 10}, {"%41", 11},
		{"rtsp", 12}, {"cam", 13}, {"a b", 14}, {"#hash", 15},
	} {
		f.Add(seed.secret, seed.form)
	}
	f.Fuzz(func(t *testing.T, secret string, form uint8) {
		doc, ok := secretDocument(secret, form)
		if !ok {
			return
		}
		out, err := PublicDefinition([]byte(doc))
		if err != nil {
			if err != errUnparsable && err != errUnwritable && err != errLeak && err != errTooMany { // fixed texts only
				t.Fatalf("refusal %v for\n%s", err, doc)
			}
			return
		}
		if strings.Contains(string(out), secret) {
			t.Fatalf("the secret %q is in the public view of\n%s\n---\n%s", secret, doc, out)
		}
		// Also once parsed (escapes undone).
		docs, err := decodeDocuments(out)
		if err != nil {
			t.Fatalf("the public view does not parse: %v\n%s", err, out)
		}
		var texts []string
		for _, d := range docs {
			collectStrings(d, &texts, map[*yaml.Node]bool{})
		}
		for _, s := range texts {
			if strings.Contains(s, secret) {
				t.Fatalf("the secret %q is in %q of the public view of\n%s", secret, s, doc)
			}
		}
	})
}

// secretDocument writes a pipeline file with secret in the given form; ok is false when the
// secret cannot stand in that form (a URL password with '/', a block scalar with a line
// break: the file would say something else).
func secretDocument(secret string, form uint8) (string, bool) {
	if secret == "" || !utf8.ValidString(secret) {
		return "", false
	}
	q := strconv.QuoteToASCII(secret) // a valid YAML double-quoted scalar
	printable := strings.IndexFunc(secret, func(r rune) bool { return !unicode.IsPrint(r) || r == '\u2028' || r == '\u2029' || r == '\ufeff' }) < 0
	inURL := printable && !strings.ContainsAny(secret, "/?#\"'<>`\\")
	inQuery := inURL && !strings.ContainsAny(secret, "&;= \t")
	const head = "name: cam\n"
	const tail = "sink: {type: fake}\n"
	switch form % 16 {
	case 0:
		return head + "source: {type: rtsp, url: 'rtsp://cam/x', password: " + q + "}\n" + tail, true
	case 1:
		return head + "source:\n  type: rtsp\n  url: rtsp://cam/x\n  \"password\": " + q + "\n" + tail, true
	case 2:
		if !inURL {
			return "", false
		}
		return head + "source: {type: rtsp, url: " + strconv.QuoteToASCII("rtsp://admin:"+secret+"@cam:554/x") + "}\n" + tail, true
	case 3:
		if !inQuery {
			return "", false
		}
		return head + "source: {type: rtsp, url: " + strconv.QuoteToASCII("rtsp://cam/x?ch=1&token="+secret+"&y=2") + "}\n" + tail, true
	case 4:
		// A literal block: one printable line, no leading space, nothing trailing.
		if !printable || secret != strings.TrimSpace(secret) {
			return "", false
		}
		return head + "source:\n  type: rtsp\n  url: rtsp://cam/x\n  password: |\n    " + secret + "\n" + tail, true
	case 5:
		if !printable {
			return "", false
		}
		return head + "source:\n  type: rtsp\n  url: rtsp://cam/x\n  'password': '" + strings.ReplaceAll(secret, "'", "''") + "'\n" + tail, true
	case 6:
		return head + "x-secret-holder: &pw " + q + "\nsource: {type: rtsp, url: 'rtsp://cam/x', password: *pw}\n" + tail, true
	case 7:
		return head + "base: &b {password: " + q + "}\nsource: {<<: *b, type: rtsp, url: 'rtsp://cam/x'}\n" + tail, true
	case 8:
		return head + "source: {type: test}\nelements:\n  - element: rtspsrc\n    properties: {user-pw: " + q + "}\n" + tail, true
	case 9:
		return head + "source: {type: test}\n" + tail + "---\nsource: {type: rtsp, url: 'rtsp://cam/x', password: " + q + "}\n", true
	case 10:
		return strings.ReplaceAll(head+"source:\n  type: rtsp\n  url: rtsp://cam/x\n  password: "+q+"\n"+tail, "\n", "\r\n"), true
	case 11:
		return head + "password: !!binary " + base64.StdEncoding.EncodeToString([]byte(secret)) + "\n" + tail, true
	case 12:
		return head + "credentials: {user: bob, list: [" + q + "]}\n" + tail, true
	case 13:
		return head + "!!str token: !!str " + q + "\n" + tail, true
	case 14:
		if !inURL {
			return "", false
		}
		return head + "source: {type: test}\nelements:\n  - element: souphttpsrc\n    properties: {location: " + strconv.QuoteToASCII("http://bob:"+secret+"@h/x") + "}\n" + tail, true
	default:
		return head + "k: &k secret\nsource:\n  type: rtsp\n  url: rtsp://cam/x\n  *k : " + q + "\n" + tail, true
	}
}
