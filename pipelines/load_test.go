package pipelines

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ebrcs/ebrcs/testkit/testelements"
)

func TestLoadValidFiles(t *testing.T) {
	testelements.Register(t)
	tests := []struct {
		name  string
		yaml  string
		check func(t *testing.T, s *Spec)
	}{
		{"minimal", "source: {type: test}\nsink: {type: fake}\n", func(t *testing.T, s *Spec) {
			if s.Name != "minimal" {
				t.Errorf("name from file = %q", s.Name)
			}
			if s.Source.Params.Int("width") != 640 || s.Source.Params.String("pattern") != "smpte" {
				t.Errorf("defaults not applied: %v", s.Source.Params)
			}
			if !s.Endless() {
				t.Error("an endless test source is not Endless")
			}
		}},
		{"full", `
name: checkout
description: the demo
source:
  type: test
  pattern: ball
  width: 320
  height: 240
  framerate: 15
  format: RGBA
  num_buffers: 10
elements:
  - element: videoconvert
  - caps: video/x-raw,format=RGBA
  - element: ebrcs_passthrough
    name: tag
    properties:
      label: demo
  - element: videoscale
    properties: {method: bilinear, add-borders: false}
  - element: vp8enc
    properties: {deadline: 1, target_bitrate: 600000, cpu-used: -6}
  - element: vp8dec
sink: {type: fake, sync: false}
restart: {initial_backoff: 100ms, max_backoff: 2s}
`, func(t *testing.T, s *Spec) {
			if s.Name != "checkout" || len(s.Elements) != 6 {
				t.Fatalf("name %q, %d elements", s.Name, len(s.Elements))
			}
			if s.Endless() {
				t.Error("num_buffers: 10 is not endless")
			}
			names := []string{}
			for _, e := range s.Elements {
				names = append(names, e.Name)
			}
			if got := strings.Join(names, " "); got != "videoconvert0 capsfilter0 tag videoscale0 vp8enc0 vp8dec0" {
				t.Errorf("element names: %s", got)
			}
			enc := s.Elements[4]
			if enc.Properties[1].Name != "target-bitrate" || enc.Properties[1].Value != "600000" || enc.Properties[2].Value != "-6" {
				t.Errorf("vp8enc properties: %+v", enc.Properties)
			}
			if s.Restart.InitialBackoff != 100*time.Millisecond || s.Restart.MaxBackoff != 2*time.Second {
				t.Errorf("restart: %+v", s.Restart)
			}
		}},
		{"file-source", "source: {type: file, path: /tmp/x.mp4, loop: true}\nelements: []\nsink: {type: fake}\n", func(t *testing.T, s *Spec) {
			if !s.Endless() || s.Source.Params.String("path") != "/tmp/x.mp4" {
				t.Errorf("file source: %+v", s.Source)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Load(tc.name+".yaml", []byte(tc.yaml))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, s)
		})
	}
}

// Every kind of mistake is reported at its exact line and column, with a useful message.
func TestLoadErrors(t *testing.T) {
	testelements.Register(t)
	tests := []struct {
		name string
		yaml string
		want []string // each "line:col: substring", in order
	}{
		{"unknown top-level key", "source: {type: test}\nsinks: {type: fake}\n",
			[]string{`2:1: unknown key "sinks" in pipeline; did you mean "sink"?`, `missing sink`}},
		{"unknown element", "source: {type: test}\nelements:\n  - element: videoconvrt\nsink: {type: fake}\n",
			[]string{`3:14: unknown element "videoconvrt"; did you mean "videoconvert"`}},
		{"our element by partial name", "source: {type: test}\nelements:\n  - element: passthrough\nsink: {type: fake}\n",
			[]string{`3:14: unknown element "passthrough"; did you mean "ebrcs_passthrough"`}},
		{"unknown property", "source: {type: test}\nelements:\n  - element: ebrcs_passthrough\n    properties:\n      lable: x\nsink: {type: fake}\n",
			[]string{`5:7: ebrcs_passthrough has no property "lable"; did you mean "label"?`}},
		{"read-only property", "source: {type: test}\nelements:\n  - element: ebrcs_passthrough\n    properties: {frames: 3}\nsink: {type: fake}\n",
			[]string{`4:18: property "frames" of ebrcs_passthrough is read-only`}},
		{"wrong type", "source: {type: test}\nelements:\n  - element: vp8enc\n    properties:\n      target-bitrate: fast\nsink: {type: fake}\n",
			[]string{`5:23: property "target-bitrate" of vp8enc expects an integer`}},
		{"out of range (Go element, GObject spec)", "source: {type: test, format: GRAY8}\nelements:\n  - element: ebrcs_test_paint\n    properties: {value: 300}\nsink: {type: fake}\n",
			[]string{`4:25: property "value" of ebrcs_test_paint: 300 is out of range [0, 255]`}},
		{"out of range (native)", "source: {type: test}\nelements:\n  - element: videoscale\n    properties: {sharpness: 9.5}\nsink: {type: fake}\n",
			[]string{`4:29: property "sharpness" of videoscale: 9.5 is out of range [0.5, 1.5]`}},
		{"bad enum", "source: {type: test}\nelements:\n  - element: videoscale\n    properties: {method: bilinaer}\nsink: {type: fake}\n",
			[]string{`4:26: property "method" of videoscale: "bilinaer" is not a valid value; did you mean "bilinear"?`}},
		{"bool expected", "source: {type: test}\nelements:\n  - element: videoscale\n    properties: {add-borders: yes}\nsink: {type: fake}\n",
			[]string{`4:31: property "add-borders" of videoscale expects true or false, got "yes"`}},
		{"unknown source type", "source: {type: camera}\nsink: {type: fake}\n",
			[]string{`1:16: unknown source type "camera"`}},
		{"source field out of range", "source: {type: test, width: 5}\nsink: {type: fake}\n",
			[]string{`1:29: source.width: 5 is out of range [16, 7680]`}},
		{"source pattern checked by videotestsrc", "source:\n  type: test\n  pattern: bal\nsink: {type: fake}\n",
			[]string{`3:12: source.pattern:`}},
		{"unknown source field", "source:\n  type: test\n  widht: 320\nsink: {type: fake}\n",
			[]string{`3:3: unknown key "widht" in source (test); did you mean "width"?`}},
		{"bad caps", "source: {type: test}\nelements:\n  - caps: 'video/x-raw,width='\nsink: {type: fake}\n",
			[]string{`3:11: caps "video/x-raw,width=" cannot be parsed`}},
		{"duplicate element name", "source: {type: test}\nelements:\n  - element: videoconvert\n    name: a\n  - element: videoscale\n    name: a\nsink: {type: fake}\n",
			[]string{`5:5: element name "a" is used twice`}},
		{"webrtc sink size", "source: {type: webrtc}\nsink: {type: webrtc, size: small}\n",
			[]string{`2:28: sink.size: "small": want camera, compact or auto`}},
		{"webrtc sink rate", "source: {type: webrtc}\nsink: {type: webrtc, rate: 10}\n",
			[]string{`2:28: sink.rate: "10": want full, half or auto`}},
		{"invalid YAML", "source: {type: test\nsink: {type: fake}\n",
			[]string{`invalid YAML`}},
		{"not a mapping", "- a\n- b\n", []string{`1:1: a pipeline file must be a mapping`}},
		{"autostart not a bool", "autostart: later\nsource: {type: test}\nsink: {type: fake}\n",
			[]string{`1:12: autostart must be true or false, not "later"`}},
		{"bad duration", "source: {type: test}\nsink: {type: fake}\nrestart: {initial_backoff: soon}\n",
			[]string{`3:28: restart.initial_backoff: "soon" is not a duration`}},
		{"several errors at once", "source: {type: test, height: x}\nelements:\n  - element: nosuch\nsink: {type: fake, sink: 1}\n",
			[]string{`1:30: source.height must be an integer`, `3:14: unknown element "nosuch"`, `4:20: unknown key "sink" in sink (fake)`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("p.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			errs := Errors(err)
			if len(errs) < len(tc.want) {
				t.Fatalf("got %d errors, want at least %d:\n%v", len(errs), len(tc.want), err)
			}
			for i, want := range tc.want {
				got := errs[i].Error()
				if !strings.HasPrefix(got, "p.yaml:") {
					t.Errorf("error %d %q does not start with the file name", i, got)
				}
				loc, msg, hasLoc := strings.Cut(want, ": ")
				if hasLoc && strings.Count(loc, ":") == 1 {
					if !strings.HasPrefix(got, "p.yaml:"+loc+": ") || !strings.Contains(got, msg) {
						t.Errorf("error %d = %q, want at %s containing %q", i, got, loc, msg)
					}
				} else if !strings.Contains(got, want) {
					t.Errorf("error %d = %q, want it to contain %q", i, got, want)
				}
			}
		})
	}
}

func TestLoadFileReadsFromDisk(t *testing.T) {
	testelements.Register(t)
	path := filepath.Join(t.TempDir(), "cam-1.yaml")
	if err := os.WriteFile(path, []byte("source: {type: test}\nsink: {type: fake}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "cam-1" || s.File != path {
		t.Fatalf("spec name %q file %q", s.Name, s.File)
	}
}
