package models

import (
	"fmt"
	"os"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

// DefaultORTLibrary is where scripts/install-deps.sh installs ONNX Runtime 1.24.1 (the C API
// version onnxruntime_go v1.27.0 needs).
const DefaultORTLibrary = "/usr/local/lib/libonnxruntime.so.1"

// ORTLibraryEnv names the environment variable that overrides DefaultORTLibrary.
const ORTLibraryEnv = "EBRCS_ORT_LIB"

var ortInit struct {
	sync.Mutex
	path string // the library the environment was initialised with
}

// Init loads ONNX Runtime and creates its process-wide environment. libraryPath "" means
// $EBRCS_ORT_LIB, or DefaultORTLibrary when that is unset.
//
// Init is idempotent and safe to call from several goroutines: the first successful call
// wins and later calls return nil whatever path they name (ONNX Runtime has one environment
// per process and cannot load a second library). A failed call can be retried. If something
// else in the process (e.g. `ebrcs doctor`) already initialised onnxruntime_go, Init uses
// that environment.
//
// The environment lives until the process exits: sessions of shared encoders may be in use
// anywhere, and tearing ONNX Runtime down under them would crash, so there is no Shutdown.
func Init(libraryPath string) error {
	ortInit.Lock()
	defer ortInit.Unlock()
	if ort.IsInitialized() {
		return nil
	}
	path := ortLibraryPath(libraryPath)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("models: ONNX Runtime library: %w (run scripts/install-deps.sh, or set %s)", err, ORTLibraryEnv)
	}
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(); err != nil {
		return fmt.Errorf("models: initialising ONNX Runtime from %s: %w", path, err)
	}
	ortInit.path = path
	return nil
}

// ortLibraryPath applies Init's rule: the argument, else $EBRCS_ORT_LIB, else the default.
func ortLibraryPath(arg string) string {
	if arg != "" {
		return arg
	}
	if env := os.Getenv(ORTLibraryEnv); env != "" {
		return env
	}
	return DefaultORTLibrary
}

// ORTLibrary returns the library path Init loaded ("" before a successful Init, or when the
// environment was initialised outside this package).
func ORTLibrary() string {
	ortInit.Lock()
	defer ortInit.Unlock()
	return ortInit.path
}
