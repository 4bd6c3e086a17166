package models

import (
	"strings"
	"testing"
)

// TestExportScript: export_dinov2_clip.py cannot run here (no model hub, no torch), but it
// must compile, show its usage, and explain itself when torch is missing.
func TestExportScript(t *testing.T) {
	runPython(t, "-c", "import sys; compile(open(sys.argv[1]).read(), sys.argv[1], 'exec')", "export_dinov2_clip.py")
	help := string(runPython(t, "export_dinov2_clip.py", "dino", "--help"))
	for _, want := range []string{"--model", "--lora", "--out"} {
		if !strings.Contains(help, want) {
			t.Errorf("usage lacks %s:\n%s", want, help)
		}
	}
	for _, script := range []string{"testdata/pil_reference.py", "testdata/make_test_models.py"} {
		runPython(t, "-c", "import sys; compile(open(sys.argv[1]).read(), sys.argv[1], 'exec')", script)
	}
}
