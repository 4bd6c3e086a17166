package pipelines_test

import (
	"bytes"
	"fmt"
	"image/png"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/pion/webrtc/v4"

	"github.com/ebrcs/ebrcs/checkout"
	"github.com/ebrcs/ebrcs/checkout/access"
	"github.com/ebrcs/ebrcs/data"
	"github.com/ebrcs/ebrcs/internal/cores"
	"github.com/ebrcs/ebrcs/pipelines"
	"github.com/ebrcs/ebrcs/recognition"
	"github.com/ebrcs/ebrcs/signaling"
	"github.com/ebrcs/ebrcs/testkit/gsttest"
	"github.com/ebrcs/ebrcs/testkit/rtsptest"
	"github.com/ebrcs/ebrcs/testkit/scenario"
)

// cameraEnv runs camera pipeline files under a real Manager, each bound to its checkout
// station, against RTSP cameras on loopback serving rendered scenarios.
// staffToken is the admin token of the tests' guard: camera stations are staff's.
const staffToken = "staff-token-0123456789abcdef"

type cameraEnv struct {
	t        *testing.T
	rtc      *signaling.Service
	dir      string
	catalog  string
	models   string
	stations *checkout.Manager
	mgr      *pipelines.Manager
	videos   map[string]string
	truths   map[string]scenario.GroundTruth
	sink     string // the pipelines' tail after the counter
	logs     *syncBuffer
}

// syncBuffer is a bytes.Buffer safe for the supervisors' concurrent log writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newCameraEnv(t *testing.T, scenarios ...string) *cameraEnv {
	if testing.Short() {
		t.Skip("streams scenario videos over RTSP in real time")
	}
	gsttest.Init(t)
	e := &cameraEnv{t: t, dir: t.TempDir(), videos: map[string]string{}, truths: map[string]scenario.GroundTruth{},
		sink: "sink: {type: fake}\n"}
	e.models, _ = filepath.Abs("../models")
	e.catalog = filepath.Join(e.dir, "catalog")
	products := scenario.SyntheticProducts(6, 1)
	suite, _ := scenario.Suite(products)
	for _, sc := range suite {
		for _, want := range scenarios {
			if sc.Name == want {
				video, _, err := scenario.Generate(e.dir, sc, products, "mp4")
				if err != nil {
					t.Fatal(err)
				}
				e.videos[sc.Name] = video
				e.truths[sc.Name], _ = sc.Truth(products)
			}
		}
	}
	emb, err := recognition.OpenEmbedder("", e.models)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := recognition.OpenCatalog(e.catalog, emb, data.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range products {
		var b bytes.Buffer
		png.Encode(&b, p.Image)
		if _, err := cat.AddProduct(data.NewProduct{Name: p.Name, Images: [][]byte{b.Bytes()}}); err != nil {
			t.Fatal(err)
		}
	}
	outputs := signaling.NewOutputs()
	if e.stations, err = checkout.NewManager(checkout.Config{Store: cat, StationVideo: outputs}); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(e.dir, "cameras"), 0o755)
	e.logs = &syncBuffer{}
	e.mgr = pipelines.NewManager(filepath.Join(e.dir, "cameras"), pipelines.ManagerOptions{MaxRestarts: -1,
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Binder: e.stations})
	if e.rtc, err = signaling.NewService(signaling.Config{LoopbackOnly: true}, e.mgr, e.stations, outputs,
		&access.Guard{AdminToken: staffToken}, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.rtc.Close()
		e.mgr.Close()
		e.stations.Close()
		recognition.CloseAll()
	})
	return e
}

// camera writes a camera pipeline file (the shipped checkout chain after an rtsp source).
func (e *cameraEnv) camera(name, url, extra string) {
	yaml := fmt.Sprintf(`name: %s
source:
  type: rtsp
  url: %q
  transport: tcp
  latency_ms: 100
  silence_timeout: 2s
%srestart: {initial_backoff: 200ms, max_backoff: 1s, stable_after: 5s}
elements:
  - element: videoconvert
  - caps: video/x-raw,format=RGBA
  - element: ebrcs_bgsub
    properties: {foreground-slowdown: 10}
  - element: ebrcs_roigate
    properties: {roi: "0.2,0.15;0.8,0.15;0.8,0.95;0.2,0.95", pad: 0, entry-burst: 4}
  - element: ebrcs_embed
    properties: {model-dir: %s}
  - element: ebrcs_match
    properties: {catalog: %s, model-dir: %s}
  - element: ebrcs_counter
%s`, name, url, extra, e.models, e.catalog, e.models, e.sink)
	if err := os.WriteFile(filepath.Join(e.dir, "cameras", name+".yaml"), []byte(yaml), 0o644); err != nil {
		e.t.Fatal(err)
	}
	if err := e.mgr.Sync(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *cameraEnv) status(name string) pipelines.Status {
	for _, st := range e.mgr.Statuses() {
		if st.Name == name {
			return st
		}
	}
	e.t.Fatalf("no pipeline %s", name)
	return pipelines.Status{}
}

func (e *cameraEnv) cart(name string) map[string]int {
	s, err := e.stations.Get(checkout.StationID(name))
	if err != nil {
		e.t.Fatal(err)
	}
	return s.Cart.View().Totals()
}

// waitFrames waits until the pipeline has processed more than n frames in all.
func (e *cameraEnv) waitFrames(name string, n int64, within time.Duration) (int64, bool) {
	deadline := time.Now().Add(within)
	for {
		st := e.status(name)
		if st.Frames > n {
			return st.Frames, true
		}
		if time.Now().After(deadline) {
			return st.Frames, false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// An RTSP camera serving a scenario: the station's cart equals its ground truth.
func TestCameraCountsTheScenarioOverRTSP(t *testing.T) {
	e := newCameraEnv(t, "two-products")
	truth := e.truths["two-products"]
	srv := rtsptest.StartT(t, rtsptest.Options{Launch: rtsptest.H264Launch(e.videos["two-products"])})
	e.camera("counter-1", srv.URL(), "")
	// One pass: the stream ends, and the camera is reconnected (a camera never ends), so
	// look at the cart once the first pass is through.
	if _, ok := e.waitFrames("counter-1", int64(truth.Frames)-5, 30*time.Second); !ok {
		t.Fatalf("the camera did not stream the scenario: %+v", e.status("counter-1"))
	}
	time.Sleep(300 * time.Millisecond)
	if got := e.cart("counter-1"); fmt.Sprint(got) != fmt.Sprint(truth.Items) {
		t.Fatalf("station cart %v, ground truth %v", got, truth.Items)
	}
}

// The camera's server goes away and comes back 5 times: every time the pipeline resumes
// within 5 s without restarting anything else, the cart survives, and products shown after
// the last restart are counted.
func TestCameraSurvivesServerRestarts(t *testing.T) {
	e := newCameraEnv(t, "busy-checkout")
	launch := rtsptest.H264Launch(e.videos["busy-checkout"])
	srv := rtsptest.StartT(t, rtsptest.Options{Launch: launch, Loop: true})
	port := srv.Port()
	e.camera("counter-1", srv.URL(), "")
	if _, ok := e.waitFrames("counter-1", 30, 15*time.Second); !ok {
		t.Fatalf("no frames: %+v", e.status("counter-1"))
	}
	total := func(m map[string]int) (n int) {
		for _, q := range m {
			n += q
		}
		return n
	}
	for i := 1; i <= 5; i++ {
		before := total(e.cart("counter-1"))
		srv.Stop()
		time.Sleep(time.Second)
		var err error
		srv, err = rtsptest.Start(rtsptest.Options{Launch: launch, Loop: true, Port: port})
		if err != nil {
			t.Fatal(err)
		}
		back := time.Now()
		frames := e.status("counter-1").Frames
		if _, ok := e.waitFrames("counter-1", frames+15, 5*time.Second); !ok {
			t.Fatalf("restart %d: no frames within 5 s of the server coming back: %+v", i, e.status("counter-1"))
		}
		t.Logf("restart %d: frames again after %v (restarts %d, last error %q)", i, time.Since(back).Round(10*time.Millisecond),
			e.status("counter-1").Restarts, e.status("counter-1").LastError)
		if after := total(e.cart("counter-1")); after < before {
			t.Fatalf("restart %d: the cart lost items (%d, then %d)", i, before, after)
		}
	}
	before := total(e.cart("counter-1"))
	deadline := time.Now().Add(20 * time.Second)
	for total(e.cart("counter-1")) == before && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if total(e.cart("counter-1")) == before {
		t.Fatalf("nothing was counted after the last restart: %v", e.cart("counter-1"))
	}
	srv.Stop()
}

// A camera that stops sending without closing the connection is detected (silence) and
// reconnected.
func TestCameraStallIsDetected(t *testing.T) {
	e := newCameraEnv(t, "busy-checkout")
	srv := rtsptest.StartT(t, rtsptest.Options{Launch: rtsptest.H264Launch(e.videos["busy-checkout"]), Loop: true})
	e.camera("counter-1", srv.URL(), "")
	if _, ok := e.waitFrames("counter-1", 30, 15*time.Second); !ok {
		t.Fatalf("no frames: %+v", e.status("counter-1"))
	}
	srv.Stall(true)
	deadline := time.Now().Add(10 * time.Second)
	for e.status("counter-1").Restarts == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	st := e.status("counter-1")
	if st.Restarts == 0 || !strings.Contains(st.LastError, "no frame") {
		t.Fatalf("stall not detected: %+v", st)
	}
	srv.Stall(false)
	if _, ok := e.waitFrames("counter-1", st.Frames+15, 10*time.Second); !ok {
		t.Fatalf("no frames after the stall ended: %+v", e.status("counter-1"))
	}
}

// Wrong credentials, a wrong URL and a camera without video: clear errors in the state
// (never the password), retried with backoff; a good camera next to them is unaffected.
func TestCameraFailuresAreVisibleAndIsolated(t *testing.T) {
	e := newCameraEnv(t, "busy-checkout")
	video := e.videos["busy-checkout"]
	good := rtsptest.StartT(t, rtsptest.Options{Launch: rtsptest.H264Launch(video), Loop: true})
	locked := rtsptest.StartT(t, rtsptest.Options{Launch: rtsptest.H264Launch(video), Loop: true, User: "cam", Password: "right-one"})
	noVideo := rtsptest.StartT(t, rtsptest.Options{Launch: "( audiotestsrc is-live=true ! audioconvert ! audio/x-raw,format=S16BE,channels=1,rate=16000 ! rtpL16pay name=pay0 )"})
	e.camera("good", good.URL(), "")
	e.camera("bad-password", strings.Replace(locked.URL(), "rtsp://", "rtsp://cam:wrong-secret@", 1), "")
	e.camera("bad-url", fmt.Sprintf("rtsp://127.0.0.1:%d/nothing-here", locked.Port()), "")
	e.camera("no-video", noVideo.URL(), "")
	if _, ok := e.waitFrames("good", 30, 15*time.Second); !ok {
		t.Fatalf("the good camera: %+v", e.status("good"))
	}
	time.Sleep(6 * time.Second)
	for _, name := range []string{"bad-password", "bad-url", "no-video"} {
		st := e.status(name)
		t.Logf("%s: %s, %d restarts, %q", name, st.State, st.Restarts, st.LastError)
		if st.Restarts < 2 || st.LastError == "" || st.Frames != 0 {
			t.Errorf("%s: want a failing camera retried with its error, got %+v", name, st)
		}
		if strings.Contains(st.LastError, "wrong-secret") {
			t.Errorf("%s: the password is in the error: %q", name, st.LastError)
		}
	}
	if st := e.status("no-video"); !strings.Contains(st.LastError, "no frame") {
		t.Errorf("no-video: %q", st.LastError)
	}
	// No log spam: a camera failing the same way every backoff period is logged once a
	// minute, not at every attempt; and never with its password.
	logs := e.logs.String()
	if n := strings.Count(logs, "pipeline=bad-url") - strings.Count(logs, "level=DEBUG"); n > 3 {
		t.Errorf("%d log lines for the bad-url camera in 6 s:\n%s", n, logs)
	}
	if strings.Contains(logs, "wrong-secret") {
		t.Errorf("the password is in the logs")
	}
	frames := e.status("good").Frames
	if _, ok := e.waitFrames("good", frames+30, 5*time.Second); !ok || e.status("good").Restarts != 0 {
		t.Fatalf("the good camera was affected: %+v", e.status("good"))
	}
}

// BenchmarkCameras: N RTSP cameras (640×480, 15 fps, H.264, served on loopback from this
// process) through the shipped checkout chain, each in its own supervised pipeline. drop-%
// is the share of the frames the cameras sent in a 10 s steady-state window that were not
// processed; cpu-per-camera is the process's CPU (cameras included) divided by N.
// EBRCS_BENCH_CAMERAS=1,8,16 chooses the N.
func BenchmarkCameras(b *testing.B) {
	ns := []int{1, 4, 8, 12, 16}
	if v := os.Getenv("EBRCS_BENCH_CAMERAS"); v != "" {
		ns = nil
		for _, f := range strings.Split(v, ",") {
			var n int
			fmt.Sscan(f, &n)
			ns = append(ns, n)
		}
	}
	for _, n := range ns {
		b.Run(fmt.Sprintf("cameras=%d", n), func(b *testing.B) {
			cores.ForCallbacks() // as the server runs (the testing package resets GOMAXPROCS)
			for i := 0; i < b.N; i++ {
				benchCameras(b, n)
			}
		})
	}
}

func benchCameras(b *testing.B, n int) {
	gsttest.Init(b)
	dir := b.TempDir()
	products := scenario.SyntheticProducts(6, 1)
	suite, _ := scenario.Suite(products)
	var video string
	for _, sc := range suite {
		if sc.Name == "busy-checkout" {
			v, _, err := scenario.Generate(dir, sc, products, "mp4")
			if err != nil {
				b.Fatal(err)
			}
			video = v
		}
	}
	// The cameras send 15 fps.
	cam := filepath.Join(dir, "cam15.mp4")
	if err := rtsptest.RunLaunch(fmt.Sprintf("filesrc location=%s ! qtdemux ! h264parse ! avdec_h264 ! videorate ! video/x-raw,framerate=15/1 ! "+
		"x264enc tune=zerolatency speed-preset=superfast key-int-max=30 bitrate=1500 ! mp4mux ! filesink location=%s", video, cam)); err != nil {
		b.Fatal(err)
	}
	models, _ := filepath.Abs("../models")
	catDir := filepath.Join(dir, "catalog")
	emb, err := recognition.OpenEmbedder("", models)
	if err != nil {
		b.Fatal(err)
	}
	cat, err := recognition.OpenCatalog(catDir, emb, data.Options{})
	if err != nil {
		b.Fatal(err)
	}
	for _, p := range products {
		var buf bytes.Buffer
		png.Encode(&buf, p.Image)
		cat.AddProduct(data.NewProduct{Name: p.Name, Images: [][]byte{buf.Bytes()}})
	}
	defer recognition.CloseAll()
	var sups []*pipelines.Supervisor
	var servers []*rtsptest.Server
	for j := 0; j < n; j++ {
		srv, err := rtsptest.Start(rtsptest.Options{Launch: rtsptest.H264Launch(cam), Loop: true})
		if err != nil {
			b.Fatal(err)
		}
		servers = append(servers, srv)
		spec, err := pipelines.Load(fmt.Sprintf("cam%d.yaml", j), []byte(fmt.Sprintf(`name: cam%d
source: {type: rtsp, url: %q, transport: tcp, latency_ms: 100}
elements:
  - element: videoconvert
  - caps: video/x-raw,format=RGBA
  - element: ebrcs_bgsub
    properties: {foreground-slowdown: 10}
  - element: ebrcs_roigate
    properties: {roi: "0.2,0.15;0.8,0.15;0.8,0.95;0.2,0.95", pad: 0, entry-burst: 4}
  - element: ebrcs_embed
    properties: {model-dir: %s}
  - element: ebrcs_match
    properties: {catalog: %s, model-dir: %s}
  - element: ebrcs_counter
sink: {type: fake}
`, j, srv.URL(), models, catDir, models)))
		if err != nil {
			b.Fatal(err)
		}
		sup := pipelines.NewSupervisor(spec, pipelines.SupervisorOptions{MaxRestarts: -1})
		sup.Start()
		sups = append(sups, sup)
	}
	defer func() {
		for _, s := range sups {
			s.Stop()
		}
		for _, s := range servers {
			s.Stop()
		}
	}()
	time.Sleep(4 * time.Second)
	frames := func() (n int64) {
		for _, s := range sups {
			n += s.Status().Frames
		}
		return n
	}
	f0, c0, t0 := frames(), cpuTime(), time.Now()
	time.Sleep(10 * time.Second)
	f1, c1, el := frames(), cpuTime(), time.Since(t0)
	expected := float64(n) * 15 * el.Seconds()
	b.ReportMetric(100*max(0, 1-float64(f1-f0)/expected), "drop-%")
	b.ReportMetric((c1-c0).Seconds()/el.Seconds()/float64(n), "cpu-per-camera")
	b.ReportMetric((c1-c0).Seconds()/el.Seconds(), "cpu-cores")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// H.265 and MJPEG cameras decode through the same source.
func TestCameraCodecs(t *testing.T) {
	e := newCameraEnv(t, "single-product")
	video := e.videos["single-product"]
	for name, launch := range map[string]string{"h265": rtsptest.H265Launch(video), "mjpeg": rtsptest.MJPEGLaunch(video)} {
		srv := rtsptest.StartT(t, rtsptest.Options{Launch: launch, Loop: true})
		e.camera(name, srv.URL(), "")
	}
	for _, name := range []string{"h265", "mjpeg"} {
		if _, ok := e.waitFrames(name, 30, 20*time.Second); !ok {
			t.Errorf("%s camera: %+v", name, e.status(name))
		}
	}
}

// A camera station is viewable with WHEP: its annotated video (overlay, whep sink) reaches a
// viewer at /whep/st_<name>.
func TestCameraStationIsViewableWithWHEP(t *testing.T) {
	e := newCameraEnv(t, "single-product")
	e.sink = "  - element: ebrcs_overlay\nsink: {type: whep, bitrate: 800}\n"
	srv := rtsptest.StartT(t, rtsptest.Options{Launch: rtsptest.H264Launch(e.videos["single-product"]), Loop: true})
	e.camera("counter-1", srv.URL(), "")
	if _, ok := e.waitFrames("counter-1", 30, 15*time.Second); !ok {
		t.Fatalf("no frames: %+v", e.status("counter-1"))
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	e.rtc.Routes(r)
	ts := httptest.NewServer(r)
	defer ts.Close()
	api, _ := signaling.ClientAPI(true)
	pc, _ := api.NewPeerConnection(webrtc.Configuration{})
	defer pc.Close()
	pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
	var got atomic.Int64
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			got.Add(1)
		}
	})
	offer, _ := pc.CreateOffer(nil)
	gathered := webrtc.GatheringCompletePromise(pc)
	pc.SetLocalDescription(offer)
	<-gathered
	// A station's video is staff's: refused without the admin token, served with it.
	whep := func(header http.Header) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/whep/"+checkout.StationID("counter-1"), strings.NewReader(pc.LocalDescription().SDP))
		req.Header = header
		req.Header.Set("Content-Type", "application/sdp")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := whep(http.Header{}); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("WHEP of a station without staff credentials: %d, want 401", resp.StatusCode)
	} else {
		resp.Body.Close()
	}
	resp := whep(http.Header{"Authorization": {"Bearer " + staffToken}})
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("WHEP: %d %s", resp.StatusCode, answer)
	}
	pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: string(answer)})
	deadline := time.Now().Add(10 * time.Second)
	for got.Load() < 50 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if got.Load() < 50 {
		t.Fatalf("the WHEP viewer received %d packets", got.Load())
	}
}
