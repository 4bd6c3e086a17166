// Package doctor checks that every native dependency EBRCS needs is installed and works:
// GStreamer with the plugins our pipelines use, ONNX Runtime, the FAISS C library, pion, the
// default model and the browser used by end-to-end tests. `ebrcs doctor` prints the report;
// the install step (scripts/install-deps.sh) is what makes it pass on a fresh machine.
package doctor

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	faiss "github.com/DataIntelligenceCrew/go-faiss"
	"github.com/go-gst/go-gst/gst"
	"github.com/pion/webrtc/v4"
	ort "github.com/yalue/onnxruntime_go"
)

// Check is one dependency check.
type Check struct {
	Name string
	// Required checks fail the report; the others only warn (e.g. Chromium is needed only by
	// the browser tests).
	Required bool
	Run      func() (detail string, err error)
}

// Result is the outcome of one Check.
type Result struct {
	Name     string
	Required bool
	Detail   string
	Err      error
}

// Options locate the files the checks look at.
type Options struct {
	ORTLibrary string // path of libonnxruntime.so
	ModelDir   string // directory holding the default model (ebrcs doctor: models.DefaultDir)
}

// DefaultORTLibrary is where scripts/install-deps.sh installs ONNX Runtime.
const DefaultORTLibrary = "/usr/local/lib/libonnxruntime.so.1"

// RequiredElements are the GStreamer element factories EBRCS pipelines use.
var RequiredElements = []string{
	"videotestsrc", "videoconvert", "videoscale", "capsfilter", "identity", "tee", "queue",
	"appsrc", "appsink", "fakesink", "filesrc", "decodebin", "qtdemux", "mp4mux", "y4menc", "y4mdec",
	"vp8enc", "vp8dec", "x264enc", "avdec_h264", "h264parse",
	"rtpvp8depay", "rtpvp8pay", "rtph264depay", "rtph264pay", "rtpjitterbuffer", "rtspsrc",
}

// DefaultModel is the default encoder's file (models.DefaultModelFile, which this package,
// below models, cannot import) and its checksum (see models/README.md).
const (
	DefaultModel       = "mobilenetv2-12-int8-emb.onnx"
	DefaultModelSHA256 = "77c955443515346e51f021e0380533903028b1c8c6beb5782dd4169eff8db28a"
)

// Checks returns the checks for opts. gst.Init must have run.
func Checks(opts Options) []Check {
	return []Check{
		{Name: "GStreamer", Required: true, Run: checkGStreamer},
		{Name: "ONNX Runtime", Required: true, Run: func() (string, error) { return checkORT(opts.ORTLibrary) }},
		{Name: "FAISS (libfaiss_c)", Required: true, Run: checkFAISS},
		{Name: "pion WebRTC", Required: true, Run: checkPion},
		{Name: "default model", Required: true, Run: func() (string, error) { return checkModel(opts.ModelDir) }},
		{Name: "Chromium (browser tests)", Required: false, Run: checkChromium},
	}
}

// Run runs every check and reports whether all required ones passed.
func Run(checks []Check) ([]Result, bool) {
	ok := true
	results := make([]Result, len(checks))
	for i, c := range checks {
		detail, err := c.Run()
		results[i] = Result{Name: c.Name, Required: c.Required, Detail: detail, Err: err}
		if err != nil && c.Required {
			ok = false
		}
	}
	return results, ok
}

func checkGStreamer() (string, error) {
	major, minor, micro := gstVersion()
	version := fmt.Sprintf("%d.%d.%d", major, minor, micro)
	if major != 1 || minor < 22 {
		return version, fmt.Errorf("GStreamer %s is too old: go-gst v1.4.0 needs 1.22", version)
	}
	var missing []string
	for _, name := range RequiredElements {
		if gst.Find(name) == nil {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return version, fmt.Errorf("missing elements: %s (run scripts/install-deps.sh)", strings.Join(missing, ", "))
	}
	return fmt.Sprintf("%s, %d elements present", version, len(RequiredElements)), nil
}

func checkORT(lib string) (string, error) {
	if lib == "" {
		lib = DefaultORTLibrary
	}
	if _, err := os.Stat(lib); err != nil {
		return "", fmt.Errorf("%w (run scripts/install-deps.sh)", err)
	}
	if !ort.IsInitialized() {
		ort.SetSharedLibraryPath(lib)
		if err := ort.InitializeEnvironment(); err != nil {
			return "", err
		}
		defer ort.DestroyEnvironment()
	}
	return "onnxruntime " + ort.GetVersion(), nil
}

func checkFAISS() (string, error) {
	idx, err := faiss.NewIndexFlatIP(4)
	if err != nil {
		return "", err
	}
	defer idx.Delete()
	vectors := []float32{1, 0, 0, 0, 0, 1, 0, 0}
	if err := idx.Add(vectors); err != nil {
		return "", err
	}
	scores, ids, err := idx.Search([]float32{0, 1, 0, 0}, 1)
	if err != nil {
		return "", err
	}
	if ids[0] != 1 || scores[0] != 1 {
		return "", fmt.Errorf("inner-product search returned id %d score %v, want 1 and 1", ids[0], scores[0])
	}
	return "IndexFlatIP search ok", nil
}

func checkPion() (string, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterDefaultCodecs(); err != nil {
		return "", err
	}
	pc, err := webrtc.NewAPI(webrtc.WithMediaEngine(m)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", err
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo); err != nil {
		return "", err
	}
	if _, err := pc.CreateOffer(nil); err != nil {
		return "", err
	}
	return "peer connection and offer ok", nil
}

func checkModel(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("no model directory given")
	}
	path := dir + "/" + DefaultModel
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("%w (run make models)", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	if sum := hex.EncodeToString(h.Sum(nil)); sum != DefaultModelSHA256 {
		return "", fmt.Errorf("%s has sha256 %s, want %s", path, sum, DefaultModelSHA256)
	}
	return path, nil
}

func checkChromium() (string, error) {
	path, err := exec.LookPath("chromium")
	if err != nil {
		return "", err
	}
	return path, nil
}
