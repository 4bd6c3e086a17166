package pipelines

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
	"gopkg.in/yaml.v3"

	"github.com/ebrcs/ebrcs/testkit/credtest"
	"github.com/ebrcs/ebrcs/testkit/testelements"
)

// The public view of a pipeline file: every form of credential masked from the parsed
// document, the rest kept.
func TestPublicDefinitionMasksEveryForm(t *testing.T) {
	for _, c := range credtest.Forms() {
		t.Run(c.Name, func(t *testing.T) {
			out, err := PublicDefinition([]byte(c.YAML))
			if c.Refused {
				if err == nil || !errors.Is(err, ErrNotPublic) {
					t.Fatalf("want a refusal, got %v:\n%s", err, out)
				}
				for _, s := range c.Secrets {
					if strings.Contains(err.Error(), s) {
						t.Fatalf("the refusal quotes %q: %v", s, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			for _, s := range c.Secrets {
				if strings.Contains(string(out), s) {
					t.Errorf("%q still in the public view:\n%s", s, out)
				}
			}
			if strings.Contains(string(out), "#") && !strings.Contains(c.YAML, "'#") {
				t.Errorf("a comment survived:\n%s", out)
			}
			// The rest stays readable: it parses, and names what it named.
			var doc yaml.Node
			if err := yaml.Unmarshal(out, &doc); err != nil {
				t.Fatalf("the public view does not parse: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "cam") || !strings.Contains(string(out), Mask) && !strings.Contains(c.Name, "comments") {
				t.Errorf("the public view lost the file's content:\n%s", out)
			}
		})
	}
}

// A plain file without credentials comes back as it was written.
func TestPublicDefinitionKeepsTheRest(t *testing.T) {
	in := "name: cam\nsource: {type: test, width: 32, height: 24}\nelements:\n  - element: videoconvert\n  - element: ebrcs_passthrough\n    properties:\n      label: one\nsink: {type: fake}\n"
	out, err := PublicDefinition([]byte(in))
	if err != nil || string(out) != in {
		t.Fatalf("PublicDefinition = %v\n%s", err, out)
	}
	out, err = PublicDefinition([]byte("name: cam\nsource: {type: rtsp, url: 'rtsp://admin:s3cret@cam/x', user: admin, password: hunter22}\n"))
	want := "name: cam\nsource: {type: rtsp, url: 'rtsp://admin:***@cam/x', user: admin, password: \"***\"}\n"
	if err != nil || string(out) != want {
		t.Fatalf("PublicDefinition = %v\n%s\nwant\n%s", err, out, want)
	}
}

// Errors quoting a value never show a credential of the file: the loader's own (refused
// files, shown in ConfigError), and the supervisor's (LastError), even when the text has no
// recognisable form (only the definition's own secrets can find it).
func TestErrorsNeverQuoteCredentials(t *testing.T) {
	testelements.Register(t)
	// A URL whose password has a space does not parse: the error quotes it.
	_, err := Load("cam.yaml", []byte("source: {type: rtsp, url: 'rtsp://admin:sp ace-pw@cam/x'}\nsink: {type: fake}\n"))
	if err == nil || strings.Contains(err.Error(), "sp ace-pw") || strings.Contains(err.Error(), "ace-pw") {
		t.Fatalf("Load: %v", err)
	}

	spec := mustLoad(t, `name: cam
source: {type: rtsp, url: "rtsp://admin:url%20pw@127.0.0.1:1/x?token=tok-secret", password: "field pw"}
elements:
  - element: videoconvert
sink: {type: fake}
`)
	sup := NewSupervisor(spec, SupervisorOptions{MaxRestarts: 0, Binding: Binding{Configure: func(step *Step, el *gst.Element) error {
		return fmt.Errorf("camera refused admin/field pw (tried url pw, then tok-secret)")
	}}})
	sup.Start()
	defer sup.Stop()
	waitFor(t, 10*time.Second, "the failure", func() bool { return sup.Status().State == StateFailed })
	msg := sup.Status().LastError
	for _, s := range []string{"field pw", "url pw", "tok-secret"} {
		if strings.Contains(msg, s) {
			t.Fatalf("LastError shows %q: %s", s, msg)
		}
	}
	if !strings.Contains(msg, "camera refused") {
		t.Fatalf("LastError = %q", msg)
	}
}

// A refused file in the pipeline directory: its ConfigError (public in GET /api/pipelines)
// has no credential of the file.
func TestManagerConfigErrorHasNoCredentials(t *testing.T) {
	mustLoad(t, "source: {type: test}\nsink: {type: fake}\n")
	dir := t.TempDir()
	file := filepath.Join(dir, "cam.yaml")
	if err := os.WriteFile(file, []byte("name: cam\nsource: {type: rtsp, url: 'rtsp://admin:mgr pw@cam/x'}\nsink: {type: fake}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := NewManager(dir, ManagerOptions{MaxRestarts: -1})
	defer m.Close()
	if err := m.Sync(); err != nil {
		t.Fatal(err)
	}
	st := m.Statuses()
	if len(st) != 1 || st[0].ConfigError == "" || strings.Contains(st[0].ConfigError, "mgr pw") || strings.Contains(st[0].ConfigError, "pw@") {
		t.Fatalf("statuses: %+v", st)
	}
}
