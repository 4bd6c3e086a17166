package doctor

import (
	"os"
	"testing"

	"github.com/go-gst/go-gst/gst"
)

// The install step's contract: after scripts/install-deps.sh and make models, every required
// dependency works on this machine.
func TestInstalledDependenciesWork(t *testing.T) {
	gst.Init(nil)
	modelDir := "../../models"
	if d := os.Getenv("EBRCS_MODELS"); d != "" {
		modelDir = d
	}
	results, ok := Run(Checks(Options{ModelDir: modelDir}))
	for _, r := range results {
		if r.Err != nil {
			t.Logf("%s: %v", r.Name, r.Err)
		} else {
			t.Logf("%s: %s", r.Name, r.Detail)
		}
	}
	if !ok {
		t.Fatal("a required dependency is missing or broken; run make install models")
	}
}

func TestMissingPiecesAreReported(t *testing.T) {
	if _, err := checkModel(t.TempDir()); err == nil {
		t.Error("a missing model passed")
	}
	if _, err := checkORT("/nonexistent/libonnxruntime.so"); err == nil {
		t.Error("a missing ONNX Runtime library passed")
	}
}
