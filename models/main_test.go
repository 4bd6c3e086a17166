package models

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if err := Init(""); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if testModels.dir != "" {
		os.RemoveAll(testModels.dir)
	}
	if code == 0 {
		// Every test must leave no goroutine behind (batcher workers, parallel preprocessing).
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// testModels holds the fake DINOv2/CLIP models, generated once per test binary by
// testdata/make_test_models.py.
var testModels struct {
	once sync.Once
	dir  string
	err  error
}

// fakeModel returns the path of one of make_test_models.py's models.
func fakeModel(t testing.TB, name string) string {
	t.Helper()
	testModels.once.Do(func() {
		dir, err := os.MkdirTemp("", "ebrcs-models-test-")
		if err != nil {
			testModels.err = err
			return
		}
		testModels.dir = dir
		runPython(t, filepath.Join("testdata", "make_test_models.py"), dir)
	})
	if testModels.err != nil {
		t.Fatal(testModels.err)
	}
	return filepath.Join(testModels.dir, name)
}

// defaultModelDir is where `make models` puts the default model: this directory.
func defaultModelDir(t testing.TB) string {
	t.Helper()
	if _, err := os.Stat(DefaultModelFile); err != nil {
		t.Fatalf("%s is missing: run `make models`", DefaultModelFile)
	}
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	return dir
}
