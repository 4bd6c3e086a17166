package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildPlugin builds this package as the plugin library, as `make plugin` does.
func buildPlugin(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("EBRCS_PLUGIN_DIR"); dir != "" { // prebuilt by make
		return dir
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", filepath.Join(dir, "libgstebrcs.so"), ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the plugin: %v\n%s", err, out)
	}
	os.Remove(filepath.Join(dir, "libgstebrcs.h"))
	return dir
}

// The plugin library works in gst-launch-1.0 and gst-inspect-1.0, outside our binary.
func TestPluginWorksInGstLaunch(t *testing.T) {
	dir := buildPlugin(t)
	env := append(os.Environ(), "GST_REGISTRY="+filepath.Join(t.TempDir(), "registry.bin"))

	launch := exec.Command("gst-launch-1.0", "--gst-plugin-path="+dir,
		"videotestsrc", "num-buffers=30", "!", "ebrcs_passthrough", "label=a", "!",
		"ebrcs_passthrough", "name=second", "label=b", "!", "fakesink", "silent=false", "-v")
	launch.Env = env
	out, err := launch.CombinedOutput()
	if err != nil {
		t.Fatalf("gst-launch-1.0: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "chain   ******* (fakesink0:sink)"); n != 30 {
		t.Fatalf("fakesink received %d buffers, want 30:\n%s", n, out)
	}

	inspect := exec.Command("gst-inspect-1.0", "--gst-plugin-path="+dir, "ebrcs_passthrough")
	inspect.Env = env
	out, err = inspect.CombinedOutput()
	if err != nil {
		t.Fatalf("gst-inspect-1.0: %v\n%s", err, out)
	}
	for _, want := range []string{"Filename", "libgstebrcs.so", "label", "frames-with-upstream-meta", "GstBaseTransform"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("gst-inspect output lacks %q", want)
		}
	}
}
