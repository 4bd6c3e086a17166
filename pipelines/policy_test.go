package pipelines

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ebrcs/ebrcs/elements"
	"github.com/ebrcs/ebrcs/elements/goelement"
	"github.com/ebrcs/ebrcs/testkit/testelements"
)

// apiWorkDir makes a working directory shaped like the server's (var/, models/,
// configs/embedders/, media/) with a file and links outside it, and enters it.
func apiWorkDir(t *testing.T) (outside string) {
	t.Helper()
	testelements.Register(t)
	root := t.TempDir()
	outside = t.TempDir()
	for _, d := range []string{"var/catalog", "models", "configs/embedders", "media/sub", "fonts"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"media/clip.mp4", "configs/embedders/e.yaml", filepath.Join(outside, "secret.mp4")} {
		if !filepath.IsAbs(f) {
			f = filepath.Join(root, f)
		}
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"media/escape.mp4":            filepath.Join(outside, "secret.mp4"),
		"media/outdir":                outside,
		"media/inside.mp4":            filepath.Join(root, "media/clip.mp4"),
		"var/catalog-link":            outside,
		"configs/embedders/evil.yaml": "/etc/passwd",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(root)
	return outside
}

func apiLoad(yaml string) error {
	_, err := LoadWithPolicy("cam.yaml", []byte(yaml), &Policy{MediaDir: "media"})
	return err
}

func chain(elementYAML string) string {
	return "name: cam\nsource: {type: test}\nelements:\n" + elementYAML + "sink: {type: fake}\n"
}

// Through the API, nothing may make the server read or write files outside its own places:
// each refusal is an ordinary validation error at the line and column of the culprit.
func TestPolicyRefusesFileAccess(t *testing.T) {
	outside := apiWorkDir(t)
	for _, c := range []struct{ what, yaml, want string }{
		{"queue2 temp-template", chain("  - element: queue2\n    properties: {temp-template: /etc/x}\n"), `cam.yaml:5:18: property "temp-template" of queue2 names a file`},
		{"x264enc multipass-cache-file", chain("  - element: x264enc\n    properties:\n      multipass-cache-file: /root/.bashrc\n"), `cam.yaml:6:7: property "multipass-cache-file" of x264enc names a file`},
		{"x264enc option-string", chain("  - element: x264enc\n    properties: {option-string: 'stats=/tmp/x'}\n"), `property "option-string" of x264enc names a file`},
		{"qtmux moov-recovery-file", chain("  - element: qtmux\n    properties: {moov-recovery-file: /tmp/m}\n"), `"moov-recovery-file" of qtmux`},
		{"lcms input-profile", chain("  - element: lcms\n    properties: {input-profile: /etc/shadow}\n"), `"input-profile" of lcms`},
		{"filesink (klass Sink/File)", chain("  - element: filesink\n"), "cam.yaml:4:14: element filesink reads or writes files (klass Sink/File)"},
		{"filesrc", chain("  - element: filesrc\n"), "element filesrc reads or writes files"},
		{"fdsink writes to the server's descriptors", chain("  - element: fdsink\n"), "element fdsink reads or writes files"},
		{"multifilesink", chain("  - element: multifilesink\n"), "element multifilesink reads or writes files"},
		{"splitmuxsink writes by default", chain("  - element: splitmuxsink\n"), "element splitmuxsink reads or writes files by itself"},
		{"filesink location via underscore", chain("  - element: filesink\n    properties: {location: /root/.bashrc}\n"), "element filesink"},
		{"uridecodebin file URI", chain("  - element: uridecodebin\n    properties: {uri: 'file:///etc/passwd'}\n"), "element uridecodebin"},
		{"a file: URI in any text property", chain("  - element: flvmux\n    properties: {metadatacreator: 'FILE:///etc/passwd'}\n"), `cam.yaml:5:35: property "metadatacreator" of flvmux: a file: URI`},
		// Our elements: paths inside the server's own directories only.
		{"catalog absolute", chain("  - element: ebrcs_match\n    properties: {catalog: /etc}\n"), `cam.yaml:5:27: property "catalog" of ebrcs_match: "/etc": give a path relative`},
		{"catalog ..", chain("  - element: ebrcs_match\n    properties: {catalog: var/../configs}\n"), `".." is not allowed`},
		{"catalog outside var", chain("  - element: ebrcs_match\n    properties: {catalog: configs/pipelines}\n"), "inside the data directory var/"},
		{"catalog is var itself", chain("  - element: ebrcs_match\n    properties: {catalog: var}\n"), "inside the data directory var/"},
		{"catalog through a symlink", chain("  - element: ebrcs_match\n    properties: {catalog: var/catalog-link/c}\n"), "a symbolic link leads outside"},
		{"embedder reads the admin token", chain("  - element: ebrcs_embed\n    properties: {embedder: var/admin-token}\n"), "inside configs/embedders/"},
		{"embedder through a symlink", chain("  - element: ebrcs_embed\n    properties: {embedder: configs/embedders/evil.yaml}\n"), "a symbolic link leads outside"},
		{"model-dir absolute", chain("  - element: ebrcs_match\n    properties: {model-dir: /}\n"), "give a path relative"},
		{"model-dir home", chain("  - element: ebrcs_embed\n    properties: {model-dir: ~/models}\n"), "give a path relative"},
		{"font outside", chain("  - element: ebrcs_overlay\n    properties: {font: /etc/shadow}\n"), `property "font" of ebrcs_overlay`},
		// File sources: inside media_dir, symlinks resolved.
		{"file source absolute", "name: cam\nsource: {type: file, path: /etc/passwd}\nsink: {type: fake}\n", `cam.yaml:2:28: source.path "/etc/passwd": outside`},
		{"file source ..", "name: cam\nsource: {type: file, path: media/../var/admin-token}\nsink: {type: fake}\n", `".." is not allowed`},
		{"file source parent", "name: cam\nsource: {type: file, path: ../x.mp4}\nsink: {type: fake}\n", `".." is not allowed`},
		{"file source symlink to a file outside", "name: cam\nsource: {type: file, path: media/escape.mp4}\nsink: {type: fake}\n", "a symbolic link leads outside"},
		{"file source symlinked directory", "name: cam\nsource:\n  type: file\n  path: media/outdir/secret.mp4\nsink: {type: fake}\n", "cam.yaml:4:9: source.path \"media/outdir/secret.mp4\": a symbolic link leads outside"},
		{"file source outside, absolute", "name: cam\nsource: {type: file, path: '" + filepath.Join(outside, "secret.mp4") + "'}\nsink: {type: fake}\n", "outside"},
	} {
		err := apiLoad(c.yaml)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v\nwant an error with %q", c.what, err, c.want)
			continue
		}
		for _, e := range Errors(err) {
			if e.Pos.Line == 0 {
				t.Errorf("%s: an error without a position: %v", c.what, e)
			}
		}
		// The same definition in a file of the directory is the operator's: the policy does
		// not apply (other validation may still refuse it).
		if _, err := Load("cam.yaml", []byte(c.yaml)); err != nil && (strings.Contains(err.Error(), apiRefusal) || strings.Contains(err.Error(), "media_dir")) {
			t.Errorf("%s: the policy applied to a directory file: %v", c.what, err)
		}
	}
	_, err := LoadWithPolicy("cam.yaml", []byte("name: cam\nsource: {type: file, path: media/clip.mp4}\nsink: {type: fake}\n"), &Policy{})
	if err == nil || !strings.Contains(err.Error(), "no media directory") {
		t.Fatalf("no media_dir: %v", err)
	}
}

// What the policy allows: media files (also through a symlink that stays inside, or not yet
// there), our elements' paths in their directories, a file source without a path (uploads),
// and every other property.
func TestPolicyAllows(t *testing.T) {
	apiWorkDir(t)
	abs, _ := filepath.Abs("media/clip.mp4")
	for _, yaml := range []string{
		"name: cam\nsource: {type: file, path: media/clip.mp4}\nsink: {type: fake}\n",
		"name: cam\nsource: {type: file, path: ./media/sub/new.mp4}\nsink: {type: fake}\n",
		"name: cam\nsource: {type: file, path: media/inside.mp4}\nsink: {type: fake}\n",
		"name: cam\nsource: {type: file, path: '" + abs + "'}\nsink: {type: fake}\n",
		"name: cam\nsource: {type: file}\nsink: {type: fake}\n",
		chain("  - element: ebrcs_match\n    properties: {catalog: var/catalog, embedder: configs/embedders/e.yaml, model-dir: models}\n"),
		chain("  - element: ebrcs_embed\n    properties: {model-dir: models/v2, embedder: ''}\n"),
		chain("  - element: ebrcs_overlay\n    properties: {font: fonts/noto.ttf}\n"),
		chain("  - element: queue\n    properties: {max-size-buffers: 8}\n  - element: videoconvert\n  - element: ebrcs_passthrough\n    properties: {label: 'see file: nothing'}\n"),
		chain("  - element: x264enc\n    properties: {tune: zerolatency, speed-preset: ultrafast, bitrate: 800}\n"),
	} {
		if err := apiLoad(yaml); err != nil {
			t.Errorf("%s: %v", yaml, err)
		}
	}
}

// The shipped pipeline files (served and examples) load as they are, and all but detect.yaml (which reads
// ../shared/videos) would also be accepted through the API.
func TestPolicyShippedPipelines(t *testing.T) {
	testelements.Register(t)
	t.Chdir("..")
	served, _ := filepath.Glob("configs/pipelines/*.yaml")
	examples, err := filepath.Glob("configs/examples/*.yaml")
	files := append(served, examples...)
	if err != nil || len(files) == 0 {
		t.Fatalf("no shipped pipelines: %v", err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Load(f, raw); err != nil {
			t.Errorf("%s does not load: %v", f, err)
		}
		_, err = LoadWithPolicy(f, raw, &Policy{MediaDir: "media"})
		if filepath.Base(f) == "detect.yaml" {
			if err == nil || !strings.Contains(err.Error(), "source.path") {
				t.Errorf("%s: want its ../shared path refused through the API, got %v", f, err)
			}
		} else if err != nil {
			t.Errorf("%s is refused through the API: %v", f, err)
		}
	}
}

func TestFileProperty(t *testing.T) {
	for _, name := range []string{"location", "temp-location", "playlist-location", "multipass-cache-file", "file",
		"file-name", "filename", "mpd-filename", "passlogfile", "ssh-priv-keyfile", "temp-template", "socket-path",
		"mpd-root-path", "dir", "directory", "device", "uri", "suburi", "input-profile", "sink-factory",
		"omx-libname", "option-string", "recovery-input", "fixed-output", "ca-cert", "soundfont", "temp_template"} {
		if !FileProperty(name) {
			t.Errorf("%q names a file", name)
		}
	}
	for _, name := range []string{"bitrate", "label", "tune", "caps", "pattern", "max-size-buffers", "format", "roi", "name"} {
		if FileProperty(name) {
			t.Errorf("%q does not name a file", name)
		}
	}
}

// Every string property of our elements that names a file or a directory is in
// ourPathProperties (so the API policy confines it), and every entry there exists.
func TestOurPathPropertiesComplete(t *testing.T) {
	for _, r := range elements.All {
		info := r.Describe()
		for _, p := range info.Properties {
			if p.Kind != goelement.String || p.ReadOnly {
				continue
			}
			doc := strings.ToLower(p.Doc)
			names := strings.Contains(doc, "file") || strings.Contains(doc, "director") || strings.Contains(doc, "path")
			_, listed := ourPathProperties[info.Name][p.Name]
			if names && !listed {
				t.Errorf("%s property %q seems to name a file (%q): add it to ourPathProperties", info.Name, p.Name, p.Doc)
			}
		}
	}
	for factory, props := range ourPathProperties {
		info := elements.Lookup(factory)
		if info == nil {
			t.Errorf("ourPathProperties names %s, not one of our elements", factory)
			continue
		}
		for name := range props {
			found := false
			for _, p := range info.Properties {
				found = found || (p.Name == name && p.Kind == goelement.String)
			}
			if !found {
				t.Errorf("ourPathProperties: %s has no string property %q", factory, name)
			}
		}
	}
}
